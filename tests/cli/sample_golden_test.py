"""Golden-output test of `astcd sample`: its bytes, for every --threads.

Usage: python3 sample_golden_test.py /path/to/astcd [--write-golden]

Each case in CASES has a golden file tests/cli/golden/sample_<name>.jsonl, written by the
binary before `sample` rendered and serialized on its worker threads. The test runs each case
with --threads 1, 2 and 4 and asserts that stdout is the golden, byte for byte. A longer run
(more than one of sample's 4096-result chunks) must print the same bytes for every --threads,
and begin with the golden of the same flags (sample j depends only on the seed and j).
`--write-golden` rewrites the goldens from the binary (review the diff before committing it).
Plain standard library; prints one line per failure and exits non-zero if any.
"""

import os
import subprocess
import sys

GOLDEN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
THREADS = (1, 2, 4)
TIMEOUT = 300

# name -> sample's flags (without --threads).
CASES = {
    "function_uniform": ["--start", "function", "--n", "120", "--seed", "1"],
    "module_weighted_sexpr": ["--start", "module", "--n", "60", "--seed", "7",
                              "--sampler", "weighted", "--sexpr"],
    "expr_arity2_weighted_policy_sexpr": [
        "--start", "expr", "--arity", "2", "--n", "60", "--seed", "-3", "--sampler", "weighted",
        "--policy", '{"depth_pressure": 0.5, "budget_pressure": 1.0}', "--sexpr"],
    # A small cap: incomplete results (stop_reason max_new_tokens, partial sources, no sexpr).
    "block_capped_sexpr": ["--start", "block", "--arity", "1", "--n", "60", "--seed", "11",
                           "--max-new-tokens", "12", "--max-len", "64", "--sexpr"],
    "module_stop_complete_config": ["--start", "module", "--n", "40", "--seed", "5",
                                    "--stop-at", "complete", "--config",
                                    '{"const_range": [0, 5]}'],
}
# More than one chunk of 4096 results; its first lines are function_uniform's golden.
LONG_CASE = ("function_uniform", ["--start", "function", "--n", "5000", "--seed", "1"])


def sample(astcd, flags, threads):
    p = subprocess.run([astcd, "sample", *flags, "--threads", str(threads)],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=TIMEOUT)
    if p.returncode != 0 or p.stderr:
        raise RuntimeError(f"sample {flags} --threads {threads} exited {p.returncode}: "
                           f"{p.stderr[:300]!r}")
    return p.stdout


def golden_path(name):
    return os.path.join(GOLDEN_DIR, f"sample_{name}.jsonl")


def first_difference(a, b):
    """A short description of where two outputs first differ, by line."""
    la, lb = a.split(b"\n"), b.split(b"\n")
    for k, (x, y) in enumerate(zip(la, lb)):
        if x != y:
            return f"line {k + 1}: {x[:120]!r} != {y[:120]!r}"
    return f"{len(la)} lines != {len(lb)} lines"


def write_goldens(astcd):
    for name, flags in CASES.items():
        with open(golden_path(name), "wb") as f:
            f.write(sample(astcd, flags, 1))
        print(f"wrote {golden_path(name)}")


def check_goldens(astcd):
    failures = []
    for name, flags in CASES.items():
        with open(golden_path(name), "rb") as f:
            golden = f.read()
        for threads in THREADS:
            out = sample(astcd, flags, threads)
            if out != golden:
                failures.append(f"{name} --threads {threads}: not the golden; "
                                f"{first_difference(out, golden)}")
    return failures


def check_long_run(astcd):
    name, flags = LONG_CASE
    outs = {threads: sample(astcd, flags, threads) for threads in THREADS}
    failures = [f"n=5000 --threads {t}: differs from --threads 1; "
                f"{first_difference(outs[t], outs[1])}" for t in THREADS if outs[t] != outs[1]]
    with open(golden_path(name), "rb") as f:
        golden = f.read()
    if not outs[1].startswith(golden):
        failures.append(f"n=5000 does not begin with the golden {name}")
    lines = outs[1].count(b"\n")
    if lines != 5000:
        failures.append(f"n=5000 printed {lines} lines")
    return failures


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    astcd = sys.argv[1]
    if "--write-golden" in sys.argv[2:]:
        write_goldens(astcd)
        return
    failures = check_goldens(astcd) + check_long_run(astcd)
    for f in failures:
        print(f"FAIL {f}")
    print(f"sample goldens: {len(CASES)} cases x --threads {THREADS}, a 5000-sample run; "
          f"{len(failures)} failure(s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
