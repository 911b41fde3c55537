#!/usr/bin/python3
"""The soak of issue #14: a real astcd-server under many clients for a fixed time.

usage: soak.py SERVER STUBS_DIR --seconds N [--clients K] [--out DIR] [--ttl S] [--seed N]

Starts SERVER on a free loopback port with a short --session-ttl, and K client threads, each
on its own gRPC channel (workload.py), drive it for N seconds: decoding loops (InitStates,
LegalMasks, Advance with a seeded random legal token, Rollback, ForkStates, Run of the result,
ReleaseStates), sessions abandoned to the TTL, Decode streams cancelled midway or read to the
end, Tokenize with create_sessions, hostile Tokenize and Run calls (hostile.py), and now and
then a reconnect. Meanwhile it samples, once a second, the server's RSS (/proc/PID/status) and
its live sessions (the astcd_sessions_live gauge on /metrics).

When the time is up the clients finish their current action and release what they hold; the
soak then waits for the sweeper to evict the abandoned sessions, reads the final metrics, and
stops the server with SIGTERM. It fails (exit 1, one line per failed check) when:
- any call ended in a way the contract does not promise (workload.py: an unexpected error),
  or the server's own counters show a code no call should get (INTERNAL, UNKNOWN, ...);
- RSS trended up by more than 5% after warm-up (20% in a run as short as 60 s), or p50/p99 of the decoding loop's unary calls
  trend up (analysis.py has the definitions and the reasons for the limits);
- live sessions do not return to 0 within TTL + two sweeps + 5 s of the load's end, or the
  server's counters do not balance (created = released + evicted; released = what the
  clients were told was released; evicted >= what they abandoned);
- an action never ran, or the server died, or it did not exit 0 on SIGTERM.

Writes to --out (default: a new temporary directory): samples.csv (one row a second: t, RSS,
live sessions, load average), windows.csv (one row a window: RSS, live sessions, calls,
p50/p99, server CPU per call, errors), summary.json (figures, checks, unexpected errors) and
server.log (the server's stderr, call_failed lines summarised).
"""
import argparse
import collections
import csv
import json
import os
import queue
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "server"))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("server")
    p.add_argument("stubs")
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--clients", type=int, default=12)
    p.add_argument("--out", default=None)
    p.add_argument("--ttl", type=float, default=3.0,
                   help="--session-ttl in seconds: short, so abandoned sessions churn")
    p.add_argument("--seed", type=int, default=1)
    return p.parse_args()


ARGS = parse_args()
sys.path.insert(0, ARGS.stubs)

import grpc  # noqa: E402
from astcd.v1 import astcd_pb2 as pb  # noqa: E402
from astcd.v1 import astcd_pb2_grpc as pbg  # noqa: E402
from proc_usage import cpu_seconds, memory  # noqa: E402

import analysis  # noqa: E402
import workload  # noqa: E402

# Codes the server may count on its own side: OK, and the documented refusals of what the soak
# sends. Anything else (INTERNAL, UNKNOWN, UNAVAILABLE, DATA_LOSS, ...) fails the soak.
SERVER_CODES = {"OK", "INVALID_ARGUMENT", "FAILED_PRECONDITION", "NOT_FOUND",
                "RESOURCE_EXHAUSTED", "CANCELLED"}
ACTIONS = ["decode_loop", "abandon", "decode_cancelled", "decode_whole", "tokenize_sessions",
           "hostile", "reconnect"]


# ---- the server ---------------------------------------------------------------------------

class Server:
    """astcd-server on 127.0.0.1:0, metrics on 127.0.0.1:0; its stderr drained to a file."""

    def __init__(self, path, ttl_s, log_path):
        self.proc = subprocess.Popen(
            [path, "--listen=127.0.0.1:0", "--metrics-listen=127.0.0.1:0",
             f"--session-ttl={int(ttl_s * 1000)}ms"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stdout = queue.Queue()
        threading.Thread(target=lambda: [self.stdout.put(x) for x in self.proc.stdout],
                         daemon=True).start()
        self.target = self.address("astcd-server listening on ")
        self.metrics_url = f"http://{self.address('astcd-server metrics on ')}/metrics"
        self.failed_codes = collections.Counter()  # call_failed log lines by code
        self.log = open(log_path, "w")
        threading.Thread(target=self.drain_stderr, daemon=True).start()

    def address(self, prefix):
        """The address on the stdout line that starts with `prefix` (the next line)."""
        try:
            line = self.stdout.get(timeout=60).strip()
        except queue.Empty:
            line = ""
        if not line.startswith(prefix):
            self.proc.kill()
            sys.exit(f"soak: the server did not start: {line!r} {self.proc.stderr.read()[-400:]}")
        return line[len(prefix):]

    def drain_stderr(self):
        """Keeps the pipe from filling. call_failed lines (one per refused call: thousands)
        are only counted; every other line is kept in server.log."""
        for line in self.proc.stderr:
            try:
                rec = json.loads(line)
            except ValueError:
                rec = {}
            if rec.get("event") == "call_failed":
                self.failed_codes[rec.get("code", "?")] += 1
            else:
                self.log.write(line)
                self.log.flush()

    def metrics(self):
        """{name{labels}: value} from /metrics."""
        with urllib.request.urlopen(self.metrics_url, timeout=10) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                out[key] = float(value)
        return out

    def stop(self, wait_s=30):
        """SIGTERM; the exit status (None if it did not exit in time)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None


def metric_sum(metrics, name, **labels):
    """The sum of every series of `name` whose labels include `labels`."""
    total = 0.0
    for key, value in metrics.items():
        base, _, rest = key.partition("{")
        if base == name and all(f'{k}="{v}"' in rest for k, v in labels.items()):
            total += value
    return total


def loop_histogram(metrics):
    """The server's cumulative handling-time buckets of the decoding loop's methods, summed:
    [(upper bound, count)] sorted by bound."""
    out = collections.Counter()
    for key, value in metrics.items():
        if key.startswith("grpc_server_handling_seconds_bucket{") and any(
                f'grpc_method="{m}"' in key for m in workload.SESSION_METHODS):
            out[float(key.split('le="', 1)[1].split('"', 1)[0])] += value
    return sorted(out.items())


def codes_counted(metrics):
    """grpc_server_handled_total summed by grpc_code."""
    out = collections.Counter()
    for key, value in metrics.items():
        if key.startswith("grpc_server_handled_total{"):
            code = key.split('grpc_code="', 1)[1].split('"', 1)[0]
            out[code] += value
    return out


# ---- sampling -----------------------------------------------------------------------------

class Sampler(threading.Thread):
    """Once a second: RSS, live sessions, server CPU and the load average, to samples.csv."""

    def __init__(self, server, t0, path):
        super().__init__(name="soak-sampler", daemon=True)
        self.server, self.t0, self.rows, self.stop = server, t0, [], threading.Event()
        self.hists = []  # loop_histogram at each row, for the server-side quantiles
        self.file = open(path, "w", newline="")
        self.csv = csv.writer(self.file)
        self.csv.writerow(["t_s", "rss_bytes", "live_sessions", "server_cpu_s", "load1",
                           "runnable"])

    def sample(self):
        pid = self.server.proc.pid
        metrics = self.server.metrics()
        live = metric_sum(metrics, "astcd_sessions_live")
        with open("/proc/loadavg") as f:  # "load1 load5 load15 runnable/threads lastpid"
            fields = f.read().split()
        row = (round(time.monotonic() - self.t0, 3), memory(pid)["VmRSS"], int(live),
               round(cpu_seconds(pid), 2), float(fields[0]), int(fields[3].split("/")[0]))
        self.rows.append(row)
        self.hists.append(loop_histogram(metrics))
        self.csv.writerow(row)
        self.file.flush()
        return row

    def run(self):
        while not self.stop.wait(1.0 - (time.monotonic() - self.t0) % 1.0):
            if self.server.proc.poll() is not None:
                return
            try:
                self.sample()
            except (OSError, ValueError):  # the server died: the main thread reports it
                return


# ---- the run ------------------------------------------------------------------------------

def vocabulary_names(target):
    with grpc.insecure_channel(target) as ch:
        vocab = pbg.DecoderStub(ch).GetVocabulary(pb.GetVocabularyRequest(), timeout=60)
    return {t.id: t.name for t in vocab.tokens}


def drive(server, stats, seconds):
    """The load: K client threads for `seconds`; returns when they have all finished."""
    names = vocabulary_names(server.target)
    stop = threading.Event()
    clients = [workload.Client(i, server.target, stats, stop, random.Random(ARGS.seed * 1000 + i),
                               ARGS.ttl, names) for i in range(ARGS.clients)]
    for c in clients:
        c.start()
    deadline = stats.t0 + seconds
    while time.monotonic() < deadline and server.proc.poll() is None:
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    stop.set()
    for c in clients:
        c.join(timeout=2 * workload.DEADLINE)
        if c.is_alive():
            stats.fail("client did not finish", c.name)
    return sum(len(c.abandoned) for c in clients)


def wait_for_no_sessions(server, limit_s):
    """Polls the live-sessions gauge until 0; (seconds it took or None, last value)."""
    t0 = time.monotonic()
    live = None
    while time.monotonic() - t0 < limit_s and server.proc.poll() is None:
        live = metric_sum(server.metrics(), "astcd_sessions_live")
        if live == 0:
            return time.monotonic() - t0, 0
        time.sleep(0.25)
    return None, live


# ---- per-window figures -------------------------------------------------------------------

def server_quantiles(samples, hists, lo, hi):
    """p50 and p99 (ms) of the decoding loop's calls as the server timed them between the last
    samples before `lo` and before `hi` (from the start, for the first window)."""
    before = [h for s, h in zip(samples, hists) if s[0] < lo]
    upto = [h for s, h in zip(samples, hists) if s[0] < hi]
    if not upto:
        return float("nan"), float("nan")
    delta = analysis.histogram_delta(upto[-1], before[-1] if before else [])
    return tuple(analysis.histogram_quantile(delta, q) * 1e3 for q in (0.5, 0.99))


def window_rows(stats, samples, hists, n_windows, window_s):
    """One dict per window: RSS and live sessions (median of its samples), the decoding loop's
    calls and their p50/p99 (as the clients and as the server timed them), server CPU per
    call, the load average, unexpected errors."""
    rows = []
    for w in range(n_windows):
        lo, hi = w * window_s, (w + 1) * window_s
        ss = [s for s in samples if lo <= s[0] < hi]
        server_p50, server_p99 = server_quantiles(samples, hists, lo, hi)
        lat = [x for m in workload.SESSION_METHODS for x in stats.latency.get((w, m), ())]
        calls = sum(len(v) for (ww, _), v in stats.latency.items() if ww == w)
        cpu = ss[-1][3] - ss[0][3] if len(ss) > 1 else float("nan")
        rows.append({
            "window": w, "t_start_s": round(lo, 1), "t_end_s": round(hi, 1),
            "rss_median_bytes": analysis.median([s[1] for s in ss]),
            "rss_max_bytes": max((s[1] for s in ss), default=float("nan")),
            "live_sessions_median": analysis.median([s[2] for s in ss]),
            "unary_calls": calls, "loop_calls": len(lat),
            "server_p50_ms": server_p50, "server_p99_ms": server_p99,
            "client_p50_ms": analysis.percentile(lat, 0.5) * 1e3,
            "client_p99_ms": analysis.percentile(lat, 0.99) * 1e3,
            "server_cpu_us_per_call": cpu / max(1, calls) * 1e6 * len(ss) / max(1, len(ss) - 1),
            "load1_median": analysis.median([s[4] for s in ss]),
            "runnable_median": analysis.median([s[5] for s in ss]),
            "unexpected_errors": sum(1 for u in stats.unexpected if u["window"] == w)})
    return rows


def per_method(stats):
    """p50/p99 (ms) and count of each method over the whole run."""
    by = collections.defaultdict(list)
    for (_, m), v in stats.latency.items():
        by[m].extend(v)
    return {m: {"calls": len(v), "p50_ms": analysis.percentile(v, 0.5) * 1e3,
                "p99_ms": analysis.percentile(v, 0.99) * 1e3} for m, v in sorted(by.items())}


def write_windows(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()})


# ---- checks -------------------------------------------------------------------------------

def session_checks(res):
    """The live-session and accounting checks: [(name, ok, detail)]."""
    c = res.counters
    probed = res.stats.counts["abandoned sessions found evicted"]
    return [
        ("live sessions return to 0", res.seconds_to_zero is not None,
         f"{res.live_at_end} live {res.zero_limit_s:.1f} s after the load ended"
         if res.seconds_to_zero is None else
         f"0 live {res.seconds_to_zero:.1f} s after the load ended"),
        ("created = released + evicted", c["created"] == c["released"] + c["evicted"],
         f"created {c['created']:.0f}, released {c['released']:.0f}, "
         f"evicted {c['evicted']:.0f}"),
        ("released = what the clients were told", c["released"] == res.stats.counts[
            "sessions released"], f"server {c['released']:.0f}, clients "
                                  f"{res.stats.counts['sessions released']}"),
        ("evicted >= abandoned", c["evicted"] >= res.abandoned + probed,
         f"evicted {c['evicted']:.0f}, abandoned {res.abandoned + probed}"),
    ]


def error_checks(res):
    bad_server = {c: n for c, n in codes_counted(res.final).items()
                  if c not in SERVER_CODES and n}
    bad_log = {c: n for c, n in res.server.failed_codes.items() if c not in SERVER_CODES}
    return [
        ("0 unexpected errors", not res.stats.unexpected,
         f"{len(res.stats.unexpected)} unexpected"),
        ("server counts no unexpected code", not bad_server,
         f"grpc_server_handled_total: {bad_server or 'none'}"),
        ("server logs no unexpected code", not bad_log, f"call_failed: {bad_log or 'none'}"),
    ]


def trend_checks(verdicts):
    rss, cpu, busier = verdicts["rss"], verdicts["cpu_per_call"], verdicts["machine_busier"]
    out = [(f"RSS drift after warm-up < {(rss['limit'] - 1) * 100:.0f}%", rss["ok"],
            f"line {rss['drift'] * 100:+.2f}%, halves {(rss['halves_ratio'] - 1) * 100:+.2f}% "
            f"(limits {(rss['limit'] - 1) * 100:+.0f}% and {(rss['halves_limit'] - 1) * 100:+.2f}%; window medians "
            f"{rss['first_median_bytes'] / 2**20:.1f} -> {rss['last_median_bytes'] / 2**20:.1f} MiB)"),
           ("server CPU per call no upward trend", cpu["ok"], trend_text(cpu))]
    server = verdicts["server"]
    for q in ("p50", "p99"):
        v = server[q]
        why = ""
        if not v["ok"] and busier:
            why = ("; INCONCLUSIVE, not failed: the machine's runnable tasks rose as much "
                   f"({trend_text(verdicts['runnable'])})")
        elif q == "p99" and analysis.tail_alone_inconclusive(v, server["p50"], cpu):
            why = (f"; INCONCLUSIVE, not failed: {v['windows']} windows are too few to judge a "
                   "tail that neither p50 nor CPU per call shares")
        out.append((f"server {q} no upward trend", v["ok"] or bool(why), trend_text(v) + why))
    return out


def trend_text(v):
    return (f"line x{v['line_ratio']:.2f} (limit {v['limit']}), halves x{v['halves_ratio']:.2f} "
            f"(limit {v['halves_limit']:.2f})")


def other_checks(res):
    missing = [a for a in ACTIONS if not res.stats.counts[f"action {a}"]]
    return [("every action ran", not missing, f"never ran: {missing or 'none'}"),
            ("server alive at the end", bool(res.final), "yes" if res.final else "it died"),
            ("server exits 0 on SIGTERM", res.exit_code == 0, f"exit status {res.exit_code}")]


# ---- main ---------------------------------------------------------------------------------

class Result:
    """Everything a run measured, for the report."""


def run(out):
    res = Result()
    res.n_windows, res.window_s = analysis.window_plan(ARGS.seconds)
    res.warmup = analysis.warmup_windows(res.n_windows)
    res.server = Server(ARGS.server, ARGS.ttl, os.path.join(out, "server.log"))
    t0 = time.monotonic()
    res.stats = workload.Stats(t0, res.window_s)
    sampler = Sampler(res.server, t0, os.path.join(out, "samples.csv"))
    sampler.start()
    print(f"soak: {ARGS.clients} clients for {ARGS.seconds:.0f} s against {res.server.target} "
          f"(TTL {ARGS.ttl} s), {res.n_windows} windows of {res.window_s:.0f} s, warm-up "
          f"{res.warmup}; out {out}", flush=True)
    res.abandoned = drive(res.server, res.stats, ARGS.seconds)
    # The sweeper runs every TTL/4 (at most every 10 s): TTL + two sweeps + a margin.
    res.zero_limit_s = ARGS.ttl + 2 * min(10.0, ARGS.ttl / 4) + 5.0
    res.seconds_to_zero, res.live_at_end = wait_for_no_sessions(res.server, res.zero_limit_s)
    res.final = res.server.metrics() if res.server.proc.poll() is None else {}
    sampler.stop.set()
    sampler.join()
    res.exit_code = res.server.stop()
    res.samples, res.hists = sampler.rows, sampler.hists
    res.counters = {k: metric_sum(res.final, f"astcd_sessions_{k}_total")
                    for k in ("created", "released", "evicted")}
    return res


def verdicts_of(res, rows):
    """The RSS, latency and CPU verdicts (analysis.py). A latency trend is excused only when
    the machine itself got busier by the same test: the median count of runnable tasks on the
    machine (/proc/loadavg) trends up by 1.5x. CPU per call is never excused: CPU time, unlike
    latency, does not grow when other processes take the cores."""
    rss_by_window = [[s[1] for s in res.samples if r["t_start_s"] <= s[0] < r["t_end_s"]]
                     for r in rows]
    w = res.warmup
    out = {"rss": analysis.rss_drift(rss_by_window, w),
           "cpu_per_call": analysis.trend([r["server_cpu_us_per_call"] for r in rows][w:],
                                          analysis.P50_TREND_LIMIT),
           "runnable": analysis.trend([r["runnable_median"] for r in rows][w:],
                                      analysis.P50_TREND_LIMIT)}
    out["machine_busier"] = not out["runnable"]["ok"]
    for side in ("server", "client"):
        out[side] = analysis.latency_trends([r[f"{side}_p50_ms"] for r in rows],
                                            [r[f"{side}_p99_ms"] for r in rows], w)
    return out


def report(res, out):
    under_load = [i for i, s in enumerate(res.samples) if s[0] < ARGS.seconds]
    rows = window_rows(res.stats, [res.samples[i] for i in under_load],
                       [res.hists[i] for i in under_load], res.n_windows, res.window_s)
    write_windows(os.path.join(out, "windows.csv"), rows)
    verdicts = verdicts_of(res, rows)
    checks = (error_checks(res) + trend_checks(verdicts) + session_checks(res)
              + other_checks(res))
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summarize(res, rows, verdicts, checks), f, indent=1, default=str)
    print_report(rows, checks, res.stats, out)
    return all(ok for _, ok, _ in checks)


def summarize(res, rows, verdicts, checks):
    rss = [s[1] for s in res.samples]
    return {
        "seconds": ARGS.seconds, "clients": ARGS.clients, "ttl_s": ARGS.ttl, "seed": ARGS.seed,
        "warmup_windows": res.warmup, "window_s": res.window_s, "windows": rows,
        "verdicts": verdicts,
        "rss_bytes": {"first_sample": rss[0] if rss else None, "max": max(rss, default=None),
                      "last_window_median": rows[-1]["rss_median_bytes"],
                      "after_eviction": rss[-1] if rss else None},
        "sessions": dict(res.counters, abandoned_at_end=res.abandoned,
                         seconds_to_zero=res.seconds_to_zero, live_at_end=res.live_at_end),
        "server_failed_calls_by_code": dict(res.server.failed_codes),
        "per_method_client": per_method(res.stats),
        "counts": dict(sorted(res.stats.counts.items())),
        "unexpected": res.stats.unexpected[:200],
        "checks": [{"name": n, "ok": ok, "detail": d} for n, ok, d in checks]}


def print_report(rows, checks, stats, out):
    print(f"{'window':>6} {'end s':>6} {'RSS MiB':>8} {'live':>6} {'calls':>7} "
          f"{'server p50/p99 ms':>18} {'client p50/p99 ms':>18} {'cpu us/call':>11} "
          f"{'load1':>5} {'runnable':>8}")
    for r in rows:
        print(f"{r['window']:>6} {r['t_end_s']:>6.0f} {r['rss_median_bytes'] / 2**20:>8.1f} "
              f"{r['live_sessions_median']:>6.0f} {r['unary_calls']:>7} "
              f"{r['server_p50_ms']:>8.3f}/{r['server_p99_ms']:<9.3f} "
              f"{r['client_p50_ms']:>8.2f}/{r['client_p99_ms']:<9.2f} "
              f"{r['server_cpu_us_per_call']:>11.0f} {r['load1_median']:>5.1f} "
              f"{r['runnable_median']:>8.1f}")
    for u in stats.unexpected[:20]:
        print(f"unexpected at {u['t']} s: {u['what']}: {u['detail']}")
    for name, ok, detail in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    passed = all(ok for _, ok, _ in checks)
    print(f"soak: {'passed' if passed else 'FAILED'}; figures in {out}", flush=True)


def main():
    out = ARGS.out or tempfile.mkdtemp(prefix="astcd-soak-")
    os.makedirs(out, exist_ok=True)
    sys.exit(0 if report(run(out), out) else 1)


if __name__ == "__main__":
    main()
