#!/usr/bin/python3
"""The astcd CLI's refusals: bad flags, bad addresses and input files it cannot read.

usage: cli_flags_test.py ASTCD_CLI

The CLI's convention (cli/cli.cc, README.md, docs/api.md "CLI"): a usage error, which covers an
unknown flag or command, a malformed or out-of-range value, an input file that cannot be read
(missing, a directory, unreadable) and an input line that is not what the command reads, prints
one message `astcd: ...` naming the culprit on stderr, nothing on stdout, and exits 2. A Python
source that does not fit the language is data, not an error: tokenize reports it in its JSON
line and exits 0, and so does detokenize for a token list that does not decode. `astcd --version` prints `astcd VERSION (BUILD_TYPE)`; `--help`, alone or
after a command, prints the usage on stdout; both exit 0.
"""
import os
import re
import subprocess
import sys
import tempfile

CLI = os.path.abspath(sys.argv[1])
TMP = tempfile.mkdtemp(prefix="astcd-cli-flags-")
failures = []
count = 0


def path(name, data=None):
    p = os.path.join(TMP, name)
    if data is not None:
        with open(p, "wb") as f:
            f.write(data)
    return p


def run(args, stdin=b""):
    return subprocess.run([CLI, *args], input=stdin, capture_output=True, timeout=120)


def refused(args, culprits, stdin=b""):
    global count
    count += 1
    p = run(args, stdin)
    err = p.stderr.decode("utf-8", "replace")
    problems = []
    if p.returncode != 2:
        problems.append(f"exit {p.returncode}, want 2")
    if p.stdout:
        problems.append(f"stdout {p.stdout[:120]!r}")
    if not err.startswith("astcd: "):
        problems.append("stderr does not start with 'astcd: '")
    for c in culprits:
        if c not in err:
            problems.append(f"stderr does not name {c!r}")
    if problems:
        failures.append(f"astcd {args}: {'; '.join(problems)}; stderr {err[:300]!r}")


def main():
    global count
    missing = path("missing.py")
    directory = os.path.join(TMP, "dir")
    os.mkdir(directory)
    source = path("ok.py", b"def f(x):\n    return x\n")
    garbage = path("garbage.jsonl", b"\x00\xff\xfe not json\n")
    not_object = path("list.jsonl", b"[1, 2, 3]\n")
    bad_tokens = path("bad.jsonl", b'{"tokens": [999999]}\n')

    # Flags.
    for command in ("vocab", "sample", "tokenize", "detokenize", "run", "forced", "dataset",
                    "audit"):
        refused([command, "--frobnicate", "1"], ["--frobnicate"])
    refused(["sample", "--n"], ["--n"])
    refused(["sample", "--n", "-1"], ["--n", "[1, "])
    refused(["sample", "--n", "0x10"], ["--n"])
    refused(["sample", "--n", "99999999999999999999"], ["--n"])
    refused(["sample", "--seed", "1.5"], ["--seed"])
    refused(["sample", "--threads", "0"], ["--threads"])
    refused(["sample", "--max-len", "abc"], ["--max-len"])
    refused(["sample", "--start", "nowhere"], ["nowhere"])
    refused(["sample", "--sexpr=maybe"], ["--sexpr"])
    refused(["sample", "--config", "{bad"], ["--config"])
    refused(["vocab", "stray"], ["stray"])
    refused(["dataset", "--inputs", "0"], ["--inputs"])
    refused(["dataset", "--input-range", "9,1"], ["--input-range"])
    refused(["dataset", "--start", "module"], ["--start"])
    refused(["dataset", "--keep-constant=maybe"], ["--keep-constant"])
    refused(["dataset", "--out", directory], ["--out"])
    refused(["frobnicate"], ["frobnicate"])
    refused(["run", "--tokens", "[1,2", "--args", "1"], ["--tokens"])
    refused(["run", "--tokens", "[1,2]", "--args", "x"], ["--args"])
    # --server addresses (gRPC would take port 99999 modulo 65536).
    for address in ("127.0.0.1:99999", "127.0.0.1", ":50051", "127.0.0.1:", "127.0.0.1:0",
                    "127.0.0.1:http", ""):
        refused(["vocab", "--server", address], ["--server"])
    # Input files.
    for command in (["tokenize"], ["detokenize"], ["forced"]):
        refused([*command, missing], [missing])
        refused([*command, directory], [directory, "directory"])
    refused(["run", "--source", missing, "--args", "1"], [missing])
    refused(["run", "--source", directory, "--args", "1"], [directory])
    refused(["audit", missing], [missing])
    if os.geteuid() != 0:  # root reads a mode-0 file
        unreadable = path("unreadable.py", b"def f(x):\n    return x\n")
        os.chmod(unreadable, 0)
        refused(["tokenize", unreadable], [unreadable])
    # Input lines that are not what the command reads, named by file and line.
    for command in ("detokenize", "forced"):
        refused([command, garbage], [f"{garbage}:1"])
        refused([command, not_object], [f"{not_object}:1"])
        refused([command, "-"], ["stdin:1"], stdin=b"not json\n")
    refused(["tokenize", "--jsonl", garbage], [f"{garbage}:1"])
    # forced needs a prefix that decodes; detokenize reports a bad list as data (docs/api.md).
    refused(["forced", bad_tokens], [f"{bad_tokens}:1"])
    count += 1
    p = run(["detokenize", bad_tokens])
    if p.returncode != 0 or b'"error":"tokens[0]' not in p.stdout:
        failures.append(f"detokenize of an id outside the vocabulary: exit {p.returncode}, "
                        f"{p.stdout[:200]!r}")

    # A source outside the language is data: a JSON line with ok false, exit 0.
    count += 1
    p = run(["tokenize", path("nul.py", b"def f(x):\n    return x\x00\n")])
    if p.returncode != 0 or b'"ok":false' not in p.stdout:
        failures.append(f"tokenize of a NUL source: exit {p.returncode}, {p.stdout[:200]!r}")
    count += 1
    p = run(["tokenize", source])
    if p.returncode != 0 or b'"ok":true' not in p.stdout:
        failures.append(f"tokenize {source}: exit {p.returncode}, {p.stdout[:200]!r}")
    # --version and --help.
    count += 1
    p = run(["--version"])
    if p.returncode != 0 or p.stderr or not re.fullmatch(rb"astcd \d+\.\d+\.\d+ \(\w+\)\n",
                                                           p.stdout):
        failures.append(f"astcd --version: exit {p.returncode}, {p.stdout!r}, {p.stderr!r}")
    for args in (["--help"], ["sample", "--help"], ["run", "--source", "x.py", "--help"]):
        count += 1
        p = run(args)
        if p.returncode != 0 or p.stderr or not p.stdout.startswith(b"usage: astcd"):
            failures.append(f"astcd {args}: exit {p.returncode}, stderr {p.stderr[:200]!r}")

    for f in failures:
        print("FAIL:", f)
    print(f"{count - len(failures)} of {count} checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
