"""The playground's HTTP gateway: static files and JSON endpoints, each one Client call.

See the package docstring for the endpoints. Standard library only (http.server).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Sequence

import grpc

from ..client import Client
from ..errors import AstcdError
from ..masks import mask_to_token_ids

__all__ = ["Gateway", "GatewayError", "MAX_BODY_BYTES", "STATIC_DIR", "make_server", "main"]

MAX_BODY_BYTES = 1 << 20
_DRAIN_BYTES = 16 << 20  # a refused body up to this size is read and dropped before the 413
STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
_CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                  ".css": "text/css; charset=utf-8"}
# The page loads only its own files and talks only to this gateway.
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400, grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429, grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504, grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
}


class GatewayError(Exception):
    """A request the gateway refuses before any call (bad JSON, a missing field...)."""

    def __init__(self, status: int, message: str, field: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field

    def body(self) -> Dict[str, Any]:
        code = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 405: "UNIMPLEMENTED",
                411: "INVALID_ARGUMENT", 413: "RESOURCE_EXHAUSTED",
                415: "INVALID_ARGUMENT"}.get(self.status, "UNKNOWN")
        violations = [{"field": self.field, "description": self.message}] if self.field else []
        return {"error": {"code": code, "message": self.message,
                          "field_violations": violations, "origin": "gateway"}}


def _error_body(e: AstcdError) -> Dict[str, Any]:
    return {"error": {"code": e.code.name, "message": e.message,
                      "field_violations": [{"field": v.field, "description": v.description}
                                           for v in e.field_violations],
                      "origin": "server"}}


def _state(s: Any) -> Dict[str, Any]:
    return {"session_id": s.session_id, "complete": s.complete, "terminated": s.terminated,
            "num_tokens": s.num_tokens, "token_budget_remaining": s.token_budget_remaining}


def _field(body: Dict[str, Any], name: str, kind: Any, default: Any = None,
           required: bool = False) -> Any:
    v = body.get(name, default)
    if v is None:
        if required:
            raise GatewayError(400, f"missing field {name!r}", name)
        return default
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(v, bool) and bool not in kinds:
        raise GatewayError(400, f"{name!r} must be {'/'.join(k.__name__ for k in kinds)}",
                           name)
    if not isinstance(v, kinds):
        raise GatewayError(400, f"{name!r} must be {'/'.join(k.__name__ for k in kinds)}",
                           name)
    return v


def _int_list(body: Dict[str, Any], name: str, required: bool = False) -> List[int]:
    v = _field(body, name, list, [], required)
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        raise GatewayError(400, f"{name!r} must be a list of integers", name)
    return list(v)


def _start(body: Dict[str, Any]) -> Any:
    return _field(body, "start", (str, int), "module")


def _arity(body: Dict[str, Any]) -> Optional[int]:
    return _field(body, "arity", int, None)


def _config(body: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    return _field(body, "config", dict, None)


class Gateway:
    """The endpoints: name -> a function of the request's JSON object, each one Client call."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.endpoints: Dict[str, Callable[[Dict[str, Any]], Dict[str, Any]]] = {
            "vocabulary": self.vocabulary, "init_states": self.init_states,
            "legal_masks": self.legal_masks, "advance": self.advance,
            "rollback": self.rollback, "release": self.release, "decode": self.decode,
            "detokenize": self.detokenize, "run": self.run, "tokenize": self.tokenize}

    def call(self, name: str, body: Any) -> Dict[str, Any]:
        fn = self.endpoints.get(name)
        if fn is None:
            raise GatewayError(404, f"no endpoint {name!r}; there are {sorted(self.endpoints)}")
        if not isinstance(body, dict):
            raise GatewayError(400, "the request body must be a JSON object")
        try:
            return fn(body)
        except (ValueError, TypeError) as e:  # the client refused an argument before calling
            raise GatewayError(400, str(e)) from e

    # -- one client call each ---------------------------------------------------------------

    def vocabulary(self, b: Dict[str, Any]) -> Dict[str, Any]:
        return dict(self.client.vocabulary(_config(b)))

    def init_states(self, b: Dict[str, Any]) -> Dict[str, Any]:
        req = {"start": _start(b), "arity": _arity(b), "max_len": _field(b, "max_len", int, 0),
               "prefix_tokens": _int_list(b, "prefix_tokens")}
        [s], [mask] = self.client.init_states([req], config=_config(b), return_masks=True)
        return {"session": _state(s), "legal": mask_to_token_ids(mask)}

    def legal_masks(self, b: Dict[str, Any]) -> Dict[str, Any]:
        [mask] = self.client.legal_masks([_field(b, "session_id", str, required=True)])
        return {"legal": mask_to_token_ids(mask)}

    def advance(self, b: Dict[str, Any]) -> Dict[str, Any]:
        sid = _field(b, "session_id", str, required=True)
        token = _field(b, "token", int, required=True)
        [s], [mask] = self.client.advance([sid], [token], return_masks=True)
        return {"session": _state(s), "legal": mask_to_token_ids(mask)}

    def rollback(self, b: Dict[str, Any]) -> Dict[str, Any]:
        sid = _field(b, "session_id", str, required=True)
        [s], [mask] = self.client.rollback([sid], _field(b, "num_tokens", int, 1),
                                           return_masks=True)
        return {"session": _state(s), "legal": mask_to_token_ids(mask)}

    def release(self, b: Dict[str, Any]) -> Dict[str, Any]:
        ids = _field(b, "session_ids", list, [], required=True)
        if not all(isinstance(i, str) for i in ids):
            raise GatewayError(400, "'session_ids' must be a list of strings", "session_ids")
        return {"released": self.client.release(ids)}

    def decode(self, b: Dict[str, Any]) -> Dict[str, Any]:
        sid = _field(b, "session_id", str, required=True)
        sampler = _field(b, "sampler", (str, dict), "uniform")
        results = list(self.client.decode(
            sessions=[sid], sampler=sampler, seed=_field(b, "seed", int, 0), n=1, trace=True,
            keep_sessions=True, max_new_tokens=_field(b, "max_new_tokens", int, 0),
            timeout=self.client.timeout))
        if len(results) != 1:
            raise GatewayError(502, f"Decode gave {len(results)} results, not 1")
        r = results[0]
        out = {k: r[k] for k in ("tokens", "new_tokens", "source", "complete", "stop_reason")}
        out["trace"] = [{"token": t, "num_legal": n} for t, n in r["trace"]]
        out["session"] = _state(r["session"]) if r["session"] is not None else None
        return out

    def detokenize(self, b: Dict[str, Any]) -> Dict[str, Any]:
        [r] = self.client.detokenize([_int_list(b, "tokens")], config=_config(b),
                                     start=_start(b), partial=_field(b, "partial", bool, False),
                                     arity=_arity(b))
        return dict(r)

    def run(self, b: Dict[str, Any]) -> Dict[str, Any]:
        if "source" in b and b["source"] is not None:
            program: Any = _field(b, "source", str)
        else:
            program = _int_list(b, "tokens", required=True)
        inputs = _field(b, "inputs", list, [], required=True)
        for k, args in enumerate(inputs):
            if not isinstance(args, list) or not all(
                    isinstance(x, int) and not isinstance(x, bool) for x in args):
                raise GatewayError(400, "each input must be a list of integers", f"inputs[{k}]")
        outcomes = self.client.run(program, inputs, config=_config(b), start=_start(b),
                                   arity=_arity(b), entry=_field(b, "entry", int, None),
                                   max_steps=_field(b, "max_steps", int, None),
                                   trace=_field(b, "trace", bool, False))
        for o in outcomes:  # JSON has no tuples: a binding is [name, value]
            for event in o.get("trace", ()):
                event["assigned"] = [list(a) for a in event["assigned"]]
        return {"outcomes": outcomes}

    def tokenize(self, b: Dict[str, Any]) -> Dict[str, Any]:
        [r] = self.client.tokenize([_field(b, "source", str, required=True)],
                                   config=_config(b), start=_start(b),
                                   partial=_field(b, "partial", bool, False), arity=_arity(b),
                                   max_len=_field(b, "max_len", int, 0))
        r = dict(r)
        del r["session"]
        return r


class Handler(BaseHTTPRequestHandler):
    server: "PlaygroundServer"
    protocol_version = "HTTP/1.1"
    server_version = "astcd-playground"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if not self.server.quiet:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, content_type: str,
              extra: Sequence[tuple] = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", _CSP)
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Dict[str, Any]) -> None:
        self._send(status, json.dumps(obj).encode("utf-8"), "application/json")

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        if path.startswith("/api/"):
            self.close_connection = True
            self._json(405, GatewayError(405, "the API takes POST").body())
            return
        name = "index.html" if path in ("/", "/index.html") else (
            path[len("/static/"):] if path.startswith("/static/") else "")
        # Only the page's own files: a plain name in static/, never a path.
        if name and "/" not in name and "\\" not in name and name in self.server.static_files:
            with open(os.path.join(STATIC_DIR, name), "rb") as f:
                data = f.read()
            ctype = _CONTENT_TYPES.get(os.path.splitext(name)[1], "application/octet-stream")
            self._send(200, data, ctype)
            return
        self._json(404, GatewayError(404, f"no file {path!r}").body())

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        try:
            if not path.startswith("/api/"):
                raise GatewayError(404, f"no endpoint at {path!r}; the API is under /api/")
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                raise GatewayError(411, "a request needs a Content-Length")
            if int(length) > MAX_BODY_BYTES:
                # Read (and drop) a moderately large body so that the client, still sending,
                # gets the answer rather than a reset; a huge one only gets the close.
                left = int(length) if int(length) <= _DRAIN_BYTES else 0
                while left > 0:
                    chunk = self.rfile.read(min(left, 1 << 16))
                    if not chunk:
                        break
                    left -= len(chunk)
                raise GatewayError(413, f"the request body is over {MAX_BODY_BYTES} bytes")
            raw = self.rfile.read(int(length))
            try:
                body = json.loads(raw.decode("utf-8")) if raw else {}
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise GatewayError(400, f"the request body is not JSON: {e}") from None
            result = self.server.gateway.call(path[len("/api/"):], body)
        except GatewayError as e:
            if e.status in (411, 413):
                self.close_connection = True  # the unread body must not be taken as a request
            self._json(e.status, e.body())
            return
        except AstcdError as e:
            self._json(_HTTP_STATUS.get(e.code, 502), _error_body(e))
            return
        self._json(200, result)


class PlaygroundServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple, gateway: Gateway, quiet: bool = False) -> None:
        super().__init__(address, Handler)
        self.gateway = gateway
        self.quiet = quiet
        self.static_files = frozenset(os.listdir(STATIC_DIR))

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}/"


def make_server(client: Client, host: str = "127.0.0.1", port: int = 8000,
                quiet: bool = False) -> PlaygroundServer:
    """The playground's HTTP server over a Client (serve_forever() runs it; .url says where)."""
    return PlaygroundServer((host, port), Gateway(client), quiet)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(
        prog="python3 -m astcd_client.playground",
        description="The astcd web playground: a page and a JSON gateway to astcd-server. "
                    "Prints the URL it listens on, then serves until interrupted.")
    p.add_argument("--server", required=True, help="astcd-server's HOST:PORT")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on; 0 picks one")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="deadline of each call to the server, in seconds (30)")
    p.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    args = p.parse_args(argv)
    client = Client(args.server, timeout=args.timeout, replay_sessions=False)
    server = make_server(client, args.host, args.port, args.quiet)
    print(server.url, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
