"""The playground's HTTP gateway: static files and JSON endpoints, each one Client call.

See the package docstring for the endpoints. Standard library only (http.server).
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple

import grpc

from ..client import Client
from ..errors import AstcdError
from ..masks import mask_to_token_ids

__all__ = ["Gateway", "GatewayError", "IO_TIMEOUT", "MAX_BODY_BYTES", "MAX_CONNECTIONS",
           "STATIC_DIR", "make_server", "main"]

MAX_BODY_BYTES = 1 << 20
# A connection that sends nothing (an idle keep-alive, or a request or body that stops coming)
# for this many seconds is closed; each read and write has this deadline.
IO_TIMEOUT = 10.0
# At most this many connections are served at once (one thread each); beyond it the accept
# waits until one ends, so a client is slowed, never refused, and the threads stay bounded.
MAX_CONNECTIONS = 64
_DRAIN_BYTES = 16 << 20  # a refused body up to this size is read and dropped before the answer
STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
_CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                  ".css": "text/css; charset=utf-8"}
# The page loads only its own files and talks only to this gateway.
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_C = grpc.StatusCode
# The one table of HTTP statuses and gRPC codes, read both ways: a server error answers with the
# first status listed for its code (a code not listed: 502), and a refusal of the gateway's own
# (GatewayError) reports the first code listed for its status.
STATUS_TABLE: Tuple[Tuple[int, grpc.StatusCode], ...] = (
    (400, _C.INVALID_ARGUMENT), (400, _C.FAILED_PRECONDITION), (400, _C.OUT_OF_RANGE),
    (401, _C.UNAUTHENTICATED), (403, _C.PERMISSION_DENIED), (404, _C.NOT_FOUND),
    (429, _C.RESOURCE_EXHAUSTED), (501, _C.UNIMPLEMENTED), (502, _C.INTERNAL),
    (503, _C.UNAVAILABLE), (504, _C.DEADLINE_EXCEEDED),
    # Statuses only the gateway itself answers with.
    (405, _C.UNIMPLEMENTED), (408, _C.DEADLINE_EXCEEDED), (411, _C.INVALID_ARGUMENT),
    (413, _C.RESOURCE_EXHAUSTED), (415, _C.INVALID_ARGUMENT), (500, _C.INTERNAL),
)
_HTTP_STATUS: Dict[grpc.StatusCode, int] = {}
_GRPC_CODE: Dict[int, grpc.StatusCode] = {}
for _status, _code in STATUS_TABLE:
    _HTTP_STATUS.setdefault(_code, _status)
    _GRPC_CODE.setdefault(_status, _code)
del _status, _code


class GatewayError(Exception):
    """A request the gateway refuses before any call (bad JSON, a missing field...)."""

    def __init__(self, status: int, message: str, field: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field

    def body(self) -> Dict[str, Any]:
        code = _GRPC_CODE.get(self.status, _C.UNKNOWN).name
        violations = [{"field": self.field, "description": self.message}] if self.field else []
        return {"error": {"code": code, "message": self.message,
                          "field_violations": violations, "origin": "gateway"}}


def _error_body(e: AstcdError) -> Dict[str, Any]:
    return {"error": {"code": e.code.name, "message": e.message,
                      "field_violations": [{"field": v.field, "description": v.description}
                                           for v in e.field_violations],
                      "origin": "server"}}


def _client_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """One Client call. The client checks its arguments before it calls the server and refuses
    a bad one with TypeError, ValueError or KeyError: that is the request's fault (400). The
    same exceptions from the gateway's own code are bugs, and do_POST answers 500."""
    try:
        return fn(*args, **kwargs)
    except (TypeError, ValueError, KeyError) as e:
        raise GatewayError(400, f"the client refused an argument: {e}") from e


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
        return fn(body)

    # -- one client call each ---------------------------------------------------------------

    def vocabulary(self, b: Dict[str, Any]) -> Dict[str, Any]:
        return dict(_client_call(self.client.vocabulary, _config(b)))

    def init_states(self, b: Dict[str, Any]) -> Dict[str, Any]:
        req = {"start": _start(b), "arity": _arity(b), "max_len": _field(b, "max_len", int, 0),
               "prefix_tokens": _int_list(b, "prefix_tokens")}
        [s], [mask] = _client_call(self.client.init_states, [req], config=_config(b),
                                    return_masks=True)
        return {"session": _state(s), "legal": mask_to_token_ids(mask)}

    def legal_masks(self, b: Dict[str, Any]) -> Dict[str, Any]:
        [mask] = _client_call(self.client.legal_masks,
                              [_field(b, "session_id", str, required=True)])
        return {"legal": mask_to_token_ids(mask)}

    def advance(self, b: Dict[str, Any]) -> Dict[str, Any]:
        sid = _field(b, "session_id", str, required=True)
        token = _field(b, "token", int, required=True)
        [s], [mask] = _client_call(self.client.advance, [sid], [token], return_masks=True)
        return {"session": _state(s), "legal": mask_to_token_ids(mask)}

    def rollback(self, b: Dict[str, Any]) -> Dict[str, Any]:
        sid = _field(b, "session_id", str, required=True)
        [s], [mask] = _client_call(self.client.rollback, [sid], _field(b, "num_tokens", int, 1),
                                    return_masks=True)
        return {"session": _state(s), "legal": mask_to_token_ids(mask)}

    def release(self, b: Dict[str, Any]) -> Dict[str, Any]:
        ids = _field(b, "session_ids", list, [], required=True)
        if not all(isinstance(i, str) for i in ids):
            raise GatewayError(400, "'session_ids' must be a list of strings", "session_ids")
        return {"released": _client_call(self.client.release, ids)}

    def decode(self, b: Dict[str, Any]) -> Dict[str, Any]:
        sid = _field(b, "session_id", str, required=True)
        sampler = _field(b, "sampler", (str, dict), "uniform")
        results = _client_call(lambda: list(self.client.decode(
            sessions=[sid], sampler=sampler, seed=_field(b, "seed", int, 0), n=1, trace=True,
            keep_sessions=True, max_new_tokens=_field(b, "max_new_tokens", int, 0),
            timeout=self.client.timeout)))
        if len(results) != 1:
            raise GatewayError(502, f"Decode gave {len(results)} results, not 1")
        r = results[0]
        out = {k: r[k] for k in ("tokens", "new_tokens", "source", "complete", "stop_reason")}
        out["trace"] = [{"token": t, "num_legal": n} for t, n in r["trace"]]
        out["session"] = _state(r["session"]) if r["session"] is not None else None
        return out

    def detokenize(self, b: Dict[str, Any]) -> Dict[str, Any]:
        [r] = _client_call(self.client.detokenize, [_int_list(b, "tokens")], config=_config(b),
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
        outcomes = _client_call(self.client.run, program, inputs, config=_config(b),
                                start=_start(b), arity=_arity(b),
                                entry=_field(b, "entry", int, None),
                                max_steps=_field(b, "max_steps", int, None),
                                trace=_field(b, "trace", bool, False))
        for o in outcomes:  # JSON has no tuples: a binding is [name, value]
            for event in o.get("trace", ()):
                event["assigned"] = [list(a) for a in event["assigned"]]
        return {"outcomes": outcomes}

    def tokenize(self, b: Dict[str, Any]) -> Dict[str, Any]:
        [r] = _client_call(self.client.tokenize, [_field(b, "source", str, required=True)],
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

    def setup(self) -> None:
        # The socket's deadline for every read and write (StreamRequestHandler applies it): an
        # idle or slow connection is closed, and its thread and connection slot freed.
        self.timeout = self.server.io_timeout
        super().setup()

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
        if self.close_connection:
            self.send_header("Connection", "close")
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Dict[str, Any]) -> None:
        self._send(status, json.dumps(obj).encode("utf-8"), "application/json")

    # -- who may ask ------------------------------------------------------------------------
    # The gateway serves 127.0.0.1 to a browser: a page of another site must not drive it. Such
    # a page can send a "simple" cross-origin POST (text/plain, no preflight), and by DNS
    # rebinding it can send anything under a name of its own that resolves here. So: the Host
    # must be the gateway's own address, an Origin (browsers send one with every POST) must be
    # the gateway's own origin, and a POST must say application/json (which a cross-origin page
    # cannot send without a preflight this gateway never grants).

    def _check_host(self) -> None:
        host = self.headers.get("Host")
        if host is None or host.strip().lower() not in self.server.allowed_hosts:
            raise GatewayError(403, f"Host {host!r} is not this gateway's address "
                                    f"({' or '.join(sorted(self.server.allowed_hosts))})")

    def _check_origin(self) -> None:
        origin = self.headers.get("Origin")
        if origin is not None and origin.strip().lower() not in self.server.allowed_origins:
            raise GatewayError(403, f"Origin {origin!r} is not this gateway's page")

    def _check_content_type(self) -> None:
        ctype = self.headers.get("Content-Type", "")
        if ctype.split(";", 1)[0].strip().lower() != "application/json":
            raise GatewayError(415, f"the API takes Content-Type: application/json, not "
                                    f"{ctype or 'none'!r}")

    def _content_length(self) -> Optional[int]:
        """The body's length: None when there is none, -1 when it is not a number."""
        values = self.headers.get_all("Content-Length") or []
        if not values:
            return None
        # isdigit() alone admits '²' and other digits int() refuses.
        if len(set(values)) != 1 or not (values[0].isascii() and values[0].isdigit()):
            return -1
        return int(values[0])

    def _drain(self, length: Optional[int]) -> None:
        """Reads (and drops) a refused body of a moderate size, so that the client, still
        sending, gets the answer rather than a reset; a huge one only gets the close."""
        left = length if length is not None and 0 < length <= _DRAIN_BYTES else 0
        try:
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:  # a timeout or a reset: the answer goes out if it can
            pass

    # -- the methods ------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        try:
            self._check_host()
        except GatewayError as e:
            self.close_connection = True
            self._json(e.status, e.body())
            return
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
        length = self._content_length()
        try:
            try:
                self._check_host()
                self._check_origin()
                if not path.startswith("/api/"):
                    raise GatewayError(404, f"no endpoint at {path!r}; the API is under /api/")
                self._check_content_type()
                if length is None:
                    raise GatewayError(411, "a request needs a Content-Length")
                if length < 0:
                    raise GatewayError(400, "the Content-Length is not a number")
                if length > MAX_BODY_BYTES:
                    raise GatewayError(413, f"the request body is over {MAX_BODY_BYTES} bytes")
            except GatewayError:
                # The body is not read: drop it and close, so it is never taken as a request.
                self.close_connection = True
                self._drain(length)
                raise
            try:
                raw = self.rfile.read(length)
            except TimeoutError:
                self.close_connection = True
                raise GatewayError(408, f"the body did not come within {self.timeout:g} s") \
                    from None
            if len(raw) < length:  # the client closed the connection: nobody to answer
                self.close_connection = True
                return
            try:
                body = json.loads(raw.decode("utf-8")) if raw else {}
            except (UnicodeDecodeError, ValueError, RecursionError) as e:
                # ValueError: not JSON, or an integer over int's digit limit; RecursionError:
                # arrays or objects nested too deep.
                raise GatewayError(400, f"the request body is not JSON the gateway can read: "
                                        f"{type(e).__name__}: {e}") from None
            result = self.server.gateway.call(path[len("/api/"):], body)
        except GatewayError as e:
            self._json(e.status, e.body())
            return
        except AstcdError as e:
            self._json(_HTTP_STATUS.get(e.code, 502), _error_body(e))
            return
        except Exception as e:  # a bug of the gateway's: say so, as JSON, and log it
            sys.stderr.write(f"astcd playground: internal error in POST {path}:\n"
                             f"{traceback.format_exc()}")
            self.close_connection = True
            self._json(500, GatewayError(500, f"internal error in the gateway: "
                                              f"{type(e).__name__}: {e}").body())
            return
        self._json(200, result)


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class PlaygroundServer(ThreadingHTTPServer):
    daemon_threads = True
    # The listen backlog: connections beyond MAX_CONNECTIONS wait here for the accept (with
    # socketserver's 5, a burst of connections overflows it and waits for SYN retransmits).
    request_queue_size = MAX_CONNECTIONS

    def __init__(self, address: tuple, gateway: Gateway, quiet: bool = False,
                 io_timeout: float = IO_TIMEOUT,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        super().__init__(address, Handler)
        self.gateway = gateway
        self.quiet = quiet
        self.io_timeout = io_timeout
        self.static_files = frozenset(os.listdir(STATIC_DIR))
        self._slots = threading.BoundedSemaphore(max_connections)
        # The Host names this gateway answers to: the address it is bound to and the --host it
        # was given; for a loopback address, also localhost and 127.0.0.1.
        bound, port = self.server_address[:2]
        names = {str(address[0]).lower(), str(bound).lower()}
        try:
            loopback = ipaddress.ip_address(bound).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            names |= {"localhost", "127.0.0.1"}
        hosts = {_host_port(n, port) for n in names if n}
        if port == 80:
            hosts |= {f"[{n}]" if ":" in n else n for n in names if n}
        self.allowed_hosts: FrozenSet[str] = frozenset(hosts)
        self.allowed_origins: FrozenSet[str] = frozenset("http://" + h for h in hosts)

    # One slot per connection: taken before its thread starts (the accept waits while all are
    # taken), given back when the thread ends.
    def process_request(self, request: Any, client_address: Any) -> None:
        self._slots.acquire()
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{_host_port(host, port)}/"


def make_server(client: Client, host: str = "127.0.0.1", port: int = 8000,
                quiet: bool = False, io_timeout: float = IO_TIMEOUT,
                max_connections: int = MAX_CONNECTIONS) -> PlaygroundServer:
    """The playground's HTTP server over a Client (serve_forever() runs it; .url says where)."""
    return PlaygroundServer((host, port), Gateway(client), quiet, io_timeout, max_connections)


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
    p.add_argument("--io-timeout", type=float, default=IO_TIMEOUT,
                   help="close a connection that sends nothing for this long, in seconds "
                        f"({IO_TIMEOUT:g})")
    p.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    args = p.parse_args(argv)
    if not args.io_timeout > 0:
        p.error("--io-timeout must be positive")
    client = Client(args.server, timeout=args.timeout, replay_sessions=False)
    server = make_server(client, args.host, args.port, args.quiet, args.io_timeout)
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
