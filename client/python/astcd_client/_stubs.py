"""The gRPC stubs generated from proto/ when the package is built (astcd_client._proto)."""
from __future__ import annotations

import importlib
import types
from typing import Optional

_STUBS: Optional[types.SimpleNamespace] = None
_PACKAGE = "astcd_client._proto"


def load_stubs() -> types.SimpleNamespace:
    """The generated modules, imported once, as a namespace: astcd_pb2, astcd_pb2_grpc,
    status_pb2, error_details_pb2."""
    global _STUBS
    if _STUBS is None:
        try:
            _STUBS = types.SimpleNamespace(
                astcd_pb2=importlib.import_module(f"{_PACKAGE}.astcd.v1.astcd_pb2"),
                astcd_pb2_grpc=importlib.import_module(f"{_PACKAGE}.astcd.v1.astcd_pb2_grpc"),
                status_pb2=importlib.import_module(f"{_PACKAGE}.google.rpc.status_pb2"),
                error_details_pb2=importlib.import_module(
                    f"{_PACKAGE}.google.rpc.error_details_pb2"),
            )
        except ImportError as e:
            raise ImportError(
                f"astcd_client has no generated gRPC stubs ({e}): it must be installed with pip, "
                "which generates them from proto/ (`python3 -m venv --system-site-packages V && "
                "V/bin/pip install --no-build-isolation ./client/python`)") from e
    return _STUBS
