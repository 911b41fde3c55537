#!/usr/bin/python3
"""Deeply nested Tokenize sources against the real astcd-server, run with a 1 MiB stack.

usage: depth_test.py ASTCD_SERVER PYTHON_STUBS_DIR

#12 items 14 and 12: 80,000 elifs killed the server (SIGSEGV: the normalizer recursed once an
elif), and one 1 MiB `a+a+...` line cost 2.6 s of CPU and 269 MB before its depth was refused.
The server runs under `ulimit -s 1024`: glibc sizes the default thread stack (gRPC's threads
and ours) from RLIMIT_STACK, so every thread gets 1 MiB, an eighth of the usual default, and a
recursion kMaxNesting does not bound crashes it. Costs are asserted as ceilings on the server's
own peak RSS (VmHWM) and CPU time (utime + stime), never on wall-clock time.
"""
import select
import subprocess
import sys
import tempfile
import traceback

SERVER, STUBS = sys.argv[1], sys.argv[2]
sys.path.insert(0, STUBS)

import grpc  # noqa: E402
from astcd.v1 import astcd_pb2 as pb  # noqa: E402
from astcd.v1 import astcd_pb2_grpc as pbg  # noqa: E402
from proc_usage import cpu_seconds, memory  # noqa: E402

STACK_KIB = 1024
# What one refused 1 MiB request may cost the server (it was +269 MB and 2.6 s). Most of what
# is left is the lexer's tokens (40 bytes each, up to one a byte), before the parser refuses.
RSS_CEILING_KIB = 64 * 1024  # VmHWM growth (measured: +43 MB)
CPU_CEILING_S = 1.0          # utime + stime (measured: 0.18 s)
# Under AddressSanitizer (tests/run.sh's second build) freed memory waits in a quarantine and
# every access is checked: the same work costs more.
ASAN_RSS_FACTOR, ASAN_CPU_FACTOR = 2, 4  # measured: +49 MB and 0.43 s there
MAX_MESSAGE = 8 << 20        # a 1 MiB source is over gRPC's default client limits for replies

LOG = tempfile.TemporaryFile(mode="w+")  # the server's stderr, printed if a check fails
passed, failed = 0, 0


def check(name):
    def wrap(fn):
        global passed, failed
        try:
            fn()
            passed += 1
            print(f"ok   {name}", flush=True)
        except Exception:  # noqa: BLE001
            failed += 1
            print(f"FAIL {name}", flush=True)
            traceback.print_exc()
        return fn
    return wrap


def start_server():
    p = subprocess.Popen(["bash", "-c", f'ulimit -s {STACK_KIB} && exec "$0" "$@"', SERVER,
                          "--listen=127.0.0.1:0", "--metrics-listen="],
                         stdout=subprocess.PIPE, stderr=LOG, text=True)
    ready, _, _ = select.select([p.stdout], [], [], 60)
    assert ready, "server did not start"
    line = p.stdout.readline().strip()
    assert line.startswith("astcd-server listening on 127.0.0.1:"), line
    with open(f"/proc/{p.pid}/limits") as f:
        stack = next(row for row in f if row.startswith("Max stack size")).split()
    assert int(stack[3]) == STACK_KIB * 1024, f"the server's stack limit is {stack[3]}"
    channel = grpc.insecure_channel(line.rsplit(" ", 1)[1], options=[
        ("grpc.max_send_message_length", MAX_MESSAGE),
        ("grpc.max_receive_message_length", MAX_MESSAGE)])
    return p, pbg.DecoderStub(channel)


def peak_rss_kib(pid):
    return memory(pid)["VmHWM"] // 1024


def sanitized(pid):
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


def tokenize(stub, source, partial=False):
    r = stub.Tokenize(pb.TokenizeRequest(sources=[source], start=pb.START_FUNCTION,
                                         partial=partial), timeout=120)
    assert len(r.results) == 1
    return r.results[0]


def expect_too_deep(result, what):
    assert not result.ok, f"{what}: tokenized"
    e = result.error
    assert e.stage == "unsupported_syntax", f"{what}: stage {e.stage!r}: {e.message}"
    assert "nests deeper than 100 levels" in e.message, f"{what}: {e.message}"
    assert e.line >= 2, f"{what}: line {e.line}"


def expect_alive(p, stub):
    assert p.poll() is None, f"the server exited with {p.returncode}"
    r = tokenize(stub, "def f(a):\n    return a + 1\n")
    assert r.ok, r.error


ELIFS = "def f(a):\n if a:pass\n" + " elif a:pass\n" * 80000


def with_server(fn):
    """Runs fn(p, stub) against a fresh server, so that one crash fails only its own check."""
    def run():
        p, stub = start_server()
        try:
            expect_alive(p, stub)  # warms up: engines, the widest config, gRPC's buffers
            fn(p, stub)
        finally:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=60)
            else:
                LOG.seek(0)
                print(f"server exit status {p.returncode}; its stderr ends:\n"
                      f"{LOG.read()[-2000:]}", flush=True)
            LOG.seek(0)
            LOG.truncate()
    return run


def main():
    @check("80,000 elifs (1 MB) are refused as too deep, and the server lives")
    @with_server
    def _(p, stub):
        assert len(ELIFS) < 1 << 20, len(ELIFS)  # under the default max_source_bytes
        for partial in (False, True):
            expect_too_deep(tokenize(stub, ELIFS, partial), f"elifs partial={partial}")
        expect_alive(p, stub)

    @check("every deep shape is refused with a 1 MiB stack, and the server lives")
    @with_server
    def _(p, stub):
        head = "def f(a):\n    return "
        shapes = {
            "parentheses": head + "(" * 199 + "a" + ")" * 199 + "\n",
            "unary minus": head + "-" * 300000 + "a\n",
            "not": head + "not " * 200000 + "a\n",
            "calls": head + "abs(" * 199 + "a" + ")" * 199 + "\n",
            "lambdas": head + "lambda: " * 100000 + "a\n",
            "attributes": head + "a" + ".b" * 300000 + "\n",
            "if-else expressions": head + "a if a else " * 80000 + "a\n",
            "nested blocks": "def f(a):\n" + "".join(
                " " * (i + 1) + "if a:\n" for i in range(99)) + " " * 100 + "pass\n",
        }
        for name, source in shapes.items():
            r = tokenize(stub, source)
            assert not r.ok and r.error.stage in ("unsupported_syntax", "python_parse"), \
                f"{name}: {r.error}"
        expect_alive(p, stub)

    @check("a 1 MiB a+a+... line is refused while parsed: bounded peak RSS and CPU")
    @with_server
    def _(p, stub):
        source = "def f(a):\n    return a"
        source += "+a" * (((1 << 20) - len(source) - 1) // 2) + "\n"
        asan = sanitized(p.pid)
        rss_ceiling = RSS_CEILING_KIB * (ASAN_RSS_FACTOR if asan else 1)
        cpu_ceiling = CPU_CEILING_S * (ASAN_CPU_FACTOR if asan else 1)
        rss, cpu = peak_rss_kib(p.pid), cpu_seconds(p.pid)
        expect_too_deep(tokenize(stub, source), "a+a+...")
        rss_growth, cpu_used = peak_rss_kib(p.pid) - rss, cpu_seconds(p.pid) - cpu
        print(f"     peak RSS +{rss_growth} KiB, CPU {cpu_used:.2f} s"
              f"{' (AddressSanitizer)' if asan else ''}", flush=True)
        assert rss_growth < rss_ceiling, f"peak RSS grew {rss_growth} KiB"
        assert cpu_used < cpu_ceiling, f"the request took {cpu_used:.2f} s of CPU"
        expect_alive(p, stub)

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
