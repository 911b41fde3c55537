#!/usr/bin/python3
"""astcd-server's command line, against the real binary: every bad flag is refused at start,
--help and --version tell the truth, and boundary values start a working server.

usage: flags_test.py ASTCD_SERVER PYTHON_STUBS_DIR

The flags are described once, in server/flags.cc's table; --help prints it. This test reads the
table back from --help and holds it against:
- the source table (server/flags.cc, kServerFlags: the same names and defaults);
- docs/operations.md's "Flags" table (the same names, defaults and ranges);
- the binary itself: every flag --help lists is accepted with its default, every range bound
  is accepted and one past it refused.

Each refused command line must exit 2 before opening any port (no "listening" line on stdout,
and under strace, when it works here, no bind(2) or listen(2) on an inet socket) and must name
the flag on the last line of stderr, `astcd-server: --flag ...`.
"""
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

SERVER, STUBS = os.path.abspath(sys.argv[1]), sys.argv[2]
sys.path.insert(0, STUBS)

import grpc  # noqa: E402
from astcd.v1 import astcd_pb2 as pb  # noqa: E402
from astcd.v1 import astcd_pb2_grpc as pbg  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
FLAGS_CC = os.path.join(ROOT, "server", "flags.cc")
OPERATIONS = os.path.join(ROOT, "docs", "operations.md")
TMP = tempfile.mkdtemp(prefix="astcd-flags-")
# Every start gets these unless the case sets them: no fixed port, no metrics.
BASE = {"listen": "127.0.0.1:0", "metrics-listen": ""}

passed, failed = 0, 0


def check(name):
    def wrap(fn):
        global passed, failed
        t0 = time.monotonic()
        try:
            fn()
            passed += 1
            print(f"ok   {name} ({time.monotonic() - t0:.2f}s)", flush=True)
        except Exception:  # noqa: BLE001
            failed += 1
            print(f"FAIL {name}", flush=True)
            traceback.print_exc()
        return fn
    return wrap


def tmpfile(name, data):
    path = os.path.join(TMP, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def strace_works():
    if shutil.which("strace") is None:
        return False
    try:
        r = subprocess.run(["strace", "-f", "-qq", "-e", "trace=bind", "-o", os.devnull, "true"],
                           capture_output=True, timeout=30)
        return r.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


STRACE = strace_works()


def run(args, timeout=30):
    """(exit status, stdout, stderr, inet binds/listens seen by strace or None)."""
    trace = None
    cmd = [SERVER, *args]
    if STRACE:
        trace = os.path.join(TMP, "strace.txt")
        cmd = ["strace", "-f", "-qq", "-e", "trace=bind,listen", "-e", "signal=none",
               "-o", trace, *cmd]
    # LeakSanitizer cannot run under ptrace: a sanitizer build traced here skips leak checks.
    env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       env=env if STRACE else None)
    opened = None
    if trace is not None:
        with open(trace) as f:
            calls = f.read()
        # listen(2) on any socket, or bind(2) of an inet address.
        opened = [line for line in calls.splitlines()
                  if re.search(r"\blisten\(", line) or "AF_INET" in line]
    return r.returncode, r.stdout, r.stderr, opened


def command_line(flags, extra=()):
    """--name=value for BASE overridden by flags (a dict; a None value drops the flag)."""
    merged = dict(BASE)
    merged.update(flags)
    return [f"--{k}={v}" for k, v in merged.items() if v is not None] + list(extra)


def expect_refused(args, flag, what=None):
    code, out, err, opened = run(args)
    lines = err.strip().splitlines()
    assert code == 2, f"{args}: exit {code}, want 2\nstdout: {out}\nstderr: {err}"
    assert out == "", f"{args}: printed on stdout: {out!r}"
    assert lines, f"{args}: nothing on stderr"
    last = lines[-1]
    assert last.startswith("astcd-server: "), f"{args}: last stderr line {last!r}"
    assert f"--{flag}" in last, f"{args}: {last!r} does not name --{flag}"
    if what is not None:
        assert what in last, f"{args}: {last!r} does not say {what!r}"
    assert "listening" not in err, f"{args}: it logged listening: {err}"
    assert opened in (None, []), f"{args}: opened a port: {opened}"
    return last


# ---------------------------------------------------------------------------------------------
# The table, as --help prints it: "  --name (default VALUE; CHECK)" then an indented help line.

HELP_LINE = re.compile(r"^  --([a-z0-9-]+) \(default (.*?); (.*)\)$")


def parse_help(text):
    table = {}
    for line in text.splitlines():
        m = HELP_LINE.match(line)
        if m:
            default = m.group(2)
            table[m.group(1)] = ('' if default == '""' else default, m.group(3))
    return table


code, HELP_OUT, HELP_ERR, _ = run(["--help"])
TABLE = parse_help(HELP_OUT)
INT_RANGE = re.compile(r"^\[(-?\d+), (-?\d+)\]$")
DURATION_RANGE = re.compile(r"^\[([0-9a-z.]+), ([0-9a-z.]+)\]$")


def int_ranges():
    return {n: tuple(int(x) for x in INT_RANGE.match(c).groups())
            for n, (_, c) in TABLE.items() if INT_RANGE.match(c)}


def duration_ranges():
    return {n: DURATION_RANGE.match(c).groups() for n, (_, c) in TABLE.items()
            if not INT_RANGE.match(c) and DURATION_RANGE.match(c)}


def seconds(duration):
    units = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d*)?)(ns|us|ms|s|m|h)",
                                                          duration))


def start(args):
    """Starts the server; returns (process, target). The caller stops it."""
    p = subprocess.Popen([SERVER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    ready, _, _ = select.select([p.stdout], [], [], 30)
    if not ready:
        p.kill()
        raise AssertionError(f"{args}: no line on stdout in 30 s")
    line = p.stdout.readline().strip()
    if not line.startswith("astcd-server listening on "):
        p.kill()
        raise AssertionError(f"{args}: first line {line!r}, exit {p.wait()}, stderr "
                             f"{p.stderr.read()}")
    return p, line.rsplit(" ", 1)[1]


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        code = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()  # a failed check must not leave a server behind
        p.wait()
        raise
    assert code == 0, f"exit {code} on SIGTERM: {p.stderr.read()}"


def serves(args):
    p, target = start(args)
    try:
        with grpc.insecure_channel(target) as channel:
            vocab = pbg.DecoderStub(channel).GetVocabulary(pb.GetVocabularyRequest(), timeout=30)
        assert len(vocab.tokens) > 10, f"{args}: a vocabulary of {len(vocab.tokens)} tokens"
    finally:
        stop(p)


def main():
    @check("--help: exit 0, nothing on stderr, no absl text, a row per flag")
    def _():
        assert code == 0, f"--help exit {code}"
        assert HELP_ERR == "", f"--help wrote on stderr: {HELP_ERR!r}"
        assert "absl" not in HELP_OUT.lower() and "Try --help" not in HELP_OUT
        assert HELP_OUT.startswith("usage: astcd-server"), HELP_OUT[:200]
        assert len(TABLE) >= 20, f"--help lists {len(TABLE)} flags: {sorted(TABLE)}"
        for name in ("max-run-steps", "max-trace-events", "max-decode-streams",
                     "max-response-bytes", "max-session-bytes"):
            assert name in TABLE, f"--help does not list --{name}"
        # --helpfull and the underscore spelling give the same text.
        for alias in ("--helpfull", "--help"):
            c, out, err, _ = run(["--max_batch=3", alias])
            assert (c, out, err) == (0, HELP_OUT, ""), (alias, c, err)

    @check("--help lists the flags of server/flags.cc's table, with its defaults")
    def _():
        with open(FLAGS_CC) as f:
            source = f.read()
        body = source[source.index("kServerFlags[] = {"):]
        body = body[:body.index("\n};")]
        rows = dict(re.findall(r'\{"([a-z0-9-]+)",\s*"([^"]*)"', body))
        assert rows == {n: d for n, (d, _) in TABLE.items()}, (rows, TABLE)

    @check("docs/operations.md's flag table matches --help: names, defaults, ranges")
    def _():
        with open(OPERATIONS) as f:
            doc = f.read()
        section = doc[doc.index("\n## Flags\n"):]
        section = section[:section.index("\n## ", 1)]
        documented = {}
        for row in re.findall(r"^\| `--([a-z0-9-]+)` \|(.*)$", section, re.M):
            cells = [c.strip() for c in row[1].split(" | ")]
            documented[row[0]] = (cells[0].strip("`"), cells[1].strip("`"))
        assert set(documented) == set(TABLE), (
            f"docs only: {sorted(set(documented) - set(TABLE))}, "
            f"--help only: {sorted(set(TABLE) - set(documented))}")
        for name, (default, rng) in TABLE.items():
            doc_default, doc_range = documented[name]
            want_default = '""' if default == "" else default
            assert doc_default == want_default, f"--{name}: docs default {doc_default!r}, " \
                                                f"--help {want_default!r}"
            assert doc_range == rng, f"--{name}: docs range {doc_range!r}, --help {rng!r}"

    @check("every flag --help lists is accepted with its default, dashes or underscores")
    def _():
        args = []
        for name, (default, _) in TABLE.items():
            if name in BASE:
                continue
            spelled = name.replace("-", "_") if len(args) % 2 else name
            args.append(f"--{spelled}={default}")
        serves(command_line({}, args))
        # And "--flag value" as well as "--flag=value".
        serves(["--listen", "127.0.0.1:0", "--metrics-listen", "", "--max-batch", "7"])

    @check("--version: `astcd-server VERSION (BUILD_TYPE)` from CMake, exit 0")
    def _():
        c, out, err, _ = run(["--version"])
        assert (c, err) == (0, ""), (c, err)
        m = re.fullmatch(r"astcd-server (\d+\.\d+\.\d+) \(([A-Za-z]+)\)\n", out)
        assert m, f"--version printed {out!r}"
        with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
            project = re.search(r"project\(astcd VERSION ([\d.]+)", f.read())
        assert project and project.group(1) == m.group(1), (project, m.group(1))
        cache = os.path.join(os.path.dirname(os.path.dirname(SERVER)), "CMakeCache.txt")
        if os.path.exists(cache):
            with open(cache) as f:
                build_type = re.search(r"^CMAKE_BUILD_TYPE:\w+=(.*)$", f.read(), re.M)
            want = build_type.group(1) if build_type else ""
            if not want:  # the top CMakeLists.txt's fallback for an unset build type
                with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
                    want = re.search(r"set\(CMAKE_BUILD_TYPE (\w+)\)", f.read()).group(1)
            assert want == m.group(2), f"--version says {m.group(2)}, the build {want}"

    # -----------------------------------------------------------------------------------------
    # Refused command lines. (flags to set, flag the message must name, text it must hold)
    pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    cert = tmpfile("cert.pem", pem)
    key = tmpfile("key.pem", b"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n")
    garbage = tmpfile("garbage.pem", b"\x00\x01 not a certificate at all\n")
    empty = tmpfile("empty", b"")
    missing = os.path.join(TMP, "missing.pem")
    bad_tokens = tmpfile("tokens", b"only-one-field\n")
    unreadable = tmpfile("unreadable.pem", pem)
    os.chmod(unreadable, 0)
    root = os.geteuid() == 0  # root reads a mode-0 file

    cases = [
        # The list.
        ({"max-batch": "-1"}, "max-batch", "must lie in [1, 65536], got -1"),
        ({"max-sessions": "-5"}, "max-sessions", None),
        ({"session-ttl": "0s"}, "session-ttl", None),
        ({"session-ttl": "-1s"}, "session-ttl", None),
        ({"drain-deadline": "-1s"}, "drain-deadline", None),
        ({"max-sources": "0"}, "max-sources", None),
        ({"max-source-bytes": "-1"}, "max-source-bytes", None),
        ({"max-sessions-per-tenant": "-1"}, "max-sessions-per-tenant", None),
        ({"listen": "127.0.0.1:99999"}, "listen", "port outside [0, 65535]"),
        # Malformed numbers and durations.
        ({"max-batch": "abc"}, "max-batch", "an integer"),
        ({"max-batch": "1.5"}, "max-batch", None),
        ({"max-batch": ""}, "max-batch", None),
        ({"max-batch": "0x10"}, "max-batch", None),
        ({"max-batch": " 5"}, "max-batch", None),
        ({"max-sessions": "99999999999999999999999"}, "max-sessions", None),
        ({"max-session-bytes": "1GiB"}, "max-session-bytes", None),
        ({"session-ttl": "10"}, "session-ttl", "duration"),
        ({"session-ttl": "ten minutes"}, "session-ttl", None),
        ({"session-ttl": "inf"}, "session-ttl", None),
        ({"session-ttl": ""}, "session-ttl", None),
        ({"drain-deadline": "10 s"}, "drain-deadline", None),
        # Addresses.
        ({"listen": "127.0.0.1"}, "listen", "HOST:PORT"),
        ({"listen": ":50051"}, "listen", "no host"),
        ({"listen": "127.0.0.1:-1"}, "listen", None),
        ({"listen": "127.0.0.1:http"}, "listen", None),
        ({"listen": "127.0.0.1:"}, "listen", None),
        ({"listen": ""}, "listen", None),
        ({"listen": "[::1:50051"}, "listen", None),
        ({"listen": "127.0.0.1:650000"}, "listen", None),
        ({"metrics-listen": "127.0.0.1:70000"}, "metrics-listen", None),
        ({"metrics-listen": "localhost"}, "metrics-listen", None),
        # Choices.
        ({"log-level": "warn"}, "log-level", "info or debug"),
        ({"log-level": ""}, "log-level", None),
        # Files, and flags that need another.
        ({"tls-cert": cert}, "tls-cert", "needs --tls-key"),
        ({"tls-key": key}, "tls-key", "needs --tls-cert"),
        ({"tls-client-ca": cert}, "tls-client-ca", "needs --tls-cert"),
        ({"tls-cert": missing, "tls-key": key}, "tls-cert", "cannot read"),
        ({"tls-cert": cert, "tls-key": missing}, "tls-key", "cannot read"),
        ({"tls-cert": TMP, "tls-key": key}, "tls-cert", None),
        ({"tls-cert": empty, "tls-key": key}, "tls-cert", "empty"),
        ({"tls-cert": garbage, "tls-key": key}, "tls-cert", "no PEM"),
        ({"tls-cert": cert, "tls-key": key, "tls-client-ca": garbage}, "tls-client-ca", None),
        ({"auth-tokens": missing}, "auth-tokens", "cannot read"),
        ({"auth-tokens": empty}, "auth-tokens", None),
        ({"auth-tokens": bad_tokens}, "auth-tokens", None),
    ]
    if not root:
        cases.append(({"tls-cert": unreadable, "tls-key": key}, "tls-cert", "cannot read"))
    # One past each end of every integer and duration range --help gives.
    for name, (lo, hi) in int_ranges().items():
        cases.append(({name: str(lo - 1)}, name, f"got {lo - 1}"))
        cases.append(({name: str(hi + 1)}, name, f"got {hi + 1}"))
        cases.append(({name: "12abc"}, name, None))
    for name, (lo, hi) in duration_ranges().items():
        below = f"{seconds(lo) - 0.001:.3f}s" if seconds(lo) > 0 else "-1ms"
        cases.append(({name: below}, name, None))
        cases.append(({name: f"{seconds(hi) + 1:.0f}s"}, name, None))

    @check(f"{len(cases)} bad flag values: exit 2, the flag named, no port opened")
    def _():
        bad = []
        for flags, flag, what in cases:
            try:
                expect_refused(command_line(flags), flag, what)
            except AssertionError as e:
                bad.append(str(e))
        assert not bad, f"{len(bad)} of {len(cases)} cases:\n" + "\n".join(bad)

    command_lines = [
        (["--no-such-flag=1"], "no-such-flag", "not a flag"),
        (["--max-batchx=1"], "max-batchx", None),
        (["--max-batch"], "max-batch", "needs a value"),
        (["--help=yes"], "help", None),
        (["--version=1"], "version", None),
    ]

    @check(f"{len(command_lines) + 2} bad command lines: unknown flags, missing values, "
           f"stray words")
    def _():
        bad = []
        for extra, flag, what in command_lines:
            try:
                expect_refused(command_line({}, extra), flag, what)
            except AssertionError as e:
                bad.append(str(e))
        for extra in (["serve"], ["-listen=127.0.0.1:0"]):
            c, out, err, opened = run(command_line({}, extra))
            if c != 2 or out or "unexpected argument" not in err or opened:
                bad.append(f"{extra}: exit {c}, stderr {err!r}, opened {opened}")
        assert not bad, "\n".join(bad)

    @check("a bad flag after good ones, and the last of a repeated flag, decide")
    def _():
        expect_refused(command_line({}, ["--max-batch=4", "--max-batch=0"]), "max-batch")
        serves(command_line({}, ["--max-batch=8", "--max-batch=4"]))

    @check("every range bound starts a server that answers GetVocabulary")
    def _():
        for end in (0, 1):
            flags = {name: str(r[end]) for name, r in int_ranges().items()}
            flags.update({name: r[end] for name, r in duration_ranges().items()})
            serves(command_line(flags))
        serves(command_line({"listen": "localhost:0", "metrics-listen": "127.0.0.1:0"}))
        serves(command_line({"session-ttl": "1h30m", "drain-deadline": "250ms",
                             "log-level": "debug"}))

    print(f"{passed} passed, {failed} failed "
          f"({len(cases) + len(command_lines) + 2} refused command lines; "
          f"strace {'on' if STRACE else 'unavailable: stdout and logs only'})")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
