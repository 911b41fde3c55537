#!/usr/bin/python3
"""Benchmark 9, dataset yield: what the seven shape controls buy a dataset builder (issue #13).

usage: run.py --build DIR --out DIR [--samples N] [--timing-samples M] [--rounds R] [--smoke]

DIR (--build) holds cli/astcd. For each sampler (uniform, weighted) and each config (the
default, and the default with all seven shape controls of docs/language.md 4.1 on), over the
same sample budget (--samples, default 10,000; the same seed, so the same sample indices):

- `astcd dataset --start function --max-samples N --n 10^7 --seed 1 --threads 1` (8 inputs
  in [-10, 10], max_len 128) gives, from its summary: unique behaviours per 10,000 samples
  (distinct signatures, degenerate ones included), rows kept per 10,000 (distinct and not
  degenerate), the fraction degenerate (all None, constant, or all error on the 8 inputs),
  and mean tokens per program;
- `astcd sample` of the first M programs of the same stream (--timing-samples, default 50,000;
  `--max-new-tokens 0 --max-len 128 --threads 1`) is timed by its CPU time (user + system;
  the wall clock of a shared machine moves too much), best of --rounds, the two configs
  interleaved in each round: sampling throughput in tokens/s on one core, with source
  rendering and JSON as the CLI serves them. Its ratio to the default
  config's is the controls' cost per token.

Writes DIR/dataset.json (bench/report.py's shared format) and DIR/dataset.md (the table).
Targets (issue #13): with the controls on, weighted sampler: <= 5% degenerate and >= 60% of
samples with distinct behaviours; the controls cost <= 1.5x per token. Nothing here asserts a
number; a command that fails fails the run. --smoke: 500 samples, one round.
"""
import argparse
import json
import os
import subprocess
import sys
import resource

CONTROLS = ("no_dead_code", "require_return_value", "use_all_params", "no_unused_locals",
            "no_constant_tests", "no_constant_subexpressions", "no_trivial_self_ops")
CONFIGS = (("default", {}), ("all seven controls", {c: True for c in CONTROLS}))
SAMPLERS = ("uniform", "weighted")
DEGENERATE = ("all_error", "all_none", "constant")
MAX_LEN = "128"


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--timing-samples", type=int, default=50_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--smoke", action="store_true")
    return ap.parse_args()


def run(cli, args, stdout=subprocess.PIPE):
    p = subprocess.run([cli, *args], stdout=stdout, stderr=subprocess.PIPE, text=True,
                       timeout=3600)
    if p.returncode != 0:
        raise SystemExit(f"astcd {' '.join(args)}: exit {p.returncode}: {p.stderr[-2000:]}")
    return p


def common_flags(sampler, config):
    return ["--start", "function", "--seed", "1", "--sampler", sampler, "--max-len", MAX_LEN,
            "--threads", "1", "--config", json.dumps(config)]


def yield_of(cli, sampler, config, samples):
    """What `astcd dataset` keeps of the first `samples` programs, from its summary."""
    p = run(cli, ["dataset", *common_flags(sampler, config), "--n", "10000000",
                  "--max-samples", str(samples)], stdout=subprocess.DEVNULL)
    s = json.loads(p.stderr.strip().splitlines()[-1])
    sampled = s["sampled"]
    return {"summary": s, "per_10k_unique": s["unique_behaviours"] * 10_000 / sampled,
            "per_10k_kept": s["kept"] * 10_000 / sampled,
            "degenerate": sum(s["dropped"][r] for r in DEGENERATE) / sampled,
            "by_reason": {r: s["dropped"][r] / sampled for r in DEGENERATE},
            "mean_tokens": s["tokens"] / sampled}


def sample_seconds(cli, sampler, config, samples):
    """(CPU seconds, tokens) of one `astcd sample` of `samples` programs: the child's user +
    system time, which a loaded machine disturbs less than the wall clock."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = run(cli, ["sample", *common_flags(sampler, config), "--n", str(samples),
                    "--max-new-tokens", "0"])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, sum(len(json.loads(line)["tokens"]) for line in out.stdout.splitlines())


def throughput(cli, sampler, samples, rounds):
    """tokens/s per config: the best of `rounds`, the configs interleaved in every round so
    that a change in the machine's load falls on both."""
    best = {name: (float("inf"), 0) for name, _ in CONFIGS}
    for _ in range(rounds):
        for name, config in CONFIGS:
            best[name] = min(best[name], sample_seconds(cli, sampler, config, samples))
    return {name: tokens / seconds for name, (seconds, tokens) in best.items()}


# Added to the notes while a target of issue #13 is missed: what the profile and the samples
# showed (2026-12-02) and what would close each gap.
GAPS = (
    "**Why the targets are missed, and what would close them.** *What is still degenerate* is "
    "almost all constant functions that the seven definitions allow: an absorbing constant "
    "(`return a * 0`, `a % 1`, `a and 4` on inputs without 0), and a parameter rebound before "
    "it is read (`a = 5; return a` reads `a`, so `use_all_params` holds). A control that "
    "refuses absorbing constants, and a `use_all_params` that asks for the parameter's incoming "
    "value (its first use before any rebinding), would remove most of them; both change the "
    "plan (the second makes the value of `a = ...` owe a read of `a`). *Distinct behaviours* "
    "are capped by duplicates among short programs: the weighted sampler's programs average "
    "about 22 tokens, and `return a`, `return a + b` and their like recur. A longer prior "
    "(weights that favour statements early) would spread them. *Cost per token*: the plan is "
    "priced per candidate token class. The decoder surveys the plan once per state and prices "
    "every expression token that keeps the statement open from that survey, without a scratch "
    "copy; what remains is the statement and target contexts, which still advance a scratch "
    "copy per class, and the survey itself (levels and homes, O(depth)). Pricing statements "
    "from the survey as expressions are priced would close most of that gap.")


def main():
    args = parse_args()
    samples, timing, rounds = ((500, 500, 1) if args.smoke
                               else (args.samples, args.timing_samples, args.rounds))
    cli = os.path.join(args.build, "cli", "astcd")
    raw = {}
    rows = []
    for sampler in SAMPLERS:
        rates = throughput(cli, sampler, timing, rounds)
        for name, config in CONFIGS:
            m = yield_of(cli, sampler, config, samples)
            m["tokens_per_s"] = rates[name]
            raw[f"{sampler}/{name}"] = m
            cost = rates[CONFIGS[0][0]] / rates[name]
            rows.append([sampler, name, m["per_10k_unique"], m["per_10k_kept"],
                         f"{100 * m['degenerate']:.1f}%",
                         " / ".join(f"{100 * m['by_reason'][r]:.1f}%" for r in
                                    ("all_none", "constant", "all_error")),
                         m["mean_tokens"], f"{m['tokens_per_s'] / 1e6:.2f} M", cost])
            print(f"{sampler:8} {name:20} {json.dumps(m['summary'])}", flush=True)
    weighted_on = raw["weighted/all seven controls"]
    costs = [raw[f"{s}/default"]["tokens_per_s"] / raw[f"{s}/all seven controls"]["tokens_per_s"]
             for s in SAMPLERS]
    result = {
        "name": "dataset",
        "title": "Dataset yield: what the shape controls buy",
        "tables": [{
            "caption": f"`astcd dataset --start function` over {samples:,} samples per row (seed "
                       "1, max_len 128, 8 inputs in [-10, 10]); throughput from `astcd sample` "
                       f"of the first {timing:,} programs of the same stream on one core (CPU "
                       f"time, best of {rounds}, the configs interleaved)",
            "columns": ["sampler", "config", "unique behaviours per 10k samples",
                        "kept rows per 10k", "degenerate",
                        "all None / constant / all error", "mean tokens per program",
                        "sampling tokens/s", "cost per token vs default"],
            "rows": rows}],
        "ratios": [
            {"what": "weighted, all controls on: fraction degenerate (%)",
             "value": 100 * weighted_on["degenerate"], "target": "<= 5",
             "met": weighted_on["degenerate"] <= 0.05},
            {"what": "weighted, all controls on: samples with distinct behaviours (%)",
             "value": weighted_on["per_10k_unique"] / 100, "target": ">= 60",
             "met": weighted_on["per_10k_unique"] >= 6000},
            {"what": "controls' cost per token (worse of the two samplers)",
             "value": max(costs), "target": "<= 1.5", "met": max(costs) <= 1.5},
        ],
        "notes": [
            "`bench/dataset/run.py`. Unique behaviours count every distinct signature "
            "(docs/dataset.md), degenerate ones included; kept rows are the distinct behaviours "
            "that pass the three filters (what `astcd dataset` writes). Degenerate: every run "
            "returns None, or every run returns the same other value, or every run is an error "
            "(ZeroDivisionError, overflow, step limit). The cost per token is the default "
            "config's sampling time per token over this config's, for the same sampler; the "
            "controls change which programs are sampled, so it compares per token, not per "
            "program."],
        "raw": raw,
    }
    if not all(r["met"] for r in result["ratios"]):
        result["notes"].append(GAPS)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "dataset.json"), "w") as f:
        json.dump(result, f, indent=1)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    sys.dont_write_bytecode = True
    from report import table  # noqa: E402  (the report's own table, for dataset.md)
    with open(os.path.join(args.out, "dataset.md"), "w") as f:
        f.write(table(result["tables"][0]))
    print(f"dataset: wrote {args.out}/dataset.json and dataset.md")


if __name__ == "__main__":
    main()
