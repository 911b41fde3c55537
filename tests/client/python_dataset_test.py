#!/usr/bin/env python3
"""Client.dataset (client/python/astcd_client/dataset.py) gives `astcd dataset`'s rows.

usage: python_dataset_test.py ASTCD_SERVER ASTCD_CLI  (with astcd_client installed)

Starts the real server, then for several argument sets compares Client.dataset's rows and
summary with those `astcd dataset --server` prints for the same arguments: the two are written
separately (Python over decode and run; C++ over the Decode and Run RPCs), so equal rows check
both the recipe and the CLI. Also: bad arguments are ValueErrors before any call.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "python"))
from server_process import AstcdServer  # noqa: E402

from astcd_client import Client, Dataset  # noqa: E402

SERVER, CLI = sys.argv[1], sys.argv[2]
failures = []

# (Client.dataset keyword arguments, the same as CLI flags)
CASES = [
    (dict(n=80, seed=5, sampler="weighted", max_len=48, padded_tokens=True),
     ["--n", "80", "--seed", "5", "--sampler", "weighted", "--max-len", "48", "--padded-tokens"]),
    (dict(n=40, seed=-2, start="expr", arity=2, max_len=20, inputs=5, input_range=(-3, 4)),
     ["--n", "40", "--seed", "-2", "--start", "expr", "--arity", "2", "--max-len", "20",
      "--inputs", "5", "--input-range", "-3,4"]),
    (dict(n=10_000, seed=1, max_samples=1500, keep=("all_none", "constant"),
          config={"allow_loops": True}, max_steps=50),
     ["--n", "10000", "--seed", "1", "--max-samples", "1500", "--keep-all-none",
      "--keep-constant", "--config", '{"allow_loops": true}', "--max-steps", "50"]),
    (dict(n=30, seed=9, start="block", sampler={"kind": "weighted", "weights": {"if": 3.0}}),
     ["--n", "30", "--seed", "9", "--start", "block", "--sampler", "weighted",
      "--policy", '{"weights": {"if": 3.0}}']),
]


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)


def main():
    with AstcdServer(SERVER) as server, Client(server.address) as client:
        for kwargs, flags in CASES:
            p = subprocess.run([CLI, "dataset", *flags, "--server", server.address],
                               capture_output=True, text=True, timeout=600)
            check(p.returncode == 0, f"astcd dataset {flags}: exit {p.returncode}: {p.stderr}")
            rows = [json.loads(line) for line in p.stdout.splitlines()]
            summary = json.loads(p.stderr)
            got = client.dataset(**kwargs)
            check(isinstance(got, Dataset), f"{kwargs}: returned {type(got)}")
            check(got.summary == summary, f"{kwargs}: summary {got.summary} != CLI {summary}")
            check(len(got.rows) == len(rows), f"{kwargs}: {len(got.rows)} rows, CLI {len(rows)}")
            first = next((i for i, (a, b) in enumerate(zip(got.rows, rows)) if a != b), None)
            check(first is None, f"{kwargs}: row {first} differs: {got.rows[first] if first is not None else ''} != CLI {rows[first] if first is not None else ''}")
            # Exact types: a bool output stays a bool.
            check(all(type(a["value"]) is type(b["value"])
                       for r, c in zip(got.rows, rows) for a, b in zip(r["outputs"], c["outputs"])),
                  f"{kwargs}: output types differ")
            print(f"Client.dataset {kwargs}: {len(rows)} rows, as the CLI", flush=True)
        for bad in (dict(start="module"), dict(keep=("nonsense",))):
            try:
                client.dataset(n=1, **bad)
                check(False, f"Client.dataset({bad}) did not raise")
            except ValueError:
                pass
    if failures:
        print(f"{len(failures)} failure(s)")
        sys.exit(1)
    print("Client.dataset: all checks passed")


if __name__ == "__main__":
    main()
