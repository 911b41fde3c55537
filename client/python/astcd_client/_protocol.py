"""Every RPC of the client, written once, without I/O.

Each operation is a generator: it yields Call (an RPC to make) or Sleep (a backoff) and is sent
the response, or thrown the AstcdError the call raised; it returns the operation's result. The
sync Client, the asyncio Client and the Step streams are drivers that make the calls their own
way, so request building, response checking, fingerprint pinning and session replay are the
same code in all of them.
"""
from __future__ import annotations

from typing import (Any, Callable, Dict, Generator, Iterable, List, NamedTuple, Optional,
                    Sequence, Tuple, TypeVar, Union)

import grpc

from ._stubs import load_stubs
from .errors import AstcdError, VocabularyMismatchError
from .masks import MASK_FORMATS, masks_from_bytes

T = TypeVar("T")


class Call(NamedTuple):
    method: str          # an RPC of astcd.v1.Decoder, e.g. "Advance"
    request: Any
    retry: bool = False  # a repeated attempt: wait for the channel to be ready


class Sleep(NamedTuple):
    seconds: float


Operation = Generator[Union[Call, Sleep], Any, T]


class SessionOrigin(NamedTuple):
    """How a session was made. With its tokens it is enough to make the session again on any
    replica."""
    config: bytes         # the serialized DecodeConfig
    start: int
    arity: Optional[int]
    max_len: int


class Session:
    """A server-side decoder session: its id and the state the server last reported.

    The client updates it in place when it advances, rolls back or reads it. `fingerprint` is
    the vocabulary it was created on, checked against every mask response for it. `tokens` is
    every token the session has taken (forced chains it applied included), and `origin` how it
    was made: with replay on (the default), a session the server no longer has is made again
    from them. `forced` is the forced chain the last call with jump_forward reported.
    """

    __slots__ = ("session_id", "complete", "terminated", "num_tokens", "token_budget_remaining",
                 "fingerprint", "tokens", "origin", "forced")

    def __init__(self, session_id: str, complete: bool = False, terminated: bool = False,
                 num_tokens: int = 0, token_budget_remaining: int = 0, fingerprint: str = "",
                 tokens: Optional[Iterable[int]] = None,
                 origin: Optional[SessionOrigin] = None) -> None:
        self.session_id = session_id
        self.complete = complete
        self.terminated = terminated
        self.num_tokens = num_tokens
        self.token_budget_remaining = token_budget_remaining
        self.fingerprint = fingerprint
        self.tokens: List[int] = list(tokens or ())
        self.origin = origin
        self.forced: List[int] = []

    def _update(self, st: Any) -> None:
        self.session_id = st.session_id or self.session_id
        self.complete = st.complete
        self.terminated = st.terminated
        self.num_tokens = st.num_tokens
        self.token_budget_remaining = st.token_budget_remaining

    @classmethod
    def _from_state(cls, st: Any, fingerprint: str = "") -> "Session":
        s = cls(st.session_id, fingerprint=fingerprint)
        s._update(st)
        return s

    def __repr__(self) -> str:
        return (f"Session({self.session_id!r}, complete={self.complete}, "
                f"terminated={self.terminated}, num_tokens={self.num_tokens}, "
                f"token_budget_remaining={self.token_budget_remaining})")


SessionLike = Union[Session, str]
Sessions = Union[SessionLike, Sequence[SessionLike]]
Config = Union[None, Dict[str, Any], Any]  # a dict of DecodeConfig fields or the message
JumpForward = Union[None, str, int]         # None/"off", "report", "apply"


def _int_list(xs: Any, what: str = "token ids") -> List[int]:
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


def _enum_value(enum: Any, prefix: str, v: Union[None, str, int], what: str) -> int:
    """A wire enum from its proto name without the prefix (any case), or its number."""
    if v is None:
        return 0
    if isinstance(v, bool):
        raise TypeError(f"{what} must be a name or a number, not a bool")
    if isinstance(v, int):
        if v not in enum.values():
            raise ValueError(f"{what} must be one of {enum.values()}, not {v}")
        return v
    name = str(v).upper()
    if not name.startswith(prefix):
        name = prefix + name
    if name not in enum.keys():
        names = [k[len(prefix):].lower() for k in enum.keys()]
        raise ValueError(f"{what} must be one of {', '.join(names)}; not {v!r}")
    return enum.Value(name)


def _range(msg: Any, v: Any) -> None:
    lo, hi = (v["lo"], v["hi"]) if isinstance(v, dict) else v
    msg.lo = int(lo)
    msg.hi = int(hi)


def _session_ids(sessions: Sessions) -> Tuple[List[str], List[Optional[Session]]]:
    """(ids, Session objects or None per item) from a Session, an id, or a sequence of them."""
    if isinstance(sessions, (Session, str)):
        sessions = [sessions]
    ids: List[str] = []
    objs: List[Optional[Session]] = []
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


def _current_ids(objs: Sequence[Optional[Session]], ids: Sequence[str]) -> List[str]:
    """The current ids: a replay gives Session objects new ones."""
    return [o.session_id if o is not None else i for o, i in zip(objs, ids)]


def _value(v: Any) -> Union[int, bool, None]:
    kind = v.WhichOneof("kind")
    if kind == "int_value":
        return int(v.int_value)
    if kind == "bool_value":
        return bool(v.bool_value)
    return None


def _event(e: Any) -> Dict[str, Any]:
    d: Dict[str, Any] = {"line": e.line,
                         "assigned": [(b.name, _value(b.value)) for b in e.assigned]}
    if e.HasField("returned"):
        d["returned"] = _value(e.returned)
    return d


class Protocol:
    """The client's state (pinned fingerprints, replay settings) and its operations."""

    # CANCELLED too: the client never cancels a call it makes, so a CANCELLED came from the
    # other side: a server shutting down cancels the calls it received but had not yet started
    # (grpc/grpc#41785), and a balancer's CANCEL when the replica behind it is gone.
    REPLAYABLE = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE,
                  grpc.StatusCode.CANCELLED)

    def __init__(self, replay_sessions: bool = True, max_attempts: int = 8,
                 initial_backoff: float = 0.05, max_backoff: float = 2.0) -> None:
        self.stubs = load_stubs()
        self.pb2 = self.stubs.astcd_pb2
        self.replay_sessions = replay_sessions
        self.max_attempts = max(1, int(max_attempts))
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.replays = 0  # calls made again after re-creating sessions
        self._fingerprints: Dict[bytes, str] = {}  # serialized DecodeConfig -> first fingerprint
        self._seen: set = set()                    # every fingerprint accepted so far
        self._vocab_cache: Dict[bytes, Dict[str, Any]] = {}

    # -- building blocks ----------------------------------------------------------------------

    def start(self, v: Union[None, str, int]) -> int:
        return _enum_value(self.pb2.Start, "START_", v, "start")

    def jump_forward(self, v: JumpForward) -> int:
        if v is False:
            return 0
        return _enum_value(self.pb2.JumpForward, "JUMP_FORWARD_", v, "jump_forward")

    def config(self, config: Config) -> Any:
        pb = self.pb2
        if config is None:
            return pb.DecodeConfig()
        if isinstance(config, pb.DecodeConfig):
            return config
        if not isinstance(config, dict):
            raise TypeError("config must be a dict or an astcd.v1.DecodeConfig")
        msg = pb.DecodeConfig()
        fields = msg.DESCRIPTOR.fields_by_name  # the proto declares the fields once
        for key, v in config.items():
            if v is None:
                continue
            field = fields.get(key)
            if field is None:
                raise ValueError(f"unknown config field {key!r}")
            if field.label == field.LABEL_REPEATED:
                getattr(msg, key).extend(_int_list(v, key))
            elif field.message_type is not None:
                _range(getattr(msg, key), v)
            elif field.type == field.TYPE_BOOL:
                setattr(msg, key, bool(v))
            else:
                setattr(msg, key, int(v))
        return msg

    @staticmethod
    def config_key(cfg: Any) -> bytes:
        return cfg.SerializeToString(deterministic=True)

    def init_request(self, r: Any) -> Any:
        pb = self.pb2
        if isinstance(r, pb.InitRequest):
            return r
        if isinstance(r, (str, int)):
            r = {"start": r}
        unknown = set(r) - {"start", "prefix_tokens", "arity", "max_len"}
        if unknown:
            raise ValueError(f"unknown init request fields {sorted(unknown)}")
        msg = pb.InitRequest(start=self.start(r.get("start")),
                             prefix_tokens=_int_list(r.get("prefix_tokens")),
                             max_len=int(r.get("max_len") or 0))
        if r.get("arity") is not None:
            msg.arity = int(r["arity"])
        return msg

    def expect_fingerprint(self, fingerprint: str, config: Config = None) -> None:
        key = self.config_key(self.config(config))
        known = self._fingerprints.get(key)
        if known is not None and known != fingerprint:
            raise VocabularyMismatchError(fingerprint, known, "expect_fingerprint")
        self._fingerprints[key] = fingerprint
        self._seen.add(fingerprint)

    def check_config_fp(self, cfg: Any, fp: str, what: str) -> str:
        key = self.config_key(cfg)
        if not fp:
            return self._fingerprints.get(key, "")
        known = self._fingerprints.setdefault(key, fp)
        if known != fp:
            raise VocabularyMismatchError(known, fp, what)
        self._seen.add(fp)
        return fp

    def check_session_fp(self, objs: Sequence[Optional[Session]], fp: str, what: str) -> None:
        if not fp:
            return
        pinned = {s.fingerprint for s in objs if s is not None and s.fingerprint}
        for expected in pinned:
            if expected != fp:
                raise VocabularyMismatchError(expected, fp, what)
        if not pinned and self._seen and fp not in self._seen:
            raise VocabularyMismatchError("/".join(sorted(self._seen)), fp, what)
        self._seen.add(fp)

    @staticmethod
    def sessions(objs: Optional[Sequence[Optional[Session]]], states: Sequence[Any],
                 fingerprint: str) -> List[Session]:
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

    def masks(self, resp: Any, batch: int, as_: str) -> Any:
        if as_ not in MASK_FORMATS:
            raise ValueError(f"as_ must be one of {MASK_FORMATS}, not {as_!r}")
        return masks_from_bytes(resp.bitmask, batch, resp.words_per_row, as_, resp.vocab_size)

    def take_forced(self, sessions: Sequence[Session], resp: Any, mode: int) -> None:
        """Records each session's forced chain; an applied chain joins its tokens."""
        if mode == 0:
            return
        if len(resp.forced) != len(sessions):
            raise AstcdError(grpc.StatusCode.INTERNAL,
                             f"{len(resp.forced)} forced chains for {len(sessions)} sessions")
        for s, chain in zip(sessions, resp.forced):
            s.forced = list(chain.tokens)
            if mode == self.pb2.JUMP_FORWARD_APPLY:
                s.tokens.extend(s.forced)

    # -- session replay -----------------------------------------------------------------------

    def with_replay(self, objs: Sequence[Optional[Session]], method: str,
                    request: Callable[[], Any]) -> Operation[Any]:
        """Makes the call with the sessions' current ids. On NOT_FOUND, UNAVAILABLE or CANCELLED every
        session of the batch is made again from its origin and tokens and the call repeated,
        with bounded attempts and exponential backoff."""
        backoff = self.initial_backoff
        for attempt in range(self.max_attempts):
            retry = attempt > 0
            if retry:
                yield Sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                try:
                    yield from self._recreate(objs)
                except AstcdError as e:
                    if e.code in self.REPLAYABLE and attempt + 1 < self.max_attempts:
                        continue
                    raise
                self.replays += 1
            try:
                return (yield Call(method, request(), retry))
            except AstcdError as e:
                if (not self.replay_sessions or e.code not in self.REPLAYABLE
                        or attempt + 1 >= self.max_attempts
                        or any(o is None or o.origin is None for o in objs)):
                    raise
        raise AssertionError("unreachable")

    def _recreate(self, objs: Sequence[Optional[Session]]) -> Operation[None]:
        # One InitStates per run of sessions with the same origin.
        live = [o for o in objs if o is not None]
        i = 0
        while i < len(live):
            j = i + 1
            while j < len(live) and live[j].origin == live[i].origin:
                j += 1
            origin = live[i].origin
            assert origin is not None
            reqs = []
            for o in live[i:j]:
                r = self.pb2.InitRequest(start=origin.start, prefix_tokens=o.tokens,
                                         max_len=origin.max_len)
                if origin.arity is not None:
                    r.arity = origin.arity
                reqs.append(r)
            cfg = self.pb2.DecodeConfig.FromString(origin.config)
            resp = yield Call("InitStates", self.pb2.InitStatesRequest(config=cfg, requests=reqs),
                              True)
            for o, st in zip(live[i:j], resp.states):
                if o.fingerprint and resp.fingerprint and o.fingerprint != resp.fingerprint:
                    raise VocabularyMismatchError(o.fingerprint, resp.fingerprint, "replay")
                if st.num_tokens != len(o.tokens):
                    raise AstcdError(grpc.StatusCode.INTERNAL,
                                     "replay: a re-created session has another length")
                o._update(st)
            i = j

    # -- the RPCs -----------------------------------------------------------------------------

    def vocabulary(self, config: Config = None) -> Operation[Dict[str, Any]]:
        cfg = self.config(config)
        key = self.config_key(cfg)
        if key not in self._vocab_cache:
            v = yield Call("GetVocabulary", self.pb2.GetVocabularyRequest(config=cfg))
            self.check_config_fp(cfg, v.fingerprint, "GetVocabulary")
            self._vocab_cache[key] = {
                "fingerprint": v.fingerprint, "vocab_size": v.vocab_size, "pad_id": v.pad_id,
                "eos_id": v.eos_id,
                "tokens": [{"id": t.id, "name": t.name, "kind": t.kind} for t in v.tokens]}
        return self._vocab_cache[key]

    def init_states(self, requests: Any, config: Config = None, return_masks: bool = False,
                    as_: str = "ints", jump_forward: JumpForward = None) -> Operation[Any]:
        if isinstance(requests, (dict, str)):
            requests = [requests]
        cfg = self.config(config)
        mode = self.jump_forward(jump_forward)
        req = self.pb2.InitStatesRequest(config=cfg,
                                         requests=[self.init_request(r) for r in requests],
                                         return_masks=return_masks, jump_forward=mode)
        resp = yield Call("InitStates", req)
        fp = self.check_config_fp(cfg, resp.fingerprint, "InitStates")
        sessions = self.sessions(None, resp.states, fp)
        key = self.config_key(cfg)
        for s, r in zip(sessions, req.requests):
            s.tokens = list(r.prefix_tokens)
            s.origin = SessionOrigin(key, r.start, r.arity if r.HasField("arity") else None,
                                     r.max_len)
        self.take_forced(sessions, resp, mode)
        if return_masks:
            return sessions, self.masks(resp, len(resp.states), as_)
        return sessions

    def legal_masks(self, sessions: Sessions, as_: str = "ints") -> Operation[Any]:
        ids, objs = _session_ids(sessions)
        resp = yield from self.with_replay(objs, "LegalMasks", lambda: self.pb2.LegalMasksRequest(
            session_ids=_current_ids(objs, ids)))
        self.check_session_fp(objs, resp.fingerprint, "LegalMasks")
        return self.masks(resp, len(ids), as_)

    def advance(self, sessions: Sessions, token_ids: Any, return_masks: bool = False,
                as_: str = "ints", jump_forward: JumpForward = None) -> Operation[Any]:
        ids, objs = _session_ids(sessions)
        toks = _int_list(token_ids)
        if len(toks) != len(ids):
            raise ValueError(f"{len(ids)} sessions but {len(toks)} token ids")
        mode = self.jump_forward(jump_forward)
        resp = yield from self.with_replay(objs, "Advance", lambda: self.pb2.AdvanceRequest(
            session_ids=_current_ids(objs, ids), token_ids=toks, return_masks=return_masks,
            jump_forward=mode))
        self.check_session_fp(objs, resp.fingerprint, "Advance")
        for o, t in zip(objs, toks):
            if o is not None:
                o.tokens.append(t)
        out = self.sessions(objs, resp.states, resp.fingerprint)
        self.take_forced(out, resp, mode)
        if return_masks:
            return out, self.masks(resp, len(ids), as_)
        return out

    def rollback(self, sessions: Sessions, num_tokens: Any, return_masks: bool = False,
                 as_: str = "ints") -> Operation[Any]:
        ids, objs = _session_ids(sessions)
        counts = ([int(num_tokens)] * len(ids) if isinstance(num_tokens, int)
                  else _int_list(num_tokens, "num_tokens"))
        resp = yield from self.with_replay(objs, "Rollback", lambda: self.pb2.RollbackRequest(
            session_ids=_current_ids(objs, ids), num_tokens=counts, return_masks=return_masks))
        self.check_session_fp(objs, resp.fingerprint, "Rollback")
        out = self.sessions(objs, resp.states, resp.fingerprint)
        for o in objs:
            if o is not None:
                del o.tokens[o.num_tokens:]
        if return_masks:
            return out, self.masks(resp, len(ids), as_)
        return out

    def fork(self, sessions: Sessions, n: int = 2) -> Operation[List[Session]]:
        ids, objs = _session_ids(sessions)
        resp = yield from self.with_replay(objs, "ForkStates", lambda: self.pb2.ForkStatesRequest(
            session_ids=_current_ids(objs, ids), n=int(n)))
        out = []
        for i, st in enumerate(resp.states):
            parent = objs[i // n] if n > 0 and i // n < len(objs) else None
            child = Session._from_state(st, parent.fingerprint if parent else "")
            if parent is not None:
                child.tokens = list(parent.tokens)
                child.origin = parent.origin
            out.append(child)
        return out

    def release(self, sessions: Sessions) -> Operation[int]:
        ids, _ = _session_ids(sessions)
        if not ids:
            return 0
        resp = yield Call("ReleaseStates", self.pb2.ReleaseStatesRequest(session_ids=ids))
        return resp.released

    def tokenize(self, sources: Union[str, Sequence[str]], config: Config = None,
                 start: Union[str, int] = "module", partial: bool = False,
                 create_sessions: bool = False, arity: Optional[int] = None,
                 max_len: int = 0) -> Operation[List[Dict[str, Any]]]:
        if isinstance(sources, str):
            sources = [sources]
        cfg = self.config(config)
        req = self.pb2.TokenizeRequest(sources=list(sources), config=cfg, start=self.start(start),
                                       partial=partial, create_sessions=create_sessions,
                                       max_len=int(max_len or 0))
        if arity is not None:
            req.arity = int(arity)
        resp = yield Call("Tokenize", req)
        fp = self.check_config_fp(cfg, resp.fingerprint, "Tokenize")
        out = []
        for r in resp.results:
            err = None
            if r.HasField("error") and (r.error.stage or r.error.message):
                err = {"stage": r.error.stage, "message": r.error.message, "line": r.error.line,
                       "column": r.error.column, "node_type": r.error.node_type}
            session = None
            if r.session_id:
                origin = SessionOrigin(self.config_key(cfg), req.start, arity,
                                       int(max_len or 0) or 65536)
                session = Session(r.session_id, complete=r.complete, fingerprint=fp,
                                  num_tokens=len(r.tokens), terminated=not partial,
                                  tokens=r.tokens, origin=origin)
            out.append({"ok": r.ok, "tokens": list(r.tokens), "complete": r.complete,
                        "normalized_source": r.normalized_source, "error": err,
                        "session": session})
        return out

    def detokenize(self, programs: Any, config: Config = None, start: Union[str, int] = "module",
                   partial: bool = False,
                   arity: Optional[int] = None) -> Operation[List[Dict[str, Any]]]:
        if hasattr(programs, "tolist"):
            programs = programs.tolist()
        programs = list(programs)
        if programs and not hasattr(programs[0], "__iter__") and not hasattr(programs[0], "tolist"):
            programs = [programs]
        req = self.pb2.DetokenizeRequest(
            config=self.config(config), start=self.start(start), partial=partial,
            programs=[self.pb2.TokenList(tokens=_int_list(p)) for p in programs])
        if arity is not None:
            req.arity = int(arity)
        resp = yield Call("Detokenize", req)
        return [{"ok": r.ok, "source": r.source, "error": r.error, "position": r.position}
                for r in resp.results]

    def run(self, program: Any, inputs: Iterable[Any], config: Config = None,
            start: Union[str, int] = "module", arity: Optional[int] = None,
            entry: Optional[int] = None, max_steps: Optional[int] = None, trace: bool = False,
            locals: bool = False) -> Operation[List[Dict[str, Any]]]:
        pb = self.pb2
        req = pb.RunRequest(config=self.config(config), start=self.start(start), trace=trace,
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
        resp = yield Call("Run", req)
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

    # -- Decode, a server stream: the drivers iterate; these build and convert ----------------

    def decode_request(self, sessions: Optional[Sessions] = None, init_requests: Any = None,
                       config: Config = None, sampler: Any = None, seed: int = 0, n: int = 1,
                       max_new_tokens: int = 0, max_total_tokens: int = 0, stop_at: str = "eos",
                       pad: bool = False, trace: bool = False, keep_sessions: bool = False,
                       sample_offset: int = 0) -> "DecodeCall":
        pb = self.pb2
        if isinstance(sampler, str) or sampler is None:
            sampler = {"kind": sampler or ""}
        # No kind: the server picks weighted when weights or a pressure are given, else uniform.
        smp = pb.Sampler(kind=sampler.get("kind") or "", seed=int(sampler.get("seed", seed)))
        for k, w in (sampler.get("weights") or {}).items():
            smp.weights[k] = float(w)
        for k in ("depth_pressure", "budget_pressure"):
            if sampler.get(k) is not None:
                setattr(smp, k, float(sampler[k]))
        cfg = self.config(config)
        ids, objs = _session_ids(sessions or [])
        inits = init_requests or []
        if isinstance(inits, (dict, str)):
            inits = [inits]
        req = pb.DecodeRequest(session_ids=ids,
                               init_requests=[self.init_request(r) for r in inits],
                               config=cfg, sampler=smp, n=int(n),
                               max_new_tokens=int(max_new_tokens),
                               max_total_tokens=int(max_total_tokens), stop_at=stop_at or "",
                               pad=pad, trace=trace, keep_sessions=keep_sessions,
                               sample_offset=int(sample_offset))
        return DecodeCall(self, req, objs, self._fingerprints.get(self.config_key(cfg), ""))


class DecodeCall(NamedTuple):
    protocol: Protocol
    request: Any
    objs: List[Optional[Session]]
    fingerprint: str

    def result(self, r: Any) -> Dict[str, Any]:
        """One DecodeResult as a dict ({input_index, sample_index, tokens, new_tokens, source,
        complete, stop_reason, trace, padded_tokens, session})."""
        req, objs = self.request, self.objs
        session = None
        if r.session_id:
            parent = objs[r.input_index] if r.input_index < len(objs) else None
            origin = parent.origin if parent else None
            if origin is None and r.input_index < len(req.init_requests):
                init = req.init_requests[r.input_index]
                origin = SessionOrigin(self.protocol.config_key(req.config), init.start,
                                       init.arity if init.HasField("arity") else None,
                                       init.max_len)
            if origin is not None and req.max_total_tokens > 0:
                origin = origin._replace(max_len=min(origin.max_len or 128,
                                                     req.max_total_tokens))
            session = Session(r.session_id, complete=r.complete,
                              fingerprint=parent.fingerprint if parent else self.fingerprint,
                              num_tokens=len(r.tokens),
                              terminated=r.stop_reason in ("eos", "terminated"),
                              tokens=r.tokens, origin=origin)
        return {"input_index": r.input_index, "sample_index": r.sample_index,
                "tokens": list(r.tokens), "new_tokens": list(r.new_tokens),
                "source": r.source, "complete": r.complete, "stop_reason": r.stop_reason,
                "trace": [(s.token, s.num_legal) for s in r.trace],
                "padded_tokens": list(r.padded_tokens), "session": session}
