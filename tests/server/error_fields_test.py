#!/usr/bin/python3
"""Every google.rpc.BadRequest field the server sends is a real field of the request.

Drives every error case we know through the real astcd-server, reads the BadRequest of each
(from the grpc-status-details-bin trailer, or a Step's status) and resolves its path
("requests[1].prefix_tokens[4]", "config.const_range.lo") against the request message's
descriptor: each name a field (or, last, a oneof) of the message it is in, indices only on
repeated fields. A few names are not request fields, as docs/api.md says: the session cap and
budget name `sessions`, the Decode stream cap `streams`, a response over --max-response-bytes
`response`, and a bad `authorization` header names that metadata key
(tests/server/hostile_test.py drives the capacity refusals).

usage: error_fields_test.py ASTCD_SERVER PYTHON_STUBS_DIR
"""
import os
import re
import select
import subprocess
import sys
import tempfile

SERVER, STUBS = sys.argv[1], sys.argv[2]
sys.path.insert(0, STUBS)

import grpc  # noqa: E402
from astcd.v1 import astcd_pb2 as pb  # noqa: E402
from astcd.v1 import astcd_pb2_grpc as pbg  # noqa: E402
from google.protobuf.descriptor import FieldDescriptor  # noqa: E402
from google.rpc import error_details_pb2, status_pb2  # noqa: E402

# Pseudo-fields of the capacity refusals (issue #12): the session cap and budget, the Decode
# streams running at once, and a unary response over --max-response-bytes.
NOT_REQUEST_FIELDS = {"sessions", "streams", "response", "authorization"}
IA, FP, NF, RE, UA = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
                      grpc.StatusCode.NOT_FOUND, grpc.StatusCode.RESOURCE_EXHAUSTED,
                      grpc.StatusCode.UNAUTHENTICATED)
SEGMENT = re.compile(r"([a-z_][a-z0-9_]*)((?:\[\d+\])?)")
procs = []


def resolve(descriptor, path):
    """None if `path` names a field (or oneof) of `descriptor`, else why it does not."""
    parts = path.split(".")
    for k, part in enumerate(parts):
        m = SEGMENT.fullmatch(part)
        if m is None:
            return f"{part!r} is not a field name with an optional [index]"
        if descriptor is None:
            return f"{part!r} is below a scalar"
        name, index = m.groups()
        if name in descriptor.fields_by_name:
            field = descriptor.fields_by_name[name]
            if index and field.label != FieldDescriptor.LABEL_REPEATED:
                return f"{name} is not repeated, yet indexed"
            descriptor = field.message_type
        elif name in descriptor.oneofs_by_name and not index and k == len(parts) - 1:
            descriptor = None
        else:
            return f"{descriptor.full_name} has no field {name!r}"
    return None


def violations(status):
    fields = []
    for d in status.details:
        br = error_details_pb2.BadRequest()
        if d.Unpack(br):
            fields += [(v.field, v.description) for v in br.field_violations]
    return fields


def start_server(*flags):
    p = subprocess.Popen([SERVER, "--listen=127.0.0.1:0", "--metrics-listen=", *flags],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    procs.append(p)
    assert select.select([p.stdout], [], [], 10)[0], "server did not start"
    port = int(p.stdout.readline().strip().rsplit(":", 1)[1])
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=10)
    return pbg.DecoderStub(channel)


checked = []


def expect(request_type, call, code, field):
    """call() must fail with `code`, naming `field`, which must resolve in request_type."""
    try:
        call()
    except grpc.RpcError as e:
        assert e.code() == code, (field, e.code(), e.details())
        details = dict(e.trailing_metadata() or ()).get("grpc-status-details-bin")
        assert details, (field, "no details", e.details())
        check_status(request_type, status_pb2.Status.FromString(details), field, e.details())
        return
    raise AssertionError(f"{field}: the call succeeded")


def check_status(request_type, status, field, message):
    got = violations(status)
    assert len(got) == 1, (field, got, message)
    path, description = got[0]
    assert path == field, f"expected {field!r}, got {path!r} ({message})"
    assert message.endswith(description), (message, description)
    if path not in NOT_REQUEST_FIELDS:
        why = resolve(request_type.DESCRIPTOR, path)
        assert why is None, f"{request_type.DESCRIPTOR.name}: {path}: {why}"
    checked.append((request_type.DESCRIPTOR.name, path))


def main():
    stub = start_server("--max-batch=4", "--max-sources=2", "--max-source-bytes=200",
                        "--max-sessions=40")
    C, R = pb.DecodeConfig, pb.InitRequest
    fn = pb.InitRequest(start=pb.START_FUNCTION)

    def sessions(n, config=None):
        return [s.session_id for s in stub.InitStates(
            pb.InitStatesRequest(config=config, requests=[fn] * n)).states]

    s0, s1 = sessions(2)
    other = sessions(1, C(arities=[2], max_locals=1))[0]
    long_prefix = pb.InitRequest(start=pb.START_FUNCTION, prefix_tokens=[])
    vocab = stub.GetVocabulary(pb.GetVocabularyRequest())
    ids = {t.name: t.id for t in vocab.tokens}
    long_prefix.prefix_tokens.extend([ids["def/1"], ids["pass"], ids["pass"]])
    EOS = vocab.eos_id

    for config, field in [
            (C(max_expr_depth=99), "config.max_expr_depth"),
            (C(max_block_stmts=0), "config.max_block_stmts"),
            (C(max_control_depth=9), "config.max_control_depth"),
            (C(max_locals=21), "config.max_locals"),
            (C(max_functions=0), "config.max_functions"),
            (C(arities=[9]), "config.arities[0]"),
            (C(arities=[1, 1]), "config.arities"),
            (C(arities=[0, 1, 2, 3, 4, 5, 6, 0]), "config.arities"),
            (C(const_range=pb.Range(lo=-1, hi=9)), "config.const_range.lo"),
            (C(const_range=pb.Range(lo=5, hi=3)), "config.const_range.hi"),
            (C(const_range=pb.Range(lo=0, hi=2000)), "config.const_range"),
            (C(value_range=pb.Range(lo=1, hi=100)), "config.value_range.lo"),
            (C(value_range=pb.Range(lo=-100, hi=3)), "config.value_range.hi")]:
        expect(pb.GetVocabularyRequest,
               lambda: stub.GetVocabulary(pb.GetVocabularyRequest(config=config)), IA, field)
        expect(pb.TokenizeRequest,
               lambda: stub.Tokenize(pb.TokenizeRequest(config=config)), IA, field)

    init = lambda **kw: lambda: stub.InitStates(pb.InitStatesRequest(**kw))  # noqa: E731
    for call, code, field in [
            (init(requests=[fn] * 5), IA, "requests"),
            (init(requests=[fn], jump_forward=7), IA, "jump_forward"),
            (init(requests=[fn, R(start=9)]), IA, "requests[1].start"),
            (init(requests=[fn, R(prefix_tokens=[EOS])]), FP, "requests[1].prefix_tokens[0]"),
            (init(requests=[R(prefix_tokens=[999])]), IA, "requests[0].prefix_tokens[0]"),
            (init(requests=[R(max_len=-1)]), IA, "requests[0].max_len"),
            (init(requests=[R(start=pb.START_FUNCTION, max_len=1)]), IA, "requests[0].max_len"),
            (init(requests=[R(start=pb.START_BLOCK, arity=5)]), IA, "requests[0].arity")]:
        expect(pb.InitStatesRequest, call, code, field)

    masks = lambda ids: lambda: stub.LegalMasks(pb.LegalMasksRequest(session_ids=ids))  # noqa
    for call, code, field in [(masks([s0] * 5), IA, "session_ids"),
                              (masks([s0, "0" * 32]), NF, "session_ids[1]"),
                              (masks([s0, s0]), IA, "session_ids[1]"),
                              (masks([s0, other]), IA, "session_ids[1]")]:
        expect(pb.LegalMasksRequest, call, code, field)

    adv = lambda sids, toks, **kw: lambda: stub.Advance(pb.AdvanceRequest(  # noqa: E731
        session_ids=sids, token_ids=toks, **kw))
    for call, code, field in [(adv([s0, s1], [ids["def/1"]]), IA, "token_ids"),
                              (adv([s0], [9999]), IA, "token_ids[0]"),
                              (adv([s0, s1], [ids["def/1"], EOS]), FP, "token_ids[1]"),
                              (adv([s0], [ids["def/1"]], jump_forward=7), IA, "jump_forward"),
                              (adv([s0, other], [ids["def/1"]] * 2), IA, "session_ids[1]"),
                              (adv(["x"], [ids["def/1"]]), NF, "session_ids[0]")]:
        expect(pb.AdvanceRequest, call, code, field)

    rb = lambda sids, n, **kw: lambda: stub.Rollback(pb.RollbackRequest(  # noqa: E731
        session_ids=sids, num_tokens=n, **kw))
    for call, code, field in [(rb([s0, s1], [0]), IA, "num_tokens"),
                              (rb([s0, s1], [0, 99]), IA, "num_tokens[1]"),
                              (rb([s0], [-1]), IA, "num_tokens[0]"),
                              (rb([s0, other], [0, 0], return_masks=True), IA, "session_ids[1]")]:
        expect(pb.RollbackRequest, call, code, field)

    fork = lambda sids, n: lambda: stub.ForkStates(pb.ForkStatesRequest(  # noqa: E731
        session_ids=sids, n=n))
    for call, code, field in [(fork([s0], -1), IA, "n"), (fork([s0, s1], 3), IA, "n"),
                              (fork(["0" * 32], 1), NF, "session_ids[0]")]:
        expect(pb.ForkStatesRequest, call, code, field)
    expect(pb.ReleaseStatesRequest, lambda: stub.ReleaseStates(pb.ReleaseStatesRequest(
        session_ids=[s0] * 5)), IA, "session_ids")

    tok = lambda **kw: lambda: stub.Tokenize(pb.TokenizeRequest(**kw))  # noqa: E731
    for call, field in [(tok(sources=["a"] * 3), "sources"),
                        (tok(sources=["a", "#" * 201]), "sources[1]"),
                        (tok(sources=["a"], start=9), "start")]:
        expect(pb.TokenizeRequest, call, IA, field)
    det = lambda **kw: lambda: stub.Detokenize(pb.DetokenizeRequest(**kw))  # noqa: E731
    for call, field in [(det(programs=[pb.TokenList()] * 5), "programs"),
                        (det(programs=[pb.TokenList()], start=9), "start")]:
        expect(pb.DetokenizeRequest, call, IA, field)

    good = "def f(a):\n    return a\n"
    func_tokens = pb.TokenList(tokens=[ids["def/1"], ids["return"], ids["a"], ids["end"], EOS])
    run = lambda **kw: lambda: stub.Run(pb.RunRequest(**kw))  # noqa: E731
    one = [pb.ArgTuple(args=[1])]
    for call, code, field in [
            (run(source=good, start=pb.START_FUNCTION, inputs=one * 5), IA, "inputs"),
            (run(inputs=one), IA, "program"),
            (run(tokens=pb.TokenList(tokens=[ids["def/1"], EOS]), start=pb.START_FUNCTION),
             FP, "tokens.tokens[1]"),
            (run(tokens=pb.TokenList(tokens=[ids["def/1"]]), start=pb.START_FUNCTION), IA,
             "tokens"),
            (run(source="#" * 201), IA, "source"),
            (run(source="def f(a):\n    return a +\n", start=pb.START_FUNCTION), IA, "source"),
            (run(session_id="f" * 32), NF, "session_id"),
            (run(source=good, start=pb.START_FUNCTION, entry=5, inputs=one), IA, "entry"),
            (run(tokens=func_tokens, start=pb.START_FUNCTION, entry=1, inputs=one), IA, "entry"),
            (run(source=good, start=pb.START_FUNCTION, limits=pb.RunLimits(max_steps=-1)),
             IA, "limits.max_steps"),
            (run(source=good, start=pb.START_FUNCTION, inputs=[pb.ArgTuple(args=[1, 2])]), IA,
             "inputs[0]"),
            (run(source=good, start=pb.START_FUNCTION, inputs=one + [pb.ArgTuple(
                args=[1 << 40])]), IA, "inputs[1].args[0]"),
            (run(source=good, start=9), IA, "start")]:
        expect(pb.RunRequest, call, code, field)

    dec = lambda **kw: lambda: list(stub.Decode(pb.DecodeRequest(**kw)))  # noqa: E731
    for call, field in [
            (dec(session_ids=[s0], init_requests=[fn]), "init_requests"),
            (dec(), "init_requests"),
            (dec(session_ids=[s0] * 5), "session_ids"),
            (dec(init_requests=[fn] * 5), "init_requests"),
            (dec(init_requests=[fn, R(start=9)]), "init_requests[1].start"),
            (dec(init_requests=[R(prefix_tokens=[999])]), "init_requests[0].prefix_tokens[0]"),
            (dec(init_requests=[fn], sampler=pb.Sampler(kind="x")), "sampler"),
            (dec(init_requests=[fn], sampler=pb.Sampler(kind="weighted", weights={"zz": 1})),
             "sampler"),
            (dec(init_requests=[fn], stop_at="never"), "stop_at"),
            (dec(init_requests=[fn], n=5000), "n"),
            (dec(init_requests=[fn], sample_offset=-1), "sample_offset"),
            (dec(init_requests=[fn], max_new_tokens=-1), "max_new_tokens"),
            (dec(init_requests=[fn], max_total_tokens=-1), "max_total_tokens"),
            (dec(init_requests=[fn], pad=True), "pad"),
            (dec(init_requests=[fn, long_prefix], max_total_tokens=4), "init_requests[1]"),
            (dec(session_ids=[s0, other]), "session_ids[1]")]:
        expect(pb.DecodeRequest, call, IA, field)
    expect(pb.DecodeRequest, dec(session_ids=["0" * 32]), NF, "session_ids[0]")

    # Step: each step's status names a field of the step's action, or the action itself.
    steps = [pb.StepRequest(step_id=1, advance=pb.AdvanceRequest(session_ids=[s0],
                                                                 token_ids=[9999])),
             pb.StepRequest(step_id=2, legal_masks=pb.LegalMasksRequest(session_ids=["x"])),
             pb.StepRequest(step_id=3)]
    out = list(stub.Step(iter(steps), timeout=10))
    for r, request_type, field in [(out[0], pb.AdvanceRequest, "token_ids[0]"),
                                   (out[1], pb.LegalMasksRequest, "session_ids[0]"),
                                   (out[2], pb.StepRequest, "action")]:
        check_status(request_type, r.status, field, r.status.message)

    # The session cap, and a bad authorization header: the two names outside the requests.
    capped = start_server("--max-sessions=1")
    capped.InitStates(pb.InitStatesRequest(requests=[fn]))
    expect(pb.InitStatesRequest, lambda: capped.InitStates(pb.InitStatesRequest(requests=[fn])),
           RE, "sessions")
    with tempfile.TemporaryDirectory() as tmp:
        tokens = os.path.join(tmp, "tokens")
        with open(tokens, "w") as f:
            f.write("alpha-0123456789abcdef alpha\n")
        authed = start_server(f"--auth-tokens={tokens}")
        expect(pb.InitStatesRequest, lambda: authed.InitStates(
            pb.InitStatesRequest(requests=[fn]), metadata=[("authorization", "Bearer nope")]),
            UA, "authorization")

    # The resolver itself must be able to refuse.
    for request_type, bad in [(pb.RunRequest, "limits.max_step"), (pb.RunRequest, "entry[0]"),
                              (pb.RunRequest, "session_id.tokens[0]"),
                              (pb.DecodeRequest, "init_requests[0].max_total_tokens"),
                              (pb.InitStatesRequest, "config.const_range[0]")]:
        assert resolve(request_type.DESCRIPTOR, bad) is not None, bad
    print(f"ok   {len(checked)} BadRequest fields resolve in their requests")


if __name__ == "__main__":
    try:
        main()
    finally:
        for p in procs:
            p.kill()
            p.wait()
