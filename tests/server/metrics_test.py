#!/usr/bin/python3
"""Prometheus metrics of astcd-server, end to end.

Starts the real astcd-server with --metrics-listen=127.0.0.1:0 and a short --session-ttl,
drives known traffic over gRPC (the generated stubs), then
  (a) fetches /metrics, checks the exact values of the counters that traffic drove, and runs
      `promtool check metrics` on the text;
  (b) starts a real Prometheus (/usr/bin/prometheus) scraping the server every second, and
      finds the same series with the same values through its HTTP API (/api/v1/query).

usage: metrics_test.py ASTCD_SERVER PYTHON_STUBS_DIR
"""
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

SERVER, STUBS = sys.argv[1], sys.argv[2]
sys.path.insert(0, STUBS)

import grpc  # noqa: E402
from astcd.v1 import astcd_pb2 as pb  # noqa: E402
from astcd.v1 import astcd_pb2_grpc as pbg  # noqa: E402

PROMETHEUS = os.environ.get("ASTCD_PROMETHEUS", "/usr/bin/prometheus")
PROMTOOL = os.environ.get("ASTCD_PROMTOOL", "/usr/bin/promtool")
PAD, EOS = 0, 1
TTL_SECONDS = 5  # long enough that the sessions in use never expire, short enough to wait out
# Generous limits for a slow, shared machine and sanitizer builds; never a timing assertion.
WAIT = 120


def log(msg):
    print(msg)
    sys.stdout.flush()


# ---- /metrics text -------------------------------------------------------------------------

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset(labels)): value} of an exposition text."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        assert m, f"unparsable line: {line!r}"
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def series(samples, name, **labels):
    """The samples of `name` whose labels include `labels`."""
    want = set(labels.items())
    return {k: v for k, v in samples.items() if k[0] == name and want <= k[1]}


def value(samples, name, **labels):
    """The one sample of `name` with these labels (an error if none or several)."""
    s = series(samples, name, **labels)
    assert len(s) == 1, f"{name}{labels}: {len(s)} series match: {sorted(s)}"
    return next(iter(s.values()))


def fetch(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


# ---- the server ----------------------------------------------------------------------------

def read_lines(proc, n, timeout):
    """The first n lines the process prints (unbuffered: select sees what is not yet read)."""
    fd, data = proc.stdout.fileno(), b""
    deadline = time.monotonic() + timeout
    while data.count(b"\n") < n:
        ready, _, _ = select.select([fd], [], [], max(0, deadline - time.monotonic()))
        assert ready, f"astcd-server printed {data!r} within {timeout}s"
        chunk = os.read(fd, 4096)
        assert chunk, f"astcd-server closed its output after {data!r}"
        data += chunk
    return data.decode().splitlines()[:n]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mask_bits(bitmask, row, words):
    out = set()
    for w in range(words):
        off = (row * words + w) * 4
        word = int.from_bytes(bitmask[off:off + 4], "little") & 0xFFFFFFFF
        out |= {w * 32 + b for b in range(32) if word >> b & 1}
    return out


def pick(legal):
    """The smallest legal token that neither ends nor pads the program."""
    choices = sorted(legal - {PAD, EOS})
    assert choices, legal
    return choices[0]


def drive(stub, channel):
    """Known traffic; returns the exact values the metrics must show."""
    want = {}
    K = 4
    # InitStates: K sessions with their masks.
    init = stub.InitStates(pb.InitStatesRequest(
        requests=[pb.InitRequest(start=pb.START_MODULE, max_len=4096)] * K, return_masks=True))
    ids = [s.session_id for s in init.states]
    words = init.words_per_row
    masks = [mask_bits(init.bitmask, i, words) for i in range(K)]
    masks_served = K
    tokens_advanced = 0
    forced = {"report": 0, "apply": 0}

    # M Advances of known batch sizes, each returning the next masks. Every other one reports
    # the forced chains (which moves nothing), so astcd_forced_tokens_total counts them.
    sizes = [4, 4, 2, 1, 4, 3, 4, 1, 2, 4]
    for k, size in enumerate(sizes):
        batch = list(range(size))
        jump = pb.JUMP_FORWARD_REPORT if k % 2 else pb.JUMP_FORWARD_OFF
        r = stub.Advance(pb.AdvanceRequest(session_ids=[ids[i] for i in batch],
                                           token_ids=[pick(masks[i]) for i in batch],
                                           return_masks=True, jump_forward=jump))
        assert len(r.states) == size
        assert len(r.forced) == (size if k % 2 else 0), r.forced
        forced["report"] += sum(len(f.tokens) for f in r.forced)
        for row, i in enumerate(batch):
            masks[i] = mask_bits(r.bitmask, row, words)
        tokens_advanced += size
        masks_served += size
    M = len(sizes)

    # Failing calls with known codes: a token id outside the vocabulary, an unknown session.
    try:
        stub.Advance(pb.AdvanceRequest(session_ids=[ids[0]], token_ids=[9999]))
        raise AssertionError("Advance of token 9999 succeeded")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
    try:
        stub.LegalMasks(pb.LegalMasksRequest(session_ids=["0" * 32]))
        raise AssertionError("LegalMasks of an unknown session succeeded")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.NOT_FOUND, e
    # A method the server does not have: counted under "unknown", never under its name.
    for path in ["/astcd.v1.Decoder/NoSuchMethod", "/no.such.Service/Call"]:
        try:
            channel.unary_unary(path)(b"", timeout=30)
            raise AssertionError(f"{path} succeeded")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.UNIMPLEMENTED, e

    # LegalMasks of all K sessions.
    lm = stub.LegalMasks(pb.LegalMasksRequest(session_ids=ids))
    assert len(lm.bitmask) == 4 * words * K
    masks_served += K

    # Step (bidi): one advance that takes its forced chain, and one legal_masks.
    out = list(stub.Step(iter([
        pb.StepRequest(step_id=1, advance=pb.AdvanceRequest(
            session_ids=[ids[0]], token_ids=[pick(masks[0])], return_masks=True,
            jump_forward=pb.JUMP_FORWARD_APPLY)),
        pb.StepRequest(step_id=2, legal_masks=pb.LegalMasksRequest(session_ids=[ids[0]]))]),
        timeout=60))
    assert [o.status.code for o in out] == [0, 0], out
    forced["apply"] += len(out[0].advance.forced[0].tokens)
    tokens_advanced += 1
    masks_served += 2

    # Decode (server streaming): n programs; their stop reasons are what the metrics count.
    results = list(stub.Decode(pb.DecodeRequest(
        init_requests=[pb.InitRequest(start=pb.START_FUNCTION)], n=8, max_new_tokens=6,
        sampler=pb.Sampler(seed=3)), timeout=60))
    assert len(results) == 8
    decoded = {r: 0 for r in ["eos", "complete", "max_new_tokens", "terminated"]}
    for r in results:
        decoded[r.stop_reason] += 1

    # Run: one ok and one zero_division outcome.
    run = stub.Run(pb.RunRequest(source="def f(a):\n    return 9 // a\n", start=pb.START_FUNCTION,
                                 inputs=[pb.ArgTuple(args=[3]), pb.ArgTuple(args=[0])]))
    statuses = [o.status for o in run.outcomes]
    assert statuses == ["ok", "zero_division"], statuses

    # Tokenize: an ok source, a python_parse failure and an unsupported_syntax one.
    tok = stub.Tokenize(pb.TokenizeRequest(
        sources=["def f(a):\n    return a + 1\n", "def f(:\n", "def f(a):\n    return print(a)\n"],
        start=pb.START_FUNCTION))
    stages = ["ok" if t.ok else t.error.stage for t in tok.results]
    assert stages == ["ok", "python_parse", "unsupported_syntax"], stages

    # ReleaseStates: the K sessions and one unknown id.
    rel = stub.ReleaseStates(pb.ReleaseStatesRequest(session_ids=ids + ["f" * 32]))
    assert rel.released == K, rel

    # E sessions left idle: the TTL sweeper evicts them. Each takes its forced chain at once:
    # `def/1 pass` (ids 2 and 17 of the default vocabulary) with a budget of 4 forces
    # `end <eos>`, so the apply counter is not 0 while the report one may be.
    E = 3
    idle = stub.InitStates(pb.InitStatesRequest(
        requests=[pb.InitRequest(start=pb.START_FUNCTION, prefix_tokens=[2, 17], max_len=4)] * E,
        jump_forward=pb.JUMP_FORWARD_APPLY))
    assert len(idle.states) == E
    assert [list(f.tokens) for f in idle.forced] == [[20, EOS]] * E, idle.forced
    forced["apply"] += 2 * E

    want.update(M=M, K=K, E=E, sizes=sizes, tokens_advanced=tokens_advanced, forced=forced,
                masks_served=masks_served, decoded=decoded, released=rel.released,
                session_ids=ids + [s.session_id for s in idle.states])
    return want


def check_text(text, want):
    s = parse(text)
    M, K, E, sizes = want["M"], want["K"], want["E"], want["sizes"]
    D = "astcd.v1.Decoder"

    def handled(method, code, typ="unary"):
        return value(s, "grpc_server_handled_total", grpc_service=D, grpc_method=method,
                     grpc_type=typ, grpc_code=code)

    checks = [
        (handled("Advance", "OK"), M),
        (handled("Advance", "INVALID_ARGUMENT"), 1),
        (handled("LegalMasks", "NOT_FOUND"), 1),
        (handled("LegalMasks", "OK"), 1),
        (handled("InitStates", "OK"), 2),
        (handled("Decode", "OK", "server_stream"), 1),
        (handled("Step", "OK", "bidi_stream"), 1),
        (handled("Run", "OK"), 1),
        (handled("Tokenize", "OK"), 1),
        (handled("ReleaseStates", "OK"), 1),
        (value(s, "grpc_server_started_total", grpc_method="Advance"), M + 1),
        (value(s, "grpc_server_started_total", grpc_method="GetVocabulary"), 0),  # pre-created
        (value(s, "grpc_server_handling_seconds_count", grpc_method="Advance"), M + 1),
        (value(s, "grpc_server_handling_seconds_bucket", grpc_method="Advance", le="+Inf"), M + 1),
        (value(s, "grpc_server_handled_total", grpc_service="unknown", grpc_method="unknown",
               grpc_code="UNIMPLEMENTED"), 2),
        (value(s, "astcd_tokens_advanced_total"), want["tokens_advanced"]),
        (value(s, "astcd_masks_served_total"), want["masks_served"]),
        (value(s, "astcd_forced_tokens_total", jump_forward="report"), want["forced"]["report"]),
        (value(s, "astcd_forced_tokens_total", jump_forward="apply"), want["forced"]["apply"]),
        (value(s, "astcd_sessions_created_total"), K + E),
        (value(s, "astcd_sessions_released_total"), want["released"]),
        (value(s, "astcd_sessions_max"), 500),
        # Advance batches: the M unary ones, the failing one (size 1) and the one in Step.
        (value(s, "astcd_batch_size_count", grpc_method="Advance"), M + 2),
        (value(s, "astcd_batch_size_sum", grpc_method="Advance"), sum(sizes) + 2),
        (value(s, "astcd_batch_size_bucket", grpc_method="Advance", le="1"),
         sizes.count(1) + 2),
        (value(s, "astcd_batch_size_bucket", grpc_method="Advance", le="2"),
         sum(1 for x in sizes if x <= 2) + 2),
        (value(s, "astcd_batch_size_bucket", grpc_method="Advance", le="1024"), M + 2),
        (value(s, "astcd_batch_size_count", grpc_method="Decode"), 1),
        (value(s, "astcd_run_outcomes_total", status="ok"), 1),
        (value(s, "astcd_run_outcomes_total", status="zero_division"), 1),
        (value(s, "astcd_run_outcomes_total", status="step_limit"), 0),
        (value(s, "astcd_tokenize_results_total", stage="ok"), 1),
        (value(s, "astcd_tokenize_results_total", stage="python_parse"), 1),
        (value(s, "astcd_tokenize_results_total", stage="unsupported_syntax"), 1),
        (value(s, "astcd_tokenize_results_total", stage="scope"), 0),
    ]
    for reason, n in want["decoded"].items():
        checks.append((value(s, "astcd_programs_decoded_total", stop_reason=reason), n))
    bad = [(i, got, exp) for i, (got, exp) in enumerate(checks) if got != exp]
    assert not bad, "wrong values (check index, got, expected): %s" % bad

    # Every RPC that started was handled, method by method.
    for key, started in series(s, "grpc_server_started_total").items():
        labels = dict(key[1])
        done = sum(series(s, "grpc_server_handled_total", **labels).values())
        assert done == started, (labels, started, done)
    # Latency buckets are cumulative and sub-millisecond ones exist.
    bounds = sorted(float(dict(k[1])["le"]) for k in series(
        s, "grpc_server_handling_seconds_bucket", grpc_method="Advance"))
    assert bounds[0] == 25e-6 and 1.0 in bounds and bounds[-1] == float("inf"), bounds
    # The sessions: live = created - released - evicted; the process metrics are there.
    evicted = value(s, "astcd_sessions_evicted_total", reason="ttl")
    assert value(s, "astcd_sessions_live") == K + E - want["released"] - evicted
    assert value(s, "process_resident_memory_bytes") > 0
    assert value(s, "process_cpu_seconds_total") >= 0
    assert value(s, "process_start_time_seconds") > 1.5e9
    # No unbounded label: no session id, no unknown method name.
    for sid in want["session_ids"]:
        assert sid not in text, f"session id {sid} in /metrics"
    assert "NoSuchMethod" not in text and "no.such.Service" not in text
    methods = {dict(k[1]).get("grpc_method") for k in s} - {None}
    allowed = {m.name for m in pb.DESCRIPTOR.services_by_name["Decoder"].methods}
    allowed |= {"unknown", "Check", "Watch", "ServerReflectionInfo"}
    assert methods <= allowed, methods - allowed
    return s


# ---- Prometheus ----------------------------------------------------------------------------

def start_prometheus(tmp, metrics_port):
    config = os.path.join(tmp, "prometheus.yml")
    with open(config, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                "scrape_configs:\n  - job_name: astcd\n    scrape_interval: 1s\n"
                "    scrape_timeout: 1s\n"
                f"    static_configs:\n      - targets: ['127.0.0.1:{metrics_port}']\n")
    subprocess.run([PROMTOOL, "check", "config", config], check=True, capture_output=True,
                   timeout=WAIT)
    for attempt in range(5):  # the free port may be taken between probing and binding
        port = free_port()
        logf = open(os.path.join(tmp, f"prometheus-{attempt}.log"), "w+")
        proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}",
             f"--storage.tsdb.path={os.path.join(tmp, f'tsdb-{attempt}')}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=logf, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=5).status \
                        == 200:
                    return proc, port, logf
            except OSError:
                pass
            time.sleep(0.25)
        stop(proc)
        logf.seek(0)
        log(f"prometheus did not start on port {port}:\n{logf.read()}")
    raise AssertionError("prometheus did not start")


def query(port, expr):
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    body = json.loads(fetch(url))
    assert body["status"] == "success", body
    return [(r["metric"], float(r["value"][1])) for r in body["data"]["result"]]


def wait_query(port, expr, expected):
    """Polls until `expr` gives one series equal to `expected`; the last answer on failure."""
    deadline, got = time.monotonic() + WAIT, None
    while time.monotonic() < deadline:
        got = query(port, expr)
        if len(got) == 1 and got[0][1] == expected:
            return
        time.sleep(0.5)
    raise AssertionError(f"prometheus: {expr} = {got}, expected one series = {expected}")


def stop(proc, timeout=60):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def main():
    tmp = tempfile.mkdtemp(prefix="astcd-metrics-test-")
    server_err = open(os.path.join(tmp, "server.err"), "w+")
    server = subprocess.Popen(
        [SERVER, "--listen=127.0.0.1:0", "--metrics-listen=127.0.0.1:0",
         f"--session-ttl={TTL_SECONDS}s", "--max-sessions=500"],
        stdout=subprocess.PIPE, stderr=server_err)
    prometheus = None
    ok = False
    try:
        # The gRPC line first (other tests parse it), then the metrics line.
        first, line = read_lines(server, 2, 60)
        m = re.fullmatch(r"astcd-server listening on 127\.0\.0\.1:(\d+)", first)
        assert m, first
        grpc_port = int(m.group(1))
        m = re.fullmatch(r"astcd-server metrics on 127\.0\.0\.1:(\d+)", line)
        assert m, line
        metrics_port = int(m.group(1))
        assert metrics_port > 0 and metrics_port != grpc_port
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"

        channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
        grpc.channel_ready_future(channel).result(timeout=60)
        stub = pbg.DecoderStub(channel)
        want = drive(stub, channel)
        log("ok   traffic driven")

        # The idle sessions expire after the TTL; the sweeper counts them.
        deadline = time.monotonic() + WAIT
        while True:
            samples = parse(fetch(metrics_url))
            evicted = value(samples, "astcd_sessions_evicted_total", reason="ttl")
            if evicted >= want["E"] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert evicted >= want["E"], f"only {evicted} sessions evicted"
        assert value(samples, "astcd_sessions_live") == 0
        log(f"ok   {int(evicted)} sessions evicted after the TTL")

        text = fetch(metrics_url)
        samples = check_text(text, want)
        log("ok   /metrics has the expected values")
        lint = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                              text=True, timeout=WAIT)
        assert lint.returncode == 0, f"promtool check metrics:\n{lint.stdout}{lint.stderr}"
        log("ok   promtool check metrics")

        prometheus, prom_port, prom_log = start_prometheus(tmp, metrics_port)
        wait_query(prom_port, 'up{job="astcd"}', 1)
        M = want["M"]
        for expr, expected in [
            ('grpc_server_handled_total{job="astcd",grpc_service="astcd.v1.Decoder",'
             'grpc_method="Advance",grpc_code="OK"}', M),
            ('grpc_server_handled_total{job="astcd",grpc_method="LegalMasks",'
             'grpc_code="NOT_FOUND"}', 1),
            ('grpc_server_handling_seconds_bucket{job="astcd",grpc_method="Advance",le="+Inf"}',
             M + 1),
            ('astcd_batch_size_bucket{job="astcd",grpc_method="Advance",le="1"}',
             want["sizes"].count(1) + 2),
            ('astcd_sessions_evicted_total{job="astcd",reason="ttl"}', evicted),
            ('astcd_sessions_created_total{job="astcd"}', want["K"] + want["E"]),
            ('astcd_tokens_advanced_total{job="astcd"}', want["tokens_advanced"]),
            ('sum(astcd_programs_decoded_total{job="astcd"})', 8),
            ('astcd_sessions_live{job="astcd"}', 0),
            ('count(process_resident_memory_bytes{job="astcd"} > 0)', 1),
        ]:
            wait_query(prom_port, expr, expected)
        # Prometheus saw the whole histogram (a quantile can be computed from it).
        got = query(prom_port, 'histogram_quantile(0.5, grpc_server_handling_seconds_bucket'
                               '{job="astcd",grpc_method="Advance"})')
        assert len(got) == 1 and 0 < got[0][1] <= 1, got
        log("ok   prometheus scraped the series with the expected values")

        assert stop(prometheus) is not None
        prometheus = None
        channel.close()
        code = stop(server)
        assert code == 0, f"astcd-server exited {code}"
        log("ok   astcd-server exited 0 on SIGTERM")
        ok = True
    finally:
        if prometheus is not None:
            stop(prometheus)
            prom_log.seek(0)
            log("prometheus log:\n" + prom_log.read()[-4000:])
        if server.poll() is None:
            server.kill()
            server.wait()
        if not ok:
            server_err.seek(0)
            log("astcd-server stderr:\n" + server_err.read()[-4000:])
        shutil.rmtree(tmp, ignore_errors=True)
    log("metrics test passed")


if __name__ == "__main__":
    main()
