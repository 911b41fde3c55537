#!/usr/bin/python3
"""Regression test (found by the soak, docs/reliability.md section 3): a Decode stream with
keep_sessions that the client cancels must not leave behind the sessions of results the server
decoded but never handed to gRPC. The client never learns those ids, so nothing but the TTL
would free them, and meanwhile they count against --max-sessions and --max-session-bytes. The
server discards them when the stream ends (server/service.cc, DecodeReactor::OnDone), and
counts them as astcd_sessions_evicted_total{reason="undelivered"}.

Results already handed to gRPC belong to the client (docs/api.md, Decode): if it cancels
before reading them, gRPC drops them and the TTL frees their sessions. How many those are is
bounded by HTTP/2 flow control, so this client turns off BDP probing: its window stays at
64 KiB and little more than a window's worth of results can be in flight.

usage: decode_orphans_test.py SERVER STUBS_DIR

Starts SERVER, then: a Decode of one FUNCTION input with keep_sessions and n = 4096 samples
(about 750 KB of results, far more than a window); read one result; pause, so that the server
runs ahead of the reader as far as it may (about 4 MiB a stream); cancel; release the one
session received. Checks, from /metrics: the sessions still live fit in the flow-control
window and the transport's buffers (256 KiB of results, where without the fix all 4095 stay);
some were discarded as undelivered; and created = live + released + evicted.
"""
import subprocess
import sys
import time
import urllib.request

SERVER, STUBS = sys.argv[1], sys.argv[2]
sys.path.insert(0, STUBS)

import grpc  # noqa: E402
from astcd.v1 import astcd_pb2 as pb  # noqa: E402
from astcd.v1 import astcd_pb2_grpc as pbg  # noqa: E402

IN_FLIGHT_BYTES = 256 << 10  # a 64 KiB window, plus the transport's buffers, with margin


def sessions(url):
    """astcd_sessions_* from /metrics, by series."""
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    return {series: float(v) for series, v in
            (line.rsplit(" ", 1) for line in text.splitlines()
             if line.startswith("astcd_sessions_"))}


def cancel_after_one(stub, n, pause_s):
    """The size of the one result read."""
    stream = stub.Decode(pb.DecodeRequest(
        init_requests=[pb.InitRequest(start=pb.START_FUNCTION, max_len=24)], n=n,
        keep_sessions=True, sampler=pb.Sampler(seed=1)), timeout=60)
    first = next(stream)
    time.sleep(pause_s)
    stream.cancel()
    stub.ReleaseStates(pb.ReleaseStatesRequest(session_ids=[first.session_id]), timeout=60)
    return first.ByteSize()


UNDELIVERED = 'astcd_sessions_evicted_total{reason="undelivered"}'


def problems(s, size):
    """What the metrics after the cancelled call show wrong (none once the call has ended)."""
    live, created = s["astcd_sessions_live"], s["astcd_sessions_created_total"]
    out = []
    if live * size > IN_FLIGHT_BYTES:
        out.append(f"{live:.0f} sessions live: more than a flow-control window of results "
                   "stays until the TTL")
    if s[UNDELIVERED] < 1:
        out.append("no session was discarded as undelivered")
    if created != (live + s["astcd_sessions_released_total"]
                   + s['astcd_sessions_evicted_total{reason="ttl"}'] + s[UNDELIVERED]):
        out.append("created != live + released + evicted")
    return out


def main():
    proc = subprocess.Popen([SERVER, "--listen=127.0.0.1:0", "--metrics-listen=127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    failures = []
    try:
        target = proc.stdout.readline().split()[-1]
        url = f"http://{proc.stdout.readline().split()[-1]}/metrics"
        with grpc.insecure_channel(target, options=[("grpc.http2.bdp_probe", 0)]) as channel:
            stub = pbg.DecoderStub(channel)
            size = cancel_after_one(stub, 4096, 0.5)
        # The worker stops within about a thousand tokens and the call's end discards what it
        # did not send; on a loaded machine that may take a while, so read until it holds (a
        # server that keeps the sessions fails after 30 s).
        deadline = time.monotonic() + 30
        while True:
            s = sessions(url)
            if not problems(s, size) or time.monotonic() > deadline:
                break
            time.sleep(0.25)
    finally:
        proc.terminate()
        proc.wait()
    live, created = s["astcd_sessions_live"], s["astcd_sessions_created_total"]
    print(f"Decode n=4096 of {size}-byte results, keep_sessions, cancelled after one: created "
          f"{created:.0f}, released {s['astcd_sessions_released_total']:.0f}, discarded as "
          f"undelivered {s[UNDELIVERED]:.0f}, live {live:.0f} "
          f"({live * size / 1024:.0f} KiB of results)")
    failures += problems(s, size)
    for f in failures:
        print("FAIL:", f)
    print("ok" if not failures else "FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
