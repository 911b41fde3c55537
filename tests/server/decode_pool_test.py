#!/usr/bin/python3
"""The Decode RPC on the shared decode pool (--decode-threads, server/decode_pool.h), against
the real server on loopback:

- one call with many samples gives the same bytes, in the same order, whatever the pool's size
  (1 and 4 threads), and the same as the call split into small calls by sample_offset (each a
  single chunk, so no pool ordering is involved);
- a call cancelled mid-stream, or stopped by its deadline, frees the pool: with a single pool
  thread, a second call completes afterwards;
- two large calls share a single pool thread: the second gets its first result while the first
  is still running (no call holds the pool until it is done).

usage: decode_pool_test.py SERVER STUBS_DIR
"""
import subprocess
import sys
import threading
import time

SERVER, STUBS = sys.argv[1], sys.argv[2]
sys.path.insert(0, STUBS)

import grpc  # noqa: E402
from astcd.v1 import astcd_pb2 as pb  # noqa: E402
from astcd.v1 import astcd_pb2_grpc as pbg  # noqa: E402

procs = []
failures = []


def start(*flags):
    p = subprocess.Popen([SERVER, "--listen=127.0.0.1:0", "--metrics-listen=127.0.0.1:0", *flags],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    procs.append(p)
    target = p.stdout.readline().split()[-1]
    channel = grpc.insecure_channel(target)
    grpc.channel_ready_future(channel).result(timeout=10)
    return pbg.DecoderStub(channel)


def request(n, sampler, offset=0, inputs=3):
    return pb.DecodeRequest(
        init_requests=[pb.InitRequest(start=s) for s in
                       (pb.START_MODULE, pb.START_FUNCTION, pb.START_EXPR)[:inputs]],
        n=n, sample_offset=offset, sampler=pb.Sampler(kind=sampler, seed=7))


def results(stub, req):
    return [r.SerializeToString() for r in stub.Decode(req, timeout=120)]


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + (f": {detail}" if detail and not ok else ""))
    if not ok:
        failures.append(name)


def same_bytes(one, four):
    for sampler in ("uniform", "weighted"):
        req = request(600, sampler)
        a, b = results(one, req), results(four, req)
        check(f"{sampler}: 1 and 4 pool threads give the same {len(a)} results", a == b)
        split = []  # the same call as small ones: input-major per call, so reorder to match
        per_call = {}
        for offset in range(0, 600, 50):
            for r in one.Decode(request(50, sampler, offset), timeout=120):
                per_call.setdefault(r.input_index, {})[r.sample_index] = r.SerializeToString()
        parsed = [pb.DecodeResult.FromString(x) for x in a]
        split = [per_call[r.input_index][r.sample_index] for r in parsed]
        check(f"{sampler}: the same as the call split by sample_offset", a == split)
        check(f"{sampler}: every (input, sample) once", len(set(
            (r.input_index, r.sample_index) for r in parsed)) == 3 * 600)


def cancel_frees_pool(stub):
    big = request(4096, "weighted")
    stream = stub.Decode(big, timeout=120)
    next(stream)
    time.sleep(0.2)
    stream.cancel()
    t0 = time.monotonic()
    got = results(stub, request(4, "uniform"))
    check("after a cancelled call, a second call on one pool thread completes",
          len(got) == 12, f"{len(got)} results")
    try:  # a deadline stops the work too; nothing is read, so the server runs ahead
        for _ in stub.Decode(big, timeout=0.3):
            time.sleep(1)
        check("a call past its deadline fails", False)
    except grpc.RpcError as e:
        check("a call past its deadline fails DEADLINE_EXCEEDED",
              e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, str(e.code()))
    got = results(stub, request(4, "uniform"))
    check("after a call stopped by its deadline, a second call completes", len(got) == 12)
    check("both in well under the big calls' time", time.monotonic() - t0 < 30)


def calls_share_pool(stub):
    first = stub.Decode(request(4096, "weighted"), timeout=120)
    next(first)  # the first call is running
    done = threading.Event()  # set only if the first call ran to its end
    count = [0]

    def drain():
        try:
            for _ in first:
                count[0] += 1
        except grpc.RpcError:  # cancelled below
            return
        done.set()

    t = threading.Thread(target=drain)
    t.start()
    second = stub.Decode(request(1, "uniform", inputs=1), timeout=120)
    got = list(second)
    check("a second call finishes while a large first one runs on the same pool thread",
          len(got) == 1 and not done.is_set(), f"first done: {done.is_set()}")
    first.cancel()
    t.join(timeout=30)


def main():
    try:
        one = start("--decode-threads=1")
        four = start("--decode-threads=4")
        same_bytes(one, four)
        cancel_frees_pool(one)
        calls_share_pool(one)
    finally:
        for p in procs:
            p.terminate()
            p.wait()
    print("ok" if not failures else f"FAILED: {len(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
