"""`astcd ... --server HOST:PORT` prints exactly what `astcd ...` prints in-process.

Usage: cli_remote_test.py ASTCD_BINARY ASTCD_SERVER_BINARY

Starts the real astcd-server on a free loopback port and runs every command of a matrix both
ways, comparing stdout, stderr and the exit status byte for byte.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile

CLI, SERVER = sys.argv[1], sys.argv[2]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)


def run(args, stdin=None):
    p = subprocess.run([CLI] + args, input=stdin, capture_output=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def same(args, stdin=None, expect_code=0):
    """Runs args in-process and through the server; everything printed must match."""
    local = run(args, stdin)
    remote = run(args + ["--server", TARGET], stdin)
    name = " ".join(args)[:120]
    check(local[0] == expect_code, f"{name}: in-process exit {local[0]} != {expect_code}: "
          f"{local[2].decode()[:300]}")
    check(remote[0] == local[0], f"{name}: exit {remote[0]} remotely, {local[0]} in-process: "
          f"{remote[2].decode()[:300]}")
    check(remote[1] == local[1], f"{name}: stdout differs\n local: {local[1][:300]!r}\n "
          f"remote: {remote[1][:300]!r}")
    check(remote[2] == local[2], f"{name}: stderr differs\n local: {local[2][:300]!r}\n "
          f"remote: {remote[2][:300]!r}")
    return local


server = subprocess.Popen([SERVER, "--listen", "127.0.0.1:0", "--metrics-listen", ""],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
line = server.stdout.readline()
assert line.startswith("astcd-server listening on "), line
TARGET = line.split()[-1]

try:
    tmp = tempfile.mkdtemp()

    def write(name, text):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    loops = '{"allow_loops": true, "max_control_depth": 3, "arities": [0, 2]}'
    # vocab
    same(["vocab"])
    same(["vocab", "--config", loops])
    same(["vocab", "--config", '{"max_expr_depth": 99}'], expect_code=2)

    # sample: every start, both samplers, a policy, a chunk boundary (4096) crossed
    for start in ["module", "function", "block", "expr"]:
        for sampler in ["uniform", "weighted"]:
            same(["sample", "--start", start, "--n", "40", "--seed", "5", "--sampler", sampler,
                  "--sexpr"])
    same(["sample", "--start", "function", "--n", "4100", "--seed", "9", "--sampler",
          "weighted", "--max-new-tokens", "60"])
    out = same(["sample", "--start", "block", "--arity", "2", "--n", "30", "--seed", "1",
                "--stop-at", "complete", "--config", loops, "--max-len", "50",
                "--policy", '{"weights": {"for/1": 3.0}, "depth_pressure": 1.2}',
                "--sampler", "weighted"])
    check(len(out[1].splitlines()) == 30, "sample printed 30 lines")
    same(["sample", "--n", "3", "--max-new-tokens", "5", "--seed", "2"])
    same(["sample", "--sampler", "greedy"], expect_code=2)

    # animate samples through the server and renders here (docs/visualize.md)
    for start in ["module", "expr"]:
        same(["animate", "--start", start, "--seed", "6", "--delay", "0"])
    same(["animate", "--seed", "3", "--delay", "0", "--sampler", "weighted", "--config", loops,
          "--max-len", "80"])
    same(["animate", "--sampler", "greedy"], expect_code=2)

    # dataset (tests/cli/dataset_test.py has the rest): rows and summary, a usage error
    out = same(["dataset", "--n", "20", "--seed", "3", "--sampler", "weighted", "--threads", "2",
                "--padded-tokens", "--config", loops])
    check(len(out[1].splitlines()) == 20, "dataset printed 20 rows")
    same(["dataset", "--inputs", "0"], expect_code=2)

    # tokenize: ok, outside the language, not Python, partial, JSON Lines, block with arity
    good = write("good.py", "def f(a, b):\n    c = a * b\n    return c - a\n")
    bad = write("bad.py", "def f(x):\n    return x / 2\n")
    broken = write("broken.py", "def f(:\n")
    same(["tokenize", good, bad, broken])
    same(["tokenize", "--partial", "-"], stdin=b"def f(a):\n    if a:\n")
    lines = "\n".join(json.dumps({"source": s}) for s in
                      ["a + b", "min(a, 3)", "a if b else 7", "x + 1", "a / b"])
    same(["tokenize", "--jsonl", "--start", "expr", "--arity", "2", "-"], stdin=lines.encode())
    same(["tokenize", "--start", "block", "--arity", "2", "--config", loops, "-"],
         stdin=b"for i in range(a):\n    b = b + i\nreturn b\n")
    same(["tokenize", "--arity", "2", good], expect_code=2)

    # detokenize: round trip of sampled programs, a bad stream, an early end
    sampled = run(["sample", "--start", "function", "--n", "20", "--seed", "3"])[1]
    programs = "\n".join(json.dumps({"tokens": json.loads(l)["tokens"]})
                         for l in sampled.decode().splitlines())
    same(["detokenize", "--start", "function", "-"], stdin=programs.encode())
    same(["detokenize", "-"], stdin=b'{"tokens": [3, 15, 999]}\n{"tokens": [3]}\n')
    same(["detokenize", "--partial", "-"], stdin=b'{"tokens": [3, 15]}\n')
    same(["detokenize", "-"], stdin=b'not json\n', expect_code=2)

    # forced: the chains after every prefix of sampled programs, other starts, bad prefixes
    for start in ["function", "module"]:
        sampled = run(["sample", "--start", start, "--n", "6", "--seed", "11",
                       "--max-new-tokens", "40"])[1]
        prefixes = "".join(json.dumps({"tokens": t[:k]}) + "\n"
                           for t in (json.loads(l)["tokens"] for l in sampled.decode().splitlines())
                           for k in range(len(t) + 1))
        out = same(["forced", "--start", start, "--max-len", "40", "-"], stdin=prefixes.encode())
        check(any(json.loads(l)["forced"] for l in out[1].decode().splitlines()),
              f"forced --start {start}: some prefix has a chain")
    same(["forced", "--start", "block", "--arity", "2", "--config", loops, "--max-len", "6", "-"],
         stdin=b'{"tokens": []}\n')
    same(["forced", "--start", "expr", "--arity", "2", "--max-len", "3", "-"],
         stdin=b'{"tokens": []}\n')
    same(["forced", "-"], stdin=b'{"tokens": [3, 15, 999]}\n', expect_code=2)
    same(["forced", "-"], stdin=b'{"tokens": []}\n{"tokens": [1, 1]}\n', expect_code=2)
    same(["forced", "--max-len", "2", "-"], stdin=b'{"tokens": []}\n', expect_code=2)
    same(["forced", "-"], stdin=b'{"toks": []}\n', expect_code=2)

    # run: source, tokens, invalid programs, entries, traces, locals, limits, bad tuples
    loop_src = write("loop.py", "def f(a, b):\n    for i in range(a):\n        b = b * 2\n"
                     "    return b\n")
    same(["run", "--source", good, "--args", "3,4", "--args", "-5,7", "--trace", "--locals"])
    same(["run", "--source", loop_src, "--config", loops, "--args", "10,1", "--args", "100,1",
          "--trace"])
    same(["run", "--source", loop_src, "--config", loops, "--args", "1000000,1",
          "--max-steps", "50"])
    same(["run", "--source", bad, "--args", "1"])
    same(["run", "--source", broken, "--args", "1"])
    two = write("two.py", "def f(a):\n    return a + 1\n\n\ndef g(a, b):\n    return a * b\n")
    same(["run", "--source", two, "--args", "3,4"])
    same(["run", "--source", two, "--entry", "0", "--args", "3"])
    same(["run", "--source", two, "--entry", "5", "--args", "3"], expect_code=2)
    same(["run", "--source", good, "--args", "1,2,3"], expect_code=2)
    same(["run", "--source", good, "--args", "1,2", "--args", "99999999999,1"], expect_code=2)
    toks = json.loads(run(["tokenize", good])[1])["tokens"]
    same(["run", "--tokens", json.dumps(toks), "--args", "6,7"])
    same(["run", "--tokens", "[3, 15, 999]", "--args", "1,2"])
    same(["run", "--tokens", "[3]", "--args", "1"])
    same(["run", "--start", "expr", "--arity", "2", "--source", "-", "--args", "7,0",
          "--args", "7,2"], stdin=b"a // b\n")

    # Without a server: a clear error and exit 1, not a usage error.
    p = subprocess.run([CLI, "vocab", "--server", "127.0.0.1:1"], capture_output=True,
                       timeout=300)
    check(p.returncode == 1, f"unreachable server exits 1, not {p.returncode}")
    check(b"UNAVAILABLE" in p.stderr, f"unreachable server names UNAVAILABLE: {p.stderr!r}")
    p = subprocess.run([CLI, "vocab", "--server", "nonsense"], capture_output=True, timeout=60)
    check(p.returncode == 2 and b"--server" in p.stderr, f"bad --server: {p.stderr!r}")
finally:
    server.send_signal(signal.SIGTERM)
    code = server.wait(timeout=120)
    check(code == 0, f"server exit {code}")

if failures:
    print(f"{len(failures)} failure(s)")
    sys.exit(1)
print("cli_remote_test: all matched")
