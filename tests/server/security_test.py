#!/usr/bin/python3
"""TLS, mutual TLS, bearer-token tenants, per-tenant caps, request limits and logs of the real
astcd-server.

usage: security_test.py ASTCD_SERVER PYTHON_STUBS_DIR

Certificates are made for the run with openssl: a CA, a server certificate for 127.0.0.1 and a
client certificate, all signed by the CA, plus a second CA the server does not trust.
"""
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import traceback

SERVER, STUBS = sys.argv[1], sys.argv[2]
sys.path.insert(0, STUBS)

import grpc  # noqa: E402
from astcd.v1 import astcd_pb2 as pb  # noqa: E402
from astcd.v1 import astcd_pb2_grpc as pbg  # noqa: E402
from grpc_checks import expect_error  # noqa: E402

TMP = tempfile.mkdtemp(prefix="astcd-security-")
procs = []
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


def path(name):
    return os.path.join(TMP, name)


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_certs():
    for ca in ("ca", "rogue-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", f"/CN=astcd test {ca}", "-keyout", path(f"{ca}.key"),
                "-out", path(f"{ca}.pem"))
    ext = path("server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, ca, extra in (("server", "ca", ["-extfile", ext]), ("client", "ca", []),
                            ("rogue-client", "rogue-ca", [])):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                "-keyout", path(f"{name}.key"), "-out", path(f"{name}.csr"))
        openssl("x509", "-req", "-in", path(f"{name}.csr"), "-CA", path(f"{ca}.pem"),
                "-CAkey", path(f"{ca}.key"), "-CAcreateserial", "-days", "2",
                "-out", path(f"{name}.pem"), *extra)


def read(name):
    with open(path(name), "rb") as f:
        return f.read()


def start_server(*flags, expect_start=True):
    p = subprocess.Popen([SERVER, "--listen=127.0.0.1:0", "--metrics-listen=", *flags],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(p)
    if not expect_start:
        p.wait(timeout=60)
        return p, None
    ready, _, _ = select.select([p.stdout], [], [], 30)
    assert ready, "server did not start"
    line = p.stdout.readline().strip()
    assert line.startswith("astcd-server listening on 127.0.0.1:"), line
    return p, "127.0.0.1:" + line.rsplit(":", 1)[1]


def stop(p):
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=60) == 0
    return p.stderr.read()


def tls_stub(target, client_cert=None, root="ca.pem"):
    kwargs = {"root_certificates": read(root)}
    if client_cert:
        kwargs["private_key"] = read(f"{client_cert}.key")
        kwargs["certificate_chain"] = read(f"{client_cert}.pem")
    channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(**kwargs))
    return pbg.DecoderStub(channel)


INIT = pb.InitStatesRequest(requests=[pb.InitRequest(start=pb.START_FUNCTION)])


def main():
    make_certs()

    @check("TLS: a client trusting the CA is served; plaintext and an untrusting client fail")
    def _():
        p, target = start_server(f"--tls-cert={path('server.pem')}",
                                 f"--tls-key={path('server.key')}")
        try:
            r = tls_stub(target).InitStates(INIT, timeout=30)
            assert len(r.states) == 1
            plain = pbg.DecoderStub(grpc.insecure_channel(target))
            expect_error(lambda: plain.InitStates(INIT, timeout=5), grpc.StatusCode.UNAVAILABLE)
            expect_error(lambda: tls_stub(target, root="rogue-ca.pem").InitStates(INIT, timeout=5),
                         grpc.StatusCode.UNAVAILABLE)
        finally:
            stop(p)

    @check("mTLS: only a client certificate signed by --tls-client-ca gets in")
    def _():
        p, target = start_server(f"--tls-cert={path('server.pem')}",
                                 f"--tls-key={path('server.key')}",
                                 f"--tls-client-ca={path('ca.pem')}")
        try:
            assert len(tls_stub(target, "client").InitStates(INIT, timeout=30).states) == 1
            expect_error(lambda: tls_stub(target).InitStates(INIT, timeout=5),
                         grpc.StatusCode.UNAVAILABLE)
            expect_error(lambda: tls_stub(target, "rogue-client").InitStates(INIT, timeout=5),
                         grpc.StatusCode.UNAVAILABLE)
        finally:
            stop(p)

    @check("TLS flags must come together and name readable files")
    def _():
        p, _ = start_server(f"--tls-cert={path('server.pem')}", expect_start=False)
        assert p.returncode == 2, p.returncode
        assert "--tls-key" in p.stderr.read()
        p, _ = start_server(f"--tls-cert={path('nope.pem')}", f"--tls-key={path('server.key')}",
                            expect_start=False)
        assert p.returncode == 2, p.returncode

    tokens = path("tokens")
    with open(tokens, "w") as f:
        f.write("# token tenant\n"
                "alpha-0123456789abcdef alpha\n"
                "bravo-0123456789abcdef bravo\n")

    @check("auth: a missing, malformed or unknown token is UNAUTHENTICATED; health needs none")
    def _():
        p, target = start_server(f"--auth-tokens={tokens}")
        try:
            channel = grpc.insecure_channel(target)
            stub = pbg.DecoderStub(channel)
            expect_error(lambda: stub.InitStates(INIT, timeout=10),
                         grpc.StatusCode.UNAUTHENTICATED)
            for header in ("Bearer wrong-0123456789abcdef", "alpha-0123456789abcdef",
                           "Bearer alpha-0123456789abcde"):
                expect_error(lambda: stub.InitStates(INIT, timeout=10,
                                                     metadata=[("authorization", header)]),
                             grpc.StatusCode.UNAUTHENTICATED)
            ok = stub.InitStates(INIT, timeout=10,
                                 metadata=[("authorization", "Bearer alpha-0123456789abcdef")])
            assert len(ok.states) == 1
            health = channel.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=lambda _: b"", response_deserializer=lambda b: b)
            assert health(None, timeout=10) == b"\x08\x01"  # status: SERVING
            # The Decode stream and the Step stream are guarded too.
            dreq = pb.DecodeRequest(init_requests=[pb.InitRequest(start=pb.START_FUNCTION)])
            expect_error(lambda: list(stub.Decode(dreq, timeout=10)),
                         grpc.StatusCode.UNAUTHENTICATED)
            expect_error(lambda: list(stub.Step(iter([pb.StepRequest(step_id=1)]), timeout=10)),
                         grpc.StatusCode.UNAUTHENTICATED)
        finally:
            stop(p)

    calls_msgs = {}

    @check("tenants: another tenant's session answers exactly like an unknown one")
    def _():
        p, target = start_server(f"--auth-tokens={tokens}", "--max-sessions-per-tenant=3")
        try:
            stub = pbg.DecoderStub(grpc.insecure_channel(target))
            alpha = [("authorization", "Bearer alpha-0123456789abcdef")]
            bravo = [("authorization", "Bearer bravo-0123456789abcdef")]
            sid = stub.InitStates(INIT, metadata=alpha, timeout=10).states[0].session_id
            unknown = "0" * 32
            for s, want in ((sid, "theirs"), (unknown, "unknown")):
                calls = {
                    "LegalMasks": lambda s=s: stub.LegalMasks(
                        pb.LegalMasksRequest(session_ids=[s]), metadata=bravo, timeout=10),
                    "Advance": lambda s=s: stub.Advance(
                        pb.AdvanceRequest(session_ids=[s], token_ids=[3]), metadata=bravo,
                        timeout=10),
                    "Rollback": lambda s=s: stub.Rollback(
                        pb.RollbackRequest(session_ids=[s], num_tokens=[0]), metadata=bravo,
                        timeout=10),
                    "ForkStates": lambda s=s: stub.ForkStates(
                        pb.ForkStatesRequest(session_ids=[s], n=1), metadata=bravo, timeout=10),
                    "Run": lambda s=s: stub.Run(
                        pb.RunRequest(session_id=s, inputs=[pb.ArgTuple(args=[1])]),
                        metadata=bravo, timeout=10),
                    "Decode": lambda s=s: list(stub.Decode(
                        pb.DecodeRequest(session_ids=[s]), metadata=bravo, timeout=10)),
                }
                for name, call in calls.items():
                    e = expect_error(call, grpc.StatusCode.NOT_FOUND)
                    # Same words for both, apart from the id itself.
                    assert e.details().replace(s, "ID") == calls_msgs.setdefault(
                        name, e.details().replace(s, "ID")), (name, want, e.details())
            released = stub.ReleaseStates(pb.ReleaseStatesRequest(session_ids=[sid]),
                                          metadata=bravo, timeout=10).released
            assert released == 0, "bravo released alpha's session"
            # alpha still has it, untouched.
            r = stub.LegalMasks(pb.LegalMasksRequest(session_ids=[sid]), metadata=alpha,
                                timeout=10)
            assert len(r.bitmask) > 0
            # Per-tenant cap: alpha holds 1 and may make 2 more; bravo is not affected.
            stub.InitStates(pb.InitStatesRequest(requests=[INIT.requests[0]] * 2),
                            metadata=alpha, timeout=10)
            expect_error(lambda: stub.InitStates(INIT, metadata=alpha, timeout=10),
                         grpc.StatusCode.RESOURCE_EXHAUSTED)
            assert len(stub.InitStates(pb.InitStatesRequest(requests=[INIT.requests[0]] * 3),
                                       metadata=bravo, timeout=10).states) == 3
            assert stub.ReleaseStates(pb.ReleaseStatesRequest(session_ids=[sid]),
                                      metadata=alpha, timeout=10).released == 1
            stub.InitStates(INIT, metadata=alpha, timeout=10)
        finally:
            stop(p)

    @check("limits: every size limit is refused with its code and field, and nothing changes")
    def _():
        p, target = start_server("--max-batch=4", "--max-sources=2", "--max-source-bytes=100",
                                 "--max-message-bytes=65536")
        try:
            stub = pbg.DecoderStub(grpc.insecure_channel(target))
            r = pb.InitRequest(start=pb.START_FUNCTION)
            expect_error(lambda: stub.InitStates(pb.InitStatesRequest(requests=[r] * 5)),
                         grpc.StatusCode.INVALID_ARGUMENT, "requests")
            sids = [s.session_id for s in
                    stub.InitStates(pb.InitStatesRequest(requests=[r] * 4)).states]
            expect_error(lambda: stub.LegalMasks(pb.LegalMasksRequest(session_ids=sids * 2)),
                         grpc.StatusCode.INVALID_ARGUMENT, "session_ids")
            expect_error(lambda: stub.Tokenize(pb.TokenizeRequest(sources=["a"] * 3)),
                         grpc.StatusCode.INVALID_ARGUMENT, "sources")
            expect_error(lambda: stub.Tokenize(pb.TokenizeRequest(sources=["a", "#" * 101])),
                         grpc.StatusCode.INVALID_ARGUMENT, "sources[1]")
            expect_error(lambda: stub.Run(pb.RunRequest(source="#" * 101)),
                         grpc.StatusCode.INVALID_ARGUMENT, "source")
            expect_error(lambda: stub.ForkStates(pb.ForkStatesRequest(session_ids=sids, n=2)),
                         grpc.StatusCode.INVALID_ARGUMENT, "n")
            expect_error(lambda: list(stub.Decode(pb.DecodeRequest(init_requests=[r], n=5000))),
                         grpc.StatusCode.INVALID_ARGUMENT, "n")
            expect_error(lambda: stub.InitStates(pb.InitStatesRequest(
                requests=[pb.InitRequest(start=pb.START_FUNCTION, max_len=70000)])),
                grpc.StatusCode.INVALID_ARGUMENT)
            expect_error(lambda: stub.Run(pb.RunRequest(
                tokens=pb.TokenList(tokens=[1]), inputs=[pb.ArgTuple()] * 5)),
                grpc.StatusCode.INVALID_ARGUMENT, "inputs")
            expect_error(lambda: stub.Detokenize(pb.DetokenizeRequest(
                programs=[pb.TokenList(tokens=[1])] * 5)),
                grpc.StatusCode.INVALID_ARGUMENT, "programs")
            big = pb.TokenizeRequest(sources=["x" * 70000])
            expect_error(lambda: stub.Tokenize(big), grpc.StatusCode.RESOURCE_EXHAUSTED)
            # The sessions are as they were, and the server still answers.
            m = stub.LegalMasks(pb.LegalMasksRequest(session_ids=sids))
            assert len(m.bitmask) == 4 * 4 * m.words_per_row
        finally:
            stop(p)

    @check("a slow Decode reader holds the server back: no unbounded queue of results")
    def _():
        p = subprocess.Popen([SERVER, "--listen=127.0.0.1:0", "--metrics-listen=127.0.0.1:0"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(p)
        target = "127.0.0.1:" + p.stdout.readline().strip().rsplit(":", 1)[1]
        metrics_port = p.stdout.readline().strip().rsplit(":", 1)[1]

        def decoded():
            import urllib.request
            text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics",
                                          timeout=30).read().decode()
            return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                       if line.startswith("astcd_programs_decoded_total{"))
        try:
            stub = pbg.DecoderStub(grpc.insecure_channel(target))
            total = 8 * 4096
            req = pb.DecodeRequest(init_requests=[pb.InitRequest(start=pb.START_FUNCTION)] * 8,
                                   n=4096)
            stream = stub.Decode(req, timeout=600)
            next(stream)
            # Read nothing more. The transport buffers some results; after that the server must
            # stop producing, where one without backpressure would decode all of them. Wait
            # until the count holds still for 2 s (a loaded sanitizer build takes a while to
            # fill the buffers), then it must be short of the total.
            first, second = -1.0, decoded()
            deadline = time.monotonic() + 120  # a safety stop, not a timing check
            while first != second and time.monotonic() < deadline:
                time.sleep(2)
                first, second = second, decoded()
            print(f"     {first:.0f}, then {second:.0f} of {total} results made while the "
                  "reader stalled")
            assert first == second < total, (first, second, total)
            got = 1 + sum(1 for _ in stream)  # reading on drains everything
            assert got == total, got
            assert decoded() == total
        finally:
            stop(p)

    @check("logs: one JSON line per lifecycle event and failed call, with no source or tokens")
    def _():
        p, target = start_server(f"--auth-tokens={tokens}")
        stub = pbg.DecoderStub(grpc.insecure_channel(target))
        alpha = [("authorization", "Bearer alpha-0123456789abcdef")]
        secret = "SECRET_MARKER_7731"
        expect_error(lambda: stub.Run(pb.RunRequest(source=f"def f(a):\n    {secret} +\n"),
                                      metadata=alpha, timeout=10),
                     grpc.StatusCode.INVALID_ARGUMENT)
        expect_error(lambda: stub.Advance(pb.AdvanceRequest(session_ids=["1" * 32],
                                                            token_ids=[987654]),
                                          metadata=alpha, timeout=10),
                     grpc.StatusCode.NOT_FOUND)
        expect_error(lambda: stub.InitStates(INIT, timeout=10), grpc.StatusCode.UNAUTHENTICATED)
        err = stop(p)
        lines = [json.loads(line) for line in err.splitlines() if line.strip()]
        events = [(e["level"], e["event"]) for e in lines]
        assert ("info", "listening") in events, events
        assert ("info", "draining") in events, events
        assert ("info", "stopped") in events, events
        failed_calls = [e for e in lines if e["event"] == "call_failed"]
        by_method = {e["method"]: e for e in failed_calls}
        assert by_method["Run"]["code"] == "INVALID_ARGUMENT", failed_calls
        assert by_method["Run"]["field"] == "source", failed_calls
        assert by_method["Run"]["tenant"] == "alpha", failed_calls
        assert by_method["Advance"]["code"] == "NOT_FOUND", failed_calls
        assert by_method["InitStates"]["code"] == "UNAUTHENTICATED", failed_calls
        assert all("ts" in e for e in lines)
        assert secret not in err and "987654" not in err and "1" * 32 not in err, err
        assert "alpha-0123456789abcdef" not in err

    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    try:
        main()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
