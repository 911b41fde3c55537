#!/usr/bin/python3
"""The bad-input catalogue of issue #12: hostile and extreme requests against the real server.

usage: hostile_test.py ASTCD_SERVER PYTHON_STUBS_DIR ASTCD_CLI

A data-driven table of bad or extreme requests over every RPC. Each row has a name, the
server it runs on, how to send it, the gRPC code it must get and the google.rpc.BadRequest
field it must name (None: no field). For every row the test asserts the code and the field
(matched as docs/api.md says: the whole path, or a path it starts, so `requests[0]` matches
`requests[0].arity`), that the server's watched sessions are unchanged (made at start with
some tokens; compared through Rollback-by-0's states, LegalMasks and Run, never Decode), and
that the server is alive (GetVocabulary answers). An "amplification probe" row also asserts
ceilings on the server's CPU (utime + stime in /proc/PID/stat, once it has settled) and peak
RSS (VmHWM, reset through /proc/PID/clear_refs when allowed). At the end every server's peak
RSS and CPU are checked against ceilings. No assertion is on wall-clock time, but one: after
SIGTERM with --drain-deadline=1s the process must have exited within a bound (the drain
contract).

Several servers run, each with the small limits its rows need. The servers started with the
budget flags of #12 (--max-run-steps, --max-trace-events, --max-decode-streams,
--max-response-bytes, --max-session-bytes) fail their rows when the binary does not know them.

Environment: ASTCD_HOSTILE_RSS_FACTOR multiplies every RSS ceiling (default 4 when the server's
path contains build-asan, else 1); ASTCD_HOSTILE_CPU_FACTOR multiplies the CPU ceilings
(default 3 under ASan, else 1); ASTCD_HOSTILE_FILTER runs only rows whose name contains it, and
ASTCD_HOSTILE_SERVERS (comma-separated) only the rows of those servers.

One line per row; exits 1 with a summary when any row fails.
"""
import collections
import math
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

SERVER, STUBS, CLI = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, STUBS)

import grpc  # noqa: E402
from astcd.v1 import astcd_pb2 as pb  # noqa: E402
from astcd.v1 import astcd_pb2_grpc as pbg  # noqa: E402
from google.rpc import error_details_pb2, status_pb2  # noqa: E402
from proc_usage import cpu_seconds, memory  # noqa: E402

ASAN = "build-asan" in SERVER
RSS_FACTOR = float(os.environ.get("ASTCD_HOSTILE_RSS_FACTOR", "4" if ASAN else "1"))
CPU_FACTOR = float(os.environ.get("ASTCD_HOSTILE_CPU_FACTOR", "3" if ASAN else "1"))
FILTER = os.environ.get("ASTCD_HOSTILE_FILTER", "")
ONLY_SERVERS = os.environ.get("ASTCD_HOSTILE_SERVERS", "")
MB = 1 << 20

SC = grpc.StatusCode
OK, IA, FP, NF, RE, UA, DE, CA, UN, UI = (
    SC.OK, SC.INVALID_ARGUMENT, SC.FAILED_PRECONDITION, SC.NOT_FOUND, SC.RESOURCE_EXHAUSTED,
    SC.UNAUTHENTICATED, SC.DEADLINE_EXCEEDED, SC.CANCELLED, SC.UNAVAILABLE, SC.UNIMPLEMENTED)
CODE_BY_NUMBER = {c.value[0]: c for c in SC}
C, R, TL, AT = pb.DecodeConfig, pb.InitRequest, pb.TokenList, pb.ArgTuple
I32_MAX, I32_MIN, I64_MAX, I64_MIN = 2**31 - 1, -2**31, 2**63 - 1, -2**63
T = 30  # deadline of an ordinary call: a hung server fails the row, not the whole test

# The default vocabulary's ids (docs/language.md §6); checked against GetVocabulary at start.
PAD, EOS, DEF1, DEF2, ASSIGN, IF, RETURN, PASS, END, PLUS, A, B, ONE = (
    0, 1, 2, 3, 5, 11, 15, 17, 20, 21, 40, 41, 48)
VOCAB_SIZE = 57
FN = R(start=pb.START_FUNCTION)
WIDE = C(max_block_stmts=64, max_expr_depth=16, max_control_depth=8, max_locals=20,
         max_functions=16, allow_loops=True)
LOOP = C(allow_loops=True)
LOOP_SRC = "def f(a):\n    for i in range(a):\n        pass\n    return a\n"
ID_SRC = "def f(a):\n    return a\n"


# ---- Outcomes -------------------------------------------------------------------------------

class Outcome:
    def __init__(self, code, fields=(), message="", value=None):
        self.code, self.fields, self.message, self.value = code, list(fields), message, value
        # CPU seconds the probe allows beyond its ceiling: the server's cores times how late
        # the client was to cancel (a stalled client is not the server's cost).
        self.late_cpu_s = 0.0

    def __repr__(self):
        return f"{self.code.name} fields={self.fields} {self.message[:160]!r}"


def fields_of(status):
    out = []
    for d in status.details:
        br = error_details_pb2.BadRequest()
        if d.Unpack(br):
            out += [v.field for v in br.field_violations]
    return out


def from_error(e):
    details = dict(e.trailing_metadata() or ()).get("grpc-status-details-bin")
    fields = fields_of(status_pb2.Status.FromString(details)) if details else []
    return Outcome(e.code(), fields, e.details() or "")


def call(fn):
    try:
        return Outcome(OK, value=fn())
    except grpc.RpcError as e:
        return from_error(e)


def from_step_status(status, value=None):
    return Outcome(CODE_BY_NUMBER[status.code], fields_of(status), status.message, value)


def field_matches(expected, got):
    return any(g == expected or g.startswith(expected + ".") or g.startswith(expected + "[")
               for g in got)


# ---- Servers --------------------------------------------------------------------------------

class Server:
    """One astcd-server with its flags; (re)started on demand, with watched sessions."""

    def __init__(self, name, *flags, watched=True, tenant_token=None, rss_ceiling_mb=512,
                 cpu_ceiling_s=120):
        self.name, self.flags, self.watched = name, list(flags), watched
        self.md = [("authorization", f"Bearer {tenant_token}")] if tenant_token else None
        self.rss_ceiling, self.cpu_ceiling = rss_ceiling_mb * MB * RSS_FACTOR, cpu_ceiling_s
        self.proc, self.error, self.channel, self.stub, self.W, self.snap = (None,) * 6
        self.dead_cpu = 0.0  # CPU of earlier instances that died
        self.peak = 0

    def start(self):
        self.proc = subprocess.Popen([SERVER, "--listen=127.0.0.1:0", "--metrics-listen=",
                                      *self.flags], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        ready = select.select([self.proc.stdout], [], [], 60)[0]
        line = self.proc.stdout.readline().strip() if ready else ""
        if not line.startswith("astcd-server listening on"):
            self.proc.kill()
            err = self.proc.stderr.read().strip().splitlines()
            self.error = f"{self.name} server did not start: {(err or ['?'])[-1][:200]}"
            return
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()
        self.target = "127.0.0.1:" + line.rsplit(":", 1)[1]
        self.channel = grpc.insecure_channel(self.target, options=[
            ("grpc.max_receive_message_length", 1 << 30),
            ("grpc.max_send_message_length", 1 << 30)])
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.stub = pbg.DecoderStub(self.channel)
        self.error = None
        names = {t.id: t.name for t in self.stub.GetVocabulary(
            pb.GetVocabularyRequest(), timeout=T, metadata=self.md).tokens}
        assert [names[i] for i in (PAD, EOS, DEF1, DEF2, ASSIGN, IF, RETURN, PASS, END, PLUS, A,
                                   B, ONE)] == ["<pad>", "<eos>", "def/1", "def/2", "=", "if",
                                                "return", "pass", "end", "+", "a", "b", "1"]
        assert len(names) == VOCAB_SIZE, len(names)
        if self.watched:
            self.make_watched()
        self.baseline = self.rss()["VmRSS"]

    def ensure(self):
        if self.proc is None:
            self.start()
        elif self.proc.poll() is not None and self.error is None:
            self.start()
        return self.error

    def pid(self):
        return self.proc.pid

    def rss(self):
        s = memory(self.pid())
        self.peak = max(self.peak, s["VmHWM"])
        return s

    def cpu(self):
        return cpu_seconds(self.pid())

    def reset_peak(self):
        self.rss()
        try:
            with open(f"/proc/{self.pid()}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass

    def settle_cpu(self, limit=20.0):
        """The server's CPU once it stops growing (the work a call started has stopped); None
        if it still grows after `limit` seconds (the server is then restarted for the next
        row, so that work does not spill into it)."""
        last, end = self.cpu(), time.monotonic() + limit
        while time.monotonic() < end:
            time.sleep(0.3)
            now = self.cpu()
            if now - last < 0.02:
                return now
            last = now
        return None

    def alive(self):
        if self.proc.poll() is not None:
            return f"the server died with status {self.proc.returncode}"
        try:
            v = self.stub.GetVocabulary(pb.GetVocabularyRequest(), timeout=T, metadata=self.md)
            assert v.vocab_size == VOCAB_SIZE
        except grpc.RpcError as e:
            return f"GetVocabulary failed: {from_error(e)}"
        return None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.rss()
            self.proc.kill()
            self.proc.wait()

    # Watched sessions: a partial FUNCTION, a finished one, a partial MODULE, and a FUNCTION on
    # another vocabulary. Tokenize makes them, so their tokens are known.
    def make_watched(self):
        s, md = self.stub, self.md

        def tok(source, start, partial, config=None):
            r = s.Tokenize(pb.TokenizeRequest(sources=[source], start=start, partial=partial,
                                              create_sessions=True, config=config),
                           timeout=T, metadata=md).results[0]
            assert r.ok and r.session_id, r
            return r.session_id, list(r.tokens)
        self.W = {}
        self.W["fn"], self.fn_tokens = tok("def f(a):\n    b = a + 1\n", pb.START_FUNCTION, True)
        self.W["done"], _ = tok("def f(a):\n    return a * 2\n", pb.START_FUNCTION, False)
        self.W["mod"], _ = tok("def f(a):\n    return a\ndef g(a, b):\n    c = b\n",
                               pb.START_MODULE, True)
        self.W["other"], _ = tok("def f(a, b):\n    c = a\n", pb.START_FUNCTION, True,
                                 C(arities=[2], max_locals=1))
        self.snap = self.snapshot()

    def snapshot(self):
        s, md, ids = self.stub, self.md, list(self.W.values())
        r = s.Rollback(pb.RollbackRequest(session_ids=ids, num_tokens=[0] * len(ids)),
                       timeout=T, metadata=md)
        states = [(x.session_id, x.complete, x.terminated, x.num_tokens,
                   x.token_budget_remaining) for x in r.states]
        masks = [s.LegalMasks(pb.LegalMasksRequest(session_ids=[i]), timeout=T,
                              metadata=md).bitmask for i in ids]
        run = s.Run(pb.RunRequest(session_id=self.W["done"], inputs=[AT(args=[3])]),
                    timeout=T, metadata=md).outcomes[0]
        return states, masks, (run.status, run.value.int_value)


TOKENS_FILE = os.path.join(tempfile.mkdtemp(prefix="astcd-hostile-"), "tokens")
with open(TOKENS_FILE, "w") as f:
    f.write("alpha-0123456789abcdef alpha\nbeta-0123456789abcdef beta\n")

SERVERS = {
    # The per-call limits, small, with flags every server version knows.
    "small": Server("small", "--max-batch=8", "--max-sources=4", "--max-source-bytes=4096",
                    "--max-sessions=60"),
    # Default limits: the extreme requests and the default budgets.
    "default": Server("default", rss_ceiling_mb=1024),
    # The session cap: 4 watched sessions, so 36 more fit.
    "cap": Server("cap", "--max-sessions=40"),
    # The budgets of #12, small.
    "budget": Server("budget", "--max-run-steps=1000000", "--max-trace-events=10000",
                     "--max-session-bytes=4000000", "--max-message-bytes=1048576"),
    # The response cap alone, so that it does not refuse the budget rows' long sessions first.
    "respcap": Server("respcap", "--max-response-bytes=200000", "--max-sessions=3",
                      watched=False),
    # Decode streams running at once, alone: the held streams must not end for another budget.
    "streams": Server("streams", "--max-decode-streams=2", watched=False),
    # Tenants: alpha owns the watched sessions; 8 sessions each.
    "tenant": Server("tenant", f"--auth-tokens={TOKENS_FILE}", "--max-sessions-per-tenant=8",
                     tenant_token="alpha-0123456789abcdef"),
    # Long sessions: Rollback and ForkStates at scale; stopped once its rows are done.
    "heavy": Server("heavy", watched=True, rss_ceiling_mb=1536),
}

# ---- The rows -------------------------------------------------------------------------------

Row = collections.namedtuple("Row", "name server send code field check probe")
ROWS = []


def row(name, server, send, code, field=None, check=None, probe=None):
    """probe: (cpu_seconds, rss_growth_mb) ceilings for an amplification probe."""
    assert name not in {r.name for r in ROWS}, name
    ROWS.append(Row(name, server, send, code, field, check, probe))


def names(flag, then=None):
    """A check: the refusal's message names the flag that raises the limit."""
    def check(c, o):
        if flag not in o.message:
            return f"the message does not name {flag}: {o.message[:150]!r}"
        return then(c, o) if then else None
    return check


def unary(method, build, timeout=T):
    return lambda c: call(lambda: getattr(c.stub, method)(build(c), timeout=timeout,
                                                          metadata=c.md))


def decode(build, timeout=T):
    return lambda c: call(lambda: list(c.stub.Decode(build(c), timeout=timeout, metadata=c.md)))


def step_status(build, index=0):
    """Sends a Step stream; the outcome is response `index`'s status (the stream must end OK)."""
    def send(c):
        out = call(lambda: list(c.stub.Step(iter(build(c)), timeout=T, metadata=c.md)))
        if out.code != OK:
            return Outcome(out.code, out.fields, "the stream itself failed: " + out.message)
        return from_step_status(out.value[index].status, out.value)
    return send


def raw_unary(method, payload, timeout=T):
    def send(c):
        fn = c.channel.unary_unary(f"/astcd.v1.Decoder/{method}")  # identity (de)serializers
        return call(lambda: fn(payload(c) if callable(payload) else payload, timeout=timeout,
                               metadata=c.md))
    return send


def raw_unary_stream(method, payload):
    def send(c):
        fn = c.channel.unary_stream(f"/astcd.v1.Decoder/{method}")
        return call(lambda: list(fn(payload(c) if callable(payload) else payload, timeout=T,
                                    metadata=c.md)))
    return send


def raw_step(frames):
    def send(c):
        fn = c.channel.stream_stream("/astcd.v1.Decoder/Step")
        got = []
        try:
            for r in fn(iter(frames(c)), timeout=T, metadata=c.md):
                got.append(r)
            return Outcome(OK, value=got)
        except grpc.RpcError as e:
            o = from_error(e)
            o.value = got
            return o
    return send


def bad_utf8(message, placeholder):
    """The serialized `message` with `placeholder` (a string field's value) made invalid UTF-8."""
    data = message.SerializeToString()
    assert data.count(placeholder.encode()) == 1
    return data.replace(placeholder.encode(), b"\xff\xfe" * (len(placeholder) // 2))


def ids(c, *names):
    return [c.W[n] for n in names]


# -- A. Config fields out of range, on every RPC that takes a config -------------------------
BAD_CONFIGS = [
    ("max_expr_depth=99", C(max_expr_depth=99), "config.max_expr_depth"),
    ("max_expr_depth=0", C(max_expr_depth=0), "config.max_expr_depth"),
    ("max_expr_depth=int32max", C(max_expr_depth=I32_MAX), "config.max_expr_depth"),
    ("max_block_stmts=0", C(max_block_stmts=0), "config.max_block_stmts"),
    ("max_block_stmts=65", C(max_block_stmts=65), "config.max_block_stmts"),
    ("max_control_depth=9", C(max_control_depth=9), "config.max_control_depth"),
    ("max_control_depth=-1", C(max_control_depth=-1), "config.max_control_depth"),
    ("max_locals=21", C(max_locals=21), "config.max_locals"),
    ("max_locals=int32min", C(max_locals=I32_MIN), "config.max_locals"),
    ("max_functions=0", C(max_functions=0), "config.max_functions"),
    ("max_functions=17", C(max_functions=17), "config.max_functions"),
    ("arities=[9]", C(arities=[9]), "config.arities[0]"),
    ("arities=[1,-1]", C(arities=[1, -1]), "config.arities[1]"),
    ("arities=[1,1]", C(arities=[1, 1]), "config.arities"),
    ("arities=8 values", C(arities=[0, 1, 2, 3, 4, 5, 6, 0]), "config.arities"),
    ("const_range.lo=-1", C(const_range=pb.Range(lo=-1, hi=9)), "config.const_range.lo"),
    ("const_range lo>hi", C(const_range=pb.Range(lo=5, hi=3)), "config.const_range.hi"),
    ("const_range 2001 values", C(const_range=pb.Range(lo=0, hi=2000)), "config.const_range"),
    ("const_range above 2^20", C(const_range=pb.Range(lo=2**20 + 1, hi=2**20 + 1)),
     "config.const_range"),
    ("const_range int64 extremes", C(const_range=pb.Range(lo=I64_MIN, hi=I64_MAX)),
     "config.const_range"),
    ("value_range.lo=1", C(value_range=pb.Range(lo=1, hi=100)), "config.value_range.lo"),
    ("value_range.hi below constants", C(value_range=pb.Range(lo=-100, hi=3)),
     "config.value_range.hi"),
    ("value_range.lo=int64min", C(value_range=pb.Range(lo=I64_MIN, hi=100)),
     "config.value_range.lo"),
    ("value_range.hi=int64max", C(value_range=pb.Range(lo=-100, hi=I64_MAX)),
     "config.value_range.hi"),
]
CONFIG_RPCS = [
    ("GetVocabulary", lambda cfg: unary("GetVocabulary",
                                        lambda c: pb.GetVocabularyRequest(config=cfg))),
    ("InitStates", lambda cfg: unary("InitStates",
                                     lambda c: pb.InitStatesRequest(config=cfg, requests=[FN]))),
    ("Tokenize", lambda cfg: unary("Tokenize", lambda c: pb.TokenizeRequest(
        config=cfg, sources=[ID_SRC], start=pb.START_FUNCTION, create_sessions=True))),
    ("Detokenize", lambda cfg: unary("Detokenize", lambda c: pb.DetokenizeRequest(
        config=cfg, programs=[TL(tokens=[DEF1, PASS, END, EOS])], start=pb.START_FUNCTION))),
    ("Run", lambda cfg: unary("Run", lambda c: pb.RunRequest(
        config=cfg, source=ID_SRC, start=pb.START_FUNCTION, inputs=[AT(args=[1])]))),
    ("Decode", lambda cfg: decode(lambda c: pb.DecodeRequest(config=cfg, init_requests=[FN]))),
]
for rpc, make in CONFIG_RPCS:
    for label, cfg, field in BAD_CONFIGS:
        row(f"{rpc}: config {label}", "small", make(cfg), IA, field)


def released_id(c):
    r = c.stub.InitStates(pb.InitStatesRequest(requests=[FN]), timeout=T, metadata=c.md)
    sid = r.states[0].session_id
    c.stub.ReleaseStates(pb.ReleaseStatesRequest(session_ids=[sid]), timeout=T, metadata=c.md)
    return sid


# -- B. Junk session ids on every RPC that names sessions ------------------------------------
JUNK_IDS = [
    ("empty id", lambda c: ""),
    ("uppercase hex id", lambda c: c.W["fn"].upper()),
    ("31 hex digits", lambda c: c.W["fn"][:31]),
    ("33 hex digits", lambda c: c.W["fn"] + "0"),
    ("unicode id", lambda c: "é" * 32),
    ("10000-char id", lambda c: "a" * 10000),
    ("32 non-hex chars", lambda c: "z" * 32),
    ("released id", released_id),
    ("id with a NUL", lambda c: c.W["fn"][:16] + "\0" + c.W["fn"][17:]),
]
for label, junk in JUNK_IDS:
    row(f"LegalMasks: {label}", "small", unary("LegalMasks", lambda c, j=junk: pb.LegalMasksRequest(
        session_ids=[c.W["fn"], j(c)])), NF, "session_ids[1]")
    row(f"Advance: {label}", "small", unary("Advance", lambda c, j=junk: pb.AdvanceRequest(
        session_ids=[c.W["fn"], j(c)], token_ids=[PASS, PASS])), NF, "session_ids[1]")
    row(f"Rollback: {label}", "small", unary("Rollback", lambda c, j=junk: pb.RollbackRequest(
        session_ids=[c.W["fn"], j(c)], num_tokens=[1, 0])), NF, "session_ids[1]")
    row(f"ForkStates: {label}", "small", unary("ForkStates", lambda c, j=junk: pb.ForkStatesRequest(
        session_ids=[c.W["fn"], j(c)], n=1)), NF, "session_ids[1]")
    row(f"Decode: {label}", "small", decode(lambda c, j=junk: pb.DecodeRequest(
        session_ids=[c.W["fn"], j(c)])), NF, "session_ids[1]")
    row(f"Run: {label}", "small", unary("Run", lambda c, j=junk: pb.RunRequest(
        session_id=j(c), inputs=[AT(args=[1])])), NF, "session_id")
    row(f"Step: {label}", "small", step_status(lambda c, j=junk: [pb.StepRequest(
        step_id=1, legal_masks=pb.LegalMasksRequest(session_ids=[j(c)]))]), NF, "session_ids[0]")
    row(f"ReleaseStates: {label}", "small", unary("ReleaseStates", lambda c, j=junk:
        pb.ReleaseStatesRequest(session_ids=[j(c)])), OK,
        check=lambda c, o: o.value.released == 0 or f"released {o.value.released}")

# -- C. Per-call limits (small: --max-batch=8, --max-sources=4, --max-source-bytes=4096) -----
NINE = [FN] * 9


def release_states(c, o):
    c.stub.ReleaseStates(pb.ReleaseStatesRequest(session_ids=[s.session_id for s in
                                                             o.value.states]),
                         timeout=T, metadata=c.md)


def release_results(c, o):
    c.stub.ReleaseStates(pb.ReleaseStatesRequest(session_ids=[r.session_id for r in o.value
                                                             if r.session_id]),
                         timeout=T, metadata=c.md)


def many(c, n):
    """n fresh FUNCTION sessions, not watched (the row's own)."""
    return [s.session_id for s in c.stub.InitStates(pb.InitStatesRequest(requests=[FN] * n),
                                                     timeout=T, metadata=c.md).states]


row("InitStates: 9 requests over --max-batch=8", "small",
    unary("InitStates", lambda c: pb.InitStatesRequest(requests=NINE)), IA, "requests",
    check=names("--max-batch"))
row("InitStates: 8 requests at --max-batch=8 work", "small",
    unary("InitStates", lambda c: pb.InitStatesRequest(requests=[FN] * 8)), OK,
    check=release_states)
row("LegalMasks: 9 sessions", "small", unary("LegalMasks", lambda c: pb.LegalMasksRequest(
    session_ids=many(c, 8) + [c.W["fn"]])), IA, "session_ids")
row("Advance: 9 sessions", "small", unary("Advance", lambda c: pb.AdvanceRequest(
    session_ids=many(c, 8) + [c.W["fn"]], token_ids=[DEF1] * 8 + [PASS])), IA, "session_ids",
    check=names("--max-batch"))
row("Rollback: 9 sessions", "small", unary("Rollback", lambda c: pb.RollbackRequest(
    session_ids=many(c, 8) + [c.W["fn"]], num_tokens=[0] * 8 + [1])), IA, "session_ids")
row("ReleaseStates: 9 ids", "small", unary("ReleaseStates", lambda c: pb.ReleaseStatesRequest(
    session_ids=[c.W["fn"]] * 9)), IA, "session_ids")
row("ForkStates: n=3 of 3 sessions over --max-batch", "small", unary(
    "ForkStates", lambda c: pb.ForkStatesRequest(session_ids=ids(c, "fn", "mod", "done"), n=3)),
    IA, "n")
row("ForkStates: n=9 of one session", "small", unary(
    "ForkStates", lambda c: pb.ForkStatesRequest(session_ids=[c.W["fn"]], n=9)), IA, "n",
    check=names("--max-batch"))
row("ForkStates: n=int32max", "small", unary(
    "ForkStates", lambda c: pb.ForkStatesRequest(session_ids=[c.W["fn"]], n=I32_MAX)), IA, "n")
row("ForkStates: n=int32max of 2 sessions (no overflow)", "small", unary(
    "ForkStates", lambda c: pb.ForkStatesRequest(session_ids=ids(c, "fn", "mod"), n=I32_MAX)),
    IA, "n")
row("ForkStates: n=-1", "small", unary(
    "ForkStates", lambda c: pb.ForkStatesRequest(session_ids=[c.W["fn"]], n=-1)), IA, "n")
row("ForkStates: n=int32min", "small", unary(
    "ForkStates", lambda c: pb.ForkStatesRequest(session_ids=[c.W["fn"]], n=I32_MIN)), IA, "n")
row("ForkStates: a session named twice", "small", unary(
    "ForkStates", lambda c: pb.ForkStatesRequest(session_ids=ids(c, "fn", "fn"), n=1)),
    IA, "session_ids[1]")
row("ForkStates: no sessions", "small", unary(
    "ForkStates", lambda c: pb.ForkStatesRequest(n=5)), OK,
    check=lambda c, o: len(o.value.states) == 0 or "states")
row("Detokenize: 9 programs", "small", unary("Detokenize", lambda c: pb.DetokenizeRequest(
    programs=[TL()] * 9)), IA, "programs")
row("Run: 9 inputs", "small", unary("Run", lambda c: pb.RunRequest(
    source=ID_SRC, start=pb.START_FUNCTION, inputs=[AT(args=[1])] * 9)), IA, "inputs")
row("Decode: 9 session_ids", "small", decode(lambda c: pb.DecodeRequest(
    session_ids=many(c, 8) + [c.W["fn"]])), IA, "session_ids")
row("Decode: 9 init_requests", "small", decode(lambda c: pb.DecodeRequest(
    init_requests=NINE)), IA, "init_requests")
row("Tokenize: 5 sources over --max-sources=4", "small", unary("Tokenize", lambda c:
    pb.TokenizeRequest(sources=[ID_SRC] * 5)), IA, "sources",
    check=names("--max-sources"))
row("Tokenize: a source over --max-source-bytes=4096", "small", unary("Tokenize", lambda c:
    pb.TokenizeRequest(sources=[ID_SRC, ID_SRC, "#" * 4097])), IA, "sources[2]",
    check=names("--max-source-bytes"))
row("Tokenize: 4096-byte source at the limit works", "small", unary("Tokenize", lambda c:
    pb.TokenizeRequest(sources=["#" * 4096])), OK)
row("Run: a source over --max-source-bytes", "small", unary("Run", lambda c: pb.RunRequest(
    source=ID_SRC + "#" * 4096, start=pb.START_FUNCTION)), IA, "source")
row("Step: advance of 9 sessions", "small", step_status(lambda c: [pb.StepRequest(
    step_id=7, advance=pb.AdvanceRequest(session_ids=[c.W["fn"]] * 9, token_ids=[PASS] * 9))]),
    IA, "session_ids")
row("Step: legal_masks of 9 sessions", "small", step_status(lambda c: [pb.StepRequest(
    step_id=7, legal_masks=pb.LegalMasksRequest(session_ids=[c.W["fn"]] * 9))]),
    IA, "session_ids")

# -- D. Advance -------------------------------------------------------------------------------
ADV = [
    ("fewer tokens than sessions", lambda c: (ids(c, "fn", "mod"), [PASS]), IA, "token_ids"),
    ("more tokens than sessions", lambda c: (ids(c, "fn"), [PASS, PASS]), IA, "token_ids"),
    ("tokens and no sessions", lambda c: ([], [PASS]), IA, "token_ids"),
    ("token = vocab_size", lambda c: (ids(c, "fn"), [VOCAB_SIZE]), IA, "token_ids[0]"),
    ("token -1", lambda c: (ids(c, "fn"), [-1]), IA, "token_ids[0]"),
    ("token int32max", lambda c: (ids(c, "fn"), [I32_MAX]), IA, "token_ids[0]"),
    ("token int32min", lambda c: (ids(c, "fn", "mod"), [PASS, I32_MIN]), IA, "token_ids[1]"),
    ("illegal second token (all-or-nothing)", lambda c: (ids(c, "fn", "mod"), [PASS, EOS]),
     FP, "token_ids[1]"),
    ("a terminated session takes pass", lambda c: (ids(c, "fn", "done"), [PASS, PASS]),
     FP, "token_ids[1]"),
    ("a session named twice", lambda c: (ids(c, "fn", "fn"), [PASS, PASS]), IA, "session_ids[1]"),
    ("two vocabularies", lambda c: (ids(c, "fn", "other"), [PASS, PASS]), IA, "session_ids[1]"),
    ("a token of the other vocabulary's range", lambda c: (ids(c, "other"), [VOCAB_SIZE + 40]),
     IA, "token_ids[0]"),
]
for label, build, code, field in ADV:
    row(f"Advance: {label}", "small", unary("Advance", lambda c, b=build: pb.AdvanceRequest(
        session_ids=b(c)[0], token_ids=b(c)[1])), code, field)
for jf in (3, -1, I32_MAX):
    row(f"Advance: jump_forward={jf}", "small", unary("Advance", lambda c, jf=jf:
        pb.AdvanceRequest(session_ids=[c.W["fn"]], token_ids=[PASS], jump_forward=jf)),
        IA, "jump_forward")
    row(f"InitStates: jump_forward={jf}", "small", unary("InitStates", lambda c, jf=jf:
        pb.InitStatesRequest(requests=[FN], jump_forward=jf)), IA, "jump_forward")
row("Advance: an empty batch", "small", unary("Advance", lambda c: pb.AdvanceRequest()), OK)
row("Advance: <pad> on a terminated session is a no-op", "small", unary(
    "Advance", lambda c: pb.AdvanceRequest(session_ids=[c.W["done"]], token_ids=[PAD])), OK)

# -- E. Rollback ------------------------------------------------------------------------------
RB = [
    ("fewer counts than sessions", lambda c: (ids(c, "fn", "mod"), [0]), IA, "num_tokens"),
    ("more counts than sessions", lambda c: (ids(c, "fn"), [0, 0]), IA, "num_tokens"),
    ("count -1", lambda c: (ids(c, "fn"), [-1]), IA, "num_tokens[0]"),
    ("count over the session's tokens", lambda c: (ids(c, "fn"), [len(c.fn_tokens) + 1]),
     IA, "num_tokens[0]"),
    ("count int32max", lambda c: (ids(c, "mod", "fn"), [0, I32_MAX]), IA, "num_tokens[1]"),
    ("count int32min", lambda c: (ids(c, "fn"), [I32_MIN]), IA, "num_tokens[0]"),
    ("a bad second count (all-or-nothing)", lambda c: (ids(c, "fn", "mod"), [2, 999]),
     IA, "num_tokens[1]"),
    ("a session named twice", lambda c: (ids(c, "fn", "fn"), [1, 1]), IA, "session_ids[1]"),
]
for label, build, code, field in RB:
    row(f"Rollback: {label}", "small", unary("Rollback", lambda c, b=build: pb.RollbackRequest(
        session_ids=b(c)[0], num_tokens=b(c)[1])), code, field)
row("Rollback: return_masks over two vocabularies", "small", unary("Rollback", lambda c:
    pb.RollbackRequest(session_ids=ids(c, "fn", "other"), num_tokens=[1, 1],
                       return_masks=True)), IA, "session_ids[1]")

# -- F. InitStates ----------------------------------------------------------------------------
INIT = [
    ("start=9", [FN, R(start=9)], IA, "requests[1].start"),
    ("start=-1", [R(start=-1)], IA, "requests[0].start"),
    ("start=int32max", [R(start=I32_MAX)], IA, "requests[0].start"),
    ("max_len=-1", [R(max_len=-1)], IA, "requests[0].max_len"),
    ("max_len=65537", [R(max_len=65537)], IA, "requests[0].max_len"),
    ("max_len=int32max", [R(max_len=I32_MAX)], IA, "requests[0].max_len"),
    ("max_len=int32min", [R(max_len=I32_MIN)], IA, "requests[0].max_len"),
    ("FUNCTION max_len=1", [R(start=pb.START_FUNCTION, max_len=1)], IA, "requests[0].max_len"),
    ("BLOCK arity 5 not in arities", [R(start=pb.START_BLOCK, arity=5)], IA, "requests[0]"),
    ("EXPR arity -1", [R(start=pb.START_EXPR, arity=-1)], IA, "requests[0]"),
    ("prefix token 999", [R(prefix_tokens=[999])], IA, "requests[0].prefix_tokens[0]"),
    ("prefix token -1", [FN, R(start=pb.START_FUNCTION, prefix_tokens=[DEF1, -1])], IA,
     "requests[1].prefix_tokens[1]"),
    ("prefix <eos> first", [R(prefix_tokens=[EOS])], FP, "requests[0].prefix_tokens[0]"),
    ("prefix token after <eos>", [R(start=pb.START_FUNCTION, prefix_tokens=[
        DEF1, PASS, END, EOS, PASS])], FP, "requests[0].prefix_tokens[4]"),
    ("prefix of 100000 <pad>", [R(prefix_tokens=[PAD] * 100000)], FP,
     "requests[0].prefix_tokens[0]"),
    ("prefix longer than max_len", [R(start=pb.START_FUNCTION, max_len=4, prefix_tokens=[
        DEF1] + [PASS] * 10)], FP, "requests[0].prefix_tokens"),
]
for label, reqs, code, field in INIT:
    row(f"InitStates: {label}", "small", unary("InitStates", lambda c, r=reqs:
        pb.InitStatesRequest(requests=r)), code, field)
row("InitStates: an empty batch", "small", unary("InitStates", lambda c: pb.InitStatesRequest()),
    OK, check=lambda c, o: len(o.value.states) == 0 or "states")

# -- G. Tokenize and Detokenize ---------------------------------------------------------------
for st in (9, -1):
    row(f"Tokenize: start={st}", "small", unary("Tokenize", lambda c, st=st: pb.TokenizeRequest(
        sources=[ID_SRC], start=st)), IA, "start")
    row(f"Detokenize: start={st}", "small", unary("Detokenize", lambda c, st=st:
        pb.DetokenizeRequest(programs=[TL()], start=st)), IA, "start")


def results_fail(stage=None):
    def check(c, o):
        for r in o.value.results:
            if r.ok:
                return f"a result is ok: {r}"
            if stage is not None and r.error.stage != stage:
                return f"stage {r.error.stage!r}, expected {stage!r}: {r.error.message[:100]}"
    return check


# docs/api.md: "every result then fails with stage `limits` (`unsupported_syntax` for an arity
# that no config admits, such as 9)".
for label, kw, stage in [
        ("max_len=-1", dict(max_len=-1), "limits"), ("max_len=65537", dict(max_len=65537), "limits"),
        ("BLOCK arity 5", dict(start=pb.START_BLOCK, arity=5, partial=True), "limits"),
        ("BLOCK arity 9", dict(start=pb.START_BLOCK, arity=9, partial=True), "unsupported_syntax"),
        # Fuzzer finding: the root scope of 2^31 - 1 names took minutes before it was refused.
        ("EXPR arity 2147483647", dict(start=pb.START_EXPR, arity=I32_MAX), "unsupported_syntax")]:
    srcs = ["a = 1\n", "pass\n"] if "arity" in label else [ID_SRC, ID_SRC + ID_SRC]
    if "arity" not in label:
        kw = dict(kw, start=pb.START_MODULE)
    row(f"Tokenize: {label} fails each source, not the call", "small", unary(
        "Tokenize", lambda c, kw=kw, srcs=srcs: pb.TokenizeRequest(sources=srcs, **kw)),
        OK, check=results_fail(stage))
row("Tokenize: a NUL byte in a source", "small", unary("Tokenize", lambda c: pb.TokenizeRequest(
    sources=["def f(a):\n    return a\0\n"])), OK, check=results_fail())
row("Tokenize: 3000 open brackets", "small", unary("Tokenize", lambda c: pb.TokenizeRequest(
    sources=["x = " + "(" * 3000], start=pb.START_BLOCK)), OK, check=results_fail())
row("Tokenize: 1000 nested blocks", "small", unary("Tokenize", lambda c: pb.TokenizeRequest(
    sources=["".join(" " * i + "if a:\n" for i in range(1000))[:4096]],
    start=pb.START_BLOCK, partial=True)), OK, check=results_fail())
row("Detokenize: tokens outside the vocabulary", "small", unary("Detokenize", lambda c:
    pb.DetokenizeRequest(programs=[TL(tokens=[DEF1, 999]), TL(tokens=[-5]),
                                   TL(tokens=[I32_MAX])])), OK,
    check=lambda c, o: [(r.ok, r.position) for r in o.value.results] == [
        (False, 1), (False, 0), (False, 0)] or [(r.ok, r.position) for r in o.value.results])
row("Detokenize: 200000 <pad>", "small", unary("Detokenize", lambda c: pb.DetokenizeRequest(
    programs=[TL(tokens=[PAD] * 200000)])), OK, check=results_fail())
row("Detokenize: BLOCK arity 9", "small", unary("Detokenize", lambda c: pb.DetokenizeRequest(
    programs=[TL(tokens=[PASS, END])], start=pb.START_BLOCK, arity=9)), OK,
    check=results_fail())

# -- H. Run -----------------------------------------------------------------------------------
FUNC_TOKENS = [DEF1, RETURN, A, END, EOS]
RUNS = [
    ("no program", dict(inputs=[AT(args=[1])]), IA, "program"),
    ("entry -1", dict(source=ID_SRC, entry=-1, inputs=[AT(args=[1])]), IA, "entry"),
    ("entry 99", dict(source=ID_SRC, entry=99, inputs=[AT(args=[1])]), IA, "entry"),
    ("FUNCTION entry 1", dict(tokens=TL(tokens=FUNC_TOKENS), start=pb.START_FUNCTION, entry=1,
                              inputs=[AT(args=[1])]), IA, "entry"),
    ("a tuple too long", dict(source=ID_SRC, inputs=[AT(args=[1]), AT(args=[1, 2])]), IA,
     "inputs[1]"),
    ("an empty tuple", dict(source=ID_SRC, inputs=[AT()]), IA, "inputs[0]"),
    ("a value outside value_range", dict(source=ID_SRC, inputs=[AT(args=[2**40])]), IA,
     "inputs[0].args[0]"),
    ("int64min argument", dict(source="def f(a, b):\n    return a\n", inputs=[
        AT(args=[1, I64_MIN])]), IA, "inputs[0].args[1]"),
    ("a value outside a narrow value_range", dict(
        source=ID_SRC, config=C(value_range=pb.Range(lo=-10, hi=10)), inputs=[AT(args=[11])]),
     IA, "inputs[0].args[0]"),
    ("max_steps -1", dict(source=ID_SRC, limits=pb.RunLimits(max_steps=-1)), IA,
     "limits.max_steps"),
    ("max_steps 10^8+1", dict(source=ID_SRC, limits=pb.RunLimits(max_steps=10**8 + 1)), IA,
     "limits.max_steps"),
    ("max_steps int64max", dict(source=ID_SRC, limits=pb.RunLimits(max_steps=I64_MAX)), IA,
     "limits.max_steps"),
    ("max_steps int64min", dict(source=ID_SRC, limits=pb.RunLimits(max_steps=I64_MIN)), IA,
     "limits.max_steps"),
    ("incomplete tokens", dict(tokens=TL(tokens=[DEF1, RETURN]), start=pb.START_FUNCTION), IA,
     "tokens"),
    ("tokens outside the vocabulary", dict(tokens=TL(tokens=[DEF1, 999]),
                                           start=pb.START_FUNCTION), IA, "tokens"),
    ("an illegal token", dict(tokens=TL(tokens=[DEF1, EOS]), start=pb.START_FUNCTION), FP,
     "tokens"),
    ("empty tokens", dict(tokens=TL()), IA, "tokens"),
    ("a source that does not parse", dict(source="def f(a):\n    return a +\n"), IA, "source"),
    ("a source outside the language", dict(source="def f(a):\n    return a / 2\n"), IA,
     "source"),
    ("an empty source", dict(source=""), IA, "source"),
    ("start=9", dict(source=ID_SRC, start=9), IA, "start"),
    ("start=-1", dict(source=ID_SRC, start=-1), IA, "start"),
    ("an incomplete session", "fn", IA, "session_id"),
]
for label, kw, code, field in RUNS:
    if kw == "fn":
        build = (lambda c: pb.RunRequest(session_id=c.W["fn"], inputs=[AT(args=[1])]))
    else:
        build = (lambda c, kw=kw: pb.RunRequest(**kw))
    row(f"Run: {label}", "small", unary("Run", build), code, field)
row("Run: session_id ignores an invalid config", "small", unary("Run", lambda c: pb.RunRequest(
    session_id=c.W["done"], config=C(max_expr_depth=99), inputs=[AT(args=[3])])), OK,
    check=lambda c, o: o.value.outcomes[0].value.int_value == 6 or str(o.value))
row("Run: session_id ignores start and arity", "small", unary("Run", lambda c: pb.RunRequest(
    session_id=c.W["done"], start=pb.START_EXPR, arity=2, inputs=[AT(args=[3])])), OK,
    check=lambda c, o: o.value.outcomes[0].value.int_value == 6 or str(o.value))
row("Run: no inputs, no outcomes", "small", unary("Run", lambda c: pb.RunRequest(
    source=ID_SRC, limits=pb.RunLimits(max_steps=10**8))), OK,
    check=lambda c, o: len(o.value.outcomes) == 0 or "outcomes")
# The per-call budgets at their defaults: refused before any work, even for a cheap program.
row("Run: 3 inputs × 10^8 steps over the default --max-run-steps", "default", unary(
    "Run", lambda c: pb.RunRequest(source=ID_SRC, limits=pb.RunLimits(max_steps=10**8),
                                   inputs=[AT(args=[1])] * 3)), IA, "limits.max_steps",
    check=names("--max-run-steps"))
# The trace cap counts the events a call records (one a step, over all inputs), not max_steps:
# LOOP_SRC on a takes 2a + 2 steps.
row("Run: a traced loop of 200,002 steps over the default --max-trace-events", "default", unary(
    "Run", lambda c: pb.RunRequest(source=LOOP_SRC, config=LOOP, trace=True,
                                   inputs=[AT(args=[100_000])],
                                   limits=pb.RunLimits(max_steps=10**8))), RE, "trace",
    check=names("--max-trace-events"))
row("Run: a traced 1-step program with max_steps over --max-trace-events runs", "default", unary(
    "Run", lambda c: pb.RunRequest(source=ID_SRC, trace=True, inputs=[AT(args=[1])],
                                   limits=pb.RunLimits(max_steps=10**6 + 1))), OK)
row("Run: a traced loop of 199,998 steps under the default --max-trace-events", "default", unary(
    "Run", lambda c: pb.RunRequest(source=LOOP_SRC, config=LOOP, trace=True,
                                   inputs=[AT(args=[99_998])],
                                   limits=pb.RunLimits(max_steps=10**8))), OK, probe=(5.0, 256))
row("Run: 2 inputs × 10^8 steps of a cheap program at the default budget", "default", unary(
    "Run", lambda c: pb.RunRequest(source=ID_SRC, limits=pb.RunLimits(max_steps=10**8),
                                   inputs=[AT(args=[1])] * 2)), OK)
row("Run: --max-run-steps=10^6 refuses 2 × 600000", "budget", unary(
    "Run", lambda c: pb.RunRequest(source=ID_SRC, limits=pb.RunLimits(max_steps=600000),
                                   inputs=[AT(args=[1])] * 2)), IA, "limits.max_steps",
    check=names("--max-run-steps"))
row("Run: --max-trace-events=10000 refuses a trace of 2 × 5002 steps", "budget", unary(
    "Run", lambda c: pb.RunRequest(source=LOOP_SRC, config=LOOP, trace=True,
                                   inputs=[AT(args=[2500])] * 2)), RE, "trace",
    check=names("--max-trace-events"))
row("Run: --max-trace-events=10000 allows a trace of 2 × 4998 steps", "budget", unary(
    "Run", lambda c: pb.RunRequest(source=LOOP_SRC, config=LOOP, trace=True,
                                   inputs=[AT(args=[2498])] * 2)), OK)
# Item 1: a traced loop of 4,000,000 iterations under 10^8 steps.
row("Run: traced loop of 4e6 iterations (amplification)", "default", unary(
    "Run", lambda c: pb.RunRequest(source=LOOP_SRC, config=LOOP, trace=True,
                                   inputs=[AT(args=[4_000_000])],
                                   limits=pb.RunLimits(max_steps=10**8)), timeout=120),
    RE, "trace", probe=(2.0, 64))

# -- I. Decode --------------------------------------------------------------------------------
DEC = [
    ("both session_ids and init_requests", lambda c: dict(session_ids=[c.W["fn"]],
                                                          init_requests=[FN]), IA,
     "init_requests"),
    ("neither session_ids nor init_requests", lambda c: dict(), IA, "init_requests"),
    ("sampler kind 'x'", lambda c: dict(init_requests=[FN], sampler=pb.Sampler(kind="x")), IA,
     "sampler"),
    ("sampler kind 'UNIFORM'", lambda c: dict(init_requests=[FN], sampler=pb.Sampler(
        kind="UNIFORM")), IA, "sampler"),
    ("an unknown weight key", lambda c: dict(init_requests=[FN], sampler=pb.Sampler(
        kind="weighted", weights={"zz": 1})), IA, "sampler"),
    ("a negative weight", lambda c: dict(init_requests=[FN], sampler=pb.Sampler(
        kind="weighted", weights={"pass": -1})), IA, "sampler"),
    ("a NaN weight", lambda c: dict(init_requests=[FN], sampler=pb.Sampler(
        kind="weighted", weights={"pass": math.nan})), IA, "sampler"),
    ("an infinite weight", lambda c: dict(init_requests=[FN], sampler=pb.Sampler(
        kind="weighted", weights={"statement": math.inf})), IA, "sampler"),
    ("a negative depth_pressure", lambda c: dict(init_requests=[FN], sampler=pb.Sampler(
        kind="weighted", depth_pressure=-1)), IA, "sampler"),
    ("a NaN budget_pressure", lambda c: dict(init_requests=[FN], sampler=pb.Sampler(
        kind="weighted", budget_pressure=math.nan)), IA, "sampler"),
    ("weights with kind uniform", lambda c: dict(init_requests=[FN], sampler=pb.Sampler(
        kind="uniform", weights={"pass": 2})), IA, "sampler.weights"),
    ("stop_at 'never'", lambda c: dict(init_requests=[FN], stop_at="never"), IA, "stop_at"),
    ("stop_at 'EOS'", lambda c: dict(init_requests=[FN], stop_at="EOS"), IA, "stop_at"),
    ("n=-1", lambda c: dict(init_requests=[FN], n=-1), IA, "n"),
    ("n=4097", lambda c: dict(init_requests=[FN], n=4097), IA, "n"),
    ("n=int32min", lambda c: dict(init_requests=[FN], n=I32_MIN), IA, "n"),
    ("sample_offset -1", lambda c: dict(init_requests=[FN], sample_offset=-1), IA,
     "sample_offset"),
    ("sample_offset int32max with n=2", lambda c: dict(init_requests=[FN], n=2,
                                                       sample_offset=I32_MAX), IA,
     "sample_offset"),
    ("max_new_tokens -1", lambda c: dict(init_requests=[FN], max_new_tokens=-1), IA,
     "max_new_tokens"),
    ("max_new_tokens 65537", lambda c: dict(init_requests=[FN], max_new_tokens=65537), IA,
     "max_new_tokens"),
    ("max_total_tokens -1", lambda c: dict(init_requests=[FN], max_total_tokens=-1), IA,
     "max_total_tokens"),
    ("max_total_tokens int32max", lambda c: dict(init_requests=[FN], max_total_tokens=I32_MAX),
     IA, "max_total_tokens"),
    # docs/api.md says "none"; the server (and error_fields_test) name `pad`.
    ("pad without max_new_tokens", lambda c: dict(init_requests=[FN], pad=True), IA, "pad"),
    ("a session named twice", lambda c: dict(session_ids=ids(c, "fn", "fn")), IA,
     "session_ids[1]"),
    ("two vocabularies", lambda c: dict(session_ids=ids(c, "fn", "other")), IA,
     "session_ids[1]"),
    ("an init start=9", lambda c: dict(init_requests=[FN, R(start=9)]), IA,
     "init_requests[1].start"),
    ("an init prefix token 999", lambda c: dict(init_requests=[R(prefix_tokens=[999])]), IA,
     "init_requests[0].prefix_tokens[0]"),
    ("an init prefix <eos>", lambda c: dict(init_requests=[R(prefix_tokens=[EOS])]), FP,
     "init_requests[0].prefix_tokens[0]"),
    ("an init max_len 65537", lambda c: dict(init_requests=[R(max_len=65537)]), IA,
     "init_requests[0].max_len"),
    ("max_total_tokens too small for a session", lambda c: dict(
        session_ids=ids(c, "mod"), max_total_tokens=3), IA, "session_ids[0]"),
]
for label, kw, code, field in DEC:
    row(f"Decode: {label}", "small", decode(lambda c, kw=kw: pb.DecodeRequest(**kw(c))),
        code, field)
row("Decode: weights with an empty kind mean weighted", "small", decode(lambda c: pb.DecodeRequest(
    init_requests=[R(start=pb.START_FUNCTION, max_len=16)], n=2, sampler=pb.Sampler(
        weights={"pass": 5}))), OK, check=lambda c, o: len(o.value) == 2 or len(o.value))
row("Decode: session_ids ignore an invalid config", "small", decode(lambda c: pb.DecodeRequest(
    session_ids=[c.W["fn"]], config=C(max_locals=99), max_new_tokens=4)), OK)
row("Decode: a terminated session", "small", decode(lambda c: pb.DecodeRequest(
    session_ids=[c.W["done"]])), OK,
    check=lambda c, o: o.value[0].stop_reason == "terminated" or o.value[0].stop_reason)

# -- J. Step ----------------------------------------------------------------------------------
row("Step: a request with neither action", "small", step_status(lambda c: [
    pb.StepRequest(step_id=3)]), IA, "action")
row("Step: an out-of-vocabulary token, then the stream goes on", "small", step_status(
    lambda c: [pb.StepRequest(step_id=1, advance=pb.AdvanceRequest(session_ids=[c.W["fn"]],
                                                                   token_ids=[9999])),
               pb.StepRequest(step_id=2, legal_masks=pb.LegalMasksRequest(
                   session_ids=[c.W["fn"]]))], index=0), IA, "token_ids[0]")
row("Step: an illegal token (all-or-nothing)", "small", step_status(lambda c: [pb.StepRequest(
    step_id=1, advance=pb.AdvanceRequest(session_ids=ids(c, "fn", "mod"),
                                         token_ids=[PASS, EOS]))]), FP, "token_ids[1]")
row("Step: the step after a failed one succeeds", "small", step_status(lambda c: [
    pb.StepRequest(step_id=1, advance=pb.AdvanceRequest(session_ids=["x"], token_ids=[1])),
    pb.StepRequest(step_id=I64_MAX * 2 + 1, legal_masks=pb.LegalMasksRequest(
        session_ids=[c.W["fn"]]))], index=1), OK)
row("Step: an empty stream", "small", lambda c: call(lambda: list(c.stub.Step(
    iter([]), timeout=T, metadata=c.md))), OK)
row("Step: tokens for no sessions", "small", step_status(lambda c: [pb.StepRequest(
    advance=pb.AdvanceRequest(token_ids=[PASS]))]), IA, "token_ids")


def corrupt_mid_stream(c):
    good = pb.StepRequest(step_id=1, legal_masks=pb.LegalMasksRequest(
        session_ids=[c.W["fn"]])).SerializeToString()
    return [good, good, b"\xff\xff\xff\xff\xff\xff", good]


row("Step: a corrupt frame mid-stream ends it with INVALID_ARGUMENT", "small",
    raw_step(corrupt_mid_stream), IA, None,
    check=lambda c, o: len(o.value) == 2 or f"{len(o.value)} responses before the end")
row("Step: a session id that is not UTF-8 ends the stream", "small", raw_step(lambda c: [
    bad_utf8(pb.StepRequest(legal_masks=pb.LegalMasksRequest(session_ids=["Q" * 32])),
             "Q" * 32)]), IA, None)
row("Step: a 10000-char id in a step", "small", step_status(lambda c: [pb.StepRequest(
    advance=pb.AdvanceRequest(session_ids=["b" * 10000], token_ids=[PASS]))]), NF,
    "session_ids[0]")

# -- K. Unparseable requests: garbage bytes and strings that are not UTF-8 -------------------
GARBAGE = [b"\xff" * 16, b"\x0a\xff\xff\xff\xff\x0f", b"\x08", b"\x12\x05ab", b"\x07\x07\x07"]
UNARY = ["GetVocabulary", "InitStates", "LegalMasks", "Advance", "Rollback", "ForkStates",
         "ReleaseStates", "Tokenize", "Detokenize", "Run"]
for k, method in enumerate(UNARY):
    g = GARBAGE[k % len(GARBAGE)]
    row(f"{method}: garbage bytes {g[:6].hex()}", "small", raw_unary(method, g), IA, None)
row("Decode: garbage bytes", "small", raw_unary_stream("Decode", b"\xff" * 9), IA, None)
row("Step: a garbage first frame", "small", raw_step(lambda c: [b"\x1a\xff\xff"]), IA, None)
row("an unknown method is UNIMPLEMENTED", "small", lambda c: call(lambda: c.channel.unary_unary(
    "/astcd.v1.Decoder/Nope")(b"", timeout=T)), UI, None)
Q = "Q" * 32
UTF8 = [
    ("LegalMasks", lambda c: bad_utf8(pb.LegalMasksRequest(session_ids=[c.W["fn"], Q]), Q)),
    ("Advance", lambda c: bad_utf8(pb.AdvanceRequest(session_ids=[Q], token_ids=[PASS]), Q)),
    ("Rollback", lambda c: bad_utf8(pb.RollbackRequest(session_ids=[Q], num_tokens=[0]), Q)),
    ("ForkStates", lambda c: bad_utf8(pb.ForkStatesRequest(session_ids=[Q], n=1), Q)),
    ("ReleaseStates", lambda c: bad_utf8(pb.ReleaseStatesRequest(session_ids=[Q]), Q)),
    ("Run", lambda c: bad_utf8(pb.RunRequest(session_id=Q), Q)),
    ("Tokenize", lambda c: bad_utf8(pb.TokenizeRequest(sources=[f"x = 1  # {Q}\n"]), Q)),
]
for method, payload in UTF8:
    what = "source" if method == "Tokenize" else "session id"
    row(f"{method}: a {what} that is not UTF-8", "small", raw_unary(method, payload), IA, None)
row("Run: a source that is not UTF-8", "small", raw_unary("Run", lambda c: bad_utf8(
    pb.RunRequest(source=f"def f(a):\n    return a  # {Q}\n"), Q)), IA, None)
row("Decode: a session id that is not UTF-8", "small", raw_unary_stream("Decode", lambda c:
    bad_utf8(pb.DecodeRequest(session_ids=[Q]), Q)), IA, None)
row("GetVocabulary: a 2^32 varint in an int32 field is truncated, not a crash", "small",
    raw_unary("GetVocabulary", b"\x0a\x06\x10" + b"\x80\x80\x80\x80\x10"), IA,
    "config.max_block_stmts")

# -- L. Capacity: --max-sessions=40 with 4 watched sessions -----------------------------------


def cap_left_whole(c, o):
    """After a refusal, nothing leaked: the 36 free places are all still free."""
    o = call(lambda: many(c, 36))
    if o.code != OK:
        return f"the refused call left sessions behind: 36 new ones get {o!r}"
    c.stub.ReleaseStates(pb.ReleaseStatesRequest(session_ids=o.value), timeout=T, metadata=c.md)


row("InitStates: 37 sessions over --max-sessions=40", "cap", unary("InitStates", lambda c:
    pb.InitStatesRequest(requests=[FN] * 37)), RE, "sessions",
    check=names("--max-sessions", cap_left_whole))
row("ForkStates: 37 copies over --max-sessions", "cap", unary("ForkStates", lambda c:
    pb.ForkStatesRequest(session_ids=[c.W["fn"]], n=37)), RE, "sessions", check=cap_left_whole)
row("Tokenize: 37 created sessions over --max-sessions", "cap", unary("Tokenize", lambda c:
    pb.TokenizeRequest(sources=[ID_SRC] * 37, start=pb.START_FUNCTION,
                       create_sessions=True)), RE, "sessions", check=cap_left_whole)


def keep_over_cap(c):
    """Results sent before the refusal stay valid, with their sessions: release them."""
    kept = []
    try:
        for r in c.stub.Decode(pb.DecodeRequest(
                init_requests=[R(start=pb.START_FUNCTION, max_len=12)], n=64,
                keep_sessions=True), timeout=T):
            kept.append(r.session_id)
        out = Outcome(OK)
    except grpc.RpcError as e:
        out = from_error(e)
    c.stub.ReleaseStates(pb.ReleaseStatesRequest(session_ids=[k for k in kept if k]),
                         timeout=T, metadata=c.md)
    out.message += f" ({len(kept)} results before the end)"
    return out


row("Decode: keep_sessions of 64 samples over --max-sessions", "cap", keep_over_cap, RE,
    "sessions", check=cap_left_whole)
row("Decode: keep_sessions of 36 samples fit", "cap", decode(lambda c: pb.DecodeRequest(
    init_requests=[R(start=pb.START_FUNCTION, max_len=12)], n=36, keep_sessions=True)), OK,
    check=release_results)
row("ForkStates: 36 copies fit", "cap", unary("ForkStates", lambda c: pb.ForkStatesRequest(
    session_ids=[c.W["mod"]], n=36)), OK, check=release_states)


# Tenants: alpha owns the watched sessions (4 of its 8); beta is another tenant.
BETA = [("authorization", "Bearer beta-0123456789abcdef")]


def as_beta(method, build):
    return lambda c: call(lambda: getattr(c.stub, method)(build(c), timeout=T, metadata=BETA))


row("tenants: 5 more sessions over --max-sessions-per-tenant=8", "tenant", unary(
    "InitStates", lambda c: pb.InitStatesRequest(requests=[FN] * 5)), RE, "sessions",
    check=names("--max-sessions-per-tenant"))
row("tenants: beta cannot see alpha's session", "tenant", as_beta(
    "LegalMasks", lambda c: pb.LegalMasksRequest(session_ids=[c.W["fn"]])), NF, "session_ids[0]")
row("tenants: beta cannot advance alpha's session", "tenant", as_beta(
    "Advance", lambda c: pb.AdvanceRequest(session_ids=[c.W["fn"]], token_ids=[PASS])), NF,
    "session_ids[0]")
row("tenants: beta cannot fork alpha's session", "tenant", as_beta(
    "ForkStates", lambda c: pb.ForkStatesRequest(session_ids=[c.W["fn"]], n=1)), NF,
    "session_ids[0]")
row("tenants: beta cannot run alpha's session", "tenant", as_beta(
    "Run", lambda c: pb.RunRequest(session_id=c.W["done"], inputs=[AT(args=[1])])), NF,
    "session_id")
row("tenants: beta cannot decode alpha's session", "tenant", lambda c: call(lambda: list(
    c.stub.Decode(pb.DecodeRequest(session_ids=[c.W["fn"]]), timeout=T, metadata=BETA))), NF,
    "session_ids[0]")
row("tenants: beta's release of alpha's sessions frees none", "tenant", as_beta(
    "ReleaseStates", lambda c: pb.ReleaseStatesRequest(session_ids=list(c.W.values()))), OK,
    check=lambda c, o: o.value.released == 0 or f"released {o.value.released}")


def release_as_beta(c, o):
    r = c.stub.ReleaseStates(pb.ReleaseStatesRequest(session_ids=[
        s.session_id for s in o.value.states]), timeout=T, metadata=BETA)
    return r.released == 8 or f"released {r.released} of beta's 8"


row("tenants: beta's 8 sessions fit beside alpha's", "tenant", as_beta(
    "InitStates", lambda c: pb.InitStatesRequest(requests=[FN] * 8)), OK,
    check=release_as_beta)
row("tenants: no authorization", "tenant", lambda c: call(lambda: c.stub.LegalMasks(
    pb.LegalMasksRequest(session_ids=[c.W["fn"]]), timeout=T)), UA, "authorization")
row("tenants: an unknown token", "tenant", lambda c: call(lambda: c.stub.LegalMasks(
    pb.LegalMasksRequest(session_ids=[c.W["fn"]]), timeout=T,
    metadata=[("authorization", "Bearer nope")])), UA, "authorization")
row("tenants: 'bearer' in lower case with junk", "tenant", lambda c: call(lambda: c.stub.Run(
    pb.RunRequest(source=ID_SRC), timeout=T,
    metadata=[("authorization", "bearer " + "x" * 4000)])), UA, "authorization")

# -- M. Budgets of #12 (the budget server) ----------------------------------------------------


def long_source(n_tokens_target=65000):
    """A FUNCTION-rooted MODULE of about n_tokens_target tokens: functions of 64 `if` blocks of
    64 assignments (WIDE's limits); the last one cut short, so read it with partial."""
    stmt = "        a = a + 1\n"
    block = "    if a:\n" + stmt * 64
    out, tokens = [], 0
    while tokens < n_tokens_target:
        out.append("def f(a):\n")
        tokens += 1
        for _ in range(64):
            if tokens + 323 > n_tokens_target:
                return "".join(out)
            out.append(block)
            tokens += 2 + 64 * 5 + 1
    return "".join(out)


LONG_CACHE = {}


def long_session(c, target=65000):
    """A live MODULE session of about `target` tokens (Tokenize, partial) on config WIDE."""
    src = long_source(target)
    r = c.stub.Tokenize(pb.TokenizeRequest(sources=[src], config=WIDE, partial=True,
                                           create_sessions=True, max_len=65536),
                        timeout=120, metadata=c.md).results[0]
    assert r.ok and r.session_id, (r.error, len(r.tokens))
    return r.session_id, len(r.tokens)


def fork_long(c):
    try:
        sid, n = long_session(c)
    except grpc.RpcError as e:  # the long session alone may be over the budget: also a refusal
        return from_error(e)
    o = call(lambda: c.stub.ForkStates(pb.ForkStatesRequest(session_ids=[sid], n=64),
                                       timeout=T, metadata=c.md))
    c.stub.ReleaseStates(pb.ReleaseStatesRequest(session_ids=[sid]), timeout=T, metadata=c.md)
    if o.code == OK:
        c.stub.ReleaseStates(pb.ReleaseStatesRequest(session_ids=[
            s.session_id for s in o.value.states]), timeout=T, metadata=c.md)
    return o


row("ForkStates: 64 copies of a 65000-token session over --max-session-bytes=4MB", "budget",
    fork_long, RE, "sessions", check=names("--max-session-bytes"))


def distinct_configs(c):
    """One session per distinct config until the session-bytes budget refuses (engines)."""
    made, out = [], None
    for k in range(1000):  # engines are 17-80 KB: the 4 MB budget refuses well before
        cfg = C(const_range=pb.Range(lo=0, hi=k + 1), max_locals=k % 20)
        out = call(lambda: c.stub.InitStates(pb.InitStatesRequest(config=cfg, requests=[FN]),
                                             timeout=T, metadata=c.md))
        if out.code != OK:
            break
        made.append(out.value.states[0].session_id)
    c.stub.ReleaseStates(pb.ReleaseStatesRequest(session_ids=made), timeout=T, metadata=c.md)
    out.message = f"after {len(made)} sessions on distinct configs: " + out.message
    return out


def decode_long_sessions(count):
    """Decode from `count` sessions of about 60,000 tokens each (about 260 KB of history each):
    the stream would copy them all, so they may hold no more than --max-message-bytes."""
    def send(c):
        sids = [long_session(c, 60000)[0] for _ in range(count)]
        try:
            return call(lambda: list(c.stub.Decode(pb.DecodeRequest(
                session_ids=sids, n=1, max_new_tokens=1), timeout=T, metadata=c.md)))
        finally:
            c.stub.ReleaseStates(pb.ReleaseStatesRequest(session_ids=sids), timeout=T,
                                 metadata=c.md)
    return send


row("Decode: from 6 long sessions over --max-message-bytes=1MiB of history", "budget",
    decode_long_sessions(6), IA, "session_ids", check=names("--max-message-bytes"))
row("Decode: from 2 long sessions under --max-message-bytes=1MiB of history", "budget",
    decode_long_sessions(2), OK)
row("InitStates: distinct configs pinning engines over --max-session-bytes", "budget",
    distinct_configs, RE, "sessions", check=names("--max-session-bytes"), probe=(10.0, 128))
row("Detokenize: a response over --max-response-bytes=200000", "respcap", lambda c: (
    lambda toks: call(lambda: c.stub.Detokenize(pb.DetokenizeRequest(
        config=WIDE, partial=True, programs=[TL(tokens=toks)] * 4), timeout=T, metadata=c.md)))(
    list(c.stub.Tokenize(pb.TokenizeRequest(sources=[long_source(20000)], config=WIDE,
                                            partial=True), timeout=T).results[0].tokens)),
    RE, "response", check=names("--max-response-bytes"))
def orphan_free_refusal(c):
    """A Tokenize that creates a session but whose response is over the cap changes nothing:
    the session it stored is taken back, so all 3 of --max-sessions=3 are still free."""
    out = call(lambda: c.stub.Tokenize(pb.TokenizeRequest(
        sources=[long_source(60000)], config=WIDE, partial=True, create_sessions=True,
        max_len=65536), timeout=T, metadata=c.md))
    made = call(lambda: c.stub.InitStates(pb.InitStatesRequest(requests=[FN] * 3), timeout=T,
                                          metadata=c.md))
    if made.code != OK:
        out.message = f"a session was left behind: {made.code} {made.message}"
        out.code = made.code
    else:
        c.stub.ReleaseStates(pb.ReleaseStatesRequest(session_ids=[
            st.session_id for st in made.value.states]), timeout=T, metadata=c.md)
    return out


row("Tokenize: create_sessions with a response over --max-response-bytes leaves no session",
    "respcap", orphan_free_refusal, RE, "response", check=names("--max-response-bytes"))
row("GetVocabulary: a small response under --max-response-bytes", "respcap", unary(
    "GetVocabulary", lambda c: pb.GetVocabularyRequest()), OK)

BIG_DECODE = dict(init_requests=[R(max_len=65536)], config=WIDE, n=4096, max_new_tokens=65535,
                  trace=True, pad=True)


def streams_cap(c):
    held = [c.stub.Decode(pb.DecodeRequest(**BIG_DECODE), timeout=120) for _ in range(2)]
    try:
        # Until both held streams are in (a loaded machine may take a while to start them),
        # the third is let in; a server without the cap lets it in for the whole 30 s.
        return retry_while(lambda o: o.code == OK, lambda: call(lambda: list(c.stub.Decode(
            pb.DecodeRequest(init_requests=[FN], n=1), timeout=T))))
    finally:
        for h in held:
            h.cancel()
        c.srv.settle_cpu()




def retry_while(pending, attempt, limit_s=30):
    """attempt() every 0.1 s while pending(its outcome) and within limit_s; the last outcome."""
    deadline = time.monotonic() + limit_s
    out = attempt()
    while pending(out) and time.monotonic() < deadline:
        time.sleep(0.1)
        out = attempt()
    return out


def a_stream_after_cancels(c, o):
    # The cancelled streams' slots come back when their calls end, which takes a moment.
    again = retry_while(lambda o: o.code == RE, lambda: call(lambda: list(c.stub.Decode(
        pb.DecodeRequest(init_requests=[FN]), timeout=T))))
    return again.code == OK or f"no stream after the cancels: {again!r}"


row("Decode: a third stream over --max-decode-streams=2", "streams", streams_cap, RE, "streams",
    check=names("--max-decode-streams", a_stream_after_cancels))

# -- N. Extreme sources: the server survives, within ceilings --------------------------------
ELIF = "def f(a):\n if a:pass\n" + " elif a:pass\n" * 75000
APLUS = "x = " + "+".join(["a"] * (MB // 2 - 4)) + "\n"
row("Tokenize: 75000 elifs (item 14)", "default", unary("Tokenize", lambda c: pb.TokenizeRequest(
    sources=[ELIF], start=pb.START_MODULE)), OK, check=results_fail(), probe=(1.0, 64))
row("Tokenize: 75000 elifs as FUNCTION with sessions", "default", unary(
    "Tokenize", lambda c: pb.TokenizeRequest(sources=[ELIF], start=pb.START_FUNCTION,
                                             config=WIDE, create_sessions=True)), OK,
    check=results_fail(), probe=(1.0, 64))
row("Tokenize: a 1 MiB a+a+...+a line (item 12)", "default", unary(
    "Tokenize", lambda c: pb.TokenizeRequest(sources=[APLUS], start=pb.START_BLOCK)), OK,
    check=results_fail(), probe=(1.0, 64))
row("Run: 75000 elifs as source", "default", unary("Run", lambda c: pb.RunRequest(
    source=ELIF, inputs=[AT(args=[1])])), IA, "source", probe=(1.0, 64))
row("Run: a 1 MiB a+a+...+a source", "default", unary("Run", lambda c: pb.RunRequest(
    source=APLUS, start=pb.START_BLOCK)), IA, "source", probe=(1.0, 64))
row("Tokenize: a source of 1 MiB + 1 byte over the default limit", "default", unary(
    "Tokenize", lambda c: pb.TokenizeRequest(sources=["#" * (MB + 1)])), IA, "sources[0]")
row("Tokenize: 30 sources of 1 MiB brackets", "default", unary(
    "Tokenize", lambda c: pb.TokenizeRequest(sources=["(" * MB] * 30)), OK,
    check=results_fail(), probe=(3.0, 128))
row("Detokenize: a 65536-token deep expression", "default", unary(
    "Detokenize", lambda c: pb.DetokenizeRequest(start=pb.START_EXPR, config=WIDE, programs=[
        TL(tokens=[PLUS] * 65535 + [A])])), OK, check=results_fail(), probe=(1.0, 64))
row("InitStates: a prefix of 65536 '+' tokens", "default", unary(
    "InitStates", lambda c: pb.InitStatesRequest(config=WIDE, requests=[R(
        start=pb.START_EXPR, max_len=65536, prefix_tokens=[PLUS] * 65536)])), FP,
    "requests[0].prefix_tokens", probe=(1.0, 64))


def cli_elif(c):
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(ELIF)
    p = subprocess.run([CLI, "tokenize", f.name], capture_output=True, text=True, timeout=120)
    os.unlink(f.name)
    if p.returncode < 0:
        return Outcome(SC.INTERNAL, message=f"astcd tokenize died of signal {-p.returncode}")
    return Outcome(OK, value=p)


row("CLI: astcd tokenize of 75000 elifs does not crash", "default", cli_elif, OK,
    check=lambda c, o: '"ok":false' in o.value.stdout.replace(" ", "") or o.value.stdout[:200])

# -- O. Deadlines, cancellation and the drain -------------------------------------------------
# Each step evaluates a deep expression, without overflow: the whole call (2 × 10^8 steps, the
# default --max-run-steps) costs about 20 s of CPU, far above the ceilings below.
SLOW_SRC = ("def f(a):\n    b = 0\n    for i in range(a):\n"
            "        b = (i % 97 + 1) * (i % 89 - 1) // 3 % 7 + (i % 13 * 2 - 5) * 3"
            " - (i % 5 + b % 11)\n"
            "    return b\n")
LOOP_RUN = pb.RunRequest(source=SLOW_SRC, config=C(allow_loops=True, max_expr_depth=8,
                                                   const_range=pb.Range(lo=0, hi=100)),
                         inputs=[AT(args=[2**31 - 1])] * 2, limits=pb.RunLimits(max_steps=10**8))
row("Run: 2 × 10^8 steps under a 0.5 s deadline (item 3)", "default",
    unary("Run", lambda c: LOOP_RUN, timeout=0.5), DE, None, probe=(1.5, 64))


def late_by(t0, delay):
    """CPU seconds a server may burn because the client cancelled later than t0 + delay."""
    return max(0.0, time.monotonic() - t0 - delay) * (os.cpu_count() or 1)


def cancel_after(start_call, delay=0.5):
    def send(c):
        t0 = time.monotonic()
        fut = start_call(c)
        time.sleep(delay)
        late = late_by(t0, delay)
        fut.cancel()
        try:
            fut.result() if hasattr(fut, "result") else list(fut)
            out = Outcome(OK, message="the call finished before the cancel")
        except grpc.FutureCancelledError:
            out = Outcome(CA, message="cancelled by the client")
        except grpc.RpcError as e:
            out = from_error(e)
        out.late_cpu_s = late
        return out
    return send


row("Run: 2 × 10^8 steps cancelled by the client after 0.5 s", "default", cancel_after(
    lambda c: c.stub.Run.future(LOOP_RUN, timeout=120)), CA, None, probe=(1.5, 64))
row("Decode: n=4096, max_len 65536 under a 0.5 s deadline", "default", decode(
    lambda c: pb.DecodeRequest(**BIG_DECODE), timeout=0.5), DE, None, probe=(2.5, 256))


def decode_cancel(c):
    t0 = time.monotonic()
    it = c.stub.Decode(pb.DecodeRequest(**BIG_DECODE), timeout=120)
    time.sleep(1.0)
    late = late_by(t0, 1.0)
    it.cancel()
    out = call(lambda: list(it))
    out.late_cpu_s = late
    return out


row("Decode: n=4096, max_len 65536, cancelled by the client after 1 s", "default",
    decode_cancel, CA, None, probe=(3.0, 256))
# 60 valid sources of 65000 tokens each (about 53 MB, under the 64 MiB request limit): every
# byte must be read, about 2 s of CPU in all.
row("Tokenize: 60 sources of 65000 tokens under a 0.5 s deadline", "default", unary(
    "Tokenize", lambda c: pb.TokenizeRequest(sources=[long_source()] * 60, config=WIDE,
                                             partial=True, max_len=65536), timeout=0.5),
    DE, None, probe=(1.2, 256))


def never_read(c):
    """Item 2: a Decode stream nobody reads; RSS bounded while it is held, and back after."""
    before = c.srv.rss()["VmRSS"]
    it = c.stub.Decode(pb.DecodeRequest(**BIG_DECODE), timeout=300)
    held, last = [], c.srv.cpu()
    for _ in range(40):  # until the server stops working on it (flow control), at most 12 s
        time.sleep(0.3)
        held.append(c.srv.rss()["VmRSS"])
        now = c.srv.cpu()
        if now - last < 0.02 and len(held) > 3:
            break
        last = now
    it.cancel()
    c.srv.settle_cpu()
    time.sleep(1.0)
    after = c.srv.rss()["VmRSS"]
    o = Outcome(CA, value=(before, max(held), after))
    o.message = f"RSS {before / MB:.0f} MB, held {max(held) / MB:.0f}, after {after / MB:.0f}"
    return o


def never_read_check(c, o):
    before, held, after = o.value
    if held - before > 256 * MB * RSS_FACTOR:
        return f"RSS grew {(held - before) / MB:.0f} MB while the stream was held"
    if after - before > 64 * MB * RSS_FACTOR:
        return f"RSS stayed {(after - before) / MB:.0f} MB above its baseline after the cancel"


row("Decode: n=4096, max_len 65536, trace and pad, never read, then cancelled", "default",
    never_read, CA, None, check=never_read_check, probe=(30.0, 256))


def drain(c):
    p = subprocess.Popen([SERVER, "--listen=127.0.0.1:0", "--metrics-listen=",
                          "--drain-deadline=1s"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    try:
        assert select.select([p.stdout], [], [], 60)[0]
        target = "127.0.0.1:" + p.stdout.readline().strip().rsplit(":", 1)[1]
        ch = grpc.insecure_channel(target)
        stub = pbg.DecoderStub(ch)
        fut = stub.Run.future(LOOP_RUN, timeout=300)
        cpu0 = cpu_seconds(p.pid)
        while cpu_seconds(p.pid) - cpu0 < 0.2 and not fut.done():  # the Run is under way
            time.sleep(0.05)
        p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5.0
        while p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if p.poll() is None:
            return Outcome(SC.INTERNAL, message="still running 5 s after SIGTERM with "
                                                "--drain-deadline=1s")
        if p.returncode != 0:
            return Outcome(SC.INTERNAL, message=f"exit status {p.returncode}")
        try:
            fut.result(timeout=10)
            code = OK
        except grpc.RpcError as e:
            code = e.code()
        except grpc.FutureTimeoutError:
            return Outcome(SC.INTERNAL, message="the Run call did not end")
        return Outcome(OK, message=f"the Run ended with {code.name}")
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()


row("drain: SIGTERM with --drain-deadline=1s during a long Run exits 0", "default", drain, OK)

# -- P. Extreme but valid, at scale (the heavy server) ----------------------------------------
HEAVY = {}


def heavy_sessions(c):
    if "ids" not in HEAVY:
        sid, n = long_session(c)
        forks = c.stub.ForkStates(pb.ForkStatesRequest(session_ids=[sid], n=511), timeout=120,
                                  metadata=c.md)
        HEAVY["ids"] = [sid] + [s.session_id for s in forks.states]
        HEAVY["n"] = n
        HEAVY["other"], _ = long_session(c, 200)
    return HEAVY["ids"]


def rollback_under_load(num):
    def send(c):
        sids = heavy_sessions(c)
        counts = {"during": 0, "before": 0, "after": 0}
        lat = []
        phase = ["before"]
        stop = threading.Event()

        def masks():
            while not stop.is_set():
                t0 = time.monotonic()
                c.stub.LegalMasks(pb.LegalMasksRequest(session_ids=[HEAVY["other"]]),
                                  timeout=T)
                lat.append(time.monotonic() - t0)
                counts[phase[0]] += 1
        th = threading.Thread(target=masks, daemon=True)
        th.start()
        while counts["before"] < 20 and th.is_alive():
            time.sleep(0.01)
        if not th.is_alive():
            return Outcome(SC.INTERNAL, message="LegalMasks on the unrelated session failed")
        phase[0] = "during"
        t0 = time.monotonic()
        out = call(lambda: c.stub.Rollback(pb.RollbackRequest(
            session_ids=sids, num_tokens=[num(HEAVY["n"])] * len(sids)), timeout=120))
        took = time.monotonic() - t0
        phase[0] = "after"
        stop.set()
        th.join()
        typical = sorted(lat[:20])[10]
        out.message += (f" rollback {took:.2f}s; {counts['during']} LegalMasks completed "
                        f"during it (typically {typical * 1000:.1f} ms each)")
        # Ratio, not a wall-clock bound: a rollback longer than 20 typical LegalMasks must let
        # some of them through. Below 0.1 s Python's own thread switching (every 5 ms) may not
        # even run the other thread; a replay from token 0 took seconds here.
        if took > max(20 * typical, 0.1) and counts["during"] < 3:
            out = Outcome(SC.INTERNAL, message="LegalMasks on an unrelated session was blocked: "
                          + out.message)
        return out
    return send


row("Rollback(0) of 512 sessions of 65000 tokens beside an unrelated LegalMasks", "heavy",
    rollback_under_load(lambda n: 0), OK, probe=(30.0, 256))
row("Rollback(1) of 512 sessions of 65000 tokens beside an unrelated LegalMasks", "heavy",
    rollback_under_load(lambda n: 1), OK, probe=(60.0, 256))
row("Rollback of 512 long sessions under a 0.05 s deadline", "heavy", lambda c: (
    lambda o: Outcome(DE, message=f"{o.code.name}: accepted, the rollback was quick")
    if o.code == OK else o)(call(lambda: c.stub.Rollback(pb.RollbackRequest(
        session_ids=heavy_sessions(c), num_tokens=[1] * 512), timeout=0.05))), DE, None,
    probe=(0.25, 256))


def rollback_all(c):
    sids = heavy_sessions(c)
    now = c.stub.Rollback(pb.RollbackRequest(session_ids=sids, num_tokens=[0] * len(sids)),
                          timeout=120)
    return call(lambda: c.stub.Rollback(pb.RollbackRequest(
        session_ids=sids, num_tokens=[s.num_tokens for s in now.states]), timeout=120))


row("Rollback(all) of 512 sessions of 65000 tokens", "heavy", rollback_all, OK,
    probe=(30.0, 256))


def fork_1023(c):
    sid, n = long_session(c, 65500)
    o = call(lambda: c.stub.ForkStates(pb.ForkStatesRequest(session_ids=[sid], n=1023),
                                       timeout=300))
    if o.code == OK:
        c.stub.ReleaseStates(pb.ReleaseStatesRequest(session_ids=[
            s.session_id for s in o.value.states]), timeout=T)
        o = Outcome(RE, ["sessions"], "accepted: the copies fit --max-session-bytes")
    c.stub.ReleaseStates(pb.ReleaseStatesRequest(session_ids=[sid]), timeout=T)
    return o


row("ForkStates: n=1023 of a 65500-token session, within --max-session-bytes or refused",
    "heavy", fork_1023, RE, "sessions", probe=(30.0, 1100))
row("Advance: 1024 sessions in one batch at the default --max-batch", "default", lambda c: (
    lambda sids: call(lambda: c.stub.Advance(pb.AdvanceRequest(
        session_ids=sids, token_ids=[DEF1] * 1024, return_masks=True), timeout=T)))(
    [s.session_id for s in c.stub.InitStates(pb.InitStatesRequest(
        requests=[FN] * 1024), timeout=T).states]), OK)
row("InitStates: 1025 requests over the default --max-batch", "default", unary(
    "InitStates", lambda c: pb.InitStatesRequest(requests=[FN] * 1025)), IA, "requests")


# ---- The runner -----------------------------------------------------------------------------

class Ctx:
    def __init__(self, srv):
        self.srv, self.stub, self.channel, self.md, self.W = (
            srv, srv.stub, srv.channel, srv.md, srv.W)
        self.fn_tokens = getattr(srv, "fn_tokens", None)


def run_row(r):
    srv = SERVERS[r.server]
    err = srv.ensure()
    if err:
        return err, None
    c = Ctx(srv)
    if r.server == "heavy":
        heavy_sessions(c)  # the long sessions, made before any probe's measurement
    if r.probe:
        srv.settle_cpu(5)
        srv.reset_peak()
        rss0, cpu0 = srv.rss()["VmRSS"], srv.cpu()
    out = r.send(c)
    problems = []
    if out.code != r.code:
        problems.append(f"expected {r.code.name}, got {out!r}")
    elif r.field is None and out.code != OK and out.fields:
        problems.append(f"expected no BadRequest field, got {out.fields} ({out.message[:120]})")
    elif r.field is not None and not field_matches(r.field, out.fields):
        problems.append(f"expected field {r.field!r}, got {out!r}")
    if not problems and r.check is not None:
        why = r.check(c, out)
        if why not in (None, True):
            problems.append(f"check: {why}")
    dead = srv.alive()
    if dead:
        problems.append(dead)
        srv.dead_cpu += 0  # the dead process's CPU is gone with it
    if r.probe and not dead:
        cpu1 = srv.settle_cpu()
        hwm = srv.rss()["VmHWM"]
        cpu_max, rss_max = r.probe
        if cpu1 is None:
            problems.append("the server's CPU still grows 20 s after the call ended; restarted")
            cpu1 = srv.cpu()
            dead = "restart"
            srv.stop()
        used, grew = cpu1 - cpu0, hwm - rss0
        if used > cpu_max * CPU_FACTOR + out.late_cpu_s:
            problems.append(f"CPU {used:.2f} s > {cpu_max * CPU_FACTOR:.2f} s"
                            + (f" + {out.late_cpu_s:.2f} s for a late cancel"
                               if out.late_cpu_s else ""))
        if grew > rss_max * MB * RSS_FACTOR:
            problems.append(f"peak RSS grew {grew / MB:.0f} MB > {rss_max * RSS_FACTOR:.0f} MB")
        out.message += f" [CPU {used:.2f} s, peak RSS +{grew / MB:.0f} MB]"
    if srv.watched and not dead:
        try:
            snap = srv.snapshot()
            if snap != srv.snap:
                problems.append(f"watched sessions changed: {srv.snap} -> {snap}")
                srv.snap = snap
        except grpc.RpcError as e:
            problems.append(f"watched sessions unreadable: {from_error(e)}")
    if dead:
        srv.proc = None  # restart it for the next row
    return "; ".join(problems) if problems else None, out


def main():
    rows = [r for r in ROWS if FILTER in r.name
            and (not ONLY_SERVERS or r.server in ONLY_SERVERS.split(","))]
    print(f"{len(ROWS)} rows ({len(rows)} selected), server {SERVER}, RSS factor {RSS_FACTOR}",
          flush=True)
    # The heavy server's rows last: its long sessions stay until the end.
    rows.sort(key=lambda r: r.server == "heavy")
    failures = []
    for r in rows:
        t0 = time.monotonic()
        try:
            problem, out = run_row(r)
        except Exception:  # noqa: BLE001
            problem, out = "exception:\n" + traceback.format_exc(), None
        tag = "ok  " if problem is None else "FAIL"
        what = f"{r.code.name}" + (f" {r.field}" if r.field else "")
        note = f" ({out.message[:150]})" if out is not None and out.message and not problem \
            and r.probe else ""
        print(f"{tag} [{r.server}] {r.name}: {what}{note} ({time.monotonic() - t0:.2f}s)"
              + (f"\n     {problem}" if problem else ""), flush=True)
        if problem:
            failures.append((r, problem))
    # The whole run: each server's peak RSS and CPU.
    for srv in SERVERS.values():
        if srv.proc is None or srv.proc.poll() is not None:
            continue
        hwm = max(srv.peak, srv.rss()["VmHWM"])
        srv.settle_cpu()
        cpu, rss = srv.cpu(), srv.rss()["VmRSS"]
        problem = None
        if hwm > srv.rss_ceiling:
            problem = f"peak RSS {hwm / MB:.0f} MB > {srv.rss_ceiling / MB:.0f} MB"
        elif cpu > srv.cpu_ceiling * CPU_FACTOR:
            problem = f"CPU {cpu:.1f} s > {srv.cpu_ceiling * CPU_FACTOR:.0f} s"
        elif srv.name != "heavy" and rss > srv.baseline + 128 * MB * RSS_FACTOR:
            # Item 13: memory returns. Only the watched sessions are left.
            problem = (f"RSS {rss / MB:.0f} MB at the end, {(rss - srv.baseline) / MB:.0f} MB "
                       f"above its start, with only the watched sessions left")
        print(f"{'ok  ' if problem is None else 'FAIL'} [{srv.name}] whole run: peak RSS "
              f"{hwm / MB:.0f} MB, CPU {cpu:.1f} s, RSS at the end {rss / MB:.0f} MB (start "
              f"{srv.baseline / MB:.0f})" + (f"\n     {problem}" if problem else ""))
        if problem:
            failures.append((Row(f"{srv.name}: whole-run ceilings", srv.name, None, OK, None,
                                 None, None), problem))
    print(f"{len(rows) - sum(1 for f in failures if f[0].send)} of {len(rows)} rows passed")
    if failures:
        print(f"{len(failures)} failures:")
        for r, problem in failures:
            print(f"  [{r.server}] {r.name}: {problem.splitlines()[0][:200]}")
        return 1
    return 0


if __name__ == "__main__":
    try:
        code = main()
    finally:
        for s in SERVERS.values():
            s.stop()
    sys.exit(code)
