"""Errors: the server's status as data (code, message, BadRequest field violations)."""
from __future__ import annotations

from typing import Any, List, NamedTuple, Optional, Sequence, Tuple, Union

import grpc

from ._stubs import load_stubs

STATUS_DETAILS_KEY = "grpc-status-details-bin"


class FieldViolation(NamedTuple):
    field: str        # the request field or batch index, e.g. "token_ids[3]"
    description: str


def _status_code(code: Union[int, grpc.StatusCode]) -> grpc.StatusCode:
    if isinstance(code, grpc.StatusCode):
        return code
    for c in grpc.StatusCode:
        if c.value[0] == code:
            return c
    return grpc.StatusCode.UNKNOWN


def parse_status_details(data: bytes) -> Tuple[Any, List[FieldViolation]]:
    """Parses the bytes of 'grpc-status-details-bin' (a serialized google.rpc.Status).

    Returns (status, field_violations): the google.rpc.Status message and the FieldViolations
    of every google.rpc.BadRequest among its details.
    """
    stubs = load_stubs()
    status = stubs.status_pb2.Status.FromString(data)
    violations = []
    for any_msg in status.details:
        bad = stubs.error_details_pb2.BadRequest()
        if any_msg.Is(bad.DESCRIPTOR) and any_msg.Unpack(bad):
            violations.extend(FieldViolation(v.field, v.description) for v in bad.field_violations)
    return status, violations


class AstcdError(Exception):
    """An RPC the server refused (or a response the client refuses).

    .code is a grpc.StatusCode, .message the server's message, .field_violations the
    FieldViolation(field, description) list of the google.rpc.BadRequest in the status details
    (e.g. field="token_ids[3]"), and .status the whole google.rpc.Status when the server sent one.
    """

    def __init__(self, code: Union[int, grpc.StatusCode], message: str,
                 field_violations: Sequence[FieldViolation] = (), status: Any = None) -> None:
        self.code = _status_code(code)
        self.message = message
        self.field_violations = list(field_violations)
        self.status = status
        super().__init__(str(self))

    def __str__(self) -> str:
        s = f"{self.code.name}: {self.message}"
        if self.field_violations:
            s += " [" + "; ".join(f"{v.field}: {v.description}"
                                  for v in self.field_violations) + "]"
        return s

    @classmethod
    def from_status(cls, status: Any) -> "AstcdError":
        """From a google.rpc.Status message or its serialized bytes."""
        if isinstance(status, (bytes, bytearray, memoryview)):
            status, violations = parse_status_details(bytes(status))
        else:
            _, violations = parse_status_details(status.SerializeToString())
        return cls(status.code, status.message, violations, status)

    @classmethod
    def from_rpc_error(cls, err: Any, trailing_metadata: Optional[Sequence[Any]] = None
                       ) -> "AstcdError":
        """From a grpc.RpcError (sync) or grpc.aio.AioRpcError."""
        code = err.code() if callable(getattr(err, "code", None)) else grpc.StatusCode.UNKNOWN
        message = err.details() if callable(getattr(err, "details", None)) else str(err)
        if trailing_metadata is None and callable(getattr(err, "trailing_metadata", None)):
            trailing_metadata = err.trailing_metadata()
        status, violations = None, []
        for key, value in trailing_metadata or ():
            if key == STATUS_DETAILS_KEY:
                try:
                    status, violations = parse_status_details(value)
                except Exception:  # a malformed detail must not hide the error itself
                    status, violations = None, []
                if not message and status is not None:
                    message = status.message
        return cls(code if code is not None else grpc.StatusCode.UNKNOWN, message or "",
                   violations, status)


def stream_error(err: Any) -> AstcdError:
    """A Step stream's own failure (not one step's status), as AstcdError.

    A load balancer (nginx, HAProxy, Envoy) that loses the replica behind a running stream can
    only reset the client's half of it. gRPC reports a reset as INTERNAL (RST_STREAM
    INTERNAL_ERROR: nginx) or CANCELLED (CANCEL: HAProxy, or the server's own drain deadline),
    codes that do not replay. The stream's replica is gone or going either way, so a reset is
    UNAVAILABLE, as a stream that ended: its sessions replay on a new stream."""
    e = AstcdError.from_rpc_error(err)
    if "Received RST_STREAM" in e.message:  # gRPC core's text for a peer's reset
        return AstcdError(grpc.StatusCode.UNAVAILABLE, f"the Step stream was reset ({e.message})")
    return e


class VocabularyMismatchError(AstcdError):
    """The server answered with another vocabulary fingerprint than the one this client first saw
    (or was told to expect) for that config or session. Its token ids cannot be trusted."""

    def __init__(self, expected: str, got: str, what: str) -> None:
        self.expected = expected
        self.got = got
        super().__init__(grpc.StatusCode.FAILED_PRECONDITION,
                         f"vocabulary fingerprint mismatch on {what}: expected {expected}, "
                         f"the server sent {got}; refusing a server with another vocabulary")
