#!/usr/bin/python3
"""Regression test (found by the soak, docs/reliability.md section 3): a Decode stream with
keep_sessions that the client cancels must not leave behind a session for a result the server
decoded but never delivered. The client never learns those ids, so nothing but the TTL would
free them, and meanwhile they count against --max-sessions and --max-session-bytes. The
server now releases them when the stream ends (server/service.cc, DecodeReactor::OnDone).

usage: decode_orphans_test.py SERVER STUBS_DIR

Starts SERVER with the default TTL, then three times: a Decode of one FUNCTION input with
keep_sessions and n samples; read one result (after a pause, so that the server runs ahead of
the reader, as it is allowed to: about 4 MiB of results a stream); cancel; release the one
session received. Then reads astcd_sessions_live, which must be 0.
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


def live_sessions(url):
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    return int(float([x for x in text.splitlines()
                      if x.startswith("astcd_sessions_live ")][0].split()[1]))


def cancel_after_one(stub, n, pause_s):
    stream = stub.Decode(pb.DecodeRequest(
        init_requests=[pb.InitRequest(start=pb.START_FUNCTION, max_len=24)], n=n,
        keep_sessions=True, sampler=pb.Sampler(seed=1)), timeout=60)
    first = next(stream)
    time.sleep(pause_s)
    stream.cancel()
    stub.ReleaseStates(pb.ReleaseStatesRequest(session_ids=[first.session_id]), timeout=60)


def main():
    proc = subprocess.Popen([SERVER, "--listen=127.0.0.1:0", "--metrics-listen=127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        target = proc.stdout.readline().split()[-1]
        url = f"http://{proc.stdout.readline().split()[-1]}/metrics"
        with grpc.insecure_channel(target) as channel:
            stub = pbg.DecoderStub(channel)
            for n, pause_s in [(4096, 0.0), (4096, 0.5), (500, 0.5)]:
                cancel_after_one(stub, n, pause_s)
                time.sleep(1.0)  # the server stops within about a thousand tokens
                print(f"Decode n={n}, keep_sessions, cancelled after 1 result (pause {pause_s} s)"
                      f", that session released: {live_sessions(url)} sessions live")
        left = live_sessions(url)
    finally:
        proc.terminate()
        proc.wait()
    print("ok: no orphans" if left == 0 else
          f"FAIL: {left} sessions the client never received stay live until the TTL")
    return 0 if left == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
