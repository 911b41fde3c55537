"""astcd_client: the Python client of the astcd gRPC service (proto/astcd/v1/astcd.proto).

    from astcd_client import Client
    with Client("127.0.0.1:50051") as c:
        sessions, masks = c.init_states([{"start": "function"}] * 8, return_masks=True)
        ...

Needs grpcio and protobuf (Debian's python3-grpcio and python3-protobuf) and the Python stubs
generated at build time into build/proto/python. numpy and torch are optional: masks come back
as Python ints or bytes without them, and as arrays with them.
"""
from .client import (  # noqa: F401
    AstcdError,
    Client,
    Session,
    SessionOrigin,
    VocabularyMismatchError,
    find_stubs_dir,
    load_stubs,
    mask_rows_to_ints,
    mask_to_token_ids,
    masks_from_bytes,
    parse_status_details,
)

__all__ = [
    "AstcdError",
    "Client",
    "Session",
    "SessionOrigin",
    "VocabularyMismatchError",
    "find_stubs_dir",
    "load_stubs",
    "mask_rows_to_ints",
    "mask_to_token_ids",
    "masks_from_bytes",
    "parse_status_details",
]
