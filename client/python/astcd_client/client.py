"""The astcd gRPC client. See ../README.md for usage, proto/astcd/v1/astcd.proto for the contract.

Only grpcio and protobuf are required. numpy and torch are imported only when a caller asks for
arrays (as_="numpy", "torch", ...) or passes them in; nothing here needs them otherwise.
"""
import array
import collections
import importlib
import os
import sys
import time
import types

import grpc

__all__ = [
    "AstcdError",
    "Client",
    "FieldViolation",
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

STATUS_DETAILS_KEY = "grpc-status-details-bin"
STUBS_ENV = "ASTCD_PROTO_PYTHON"
MASK_FORMATS = ("ints", "bytes", "rows", "numpy", "torch", "numpy_bool", "torch_bool")

# ---------------------------------------------------------------------------------------------
# The generated stubs


_STUBS = None


def _has_stubs(d):
    return bool(d) and os.path.isfile(os.path.join(d, "astcd", "v1", "astcd_pb2.py"))


def find_stubs_dir(stubs_dir=None):
    """The directory holding astcd/v1/astcd_pb2.py and google/rpc/*_pb2.py, or None.

    In order: the argument, $ASTCD_PROTO_PYTHON, then build/proto/python of the source tree this
    package sits in (client/python/astcd_client -> ../../../build/proto/python).
    """
    if stubs_dir is not None:
        if not _has_stubs(stubs_dir):
            raise FileNotFoundError(f"no generated stubs (astcd/v1/astcd_pb2.py) in {stubs_dir!r}; "
                                    "build them with `cmake --build build --target "
                                    "astcd_proto_python`")
        return os.path.abspath(stubs_dir)
    env = os.environ.get(STUBS_ENV)
    if env:
        if not _has_stubs(env):
            raise FileNotFoundError(f"${STUBS_ENV}={env!r} holds no astcd/v1/astcd_pb2.py")
        return os.path.abspath(env)
    here = os.path.dirname(os.path.abspath(__file__))
    rel = os.path.normpath(os.path.join(here, "..", "..", "..", "build", "proto", "python"))
    if _has_stubs(rel):
        return rel
    return None


def load_stubs(stubs_dir=None):
    """Imports the generated modules once (adding their directory to sys.path) and returns them
    as a namespace: astcd_pb2, astcd_pb2_grpc, status_pb2, error_details_pb2."""
    global _STUBS
    if _STUBS is not None:
        return _STUBS
    d = find_stubs_dir(stubs_dir)
    if d is not None and d not in sys.path:
        sys.path.insert(0, d)
    try:
        ns = types.SimpleNamespace(
            astcd_pb2=importlib.import_module("astcd.v1.astcd_pb2"),
            astcd_pb2_grpc=importlib.import_module("astcd.v1.astcd_pb2_grpc"),
            status_pb2=importlib.import_module("google.rpc.status_pb2"),
            error_details_pb2=importlib.import_module("google.rpc.error_details_pb2"),
            stubs_dir=d,
        )
    except ImportError as e:
        raise ImportError(
            f"cannot import the generated astcd stubs ({e}); pass stubs_dir=, set ${STUBS_ENV}, "
            "or build them with `cmake --build build --target astcd_proto_python`") from e
    _STUBS = ns
    return ns


# ---------------------------------------------------------------------------------------------
# Errors

FieldViolation = collections.namedtuple("FieldViolation", ["field", "description"])


def _status_code(code):
    if isinstance(code, grpc.StatusCode):
        return code
    for c in grpc.StatusCode:
        if c.value[0] == code:
            return c
    return grpc.StatusCode.UNKNOWN


def parse_status_details(data, stubs=None):
    """Parses the bytes of 'grpc-status-details-bin' (a serialized google.rpc.Status).

    Returns (status, field_violations): the google.rpc.Status message and a list of
    FieldViolation(field, description) from every google.rpc.BadRequest among its details.
    """
    stubs = stubs or load_stubs()
    status = stubs.status_pb2.Status.FromString(data)
    violations = []
    for any_msg in status.details:
        bad = stubs.error_details_pb2.BadRequest()
        if any_msg.Is(bad.DESCRIPTOR) and any_msg.Unpack(bad):
            violations.extend(FieldViolation(v.field, v.description) for v in bad.field_violations)
    return status, violations


class AstcdError(Exception):
    """An RPC the server refused (or a response the client refuses).

    .code is a grpc.StatusCode, .message the server's message, .field_violations a list of
    FieldViolation(field, description) from the google.rpc.BadRequest in the status details
    (e.g. field="token_ids[3]"), and .status the whole google.rpc.Status when the server sent one.
    """

    def __init__(self, code, message, field_violations=(), status=None):
        self.code = _status_code(code)
        self.message = message
        self.field_violations = list(field_violations)
        self.status = status
        super().__init__(str(self))

    def __str__(self):
        s = f"{self.code.name}: {self.message}"
        if self.field_violations:
            s += " [" + "; ".join(f"{v.field}: {v.description}"
                                  for v in self.field_violations) + "]"
        return s

    @classmethod
    def from_status(cls, status, stubs=None):
        """From a google.rpc.Status message or its serialized bytes."""
        stubs = stubs or load_stubs()
        if isinstance(status, (bytes, bytearray, memoryview)):
            status, violations = parse_status_details(bytes(status), stubs)
        else:
            _, violations = parse_status_details(status.SerializeToString(), stubs)
        return cls(status.code, status.message, violations, status)

    @classmethod
    def from_rpc_error(cls, err, stubs=None):
        code = err.code() if callable(getattr(err, "code", None)) else grpc.StatusCode.UNKNOWN
        message = err.details() if callable(getattr(err, "details", None)) else str(err)
        status, violations = None, []
        md = err.trailing_metadata() if callable(getattr(err, "trailing_metadata", None)) else None
        for key, value in md or ():
            if key == STATUS_DETAILS_KEY:
                try:
                    status, violations = parse_status_details(value, stubs)
                except Exception:  # a malformed detail must not hide the error itself
                    status, violations = None, []
                if not message and status is not None:
                    message = status.message
        return cls(code if code is not None else grpc.StatusCode.UNKNOWN, message or "", violations,
                   status)


class VocabularyMismatchError(AstcdError):
    """The server answered with another vocabulary fingerprint than the one this client first saw
    (or was told to expect) for that config or session. Its token ids cannot be trusted."""

    def __init__(self, expected, got, what):
        self.expected = expected
        self.got = got
        super().__init__(grpc.StatusCode.FAILED_PRECONDITION,
                         f"vocabulary fingerprint mismatch on {what}: expected {expected}, "
                         f"the server sent {got}; refusing a server with another vocabulary")


# ---------------------------------------------------------------------------------------------
# Masks


def _row_to_int(row):
    if isinstance(row, int):
        return row
    if isinstance(row, (bytes, bytearray, memoryview)):
        return int.from_bytes(bytes(row), "little")
    if hasattr(row, "tolist"):  # a numpy or torch row of int32 words
        row = row.tolist()
    value = 0
    for i, w in enumerate(row):
        value |= (int(w) & 0xFFFFFFFF) << (32 * i)
    return value


def mask_to_token_ids(row):
    """The token ids set in one mask row: a Python int (bit i = token i), the row's little-endian
    bytes, or a numpy/torch row of int32 words. Ascending."""
    x = _row_to_int(row)
    if x < 0:
        raise ValueError("a mask row as an int must be non-negative")
    ids = []
    while x:
        low = x & -x
        ids.append(low.bit_length() - 1)
        x ^= low
    return ids


def mask_rows_to_ints(buf, words_per_row):
    """Splits a row-major [batch, words_per_row] little-endian int32 buffer into Python ints."""
    buf = bytes(buf)
    step = 4 * words_per_row
    if step == 0:
        return []
    if len(buf) % step:
        raise ValueError(f"mask buffer of {len(buf)} bytes is not a whole number of "
                         f"{words_per_row}-word rows")
    return [int.from_bytes(buf[i:i + step], "little") for i in range(0, len(buf), step)]


def _int32_array(buf):
    a = array.array("i")
    if a.itemsize != 4:  # pragma: no cover - every platform grpcio runs on has a 4-byte int
        a = array.array("l")
        assert a.itemsize == 4, "no 4-byte array typecode"
    a.frombytes(bytes(buf))
    if sys.byteorder == "big":
        a.byteswap()
    return a


def masks_from_bytes(buf, batch, words_per_row, as_="ints", vocab_size=None):
    """Converts a [batch, words_per_row] little-endian int32 mask buffer.

    as_: "ints" (a list of Python ints, bit i = token i), "bytes" (the buffer itself),
    "rows" (a list of per-row bytes), "numpy" (an int32 [batch, words] array viewing the buffer,
    read-only, no copy), "torch" (an int32 [batch, words] tensor), "numpy_bool" / "torch_bool"
    (a bool [batch, vocab_size] array, True where the token is legal).
    """
    buf = bytes(buf) if not isinstance(buf, bytes) else buf
    if len(buf) != 4 * batch * words_per_row:
        raise AstcdError(grpc.StatusCode.INTERNAL,
                         f"mask buffer has {len(buf)} bytes, expected {batch} rows of "
                         f"{words_per_row} int32 words")
    if as_ == "ints":
        return mask_rows_to_ints(buf, words_per_row) if words_per_row else [0] * batch
    if as_ == "bytes":
        return buf
    if as_ == "rows":
        step = 4 * words_per_row
        return [buf[i * step:(i + 1) * step] for i in range(batch)]
    if as_ in ("numpy", "numpy_bool"):
        import numpy as np
        words = np.frombuffer(buf, dtype="<i4").reshape(batch, words_per_row)
        if as_ == "numpy":
            return words
        bits = np.unpackbits(words.view(np.uint8).reshape(batch, 4 * words_per_row), axis=1,
                             bitorder="little").astype(bool)
        return bits[:, :vocab_size] if vocab_size is not None else bits
    if as_ in ("torch", "torch_bool"):
        import torch
        if batch * words_per_row == 0:
            words = torch.zeros((batch, words_per_row), dtype=torch.int32)
        else:
            words = torch.frombuffer(_int32_array(buf), dtype=torch.int32).reshape(
                batch, words_per_row)
        if as_ == "torch":
            return words
        shifts = torch.arange(32, dtype=torch.int32)
        bits = ((words.unsqueeze(-1) >> shifts) & 1).reshape(batch, 32 * words_per_row).bool()
        return bits[:, :vocab_size] if vocab_size is not None else bits
    raise ValueError(f"as_ must be one of {MASK_FORMATS}, not {as_!r}")


# ---------------------------------------------------------------------------------------------
# Sessions and conversions


# How a session was made: (serialized DecodeConfig, start, arity or None, max_len). With the
# session's tokens it is enough to make the session again on any replica.
SessionOrigin = collections.namedtuple("SessionOrigin", ["config", "start", "arity", "max_len"])


class Session:
    """A server-side decoder session: its id and the state the server last reported.

    The client updates it in place when it advances, rolls back or reads it. `fingerprint` is
    the vocabulary it was created on, checked against every mask response for it. `tokens` is
    every token the session has taken, and `origin` how it was made: with replay on (the
    default), a session the server no longer has is made again from them.
    """

    __slots__ = ("session_id", "complete", "terminated", "num_tokens", "token_budget_remaining",
                 "fingerprint", "tokens", "origin")

    def __init__(self, session_id, complete=False, terminated=False, num_tokens=0,
                 token_budget_remaining=0, fingerprint="", tokens=None, origin=None):
        self.session_id = session_id
        self.complete = complete
        self.terminated = terminated
        self.num_tokens = num_tokens
        self.token_budget_remaining = token_budget_remaining
        self.fingerprint = fingerprint
        self.tokens = list(tokens or ())
        self.origin = origin

    def _update(self, st):
        self.session_id = st.session_id or self.session_id
        self.complete = st.complete
        self.terminated = st.terminated
        self.num_tokens = st.num_tokens
        self.token_budget_remaining = st.token_budget_remaining

    @classmethod
    def _from_state(cls, st, fingerprint=""):
        s = cls(st.session_id, fingerprint=fingerprint)
        s._update(st)
        return s

    def __repr__(self):
        return (f"Session({self.session_id!r}, complete={self.complete}, "
                f"terminated={self.terminated}, num_tokens={self.num_tokens}, "
                f"token_budget_remaining={self.token_budget_remaining})")


def _int_list(xs, what="token ids"):
    if xs is None:
        return []
    if hasattr(xs, "tolist"):  # numpy arrays, torch tensors
        xs = xs.tolist()
    if isinstance(xs, int):
        return [int(xs)]
    out = []
    for x in xs:
        if hasattr(x, "item"):
            x = x.item()
        if isinstance(x, float) or not hasattr(x, "__index__"):
            raise TypeError(f"{what} must be integers, not {type(x).__name__}")
        out.append(int(x))
    return out


_STARTS = {"MODULE": 0, "FUNCTION": 1, "BLOCK": 2, "EXPR": 3}


def _start(v):
    if v is None:
        return 0
    if isinstance(v, int):
        if v not in _STARTS.values():
            raise ValueError(f"start must be 0..3, not {v}")
        return v
    name = str(v).upper()
    if name.startswith("START_"):
        name = name[len("START_"):]
    if name not in _STARTS:
        raise ValueError(f"start must be one of module, function, block, expr; not {v!r}")
    return _STARTS[name]


_CONFIG_SCALARS = ("max_block_stmts", "max_expr_depth", "max_control_depth", "max_locals",
                   "max_functions")


def _range(msg, v, name):
    if isinstance(v, dict):
        lo, hi = v["lo"], v["hi"]
    else:
        lo, hi = v
    msg.lo = int(lo)
    msg.hi = int(hi)


def _session_ids(sessions):
    """(ids, Session objects or None per item) from a Session, an id, or a sequence of them."""
    if isinstance(sessions, (Session, str)):
        sessions = [sessions]
    ids, objs = [], []
    for s in sessions:
        if isinstance(s, Session):
            ids.append(s.session_id)
            objs.append(s)
        elif isinstance(s, str):
            ids.append(s)
            objs.append(None)
        else:
            raise TypeError(f"a session must be a Session or its id, not {type(s).__name__}")
    return ids, objs


# ---------------------------------------------------------------------------------------------
# The client


class Client:
    """A connection to astcd-server.

    Client(target, stubs_dir=None, timeout=60.0, channel=None, credentials=None, metadata=None,
    options=None). `target` is "host:port". `timeout` is the deadline of each unary call, in
    seconds (None: no deadline). `metadata` is sent with every call (e.g.
    [("authorization", "Bearer ...")]). `credentials` makes a secure channel. `channel` uses one
    you built. Use it as a context manager, or call close().
    """

    def __init__(self, target=None, *, stubs_dir=None, timeout=60.0, channel=None,
                 credentials=None, metadata=None, options=None, replay_sessions=True,
                 max_attempts=8, initial_backoff=0.05, max_backoff=2.0, affinity_key=None):
        self._pb = load_stubs(stubs_dir)
        self.replay_sessions = replay_sessions
        self.max_attempts = max(1, int(max_attempts))
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.replays = 0  # calls made again after re-creating sessions
        self.pb2 = self._pb.astcd_pb2
        self.timeout = timeout
        self.metadata = list(metadata or ())
        if affinity_key is not None:  # keeps this client on one replica behind a ring hash
            self.metadata.append(("x-astcd-affinity", str(affinity_key)))
        if channel is None:
            if target is None:
                raise ValueError("pass a target (host:port) or a channel")
            opts = [("grpc.max_receive_message_length", 256 << 20),
                    ("grpc.max_send_message_length", 256 << 20)]
            opts += list(options or ())
            if credentials is not None:
                channel = grpc.secure_channel(target, credentials, options=opts)
            else:
                channel = grpc.insecure_channel(target, options=opts)
            self._own_channel = True
        else:
            self._own_channel = False
        self.channel = channel
        self.stub = self._pb.astcd_pb2_grpc.DecoderStub(channel)
        self._fingerprints = {}  # serialized DecodeConfig -> fingerprint first seen
        self._seen = set()       # every fingerprint this client has accepted
        self._vocab_cache = {}

    # -- plumbing -----------------------------------------------------------------------------

    def close(self):
        if self._own_channel:
            self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def wait_ready(self, timeout=10.0):
        """Blocks until the channel is connected; raises AstcdError(UNAVAILABLE) on timeout."""
        try:
            grpc.channel_ready_future(self.channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise AstcdError(grpc.StatusCode.UNAVAILABLE,
                             f"server not ready within {timeout} s") from None

    def _call(self, method, request, timeout=None, wait_for_ready=None):
        kwargs = {"wait_for_ready": True} if wait_for_ready else {}
        try:
            return getattr(self.stub, method)(
                request, timeout=self.timeout if timeout is None else timeout,
                metadata=self.metadata or None, **kwargs)
        except grpc.RpcError as e:
            raise AstcdError.from_rpc_error(e, self._pb) from None

    _REPLAYABLE = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE)

    def _with_replay(self, objs, call):
        """call(retry) makes the RPC with the sessions' current ids. On NOT_FOUND or UNAVAILABLE
        every session of the batch is made again from its origin and tokens, and the call is
        repeated, with bounded attempts and exponential backoff."""
        backoff = self.initial_backoff
        for attempt in range(self.max_attempts):
            retry = attempt > 0
            if retry:
                time.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                try:
                    self._recreate(objs)
                except AstcdError as e:
                    if e.code in self._REPLAYABLE and attempt + 1 < self.max_attempts:
                        continue
                    raise
                self.replays += 1
            try:
                return call(retry)
            except AstcdError as e:
                if (not self.replay_sessions or e.code not in self._REPLAYABLE
                        or attempt + 1 >= self.max_attempts
                        or any(o is None or o.origin is None for o in objs)):
                    raise

    def _recreate(self, objs):
        # One InitStates per run of sessions with the same origin.
        i = 0
        while i < len(objs):
            j = i + 1
            while j < len(objs) and objs[j].origin == objs[i].origin:
                j += 1
            origin = objs[i].origin
            pb = self.pb2
            reqs = []
            for o in objs[i:j]:
                r = pb.InitRequest(start=origin.start, prefix_tokens=o.tokens,
                                   max_len=origin.max_len)
                if origin.arity is not None:
                    r.arity = origin.arity
                reqs.append(r)
            cfg = pb.DecodeConfig.FromString(origin.config)
            resp = self._call("InitStates", pb.InitStatesRequest(config=cfg, requests=reqs),
                              wait_for_ready=True)
            for o, st in zip(objs[i:j], resp.states):
                if o.fingerprint and resp.fingerprint and o.fingerprint != resp.fingerprint:
                    raise VocabularyMismatchError(o.fingerprint, resp.fingerprint, "replay")
                if st.num_tokens != len(o.tokens):
                    raise AstcdError(grpc.StatusCode.INTERNAL,
                                     "replay: a re-created session has another length")
                o._update(st)
            i = j

    def _config(self, config):
        pb = self.pb2
        if config is None:
            return pb.DecodeConfig()
        if isinstance(config, pb.DecodeConfig):
            return config
        if not isinstance(config, dict):
            raise TypeError("config must be a dict or an astcd.v1.DecodeConfig")
        msg = pb.DecodeConfig()
        for key, v in config.items():
            if v is None:
                continue
            if key == "arities":
                msg.arities.extend(_int_list(v, "arities"))
            elif key in _CONFIG_SCALARS:
                setattr(msg, key, int(v))
            elif key in ("const_range", "value_range"):
                _range(getattr(msg, key), v, key)
            elif key == "allow_loops":
                msg.allow_loops = bool(v)
            else:
                raise ValueError(f"unknown config field {key!r}")
        return msg

    @staticmethod
    def _config_key(cfg):
        return cfg.SerializeToString(deterministic=True)

    def expect_fingerprint(self, fingerprint, config=None):
        """Pins the vocabulary fingerprint of a config (e.g. the one a model was trained on):
        any response for it with another fingerprint then raises VocabularyMismatchError."""
        key = self._config_key(self._config(config))
        known = self._fingerprints.get(key)
        if known is not None and known != fingerprint:
            raise VocabularyMismatchError(fingerprint, known, "expect_fingerprint")
        self._fingerprints[key] = fingerprint
        self._seen.add(fingerprint)

    def _check_config_fp(self, cfg, fp, what):
        if not fp:
            return self._fingerprints.get(self._config_key(cfg), "")
        key = self._config_key(cfg)
        known = self._fingerprints.setdefault(key, fp)
        if known != fp:
            raise VocabularyMismatchError(known, fp, what)
        self._seen.add(fp)
        return fp

    def _check_session_fp(self, objs, fp, what):
        if not fp:
            return
        pinned = {s.fingerprint for s in objs if s is not None and s.fingerprint}
        if pinned:
            for expected in pinned:
                if expected != fp:
                    raise VocabularyMismatchError(expected, fp, what)
        elif self._seen and fp not in self._seen:
            raise VocabularyMismatchError("/".join(sorted(self._seen)), fp, what)
        self._seen.add(fp)

    def _sessions(self, objs, states, fingerprint):
        out = []
        for i, st in enumerate(states):
            obj = objs[i] if objs is not None and i < len(objs) else None
            if obj is not None:
                obj._update(st)
                if not obj.fingerprint:
                    obj.fingerprint = fingerprint
                out.append(obj)
            else:
                out.append(Session._from_state(st, fingerprint))
        return out

    def _masks(self, resp, batch, as_):
        if as_ not in MASK_FORMATS:
            raise ValueError(f"as_ must be one of {MASK_FORMATS}, not {as_!r}")
        return masks_from_bytes(resp.bitmask, batch, resp.words_per_row, as_, resp.vocab_size)

    def _init_request(self, r):
        pb = self.pb2
        if isinstance(r, pb.InitRequest):
            return r
        if isinstance(r, (str, int)):
            r = {"start": r}
        unknown = set(r) - {"start", "prefix_tokens", "arity", "max_len"}
        if unknown:
            raise ValueError(f"unknown init request fields {sorted(unknown)}")
        msg = pb.InitRequest(start=_start(r.get("start")),
                             prefix_tokens=_int_list(r.get("prefix_tokens")),
                             max_len=int(r.get("max_len") or 0))
        if r.get("arity") is not None:
            msg.arity = int(r["arity"])
        return msg

    # -- the RPCs -----------------------------------------------------------------------------

    def vocabulary(self, config=None):
        """The vocabulary of a config: {fingerprint, vocab_size, pad_id, eos_id, tokens}, where
        tokens is a list of {id, name, kind} in id order."""
        cfg = self._config(config)
        key = self._config_key(cfg)
        if key in self._vocab_cache:
            return self._vocab_cache[key]
        v = self._call("GetVocabulary", self.pb2.GetVocabularyRequest(config=cfg))
        self._check_config_fp(cfg, v.fingerprint, "GetVocabulary")
        out = {"fingerprint": v.fingerprint, "vocab_size": v.vocab_size, "pad_id": v.pad_id,
               "eos_id": v.eos_id,
               "tokens": [{"id": t.id, "name": t.name, "kind": t.kind} for t in v.tokens]}
        self._vocab_cache[key] = out
        return out

    def init_states(self, requests, config=None, return_masks=False, as_="ints"):
        """Fresh sessions. A request is a dict {start: "module"|"function"|"block"|"expr",
        prefix_tokens: [...], arity: None, max_len: 0} (or just a start name). Returns a list of
        Session, or (sessions, masks) with return_masks."""
        if isinstance(requests, (dict, str)):
            requests = [requests]
        cfg = self._config(config)
        req = self.pb2.InitStatesRequest(config=cfg,
                                         requests=[self._init_request(r) for r in requests],
                                         return_masks=return_masks)
        resp = self._call("InitStates", req)
        fp = self._check_config_fp(cfg, resp.fingerprint, "InitStates")
        sessions = self._sessions(None, resp.states, fp)
        key = self._config_key(cfg)
        for s, r in zip(sessions, req.requests):
            s.tokens = list(r.prefix_tokens)
            s.origin = SessionOrigin(key, r.start, r.arity if r.HasField("arity") else None,
                                     r.max_len)
        if return_masks:
            return sessions, self._masks(resp, len(resp.states), as_)
        return sessions

    def legal_masks(self, sessions, as_="ints"):
        """The legal-token masks of sessions, one row each (see masks_from_bytes for as_)."""
        ids, objs = _session_ids(sessions)
        resp = self._with_replay(objs, lambda retry: self._call(
            "LegalMasks", self.pb2.LegalMasksRequest(session_ids=_ids(objs, ids)),
            wait_for_ready=retry or None))
        self._check_session_fp(objs, resp.fingerprint, "LegalMasks")
        return self._masks(resp, len(ids), as_)

    def advance(self, sessions, token_ids, return_masks=False, as_="ints"):
        """Advances each session by its token (all-or-nothing). token_ids may be a list, a numpy
        array or a torch tensor. Returns the sessions (Session objects are updated in place), or
        (sessions, masks) with return_masks."""
        ids, objs = _session_ids(sessions)
        toks = _int_list(token_ids)
        if len(toks) != len(ids):
            raise ValueError(f"{len(ids)} sessions but {len(toks)} token ids")
        resp = self._with_replay(objs, lambda retry: self._call(
            "Advance", self.pb2.AdvanceRequest(session_ids=_ids(objs, ids), token_ids=toks,
                                               return_masks=return_masks),
            wait_for_ready=retry or None))
        self._check_session_fp(objs, resp.fingerprint, "Advance")
        for o, t in zip(objs, toks):
            if o is not None:
                o.tokens.append(t)
        out = self._sessions(objs, resp.states, resp.fingerprint)
        if return_masks:
            return out, self._masks(resp, len(ids), as_)
        return out

    def rollback(self, sessions, num_tokens, return_masks=False, as_="ints"):
        """Drops the last num_tokens (an int for all, or one per session) of each session."""
        ids, objs = _session_ids(sessions)
        counts = ([int(num_tokens)] * len(ids) if isinstance(num_tokens, int)
                  else _int_list(num_tokens, "num_tokens"))
        resp = self._with_replay(objs, lambda retry: self._call(
            "Rollback", self.pb2.RollbackRequest(session_ids=_ids(objs, ids), num_tokens=counts,
                                                 return_masks=return_masks),
            wait_for_ready=retry or None))
        self._check_session_fp(objs, resp.fingerprint, "Rollback")
        out = self._sessions(objs, resp.states, resp.fingerprint)
        for o in objs:
            if o is not None:
                del o.tokens[o.num_tokens:]
        if return_masks:
            return out, self._masks(resp, len(ids), as_)
        return out

    def fork(self, sessions, n=2):
        """n independent copies of each session, ordered by (input session, copy)."""
        ids, objs = _session_ids(sessions)
        resp = self._with_replay(objs, lambda retry: self._call(
            "ForkStates", self.pb2.ForkStatesRequest(session_ids=_ids(objs, ids), n=int(n)),
            wait_for_ready=retry or None))
        out = []
        for i, st in enumerate(resp.states):
            parent = objs[i // n] if n > 0 and i // n < len(objs) else None
            child = Session._from_state(st, parent.fingerprint if parent else "")
            if parent is not None:
                child.tokens = list(parent.tokens)
                child.origin = parent.origin
            out.append(child)
        return out

    def release(self, sessions):
        """Frees sessions; returns how many existed."""
        ids, _ = _session_ids(sessions)
        if not ids:
            return 0
        return self._call("ReleaseStates", self.pb2.ReleaseStatesRequest(session_ids=ids)).released

    def tokenize(self, sources, config=None, start="module", partial=False,
                 create_sessions=False, arity=None, max_len=0):
        """Python sources to tokens. Returns one dict per source: {ok, tokens, complete,
        normalized_source, error: None or {stage, message, line, column, node_type},
        session: a Session with create_sessions (when ok), else None}."""
        if isinstance(sources, str):
            sources = [sources]
        cfg = self._config(config)
        req = self.pb2.TokenizeRequest(sources=list(sources), config=cfg, start=_start(start),
                                       partial=partial, create_sessions=create_sessions,
                                       max_len=int(max_len or 0))
        if arity is not None:
            req.arity = int(arity)
        resp = self._call("Tokenize", req)
        fp = self._check_config_fp(cfg, resp.fingerprint, "Tokenize")
        out = []
        for r in resp.results:
            err = None
            if r.HasField("error") and (r.error.stage or r.error.message):
                err = {"stage": r.error.stage, "message": r.error.message, "line": r.error.line,
                       "column": r.error.column, "node_type": r.error.node_type}
            session = None
            if r.session_id:
                origin = SessionOrigin(self._config_key(cfg), _start(start), arity,
                                       int(max_len or 0) or 65536)
                session = Session(r.session_id, complete=r.complete, fingerprint=fp,
                                  num_tokens=len(r.tokens), terminated=not partial,
                                  tokens=r.tokens, origin=origin)
            out.append({"ok": r.ok, "tokens": list(r.tokens), "complete": r.complete,
                        "normalized_source": r.normalized_source, "error": err,
                        "session": session})
        return out

    def detokenize(self, programs, config=None, start="module", partial=False, arity=None):
        """Token lists to source. programs is a list of token lists (or a 2-D array; a flat list
        of ints is taken as one program). Returns one dict each: {ok, source, error, position}."""
        if hasattr(programs, "tolist"):
            programs = programs.tolist()
        programs = list(programs)
        if programs and not hasattr(programs[0], "__iter__") and not hasattr(programs[0], "tolist"):
            programs = [programs]
        req = self.pb2.DetokenizeRequest(
            config=self._config(config), start=_start(start), partial=partial,
            programs=[self.pb2.TokenList(tokens=_int_list(p)) for p in programs])
        if arity is not None:
            req.arity = int(arity)
        resp = self._call("Detokenize", req)
        return [{"ok": r.ok, "source": r.source, "error": r.error, "position": r.position}
                for r in resp.results]

    def run(self, program, inputs, config=None, start="module", arity=None, entry=None,
            max_steps=None, trace=False, locals=False):
        """Runs a program on argument tuples with the server's interpreter.

        program: a str (source), a Session (or {"session_id": id}), or a token list/array.
        inputs: a list of argument tuples, e.g. [(3, 4), (0, -1)].
        Returns one dict per input: {status, value, steps, message} (+ trace, locals when
        asked); value is exactly a Python int, bool or None.
        """
        pb = self.pb2
        req = pb.RunRequest(config=self._config(config), start=_start(start), trace=trace,
                            locals=locals)
        if isinstance(program, str):
            req.source = program
        elif isinstance(program, Session):
            req.session_id = program.session_id
        elif isinstance(program, dict) and "session_id" in program:
            req.session_id = program["session_id"]
        else:
            req.tokens.CopyFrom(pb.TokenList(tokens=_int_list(program)))
        for args in inputs:
            req.inputs.add().args.extend(_int_list(args, "arguments"))
        if max_steps is not None:
            req.limits.max_steps = int(max_steps)
        if arity is not None:
            req.arity = int(arity)
        if entry is not None:
            req.entry = int(entry)
        resp = self._call("Run", req)
        out = []
        for o in resp.outcomes:
            d = {"status": o.status, "value": _value(o.value) if o.HasField("value") else None,
                 "steps": o.steps, "message": o.message}
            if trace:
                d["trace"] = [_event(e) for e in o.trace]
            if locals:
                d["locals"] = {b.name: _value(b.value) for b in o.locals}
            out.append(d)
        return out

    def decode(self, sessions=None, init_requests=None, config=None, sampler=None, seed=0, n=1,
               max_new_tokens=0, max_total_tokens=0, stop_at="eos", pad=False, trace=False,
               keep_sessions=False, timeout=None, sample_offset=0):
        """Server-side sampling: a generator of result dicts as they finish ({input_index,
        sample_index, tokens, new_tokens, source, complete, stop_reason, trace, padded_tokens,
        session}). Continue `sessions`, or start from `init_requests` (with config).
        sampler: None/"uniform"/"weighted" or a dict {kind, seed, weights, depth_pressure,
        budget_pressure}. timeout: a deadline for the whole stream (None: none).
        sample_offset: sample indices start here, so n split over calls gives the same
        programs as one call."""
        pb = self.pb2
        if isinstance(sampler, str) or sampler is None:
            sampler = {"kind": sampler or "uniform"}
        smp = pb.Sampler(kind=sampler.get("kind", "uniform"), seed=int(sampler.get("seed", seed)))
        for k, w in (sampler.get("weights") or {}).items():
            smp.weights[k] = float(w)
        for k in ("depth_pressure", "budget_pressure"):
            if sampler.get(k) is not None:
                setattr(smp, k, float(sampler[k]))
        cfg = self._config(config)
        ids, objs = _session_ids(sessions or [])
        inits = init_requests or []
        if isinstance(inits, (dict, str)):
            inits = [inits]
        req = pb.DecodeRequest(session_ids=ids,
                               init_requests=[self._init_request(r) for r in inits],
                               config=cfg, sampler=smp, n=int(n),
                               max_new_tokens=int(max_new_tokens),
                               max_total_tokens=int(max_total_tokens), stop_at=stop_at or "",
                               pad=pad, trace=trace, keep_sessions=keep_sessions,
                               sample_offset=int(sample_offset))
        fp = self._fingerprints.get(self._config_key(cfg), "")
        return self._decode_iter(req, objs, fp, timeout)

    def _decode_iter(self, req, objs, fp, timeout):
        call = self.stub.Decode(req, timeout=timeout, metadata=self.metadata or None)
        try:
            for r in call:
                session = None
                if r.session_id:
                    parent = objs[r.input_index] if r.input_index < len(objs) else None
                    origin = parent.origin if parent else None
                    if origin is None and r.input_index < len(req.init_requests):
                        init = req.init_requests[r.input_index]
                        origin = SessionOrigin(
                            self._config_key(req.config), init.start,
                            init.arity if init.HasField("arity") else None, init.max_len)
                    if origin is not None and req.max_total_tokens > 0:
                        origin = origin._replace(max_len=min(origin.max_len or 128,
                                                             req.max_total_tokens))
                    session = Session(r.session_id, complete=r.complete,
                                      fingerprint=parent.fingerprint if parent else fp,
                                      num_tokens=len(r.tokens),
                                      terminated=r.stop_reason in ("eos", "terminated"),
                                      tokens=r.tokens, origin=origin)
                yield {"input_index": r.input_index, "sample_index": r.sample_index,
                       "tokens": list(r.tokens), "new_tokens": list(r.new_tokens),
                       "source": r.source, "complete": r.complete,
                       "stop_reason": r.stop_reason,
                       "trace": [(s.token, s.num_legal) for s in r.trace],
                       "padded_tokens": list(r.padded_tokens), "session": session}
        except grpc.RpcError as e:
            raise AstcdError.from_rpc_error(e, self._pb) from None
        finally:
            call.cancel()  # a no-op once the stream has ended; frees it if the caller stops early


def _ids(objs, ids):
    """The current ids: a replay gives Session objects new ones."""
    return [o.session_id if o is not None else i for o, i in zip(objs, ids)]


def _value(v):
    kind = v.WhichOneof("kind")
    if kind == "int_value":
        return int(v.int_value)
    if kind == "bool_value":
        return bool(v.bool_value)
    return None


def _event(e):
    d = {"line": e.line, "assigned": [(b.name, _value(b.value)) for b in e.assigned]}
    if e.HasField("returned"):
        d["returned"] = _value(e.returned)
    return d
