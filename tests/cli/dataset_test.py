#!/usr/bin/python3
"""`astcd dataset` end to end, in-process and through a real astcd-server (docs/dataset.md).

usage: dataset_test.py ASTCD_CLI ASTCD_SERVER

Checks, against real parts only:
- the JSON Lines rows (fields, padded_tokens, inputs, outputs, signature) and the summary;
- every row's outputs against CPython running its source on its inputs (tests/oracle/
  run_oracle.py's instrumentation gives CPython Run's value_range and step cap);
- the de-duplication and the filters against an independent recomputation: the same samples
  from `astcd sample`, run by CPython on inputs this test derives itself from the seed,
  filtered, grouped by behaviour, the shortest kept (ties: smallest token list, then the
  earliest sample), in order of first appearance, up to --n;
- determinism: the same output twice, for 1 and 2 threads, and in-process and via --server
  byte for byte; different seeds give different rows;
- --max-samples, --out, the switches that turn each filter off, the progress bar on a terminal
  only, and usage errors (exit 2, naming the flag).
"""
import json
import os
import pty
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "oracle"))
import run_oracle  # noqa: E402  (CPython with Run's value_range and step cap)

CLI, SERVER = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
TMP = tempfile.mkdtemp(prefix="astcd-dataset-")
failures = []
VALUE_RANGE = (-2**31, 2**31 - 1)  # the default config's
MAX_STEPS = 10_000  # dataset's default --max-steps
FIELDS = {"source", "tokens", "inputs", "outputs", "signature", "sample_index"}
REASONS = ("all_error", "all_none", "constant")
SHAPE_CONTROLS = json.dumps({c: True for c in (
    "no_dead_code", "require_return_value", "use_all_params", "no_unused_locals",
    "no_constant_tests", "no_constant_subexpressions", "no_trivial_self_ops")})


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)
    return cond


def run(args, timeout=600):
    p = subprocess.run([CLI, *args], capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def dataset(args):
    """Runs astcd dataset; returns (rows, summary, stdout, stderr)."""
    code, out, err = run(["dataset", *args])
    check(code == 0, f"dataset {args}: exit {code}: {err[:300]}")
    lines = err.splitlines()
    check(len(lines) == 1, f"dataset {args}: stderr is not one summary line: {err[:300]!r}")
    summary = json.loads(lines[-1]) if lines else {}
    return [json.loads(line) for line in out.splitlines()], summary, out, err


# -- an independent derivation of the inputs (docs/dataset.md, "Inputs") ----------------------
M64 = (1 << 64) - 1


class SplitMix64:
    def __init__(self, state):
        self.state = state & M64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & M64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)


def stream_seed(seed, input_index, sample_index):
    h = SplitMix64(seed ^ 0x6A09E667F3BCC909).next()
    h = SplitMix64(h ^ input_index).next()
    return SplitMix64(h ^ ((sample_index * 0x9E3779B97F4A7C15) & M64)).next()


def inputs_for(seed, arity, k=8, lo=-10, hi=10):
    tuples = []
    for j in range(k):
        rng = SplitMix64(stream_seed(seed, (1 << 32) + arity, j))
        tuples.append([lo + ((rng.next() * (hi - lo + 1)) >> 64) for _ in range(arity)])
    return tuples


# -- CPython's behaviour of a program ---------------------------------------------------------
def arity_of(start, source, fixed):
    if start != "function":
        return fixed
    header = source.split("\n", 1)[0]  # def func(a, b):
    inner = header[header.index("(") + 1:header.index(")")]
    return len([p for p in inner.split(",") if p.strip()])


def cpython_outcomes(start, source, arity, inputs):
    code = run_oracle.compile_instrumented(start, source, arity)
    out = []
    for args in inputs:
        rec = {"value_range": VALUE_RANGE, "max_steps": MAX_STEPS, "entry_name": "func",
               "args": args}
        status, value, _, _ = run_oracle.run_cpython(code, rec)
        out.append((status, value if status == "ok" else None))
    return out


def signature(arity, outcomes):
    return f"{arity}:" + ",".join(repr(v) if s == "ok" else s for s, v in outcomes)


def degenerate(outcomes):
    if all(s != "ok" for s, _ in outcomes):
        return "all_error"
    if all(s == "ok" and v is None for s, v in outcomes):
        return "all_none"
    typed = [(s, type(v), v) for s, v in outcomes]
    if all(t == typed[0] for t in typed):
        return "constant"
    return None


def recompute(sample_args, start, fixed_arity, seed, sampled, n, filters):
    """The rows and summary counts from `astcd sample`'s programs and CPython alone."""
    code, out, err = run(["sample", "--start", start, "--n", str(sampled), "--seed", str(seed),
                          "--max-new-tokens", "0", *sample_args])
    check(code == 0, f"sample: exit {code}: {err[:300]}")
    groups, order, dropped, sigs, tokens_total = {}, [], dict.fromkeys(REASONS, 0), set(), 0
    for line in out.splitlines():
        r = json.loads(line)
        check(r["complete"], f"sample {r['sample_index']} is incomplete")
        arity = arity_of(start, r["source"], fixed_arity)
        outcomes = cpython_outcomes(start, r["source"], arity, inputs_for(seed, arity))
        sig = signature(arity, outcomes)
        sigs.add(sig)
        tokens_total += len(r["tokens"])
        reason = degenerate(outcomes)
        if reason in filters:
            dropped[reason] += 1
            continue
        if sig not in groups:
            order.append(sig)
            groups[sig] = []
        groups[sig].append((len(r["tokens"]), r["tokens"], r["sample_index"], r["source"]))
    kept = order[:n]
    rows = []
    for sig in kept:
        _, tokens, index, source = min(groups[sig])
        rows.append({"signature": sig, "tokens": tokens, "sample_index": index, "source": source})
    # Behaviours whose first program was not the one kept: the shortest-wins rule was tested.
    replaced = sum(1 for sig in kept if min(groups[sig])[2] != groups[sig][0][2])
    non_degenerate = sum(len(g) for g in groups.values())
    summary = {"sampled": sampled, "kept": len(rows), "unique_behaviours": len(sigs),
               "tokens": tokens_total,
               "dropped": {**dropped, "duplicate": non_degenerate - len(groups)},
               "replaced": replaced}
    return rows, summary


# -- the checks -------------------------------------------------------------------------------
def check_rows(name, rows, summary, start, fixed_arity, seed, max_len, padded, filters):
    check(summary["sampled"] == summary["kept"] + sum(summary["dropped"].values()),
          f"{name}: sampled != kept + dropped: {summary}")
    check(summary["kept"] == len(rows), f"{name}: kept {summary['kept']} != {len(rows)} rows")
    seen = set()
    for r in rows:
        want = FIELDS | ({"padded_tokens"} if padded else set())
        if not check(set(r) == want, f"{name}: fields {sorted(r)} != {sorted(want)}"):
            return
        where = f"{name}: sample {r['sample_index']}"
        check(r["signature"] not in seen, f"{where}: signature {r['signature']} kept twice")
        seen.add(r["signature"])
        tokens = r["tokens"]
        check(len(tokens) <= max_len and tokens[-1] == 1, f"{where}: tokens {tokens}")
        if padded:
            check(r["padded_tokens"] == tokens + [0] * (max_len - len(tokens)),
                  f"{where}: padded_tokens {r['padded_tokens']}")
        arity = arity_of(start, r["source"], fixed_arity)
        check(r["inputs"] == inputs_for(seed, arity), f"{where}: inputs {r['inputs']}")
        outcomes = [(o["status"], o["value"]) for o in r["outputs"]]
        check(signature(arity, outcomes) == r["signature"],
              f"{where}: signature {r['signature']} is not its outputs {outcomes}")
        check(degenerate(outcomes) not in filters, f"{where}: degenerate {outcomes}")
        theirs = cpython_outcomes(start, r["source"], arity, r["inputs"])
        check([(s, type(v), v) for s, v in theirs] == [(s, type(v), v) for s, v in outcomes],
              f"{where}: outputs {outcomes}, CPython {theirs}\n{r['source']}")


def check_against_recomputation(name, common, extra, start, fixed_arity, seed, n, filters):
    """`common`: flags that dataset and sample share (--sampler, --max-len, --arity)."""
    args = ["--start", start, "--n", str(n), "--seed", str(seed), *common, *extra]
    rows, summary, _, _ = dataset(args)
    want_rows, want_summary = recompute(common, start, fixed_arity, seed, summary["sampled"], n,
                                        filters)
    for key in ("sampled", "kept", "unique_behaviours", "tokens", "dropped"):
        check(summary[key] == want_summary[key],
              f"{name}: summary {key} {summary[key]} != recomputed {want_summary[key]}")
    got = [{k: r[k] for k in ("signature", "tokens", "sample_index", "source")} for r in rows]
    first = next((i for i, (a, b) in enumerate(zip(got, want_rows)) if a != b), None)
    check(got == want_rows, f"{name}: rows differ from the recomputation at row {first}: "
          f"{got[first] if first is not None else len(got)} != "
          f"{want_rows[first] if first is not None else len(want_rows)}")
    if name == "weighted function":
        check(want_summary["replaced"] > 0, f"{name}: every behaviour's first program was its "
              "shortest, so the shortest-wins rule went untested")
    return rows, summary


def start_server():
    server = subprocess.Popen([SERVER, "--listen", "127.0.0.1:0", "--metrics-listen", ""],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = server.stdout.readline()
    assert line.startswith("astcd-server listening on "), line
    return server, line.split()[-1]


def progress_on_terminal():
    """The bar is drawn on a terminal (stderr a pty), and not otherwise (checked by dataset())."""
    master, slave = pty.openpty()
    p = subprocess.Popen([CLI, "dataset", "--n", "1000000", "--max-samples", "3000"],
                         stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    data = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    p.wait(timeout=120)
    os.close(master)
    text = data.decode()
    check("\r[" in text and "3000/3000" in text, f"no progress bar on a terminal: {text[:200]!r}")
    check(text.rstrip().splitlines()[-1].startswith('{"sampled":3000'),
          f"the summary does not follow the bar: {text[-200:]!r}")


def usage_errors():
    out_dir = os.path.join(TMP, "a-directory")
    os.makedirs(out_dir, exist_ok=True)
    for args, culprit in [(["--start", "module"], "--start"), (["--inputs", "0"], "--inputs"),
                          (["--inputs", "65"], "--inputs"), (["--input-range", "5,1"], "--input-range"),
                          (["--input-range", "x"], "--input-range"),
                          (["--input-range", "0,9999999999"], "--input-range"),
                          (["--arity", "2"], "--arity"), (["--out", out_dir], "--out"),
                          (["--sampler", "greedy"], "greedy"), (["--keep-constant=maybe"], "--keep-constant"),
                          (["--threads", "0"], "--threads"), (["--max-samples", "0"], "--max-samples"),
                          (["--max-steps", "0"], "--max-steps"), (["--n", "0"], "--n"),
                          (["--max-len", "2"], "max_len"), (["--start", "expr", "--arity", "5"], "arity"),
                          (["--config", '{"max_locals": 99}'], "max_locals"),
                          (["--frobnicate"], "--frobnicate")]:
        code, out, err = run(["dataset", *args])
        check(code == 2 and not out and err.startswith("astcd: ") and culprit in err,
              f"dataset {args}: exit {code}, stdout {out[:80]!r}, stderr {err[:200]!r}")


def main():
    seed = 3
    # In-process: fields, CPython, and the recomputation, for both samplers and three starts.
    cases = [
        ("weighted function", ["--sampler", "weighted", "--max-len", "48"], ["--padded-tokens"],
         "function", None, 150),
        ("uniform function", ["--max-len", "40"], [], "function", None, 60),
        ("block arity 2", ["--sampler", "weighted", "--max-len", "40", "--arity", "2"], [],
         "block", 2, 80),
        ("expr arity 3", ["--max-len", "24", "--arity", "3"], [], "expr", 3, 60),
        ("weighted function, the seven shape controls",
         ["--sampler", "weighted", "--max-len", "48", "--config", SHAPE_CONTROLS], [],
         "function", None, 100),
    ]
    for name, common, extra, start, arity, n in cases:
        rows, summary = check_against_recomputation(name, common, extra, start, arity, seed, n,
                                                    REASONS)
        check(summary["stopped"] == "n" and len(rows) == n, f"{name}: {summary}")
        check_rows(name, rows, summary, start, arity, seed,
                   int(common[common.index("--max-len") + 1]), "--padded-tokens" in extra,
                   REASONS)

    # The rows for determinism and the filters.
    common = ["--sampler", "weighted", "--max-len", "48"]
    args = ["--n", "150", "--seed", str(seed), *common]
    rows, summary, out, err = dataset(args)

    # Each filter off on its own, then all: its count is 0, and its rows appear.
    for reason in REASONS:
        flag = "--keep-" + reason.replace("_", "-")
        filters = tuple(r for r in REASONS if r != reason)
        rows2, summary2 = check_against_recomputation(f"with {flag}", common, [flag], "function",
                                                      None, seed, 150, filters)
        check(summary2["dropped"][reason] == 0, f"{flag}: {summary2}")
        kinds = {degenerate([(o["status"], o["value"]) for o in r["outputs"]]) for r in rows2}
        check(reason in kinds, f"{flag}: no {reason} row among {len(rows2)}")
    keep_all = ["--keep-all-error", "--keep-all-none", "--keep-constant"]
    everything = args + keep_all
    rows3, summary3 = check_against_recomputation("all filters off", common, keep_all,
                                                  "function", None, seed, 150, ())
    check_rows("all filters off", rows3, summary3, "function", None, seed, 48, False, ())

    # Determinism: twice, for 1 and 2 threads, and --out; a different seed differs.
    again = dataset(args)
    check(again[2:] == (out, err), "the same command twice printed different output")
    for threads in ("1", "2"):
        other = dataset(args + ["--threads", threads])
        check(other[2:] == (out, err), f"--threads {threads} changed the output")
    path = os.path.join(TMP, "rows.jsonl")
    code, stdout, err_out = run(["dataset", *args, "--out", path])
    check(code == 0 and stdout == "" and err_out == err, f"--out: exit {code}, {err_out[:200]}")
    with open(path) as f:
        check(f.read() == out, "--out FILE holds other rows than stdout")
    other_seed = dataset(["--n", "150", "--seed", "4", "--sampler", "weighted", "--max-len", "48"])
    check(other_seed[2] != out, "seeds 3 and 4 gave the same rows")
    check({r["signature"] for r in other_seed[0]} != {r["signature"] for r in rows},
          "seeds 3 and 4 kept the same behaviours")

    # --max-samples stops the run.
    rows4, summary4, _, _ = dataset(["--n", "1000000", "--max-samples", "700", "--seed", "1"])
    check(summary4["sampled"] == 700 and summary4["stopped"] == "max_samples",
          f"--max-samples 700: {summary4}")

    # Through the server: the same bytes, stdout and stderr.
    server, target = start_server()
    try:
        for name, common, extra, start, arity, n in cases:
            local_args = ["dataset", "--start", start, "--n", str(n), "--seed", str(seed),
                          *common, *extra]
            local = run(local_args)
            remote = run(local_args + ["--server", target])
            check(remote == local, f"{name}: --server printed something else:\n"
                  f"{remote[2][:300]}\n{local[2][:300]}")
        local = run(["dataset", *everything, "--threads", "2"])
        remote = run(["dataset", *everything, "--threads", "2", "--server", target])
        check(remote == local, "all filters off: --server printed something else")
    finally:
        server.terminate()
        server.wait(timeout=30)
    code, _, err = run(["dataset", "--n", "3", "--server", "127.0.0.1:1"])
    check(code == 1 and err.startswith("astcd: UNAVAILABLE"), f"no server: exit {code}, {err[:200]}")

    progress_on_terminal()
    usage_errors()
    if failures:
        print(f"{len(failures)} failure(s)")
        sys.exit(1)
    print("dataset: all checks passed")


if __name__ == "__main__":
    main()
