#!/usr/bin/env python3
"""The generated Python stubs import under Debian's grpcio and protobuf, and carry the contract.

usage: contract_test.py GENERATED_PYTHON_DIR
"""
import sys

sys.path.insert(0, sys.argv[1])

import grpc  # noqa: E402
from astcd.v1 import astcd_pb2, astcd_pb2_grpc  # noqa: E402
from google.rpc import error_details_pb2, status_pb2  # noqa: E402

checks = []


def check(name, ok, detail=""):
    checks.append((name, ok, detail))


service = astcd_pb2.DESCRIPTOR.services_by_name["Decoder"]
methods = {m.name: m for m in service.methods}
expected = {"GetVocabulary", "InitStates", "LegalMasks", "Advance", "Rollback", "ForkStates",
            "ReleaseStates", "Tokenize", "Detokenize", "Run", "Decode", "Step"}
check("every rpc", expected <= set(methods), sorted(expected - set(methods)))
check("Decode streams results", methods["Decode"].server_streaming
      and not methods["Decode"].client_streaming)
check("Step is bidirectional", methods["Step"].server_streaming and methods["Step"].client_streaming)
check("a client stub exists", hasattr(astcd_pb2_grpc, "DecoderStub"))
channel = grpc.insecure_channel("127.0.0.1:1")  # never connected: building a stub is enough
stub = astcd_pb2_grpc.DecoderStub(channel)
check("stub methods", all(hasattr(stub, m) for m in expected))
channel.close()

r = astcd_pb2.RunRequest(source="def f(a):\n    return a\n",
                         inputs=[astcd_pb2.ArgTuple(args=[3])])
back = astcd_pb2.RunRequest.FromString(r.SerializeToString())
check("run request round trip", back.WhichOneof("program") == "source" and back.inputs[0].args == [3])
v = astcd_pb2.Value(bool_value=True)
check("bool stays bool", v.WhichOneof("kind") == "bool_value")
v = astcd_pb2.Value(none_value=astcd_pb2.NoneValue())
check("None stays None", v.WhichOneof("kind") == "none_value")
req = astcd_pb2.InitRequest()
check("arity unset is distinct from 0", not req.HasField("arity"))
req.arity = 0
check("arity 0 can be set", req.HasField("arity"))
st = status_pb2.Status(code=3, message="bad")
bad = error_details_pb2.BadRequest(field_violations=[
    error_details_pb2.BadRequest.FieldViolation(field="token_ids[1]", description="illegal")])
st.details.add().Pack(bad)
unpacked = error_details_pb2.BadRequest()
check("BadRequest in Status details", st.details[0].Unpack(unpacked)
      and unpacked.field_violations[0].field == "token_ids[1]")

failed = [c for c in checks if not c[1]]
for name, _, detail in failed:
    print(f"FAIL {name}: {detail}")
print(f"{len(checks) - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
