#!/usr/bin/env python3
"""The Python client (client/python/astcd_client) against its contract and a live astcd-server.

usage: python_client_test.py ASTCD_SERVER_BINARY  (with astcd_client installed)

The unit part needs no server: mask conversions (ints, bytes, numpy and torch when installed),
error parsing from a hand-built google.rpc.Status, and the fingerprint check against a fake
stub. If the server binary exists, it is started on 127.0.0.1:0 and the issue's Done-when
program runs through the documented client: 1,000 FUNCTION programs sampled by InitStates, then
a LegalMasks/Advance loop choosing uniformly with random.Random(seed), then Detokenize and Run.
Every source must parse under CPython and every Run value must equal CPython's.
"""
import ast
import os
import queue
import random
import re
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))

SERVER = sys.argv[1] if len(sys.argv) > 1 else ""

import grpc  # noqa: E402

import astcd_client  # noqa: E402
from astcd_client import (AstcdError, Client, VocabularyMismatchError,  # noqa: E402
                          mask_to_token_ids, masks_from_bytes, parse_status_details)

stubs = astcd_client.load_stubs()
pb = stubs.astcd_pb2

checks = []


def check(name, ok, detail=""):
    checks.append((name, bool(ok), detail))
    return ok


def have(module):
    try:
        __import__(module)
        return True
    except Exception:
        return False


# ------------------------------------------------------------------------------------------------
# Unit part: no server


def unit():
    # Two rows of two words: row 0 has tokens 0, 1, 31 (the int32 sign bit) and 40; row 1 has 63.
    words = [[(1 << 0) | (1 << 1) | (1 << 31), 1 << 8], [0, 1 << 31]]
    buf = b"".join(((w & 0xFFFFFFFF).to_bytes(4, "little")) for row in words for w in row)
    ints = masks_from_bytes(buf, 2, 2, "ints")
    check("ints rows", ints == [(1 << 0) | (1 << 1) | (1 << 31) | (1 << 40), 1 << 63], ints)
    check("mask_to_token_ids int", mask_to_token_ids(ints[0]) == [0, 1, 31, 40])
    check("mask_to_token_ids bytes", mask_to_token_ids(buf[:8]) == [0, 1, 31, 40])
    check("mask_to_token_ids words", mask_to_token_ids([-(1 << 31) | 3, 256]) == [0, 1, 31, 40])
    check("mask_to_token_ids row 1", mask_to_token_ids(ints[1]) == [63])
    check("mask_to_token_ids empty", mask_to_token_ids(0) == [])
    check("bytes is the buffer", masks_from_bytes(buf, 2, 2, "bytes") == buf)
    check("rows", masks_from_bytes(buf, 2, 2, "rows") == [buf[:8], buf[8:]])
    check("empty batch", masks_from_bytes(b"", 0, 2, "ints") == [])
    try:
        masks_from_bytes(buf[:-1], 2, 2, "ints")
        check("short buffer refused", False)
    except AstcdError as e:
        check("short buffer refused", e.code == grpc.StatusCode.INTERNAL, str(e))
    try:
        masks_from_bytes(buf, 2, 2, "nope")
        check("unknown format refused", False)
    except ValueError:
        check("unknown format refused", True)

    if have("numpy"):
        import numpy as np
        arr = masks_from_bytes(buf, 2, 2, "numpy")
        check("numpy shape and dtype", arr.shape == (2, 2) and arr.dtype == np.int32,
              (arr.shape, arr.dtype))
        check("numpy values", arr.tolist() == [[-(1 << 31) | 3, 256], [0, -(1 << 31)]],
              arr.tolist())
        check("numpy views the buffer (no copy)", not arr.flags.owndata)
        check("numpy row to ids", mask_to_token_ids(arr[0]) == [0, 1, 31, 40])
        b = masks_from_bytes(buf, 2, 2, "numpy_bool", vocab_size=64)
        check("numpy bool", b.shape == (2, 64) and np.flatnonzero(b[0]).tolist() == [0, 1, 31, 40]
              and np.flatnonzero(b[1]).tolist() == [63])
        b = masks_from_bytes(buf, 2, 2, "numpy_bool", vocab_size=57)
        check("numpy bool cut to the vocabulary", b.shape == (2, 57))
    else:
        print("numpy not installed: numpy mask checks skipped")
    if have("torch"):
        import torch
        t = masks_from_bytes(buf, 2, 2, "torch")
        check("torch values", t.dtype == torch.int32
              and t.tolist() == [[-(1 << 31) | 3, 256], [0, -(1 << 31)]], t)
        b = masks_from_bytes(buf, 2, 2, "torch_bool", vocab_size=64)
        check("torch bool", b.shape == (2, 64)
              and b[0].nonzero().flatten().tolist() == [0, 1, 31, 40])
    else:
        print("torch not installed: torch mask checks skipped")

    # Errors: a hand-built google.rpc.Status with a BadRequest, as the server sends it.
    st = stubs.status_pb2.Status(code=grpc.StatusCode.FAILED_PRECONDITION.value[0],
                                 message="token_ids[1]: token 'end' is illegal at position 0")
    bad = stubs.error_details_pb2.BadRequest(field_violations=[
        stubs.error_details_pb2.BadRequest.FieldViolation(field="token_ids[1]",
                                                          description="illegal token")])
    st.details.add().Pack(bad)
    data = st.SerializeToString()
    status, violations = parse_status_details(data)
    check("parse details", status.code == 9 and violations == [("token_ids[1]", "illegal token")],
          violations)
    e = AstcdError.from_status(data)
    check("from_status", e.code == grpc.StatusCode.FAILED_PRECONDITION
          and e.message.startswith("token_ids[1]")
          and e.field_violations[0].field == "token_ids[1]",
          str(e))

    class FakeRpcError(grpc.RpcError):
        def __init__(self, md):
            self.md = md

        def code(self):
            return grpc.StatusCode.INVALID_ARGUMENT

        def details(self):
            return "config.max_expr_depth = 0 is outside its range [1, 16]"

        def trailing_metadata(self):
            return self.md

    md = [("x-other", "1"), ("grpc-status-details-bin", data)]
    e = AstcdError.from_rpc_error(FakeRpcError(md))
    check("from_rpc_error", e.code == grpc.StatusCode.INVALID_ARGUMENT
          and "max_expr_depth" in e.message and e.field_violations[0].field == "token_ids[1]"
          and e.status is not None, str(e))
    e = AstcdError.from_rpc_error(FakeRpcError(None))
    check("from_rpc_error without details", e.field_violations == [] and e.status is None)
    e = AstcdError.from_rpc_error(FakeRpcError([("grpc-status-details-bin", b"\xff\xff")]))
    check("from_rpc_error with garbage details", e.code == grpc.StatusCode.INVALID_ARGUMENT)

    # Fingerprints, against a fake stub.
    class FakeStub:
        def __init__(self):
            self.fp = "0123456789abcdef"

        def InitStates(self, req, timeout=None, metadata=None):
            r = pb.InitStatesResponse(fingerprint=self.fp, vocab_size=57, words_per_row=2)
            for i, _ in enumerate(req.requests):
                r.states.add(session_id=f"{i:032x}", num_tokens=0, token_budget_remaining=128)
            if req.return_masks:
                r.bitmask = b"\x1c\x00\x00\x00\x00\x00\x00\x00" * len(req.requests)
            return r

        def LegalMasks(self, req, timeout=None, metadata=None):
            return pb.LegalMasksResponse(fingerprint=self.fp, vocab_size=57, words_per_row=2,
                                         bitmask=b"\x1c" + b"\x00" * 7)

        def Run(self, req, timeout=None, metadata=None):
            r = pb.RunResponse()
            r.outcomes.add(status="ok", value=pb.Value(bool_value=True))
            r.outcomes.add(status="ok", value=pb.Value(int_value=1))
            r.outcomes.add(status="ok", value=pb.Value(none_value=pb.NoneValue()))
            r.outcomes.add(status="zero_division")
            return r

    c = Client(channel=grpc.insecure_channel("127.0.0.1:1"))
    c.stub = FakeStub()
    sessions, masks = c.init_states([{"start": "function"}, "function"], return_masks=True)
    check("fake init", len(sessions) == 2 and masks == [0x1c, 0x1c]
          and mask_to_token_ids(masks[0]) == [2, 3, 4] and sessions[0].fingerprint == c.stub.fp)
    check("fake legal masks", c.legal_masks(sessions[:1]) == [0x1c])
    c.stub.fp = "fedcba9876543210"
    try:
        c.legal_masks(sessions[:1])
        check("fingerprint mismatch (session) refused", False)
    except VocabularyMismatchError as e:
        check("fingerprint mismatch (session) refused", "fedcba9876543210" in str(e), str(e))
    try:
        c.init_states(["function"])
        check("fingerprint mismatch (config) refused", False)
    except VocabularyMismatchError:
        check("fingerprint mismatch (config) refused", True)
    try:
        c.legal_masks([sessions[0].session_id])  # a bare id: checked against what was seen
        check("fingerprint mismatch (bare id) refused", False)
    except VocabularyMismatchError:
        check("fingerprint mismatch (bare id) refused", True)
    vals = [o["value"] for o in c.run("def func(a):\n    return a\n", [(1,), (2,), (3,), (4,)])]
    check("values keep int, bool, None", vals == [True, 1, None, None]
          and type(vals[0]) is bool and type(vals[1]) is int, vals)
    try:
        c.init_states([{"start": "function", "bogus": 1}])
        check("unknown request field refused", False)
    except ValueError:
        check("unknown request field refused", True)
    cfg = c.protocol.config({"arities": [2, 1], "const_range": (0, 3), "allow_loops": True,
                     "max_locals": 0})
    check("config dict", list(cfg.arities) == [2, 1] and cfg.const_range.hi == 3
          and cfg.HasField("max_locals") and cfg.max_locals == 0 and cfg.allow_loops)
    c.close()


# ------------------------------------------------------------------------------------------------
# Server part


def start_server(binary):
    proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = queue.Queue()

    def pump(stream, tag):
        for line in stream:
            lines.put((tag, line))
        lines.put((tag, None))

    threading.Thread(target=pump, args=(proc.stdout, "out"), daemon=True).start()
    threading.Thread(target=pump, args=(proc.stderr, "err"), daemon=True).start()
    deadline = time.time() + 60  # server start-up; a safety stop only
    seen = []
    while time.time() < deadline:
        try:
            tag, line = lines.get(timeout=0.2)
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        if line is None:
            continue
        seen.append(line)
        m = re.search(r"astcd-server listening on (\S+:\d+)", line)
        if tag == "out" and m:
            return proc, m.group(1)
    raise RuntimeError("astcd-server did not report 'listening' within 20 s; it printed:\n"
                       + "".join(seen[-20:]))


def cpython_value(source, args):
    ns = {}
    exec(compile(source, "<sampled>", "exec"), ns)
    try:
        return "ok", ns["func"](*args)
    except ZeroDivisionError:
        return "zero_division", None


def sample(client, vocab, total, batch, seed, max_len):
    """The Done-when loop: InitStates, then LegalMasks/Advance with our own uniform choice."""
    rng = random.Random(seed)
    eos = vocab["eos_id"]
    programs = []
    empty_masks = 0
    while len(programs) < total:
        b = min(batch, total - len(programs))
        sessions = client.init_states([{"start": "function", "max_len": max_len}] * b)
        tokens = [[] for _ in range(b)]
        live = list(range(b))
        masks = client.legal_masks(sessions)
        while live:
            choice = []
            for i, m in zip(live, masks):
                ids = mask_to_token_ids(m)
                if not ids:
                    empty_masks += 1
                    ids = [eos]
                choice.append(rng.choice(ids))
            client.advance([sessions[i] for i in live], choice)
            for i, t in zip(live, choice):
                tokens[i].append(t)
            live = [i for i in live if not sessions[i].terminated]
            if live:
                masks = client.legal_masks([sessions[i] for i in live])
        client.release(sessions)
        programs.extend(tokens)
    return programs, empty_masks


def server_part(binary):
    proc, target = start_server(binary)
    t0 = time.time()
    try:
        with Client(target, timeout=30) as c:
            c.wait_ready(10)
            vocab = c.vocabulary()
            check("vocabulary", vocab["vocab_size"] == 57 and vocab["pad_id"] == 0
                  and vocab["eos_id"] == 1 and len(vocab["tokens"]) == 57
                  and re.fullmatch(r"[0-9a-f]{16}", vocab["fingerprint"] or ""),
                  {k: v for k, v in vocab.items() if k != "tokens"})
            names = {t["id"]: t["name"] for t in vocab["tokens"]}
            arity_of = {t["id"]: int(t["name"].split("/")[1]) for t in vocab["tokens"]
                        if t["kind"] == "function"}

            programs, empty = sample(c, vocab, total=1000, batch=250, seed=20240607, max_len=64)
            check("1000 programs sampled", len(programs) == 1000)
            check("no empty mask before termination", empty == 0, empty)
            check("every program ends in <eos>", all(p and p[-1] == vocab["eos_id"]
                                                     for p in programs))

            det = c.detokenize(programs, start="function")
            parsed, parse_fail = 0, []
            for p, d in zip(programs, det):
                if not d["ok"]:
                    parse_fail.append(("detokenize", d["error"], [names[t] for t in p]))
                    continue
                try:
                    ast.parse(d["source"])
                    parsed += 1
                except SyntaxError as e:
                    parse_fail.append(("ast.parse", str(e), d["source"]))
            check("every program detokenizes and parses under CPython", parsed == 1000,
                  parse_fail[:3])

            inputs = [(3, 4, 5), (-7, 0, 2), (0, 1, -1)]
            ran, mismatches, overflow = 0, [], 0
            for p, d in zip(programs, det):
                if not d["ok"]:
                    continue
                k = arity_of[p[0]]
                args = [a[:k] for a in inputs]
                outs = c.run(p, args, start="function")
                for a, o in zip(args, outs):
                    if o["status"] == "overflow":
                        overflow += 1
                        continue
                    want = cpython_value(d["source"], a)
                    got = (o["status"], o["value"])
                    if want != got or type(want[1]) is not type(got[1]):
                        mismatches.append((d["source"], a, want, got))
                    ran += 1
            check("Run values equal CPython's (type included)", not mismatches and ran > 2000,
                  (ran, mismatches[:3]))
            print(f"sampled 1000 programs; {ran} runs compared with CPython, {overflow} overflow; "
                  f"{time.time() - t0:.1f} s")

            # The rest of the client surface, once each.
            more(c, vocab, names)
    finally:
        proc.kill()
        proc.wait()


def more(c, vocab, names):
    def expect_error(name, fn, code):
        try:
            fn()
            check(name, False, "no error")
            return None
        except AstcdError as e:
            check(name, e.code == code, str(e))
            return e

    src = "def func(a, b):\n    c = a + b\n    return c < 3\n"
    tok = c.tokenize([src, "import os\n"], create_sessions=True)
    check("tokenize ok", tok[0]["ok"] and tok[0]["complete"] and tok[0]["session"] is not None,
          tok[0])
    check("tokenize error", not tok[1]["ok"] and tok[1]["error"]
          and tok[1]["error"]["stage"] == "unsupported_syntax", tok[1])
    outs = c.run(src, [(1, 1), (5, 0)])
    check("run keeps bool", [o["value"] for o in outs] == [True, False]
          and all(type(o["value"]) is bool for o in outs), outs)
    outs = c.run(tok[0]["tokens"], [(2, 3)], trace=True, locals=True)
    check("run from tokens with trace and locals", outs[0]["status"] == "ok"
          and outs[0]["value"] is False and outs[0]["trace"] and outs[0]["locals"].get("c") == 5,
          outs)
    outs = c.run("def func(a):\n    return a // 0\n", [(1,)])
    check("run zero_division", outs[0]["status"] == "zero_division", outs)
    outs = c.run("def func(a):\n    return\n", [(1,)])
    check("run None", outs[0]["status"] == "ok" and outs[0]["value"] is None, outs)

    # A partial prompt as a live session, masks as bytes and (when installed) numpy.
    tp = c.tokenize(["def func(a):\n    b = a +"], partial=True, create_sessions=True)[0]
    check("partial tokenize", tp["ok"] and tp["session"] is not None and not tp["complete"], tp)
    if tp["session"] is not None:
        s = tp["session"]
        raw = c.legal_masks([s], as_="bytes")
        ids = mask_to_token_ids(raw)
        check("partial mask is an expression", "a" in [names[i] for i in ids]
              and "b" not in [names[i] for i in ids] and "end" not in [names[i] for i in ids],
              [names[i] for i in ids])
        if have("numpy"):
            arr = c.legal_masks([s], as_="numpy")
            check("numpy mask from the server", mask_to_token_ids(arr[0]) == ids)
        forks = c.fork([s], 3)
        check("fork", len(forks) == 3 and len({f.session_id for f in forks} | {s.session_id}) == 4)
        (s,), m = c.advance([s], [ids[0]], return_masks=True)
        check("advance returns masks", s.num_tokens == len(tp["tokens"]) + 1 and len(m) == 1)
        c.rollback([s], 1)
        check("rollback", s.num_tokens == len(tp["tokens"]) and c.legal_masks([s])[0]
              == int.from_bytes(raw, "little"))
        check("release", c.release([s] + forks) == 4)

    # Errors with their status codes and field violations.
    sessions = c.init_states([{"start": "function"}] * 2)
    end = [t["id"] for t in vocab["tokens"] if t["name"] == "end"][0]
    def_1 = [t["id"] for t in vocab["tokens"] if t["name"] == "def/1"][0]
    e = expect_error("illegal token refused", lambda: c.advance(sessions, [def_1, end]),
                     grpc.StatusCode.FAILED_PRECONDITION)
    if e is not None:
        check("error names the batch index", "token_ids[1]" in e.message
              or any(v.field.startswith("token_ids[1]") for v in e.field_violations),
              (e.message, e.field_violations))
    check("all-or-nothing", all(s.num_tokens == 0 for s in sessions)
          and c.legal_masks(sessions) == c.init_states(["function"], return_masks=True)[1] * 2)
    expect_error("out-of-vocabulary token refused", lambda: c.advance(sessions[:1], [999]),
                 grpc.StatusCode.INVALID_ARGUMENT)
    e = expect_error("bad config refused", lambda: c.vocabulary({"max_expr_depth": 0}),
                     grpc.StatusCode.INVALID_ARGUMENT)
    if e is not None:
        check("bad config names the field", "max_expr_depth" in str(e), str(e))
    c.release(sessions)

    # Server-side decode.
    results = list(c.decode(init_requests=[{"start": "function"}] * 2, n=3, seed=7))
    check("decode streams B*N results", len(results) == 6
          and sorted((r["input_index"], r["sample_index"]) for r in results)
          == [(i, j) for i in range(2) for j in range(3)], len(results))
    ok = True
    for r in results:
        try:
            ast.parse(r["source"])
        except SyntaxError:
            ok = False
    check("decode sources parse", ok and all(r["complete"] and r["stop_reason"] == "eos"
                                             for r in results))
    again = list(c.decode(init_requests=[{"start": "function"}] * 2, n=3, seed=7))
    key = lambda r: (r["input_index"], r["sample_index"])  # noqa: E731
    check("decode is deterministic", [r["tokens"] for r in sorted(results, key=key)]
          == [r["tokens"] for r in sorted(again, key=key)])
    # Weights without a kind mean the weighted sampler (the server's rule): a weight of 0 on
    # `pass` keeps it out of every sample, where the uniform sampler would draw it.
    def has_pass(rs):
        return any("pass" in r["source"] for r in rs)
    spec = dict(init_requests=[{"start": "function"}], n=200, seed=3)
    uniform = list(c.decode(**spec))
    weighted = list(c.decode(sampler={"weights": {"pass": 0}}, **spec))
    check("decode: weights without a kind are weighted", has_pass(uniform) and not has_pass(weighted),
          (has_pass(uniform), has_pass(weighted)))
    try:
        list(c.decode(sampler={"kind": "uniform", "weights": {"pass": 0}}, **spec))
        check("decode: uniform with weights is refused", False, "accepted")
    except AstcdError as e:
        fields = [v.field for v in e.field_violations]
        check("decode: uniform with weights is refused", fields == ["sampler.weights"], fields)


def main():
    t0 = time.time()
    try:
        unit()
    except Exception as e:  # an unexpected crash is a failure, reported like the others
        import traceback
        traceback.print_exc()
        check("unit part ran", False, repr(e))
    if SERVER and os.path.isfile(SERVER) and os.access(SERVER, os.X_OK):
        try:
            server_part(SERVER)
        except Exception as e:
            import traceback
            traceback.print_exc()
            check("server part ran", False, repr(e))
    else:
        print(f"server part skipped: no astcd-server binary at {SERVER!r}")
    failed = [c for c in checks if not c[1]]
    for name, _, detail in failed:
        print(f"FAIL {name}: {detail}")
    print(f"{len(checks) - len(failed)} passed, {len(failed)} failed ({time.time() - t0:.1f} s)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
