#!/usr/bin/python3
"""Benchmark 10, the CLI as a data pipeline (issue #16, item 7).

usage: run.py --astcd PATH [--astcd PATH ...] --out DIR [--n N] [--rounds R] [--smoke]

Times `astcd sample --start function --n N --seed 1 --threads T > FILE` (stdout to a file, as
a dataset builder runs it; N = 100,000 by default) end to end by the wall clock, for --threads
1 and 2 and each binary given (a second --astcd compares a build side by side, e.g. before and
after a change). Each round runs every (binary, threads) once, the order rotating every round;
the table gives medians over --rounds (default 5) of the wall time and the CPU time (user +
system), and tokens/s: the tokens of every line's "tokens" counted from the output, over the
median wall time. Every run's output must be the same bytes (the thread count changes nothing).

Writes DIR/cli.json (bench/report.py's shared format). Target (issue #16): >= 10 M tokens/s
with --threads 2. Nothing here asserts a number; a run that fails fails the command.
--smoke: N = 2,000, one round.
"""
import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time

THREADS = (1, 2)
TARGET = 10e6
# Added to the notes while the target is missed: perf over `astcd sample --start function --n
# 100000 --seed 1 --threads 2` (Release), taken for issue #16; re-profile after core/ changes.
PROFILE = (
    "**Where the time goes, and what would close the gap** (perf, self time by function): "
    "decoding about 31% (`UniformSampler::Choose` 8%, the decoder's `Apply`, `Settle`, "
    "`OpenNode`, `FillMask`, `Context`), rendering the source about 20% (the printer's "
    "`Expr` and `Statement`, `Builder::Hole`, `CheckAstDepth` on an AST the decoder built "
    "and bounded, `Arena::NewNode`), writing JSON about 15% (`AppendQuoted` escaping the "
    "source byte by byte, `Writer::Int`, copies), the allocator about 10% and `memmove` 6%. "
    "`CheckAstDepth`'s stack now lives inline (its heap vector was a tenth of the CPU time "
    "of `--threads 1`: 2.06 s -> 1.81 s for 6.0 M tokens, the same bytes), so about 3.3 M "
    "tokens per CPU-second; 10 M tokens/s on 2 cores needs about a third less work per token "
    "even with perfect scaling. Next steps: skip `CheckAstDepth` for ASTs built from a "
    "decoder's tokens (their depth is bounded by the config), print into the JSON line directly with one escaping pass over spans that need "
    "none, reuse one AST arena and one line buffer per worker, and the engine step's own "
    "work (section 1).")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--astcd", action="append", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    if args.smoke:
        args.n, args.rounds = 2_000, 1
    return args


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_once(astcd, n, threads, path):
    """One run with stdout to `path`: (wall seconds, CPU seconds)."""
    cmd = [astcd, "sample", "--start", "function", "--n", str(n), "--seed", "1",
           "--threads", str(threads)]
    cpu0 = children_cpu()
    with open(path, "wb") as out:
        t0 = time.perf_counter()
        p = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, timeout=3600)
        wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr[-2000:]!r}")
    return wall, children_cpu() - cpu0


def digest(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def count_tokens(path):
    with open(path, "rb") as f:
        return sum(len(json.loads(line)["tokens"]) for line in f)


def main():
    args = parse_args()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "cli_sample.jsonl")
    configs = [(astcd, t) for astcd in args.astcd for t in THREADS]
    times = {c: [] for c in configs}
    first = None
    for r in range(args.rounds):
        for k in range(len(configs)):
            astcd, threads = configs[(k + r) % len(configs)]
            times[(astcd, threads)].append(run_once(astcd, args.n, threads, path))
            d = digest(path)
            if first is not None and d != first:
                raise SystemExit(f"{astcd} --threads {threads}: not the first run's output")
            first = d
    tokens = count_tokens(path)
    os.remove(path)
    load = open("/proc/loadavg").read().split()[:3]
    rows, ratios, notes = [], [], []
    for astcd in args.astcd:
        label = astcd if len(args.astcd) > 1 else "astcd"
        wall = {t: statistics.median(w for w, _ in times[(astcd, t)]) for t in THREADS}
        for t in THREADS:
            cpu = statistics.median(c for _, c in times[(astcd, t)])
            rows.append([label, t, round(wall[t], 3), round(cpu, 3),
                         round(tokens / wall[t] / 1e6, 2)])
        ratios.append({"what": "tokens/s with --threads 2" + ("" if label == "astcd" else
                                                               f" ({label})"),
                       "value": tokens / wall[2], "target": ">= 10 M",
                       "met": tokens / wall[2] >= TARGET})
        notes.append(f"{label}: --threads 2 runs {wall[1] / wall[2]:.2f}x as fast as --threads 1 "
                     "by the wall clock.")
    if not all(r["met"] for r in ratios):
        notes.append(PROFILE)
    result = {
        "name": "cli",
        "title": f"`astcd sample --start function --n {args.n} --seed 1 --threads T > FILE`, "
                 f"{tokens:,} tokens; medians of {args.rounds} interleaved round(s)",
        "tables": [{"caption": "wall and CPU seconds, M tokens/s by the wall clock",
                    "columns": ["astcd", "--threads", "wall s", "CPU s", "M tokens/s"],
                    "rows": rows}],
        "ratios": ratios,
        "notes": notes + [
            "Decoding, rendering the source and formatting each JSON line run on the "
            "`--threads` workers; the lines are written in order by one more thread while the "
            "next chunk of 4096 samples is decoded. Every run printed the same bytes. "
            "Where the wall time x threads is well above the CPU time, the threads waited: for "
            "a core (the machine's other load) or for each other.",
            f"Load average {' '.join(load)} when this benchmark ended; `nproc` = "
            f"{os.cpu_count()}."],
    }
    with open(os.path.join(args.out, "cli.json"), "w") as f:
        json.dump(result, f, indent=1)
    for row in rows:
        print("  ".join(str(x) for x in row))
    print(f"tokens {tokens}, load {' '.join(load)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
