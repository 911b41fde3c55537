"""Shared by the server tests: asserting a gRPC error's code and the field its details name.

Import after the generated stubs' directory is on sys.path.
"""
import grpc
from google.rpc import error_details_pb2, status_pb2


def expect_error(fn, code, field=None):
    """Calls fn(), which must fail with `code`; with `field`, the google.rpc.BadRequest in the
    grpc-status-details-bin trailer must name it. Returns the grpc.RpcError."""
    try:
        fn()
    except grpc.RpcError as e:
        assert e.code() == code, f"expected {code}, got {e.code()}: {e.details()}"
        if field is not None:
            details = dict(e.trailing_metadata() or ()).get("grpc-status-details-bin")
            assert details, f"no grpc-status-details-bin trailer ({e.details()})"
            st = status_pb2.Status.FromString(details)
            assert st.code == code.value[0], st
            fields = []
            for d in st.details:
                br = error_details_pb2.BadRequest()
                if d.Unpack(br):
                    fields += [v.field for v in br.field_violations]
            assert field in fields, f"expected field {field!r} in {fields} ({e.details()})"
        return e
    raise AssertionError(f"expected {code}, the call succeeded")
