#!/usr/bin/python3
"""Benchmark 8, memory budgets: what the server's memory flags cost in real memory.

usage: run.py --server PATH/astcd-server --out DIR [--stubs DIR] [--smoke]

Starts the real `astcd-server` on loopback ports (port 0, no metrics) and reads VmRSS and VmHWM
from /proc/PID/status. It measures:

1. the RSS of an idle server (the baseline);
2. sessions up to the byte budget: with --max-session-bytes=256MiB and --max-sessions=10^8,
   sessions are made until the server refuses with RESOURCE_EXHAUSTED `sessions`, for
   (a) InitStates sessions of the default max_len (128), (b) ForkStates copies of one
   Tokenize'd session of about 60,000 tokens with max_len 65536 (the longest a session can be),
   and (c) one session per distinct config (each pins its own engine). Per case: sessions
   admitted, the bytes the server accounted (from its refusal message), RSS growth, and RSS
   growth / budget: the real memory one accounted byte costs. (d) The count cap at the
   defaults (1 GiB, 100,000 sessions): 100,000 default-max_len sessions, and which cap binds;
3. memory returns: after every session of a case is released, the script waits past one sweep
   (each case's server runs with --session-ttl=20s, so the sweeper runs every 5 s; the sweeper
   calls malloc_trim once 8 MiB were freed) and reads RSS again;
4. the peak RSS of the worst single calls at the default flags: a Decode stream nobody reads
   (init max_len 65536, n=4096, trace, pad: one result read, then none for 3 s and until the
   server's CPU settles (flow control), at most 12 s more, then cancelled), 16 of them at once
   (--max-decode-streams), a traced Run refused at 200,002 events and one of 199,998
   (--max-trace-events), Tokenize of 256 sources of 4 KiB, and the largest Tokenize that
   succeeds (224 sources of 65,000 tokens: a 50 MB request, under --max-message-bytes, whose
   response is just under --max-response-bytes). Case b also makes one ForkStates of n=1023
   that the full budget refuses, and reports its peak (the copies exist before the check). The
   high-water mark is reset between cases by writing 5 to /proc/PID/clear_refs; each case
   reports VmHWM growth over the RSS before it, and the RSS once the server has settled.

Writes DIR/memory_budgets.json (the shared format of bench/report.py, plus `raw`) and
DIR/memory_budgets.md (the tables). The whole run takes about 2 minutes on 2 cores; --smoke
shrinks the budget and the stream count to check that it runs. Nothing here asserts a number.
"""
import argparse
import json
import os
import re
import select
import subprocess
import sys
import threading
import time

MB = 1 << 20
GIB = 1 << 30
BUDGET = 256 * MB
TICK = os.sysconf("SC_CLK_TCK")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--stubs", help="the generated Python stubs (default: the server's build "
                                    "tree, <build>/proto/python)")
    ap.add_argument("--smoke", action="store_true")
    return ap.parse_args()


ARGS = parse_args()
STUBS = ARGS.stubs or os.path.join(os.path.dirname(os.path.abspath(ARGS.server)), "..", "proto",
                                   "python")
sys.path.insert(0, STUBS)
import grpc  # noqa: E402
from astcd.v1 import astcd_pb2 as pb  # noqa: E402
from astcd.v1 import astcd_pb2_grpc as pbg  # noqa: E402

if ARGS.smoke:
    BUDGET = 16 * MB
R, C, AT = pb.InitRequest, pb.DecodeConfig, pb.ArgTuple
FN = R(start=pb.START_FUNCTION)
WIDE = C(max_block_stmts=64, max_expr_depth=16, max_control_depth=8, max_locals=20,
         max_functions=16, allow_loops=True)
LOOP = C(allow_loops=True)
LOOP_SRC = "def f(a):\n    for i in range(a):\n        pass\n    return a\n"
T = 120


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024
    return out


def cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Server:
    def __init__(self, *flags):
        self.flags = ["--listen=127.0.0.1:0", "--metrics-listen=", *flags]
        self.proc = subprocess.Popen([ARGS.server, *self.flags], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        if not select.select([self.proc.stdout], [], [], 60)[0]:
            raise RuntimeError("the server did not start")
        line = self.proc.stdout.readline().strip()
        if not line.startswith("astcd-server listening on"):
            raise RuntimeError(f"the server did not start: {self.proc.stderr.read()[-300:]}")
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()
        self.channel = grpc.insecure_channel("127.0.0.1:" + line.rsplit(":", 1)[1], options=[
            ("grpc.max_receive_message_length", 1 << 30),
            ("grpc.max_send_message_length", 1 << 30)])
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.stub = pbg.DecoderStub(self.channel)
        self.stub.GetVocabulary(pb.GetVocabularyRequest(), timeout=T)
        time.sleep(0.3)

    def rss(self):
        return status(self.proc.pid)["VmRSS"]

    def hwm(self):
        return status(self.proc.pid)["VmHWM"]

    def reset_peak(self):
        with open(f"/proc/{self.proc.pid}/clear_refs", "w") as f:
            f.write("5")

    def settle(self, limit=20.0):
        """Wait until the server's CPU stops growing (work a call started has stopped)."""
        last, end = cpu(self.proc.pid), time.monotonic() + limit
        while time.monotonic() < end:
            time.sleep(0.3)
            now = cpu(self.proc.pid)
            if now - last < 0.02:
                return
            last = now

    def release(self, ids):
        for i in range(0, len(ids), 1024):
            self.stub.ReleaseStates(pb.ReleaseStatesRequest(session_ids=ids[i:i + 1024]),
                                    timeout=T)

    def stop(self):
        self.channel.close()
        self.proc.kill()
        self.proc.wait()


def long_source(n_tokens_target=65000):
    """A FUNCTION-rooted MODULE of about n_tokens_target tokens on config WIDE: functions of 64
    `if` blocks of 64 assignments; the last one cut short, so read it with partial."""
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


def refusal(e):
    """(sessions asked, bytes asked, bytes live) from a --max-session-bytes refusal."""
    m = re.search(r"(\d+) more sessions of up to (\d+) bytes and the (\d+) bytes live",
                  e.details() or "")
    return tuple(int(x) for x in m.groups()) if m else None


def fill(make, batch):
    """Calls make(n) (returns new ids) with batches of `batch`, halving on a refusal, until a
    batch of 1 is refused. Returns (ids, the last refusal's (asked, bytes asked, bytes live),
    its message)."""
    ids, last, message = [], None, ""
    while batch >= 1:
        try:
            ids += make(batch)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise
            last, message = refusal(e), e.details()
            batch //= 2
    return ids, last, message


def budget_case(name, what, setup, make, batch, flags=()):
    srv = Server(f"--max-session-bytes={BUDGET}", "--max-sessions=100000000",
                 "--session-ttl=20s", "--max-batch=1024", *flags)
    try:
        base = srv.rss()
        t0 = time.monotonic()
        ctx = setup(srv)
        after_setup = srv.rss()
        ids, last, message = fill(lambda n: make(srv, ctx, n), batch)
        secs = time.monotonic() - t0
        time.sleep(0.5)
        full = srv.rss()
        refused_peak = full_after_refusal = None
        if "sid" in ctx:  # a refused ForkStates: its copies are made before the budget check
            srv.reset_peak()
            try:
                fork_make(srv, ctx, 1023)
            except grpc.RpcError:
                pass
            refused_peak = srv.hwm() - full
            srv.settle()
            time.sleep(0.5)
            full_after_refusal = srv.rss()
            print(f"  a refused ForkStates n=1023: VmHWM +{refused_peak / MB:.1f} MiB, RSS then "
                  f"+{(full_after_refusal - full) / MB:.1f} MiB", flush=True)
        srv.release(ids + ctx.get("extra_ids", []))
        time.sleep(6.0)  # past one sweep (20s / 4 = 5 s): malloc_trim after the frees
        back = srv.rss()
        live = last[2] if last else None
        per = last[1] / last[0] if last else None
        row = dict(case=name, what=what, sessions=len(ids), accounted_bytes=live,
                   accounted_per_session=per, rss_base=base, rss_after_setup=after_setup,
                   rss_full=full, rss_growth=full - base, growth_per_session=(
                       (full - after_setup) / len(ids) if ids else None),
                   ratio=(full - base) / BUDGET, rss_after_release=back,
                   refused_fork_hwm_growth=refused_peak,
                   rss_full_after_refusal=full_after_refusal, long_tokens=ctx.get("tokens"),
                   returned_to=back - base, seconds=secs, refusal=message)
        print(f"  {name}: {len(ids):,} sessions, accounted {live}, RSS +{(full - base) / MB:.1f} "
              f"MiB (ratio {(full - base) / BUDGET:.3f}), after release +{(back - base) / MB:.1f}"
              f" MiB, {secs:.1f} s", flush=True)
        return row
    finally:
        srv.stop()


def init_make(srv, ctx, n, max_len=0, config=None):
    r = srv.stub.InitStates(pb.InitStatesRequest(config=config, requests=[
        R(start=pb.START_FUNCTION, max_len=max_len)] * n), timeout=T)
    return [s.session_id for s in r.states]


def long_setup(srv):
    r = srv.stub.Tokenize(pb.TokenizeRequest(sources=[long_source(60000)], config=WIDE,
                                             partial=True, create_sessions=True, max_len=65536),
                          timeout=T).results[0]
    assert r.ok and r.session_id, r.error
    print(f"  the long session: {len(r.tokens):,} tokens", flush=True)
    return {"sid": r.session_id, "tokens": len(r.tokens), "extra_ids": [r.session_id]}


def fork_make(srv, ctx, n):
    r = srv.stub.ForkStates(pb.ForkStatesRequest(session_ids=[ctx["sid"]], n=n), timeout=T)
    return [s.session_id for s in r.states]


def config_of(k):
    """The k-th distinct config: const_range, max_locals and max_functions varied."""
    lo = k % 5
    return C(const_range=pb.Range(lo=lo, hi=lo + 1 + k // 100), max_locals=1 + (k // 5) % 20)


def configs_make(srv, ctx, n):
    ids = []
    for _ in range(n):
        k = ctx["k"]
        ctx["k"] += 1
        ids += init_make(srv, ctx, 1, config=config_of(k))
    return ids


def count_cap_case(n_target):
    srv = Server("--session-ttl=20s")  # the default budgets: 1 GiB, 100,000 sessions
    try:
        base = srv.rss()
        ids, message = [], ""
        t0 = time.monotonic()
        try:
            while True:
                ids += init_make(srv, None, 1024 if n_target - len(ids) >= 1024 else
                                 max(1, n_target - len(ids)))
                if len(ids) >= n_target:
                    init_make(srv, None, 1)  # one more: which cap refuses?
                    break
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise
            message = e.details()
        secs = time.monotonic() - t0
        time.sleep(0.5)
        full = srv.rss()
        srv.release(ids)
        time.sleep(11.0 if not ARGS.smoke else 6.0)
        back = srv.rss()
        binds = ("--max-sessions" if "--max-sessions " in message or "--max-sessions of" in
                 message else "--max-session-bytes" if "--max-session-bytes" in message
                 else "none")
        row = dict(case="d", sessions=len(ids), rss_base=base, rss_full=full,
                   rss_growth=full - base, growth_per_session=(full - base) / max(1, len(ids)),
                   rss_after_release=back, returned_to=back - base, binds=binds,
                   refusal=message, seconds=secs)
        print(f"  d: {len(ids):,} sessions, RSS +{(full - base) / MB:.1f} MiB, binds {binds}, "
              f"after release +{(back - base) / MB:.1f} MiB", flush=True)
        return row
    finally:
        srv.stop()


# ---- 4. Peaks of single calls at the defaults ----------------------------------------------

BIG_DECODE = dict(init_requests=[R(max_len=65536)], config=WIDE, n=4096, max_new_tokens=65535,
                  trace=True, pad=True)


def unread_streams(srv, k):
    its = [srv.stub.Decode(pb.DecodeRequest(**BIG_DECODE), timeout=300) for _ in range(k)]
    got = 0
    for it in its:
        try:
            next(it)
            got += 1
        except (grpc.RpcError, StopIteration):
            pass
    time.sleep(3.0)
    srv.settle(limit=12.0)  # until flow control stops every stream's work
    for it in its:
        it.cancel()
    return f"{got} of {k} streams gave a first result"


def traced_run(srv, a):
    try:
        r = srv.stub.Run(pb.RunRequest(source=LOOP_SRC, config=LOOP, trace=True,
                                       inputs=[AT(args=[a])],
                                       limits=pb.RunLimits(max_steps=10**8)), timeout=T)
        return f"OK, {len(r.outcomes[0].trace):,} events, {r.ByteSize() / MB:.1f} MB response"
    except grpc.RpcError as e:
        return f"{e.code().name}"


def tokenize(srv, sources):
    req = pb.TokenizeRequest(sources=sources, config=WIDE, partial=True, max_len=65536)
    try:
        r = srv.stub.Tokenize(req, timeout=T)
        return f"OK, request {req.ByteSize() / MB:.1f} MB, response {r.ByteSize() / MB:.1f} MB"
    except grpc.RpcError as e:
        return f"{e.code().name}: {e.details()[:120]}"


def peak_cases(n_streams):
    src4k = long_source(2000)[:4096]
    src4k = src4k[:src4k.rfind("\n") + 1]
    big = long_source(65000)
    n_big = 224 if not ARGS.smoke else 4
    cases = [
        ("one unread Decode stream (max_len 65536, n=4096, trace, pad)",
         lambda s: unread_streams(s, 1)),
        (f"{n_streams} unread Decode streams at once (--max-decode-streams)",
         lambda s: unread_streams(s, n_streams)),
        ("traced Run of 200,002 events (refused by --max-trace-events)",
         lambda s: traced_run(s, 100_000)),
        ("traced Run of 199,998 events (just under the cap)", lambda s: traced_run(s, 99_998)),
        (f"Tokenize of 256 sources of {len(src4k):,} bytes",
         lambda s: tokenize(s, [src4k] * 256)),
        (f"Tokenize of {n_big} sources of 65,000 tokens ({n_big * len(big) / MB:.0f} MB request, "
         "its response just under --max-response-bytes)", lambda s: tokenize(s, [big] * n_big)),
    ]
    srv = Server()  # every default
    rows = []
    try:
        for what, fn in cases:
            srv.settle()
            before = srv.rss()
            srv.reset_peak()
            t0 = time.monotonic()
            outcome = fn(srv)
            secs = time.monotonic() - t0
            peak = srv.hwm()
            srv.settle()
            time.sleep(1.0)
            after = srv.rss()
            rows.append(dict(what=what, rss_before=before, hwm=peak, hwm_growth=peak - before,
                             rss_after=after, outcome=outcome, seconds=secs))
            print(f"  {what}: VmHWM +{(peak - before) / MB:.1f} MiB, RSS after "
                  f"{after / MB:.1f} MiB ({outcome}, {secs:.1f} s)", flush=True)
        time.sleep(11.0 if not ARGS.smoke else 1.0)  # past one sweep at the default TTL (10 s)
        final = srv.rss()
        return rows, final
    finally:
        srv.stop()


def main():
    os.makedirs(ARGS.out, exist_ok=True)
    t_start = time.monotonic()
    print("== 1. baseline", flush=True)
    srv = Server()
    time.sleep(1.0)
    baseline = srv.rss()
    srv.stop()
    print(f"  idle server: {baseline / MB:.1f} MiB", flush=True)

    print(f"== 2-3. sessions up to --max-session-bytes={BUDGET // MB}MiB", flush=True)
    a = budget_case("a", "InitStates, default max_len (128)", lambda s: {},
                    lambda s, c, n: init_make(s, c, n), 1024)
    b = budget_case("b", "ForkStates of one 60,000-token session, max_len 65536", long_setup,
                    fork_make, 64)
    c = budget_case("c", "one session per distinct config (engines)", lambda s: {"k": 0},
                    configs_make, 64)
    d = count_cap_case(100_000 if not ARGS.smoke else 5000)
    d["accounted_bytes"] = d["sessions"] * a["accounted_per_session"]

    n_streams = 16 if not ARGS.smoke else 2
    print("== 4. peak RSS of single calls at the defaults", flush=True)
    peaks, final = peak_cases(n_streams)

    per_stream = next(r for r in peaks if r["what"].startswith(f"{n_streams} unread"))
    raw = dict(baseline=baseline, budget=BUDGET, a=a, b=b, c=c, d=d, peaks=peaks,
               final_rss_after_peaks=final, seconds=time.monotonic() - t_start,
               per_stream_peak=per_stream["hwm_growth"] / n_streams)

    def mib(x):
        return round(x / MB, 1) if x is not None else None

    budget_rows = [[r["case"] + ". " + r["what"], r["sessions"], mib(r["accounted_bytes"]),
                    round(r["accounted_per_session"]) if r["accounted_per_session"] else None,
                    round(r["growth_per_session"]) if r["growth_per_session"] else None,
                    mib(r["rss_growth"]), round(r["ratio"], 3), mib(r["returned_to"])]
                   for r in (a, b, c)]
    budget_rows.append([f"d. the default caps (1 GiB, 100,000): InitStates, default max_len; "
                        f"binds: {d['binds']}", d["sessions"], mib(d["accounted_bytes"]),
                        round(a["accounted_per_session"]), round(d["growth_per_session"]),
                        mib(d["rss_growth"]), round(d["rss_growth"] / GIB, 3),
                        mib(d["returned_to"])])
    tables = [
        dict(caption=f"Sessions up to the byte budget (--max-session-bytes={BUDGET // MB}MiB; "
                     f"idle server {baseline / MB:.1f} MiB)",
             columns=["case", "sessions admitted", "accounted (MiB)", "accounted B/session",
                      "RSS B/session", "RSS growth (MiB)", "RSS growth / budget",
                      "RSS over baseline after release + one sweep (MiB)"],
             rows=budget_rows),
        dict(caption="Peak RSS of single calls at the default flags (VmHWM reset before each)",
             columns=["call", "outcome", "RSS before (MiB)", "VmHWM growth (MiB)",
                      "RSS after, settled (MiB)"],
             rows=[[r["what"], r["outcome"], mib(r["rss_before"]), mib(r["hwm_growth"]),
                    mib(r["rss_after"])] for r in peaks] + [[
                 f"ForkStates n=1023 of the {b['long_tokens']:,}-token session of case b, with "
                 f"the {BUDGET // MB} MiB budget full (refused)", "RESOURCE_EXHAUSTED",
                 mib(b["rss_full"]), mib(b["refused_fork_hwm_growth"]),
                 mib(b["rss_full_after_refusal"])]]),
    ]
    engine_bytes = (c["accounted_bytes"] - c["sessions"] * c["accounted_per_session"]) / \
        c["sessions"]
    notes = [
        f"`bench/memory/run.py` against `astcd-server` on loopback. Case d's last column is RSS "
        f"growth / 1 GiB (the default budget). The accounted bytes come from the server's own "
        f"refusal message (`... and the N bytes live exceed ... --max-session-bytes`); d's are "
        f"its session count × a's bytes per session. In case c the server accounts "
        f"{engine_bytes:,.0f}"
        f" bytes per distinct config's engine beside each session's "
        f"{c['accounted_per_session']:,.0f}. After the peak cases and one more sweep "
        f"the server's RSS was {final / MB:.1f} MiB. Whole run: {raw['seconds']:.0f} s.",
    ]
    result = dict(title="Memory budgets: the memory flags' real cost", tables=tables,
                  notes=notes, ratios=[], raw=raw)
    with open(os.path.join(ARGS.out, "memory_budgets.json"), "w") as f:
        json.dump(result, f, indent=1)
    md = []
    for t in tables:
        md.append(f"*{t['caption']}*\n")
        md.append("| " + " | ".join(t["columns"]) + " |")
        md.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(t["columns"])))
                  + "|")
        for row in t["rows"]:
            md.append("| " + " | ".join(f"{x:,}" if isinstance(x, int) else str(x)
                                        for x in row) + " |")
        md.append("")
    md += notes
    with open(os.path.join(ARGS.out, "memory_budgets.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print(f"wrote {ARGS.out}/memory_budgets.json and .md in {raw['seconds']:.0f} s")


if __name__ == "__main__":
    main()
