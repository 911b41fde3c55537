"""The blocking client: Client, and StepStream over the bidirectional Step RPC.

Every operation is written once in _protocol.py; this module only makes the calls.
"""
from __future__ import annotations

import queue
import time
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import grpc

from ._protocol import (Call, Config, JumpForward, Operation, Protocol, Session, SessionOrigin,
                        Sessions, Sleep, T)
from .dataset import Dataset
from .dataset import build as build_dataset
from .errors import AstcdError, stream_error

__all__ = ["Client", "Connection", "Session", "SessionOrigin", "StepStream"]

_DEFAULT_OPTIONS = [("grpc.max_receive_message_length", 256 << 20),
                    ("grpc.max_send_message_length", 256 << 20)]
# What a StepRequest can carry: the RPC each action stands for, and its oneof field.
STEP_ACTIONS = {"Advance": "advance", "LegalMasks": "legal_masks"}


def drive(operation: Operation[T], execute: Any) -> T:
    """Runs an operation to its result, making each call with execute(call)."""
    send: Any = None
    error: Optional[AstcdError] = None
    while True:
        try:
            op = operation.throw(error) if error is not None else operation.send(send)
        except StopIteration as stop:
            return stop.value
        send, error = None, None
        try:
            if isinstance(op, Sleep):
                time.sleep(op.seconds)
            else:
                send = execute(op)
        except AstcdError as e:
            error = e


class Connection:
    """What both clients hold: the protocol state, the channel, the stub and the call metadata.

    `target` is "host:port". `timeout` is the deadline of each unary call, in seconds (None:
    none). `metadata` is sent with every call (e.g. [("authorization", "Bearer ...")]).
    `credentials` makes a secure channel; `channel` uses one you built. `affinity_key` keeps the
    client on one replica behind a ring-hash load balancer. With `replay_sessions` (the
    default), a session the server lost (NOT_FOUND, UNAVAILABLE, or CANCELLED by a replica
    shutting down) is made again from its origin
    and tokens, within `max_attempts` with exponential backoff.
    """

    _channels: Any = grpc  # the module whose insecure_channel/secure_channel make the channel

    def __init__(self, target: Optional[str] = None, *, timeout: Optional[float] = 60.0,
                 channel: Any = None, credentials: Optional[grpc.ChannelCredentials] = None,
                 metadata: Optional[Sequence[Tuple[str, str]]] = None,
                 options: Optional[Sequence[Tuple[str, Any]]] = None,
                 replay_sessions: bool = True, max_attempts: int = 8,
                 initial_backoff: float = 0.05, max_backoff: float = 2.0,
                 affinity_key: Optional[str] = None) -> None:
        self.protocol = Protocol(replay_sessions, max_attempts, initial_backoff, max_backoff)
        self.pb2 = self.protocol.pb2
        self.timeout = timeout
        self.metadata = list(metadata or ())
        if affinity_key is not None:  # keeps a client on one replica behind a ring hash
            self.metadata.append(("x-astcd-affinity", str(affinity_key)))
        self._own_channel = channel is None
        if channel is None:
            if target is None:
                raise ValueError("pass a target (host:port) or a channel")
            opts = _DEFAULT_OPTIONS + list(options or ())
            channel = (self._channels.secure_channel(target, credentials, options=opts)
                       if credentials is not None
                       else self._channels.insecure_channel(target, options=opts))
        self.channel = channel
        self.stub = self.protocol.stubs.astcd_pb2_grpc.DecoderStub(channel)

    @property
    def replays(self) -> int:
        """Calls made again after re-creating lost sessions."""
        return self.protocol.replays

    def expect_fingerprint(self, fingerprint: str, config: Config = None) -> None:
        """Pins the vocabulary fingerprint of a config (e.g. the one a model was trained on):
        any response for it with another fingerprint then raises VocabularyMismatchError."""
        self.protocol.expect_fingerprint(fingerprint, config)


class Client(Connection):
    """A connection to astcd-server (see Connection for the arguments). Use it as a context
    manager, or call close(). One Client may be shared by threads; a StepStream may not."""

    # -- plumbing -----------------------------------------------------------------------------

    def close(self) -> None:
        if self._own_channel:
            self.channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Blocks until the channel is connected; raises AstcdError(UNAVAILABLE) on timeout."""
        try:
            grpc.channel_ready_future(self.channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise AstcdError(grpc.StatusCode.UNAVAILABLE,
                             f"server not ready within {timeout} s") from None

    def execute(self, call: Call) -> Any:
        """Makes one unary call (the protocol's I/O)."""
        kwargs = {"wait_for_ready": True} if call.retry else {}
        try:
            return getattr(self.stub, call.method)(call.request, timeout=self.timeout,
                                                   metadata=self.metadata or None, **kwargs)
        except grpc.RpcError as e:
            raise AstcdError.from_rpc_error(e) from None

    def _run(self, operation: Operation[T]) -> T:
        return drive(operation, self.execute)

    def step_stream(self, timeout: Optional[float] = None) -> "StepStream":
        """A long-lived Step stream for advance/legal_masks (see StepStream)."""
        return StepStream(self, timeout)

    # -- the RPCs (docs/api.md) ---------------------------------------------------------------

    def vocabulary(self, config: Config = None) -> Dict[str, Any]:
        """The vocabulary of a config: {fingerprint, vocab_size, pad_id, eos_id, tokens}, where
        tokens is a list of {id, name, kind} in id order. Cached per config."""
        return self._run(self.protocol.vocabulary(config))

    def init_states(self, requests: Any, config: Config = None, return_masks: bool = False,
                    as_: str = "ints", jump_forward: JumpForward = None) -> Any:
        """Fresh sessions. A request is a dict {start: "module"|"function"|"block"|"expr",
        prefix_tokens: [...], arity: None, max_len: 0} (or just a start name). Returns a list of
        Session, or (sessions, masks) with return_masks. jump_forward: None, "report" or "apply"
        (each Session's .forced then holds its forced chain; "apply" takes it)."""
        return self._run(self.protocol.init_states(requests, config, return_masks, as_,
                                                   jump_forward))

    def legal_masks(self, sessions: Sessions, as_: str = "ints") -> Any:
        """The legal-token masks of sessions, one row each (as_: see masks_from_bytes)."""
        return self._run(self.protocol.legal_masks(sessions, as_))

    def advance(self, sessions: Sessions, token_ids: Any, return_masks: bool = False,
                as_: str = "ints", jump_forward: JumpForward = None) -> Any:
        """Advances each session by its token (all-or-nothing). token_ids may be a list, a numpy
        array or a torch tensor. Returns the sessions (Session objects are updated in place), or
        (sessions, masks) with return_masks. jump_forward as for init_states."""
        return self._run(self.protocol.advance(sessions, token_ids, return_masks, as_,
                                               jump_forward))

    def rollback(self, sessions: Sessions, num_tokens: Any, return_masks: bool = False,
                 as_: str = "ints") -> Any:
        """Drops the last num_tokens (an int for all, or one per session) of each session."""
        return self._run(self.protocol.rollback(sessions, num_tokens, return_masks, as_))

    def fork(self, sessions: Sessions, n: int = 2) -> List[Session]:
        """n independent copies of each session, ordered by (input session, copy)."""
        return self._run(self.protocol.fork(sessions, n))

    def release(self, sessions: Sessions) -> int:
        """Frees sessions; returns how many existed."""
        return self._run(self.protocol.release(sessions))

    def tokenize(self, sources: Union[str, Sequence[str]], config: Config = None,
                 start: Union[str, int] = "module", partial: bool = False,
                 create_sessions: bool = False, arity: Optional[int] = None,
                 max_len: int = 0) -> List[Dict[str, Any]]:
        """Python sources to tokens: one dict per source, {ok, tokens, complete,
        normalized_source, error: None or {stage, message, line, column, node_type},
        session: a Session with create_sessions (when ok), else None}."""
        return self._run(self.protocol.tokenize(sources, config, start, partial,
                                                create_sessions, arity, max_len))

    def detokenize(self, programs: Any, config: Config = None, start: Union[str, int] = "module",
                   partial: bool = False, arity: Optional[int] = None) -> List[Dict[str, Any]]:
        """Token lists to source (a flat list of ints is one program): one dict each,
        {ok, source, error, position}."""
        return self._run(self.protocol.detokenize(programs, config, start, partial, arity))

    def run(self, program: Any, inputs: Iterable[Any], config: Config = None,
            start: Union[str, int] = "module", arity: Optional[int] = None,
            entry: Optional[int] = None, max_steps: Optional[int] = None, trace: bool = False,
            locals: bool = False) -> List[Dict[str, Any]]:
        """Runs a program (source, Session or token list) on argument tuples with the server's
        interpreter: one dict per input, {status, value, steps, message} (+ trace, locals when
        asked); value is exactly a Python int, bool or None."""
        return self._run(self.protocol.run(program, inputs, config, start, arity, entry,
                                           max_steps, trace, locals))

    def decode(self, sessions: Optional[Sessions] = None, init_requests: Any = None,
               config: Config = None, sampler: Any = None, seed: int = 0, n: int = 1,
               max_new_tokens: int = 0, max_total_tokens: int = 0, stop_at: str = "eos",
               pad: bool = False, trace: bool = False, keep_sessions: bool = False,
               timeout: Optional[float] = None,
               sample_offset: int = 0) -> Iterator[Dict[str, Any]]:
        """Server-side sampling: an iterator of result dicts as they finish ({input_index,
        sample_index, tokens, new_tokens, source, complete, stop_reason, trace, padded_tokens,
        session}). Continue `sessions`, or start from `init_requests` (with config). sampler:
        None/"uniform"/"weighted" or a dict {kind, seed, weights, depth_pressure,
        budget_pressure}. timeout: a deadline for the whole stream. sample_offset: sample
        indices start here, so n split over calls gives the same programs as one call."""
        call = self.protocol.decode_request(sessions, init_requests, config, sampler, seed, n,
                                            max_new_tokens, max_total_tokens, stop_at, pad,
                                            trace, keep_sessions, sample_offset)
        return self._decode_iter(call, timeout)

    def dataset(self, n: int = 1000, *, config: Config = None, start: str = "function",
                arity: Optional[int] = None, sampler: Any = "uniform", seed: int = 0,
                max_len: int = 128, inputs: int = 8, input_range: Tuple[int, int] = (-10, 10),
                max_steps: int = 10_000, max_samples: int = 100_000, keep: Iterable[str] = (),
                padded_tokens: bool = False) -> "Dataset":
        """`astcd dataset` over decode and run (docs/dataset.md): up to n programs of distinct
        behaviour, the shortest per behaviour, sampled from at most max_samples. keep names
        the filters to turn off ("all_error", "all_none", "constant"). Returns Dataset(rows,
        summary) with the CLI's rows and summary for the same arguments."""
        return build_dataset(self, n, config=config, start=start, arity=arity, sampler=sampler,
                             seed=seed, max_len=max_len, inputs=inputs, input_range=input_range,
                             max_steps=max_steps, max_samples=max_samples, keep=keep,
                             padded_tokens=padded_tokens)

    def _decode_iter(self, call: Any, timeout: Optional[float]) -> Iterator[Dict[str, Any]]:
        stream = self.stub.Decode(call.request, timeout=timeout, metadata=self.metadata or None)
        try:
            for r in stream:
                yield call.result(r)
        except grpc.RpcError as e:
            raise AstcdError.from_rpc_error(e) from None
        finally:
            stream.cancel()  # a no-op once the stream has ended; frees it if the caller stops


class StepStream:
    """advance and legal_masks over one long-lived bidirectional Step stream.

    The same methods, arguments and results as Client.advance / Client.legal_masks, and the
    same fingerprint pinning. A step's error (a bad token, an unknown session) raises
    AstcdError for that step and the stream goes on. When the stream itself breaks, the next
    step opens a new one; a step that failed with UNAVAILABLE or NOT_FOUND is replayed as a
    unary call would be (sessions re-created from their origin and tokens). One step is in
    flight at a time: use one StepStream per thread. Close it (or use `with`) to end the stream.
    """

    def __init__(self, client: Client, timeout: Optional[float] = None) -> None:
        self.client = client
        self.timeout = timeout  # a deadline for each stream as a whole (None: none)
        self.streams_opened = 0
        self._queue: Optional["queue.Queue[Any]"] = None
        self._responses: Any = None
        self._step_id = 0

    def _open(self) -> None:
        requests: "queue.Queue[Any]" = queue.Queue()

        def feed() -> Iterator[Any]:
            while True:
                item = requests.get()
                if item is None:
                    return
                yield item

        self._queue = requests
        self._responses = self.client.stub.Step(feed(), timeout=self.timeout,
                                                metadata=self.client.metadata or None)
        self.streams_opened += 1

    def close(self) -> None:
        """Half-closes the stream and frees it."""
        if self._queue is not None:
            self._queue.put(None)
            self._responses.cancel()
        self._queue, self._responses = None, None

    def __enter__(self) -> "StepStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def execute(self, call: Call) -> Any:
        """Makes advance and legal_masks calls as steps; anything else (a replay's InitStates)
        is a unary call."""
        field = STEP_ACTIONS.get(call.method)
        if field is None:
            return self.client.execute(call)
        if call.retry and self._queue is not None:
            self.close()  # a replay's retry goes on a new stream: see reopen_after
        if self._queue is None:
            self._open()
        assert self._queue is not None
        self._step_id += 1
        self._queue.put(self.client.pb2.StepRequest(step_id=self._step_id,
                                                    **{field: call.request}))
        try:
            resp = next(self._responses)
        except StopIteration:
            self.close()
            raise AstcdError(grpc.StatusCode.UNAVAILABLE, "the Step stream ended") from None
        except grpc.RpcError as e:
            self.close()
            raise stream_error(e) from None
        return step_result(resp, self._step_id, field)

    def _run(self, operation: Operation[T]) -> T:
        return drive(operation, self.execute)

    def advance(self, sessions: Sessions, token_ids: Any, return_masks: bool = True,
                as_: str = "ints", jump_forward: JumpForward = None) -> Any:
        """As Client.advance, one step of the stream (return_masks defaults to True here)."""
        return self._run(self.client.protocol.advance(sessions, token_ids, return_masks, as_,
                                                      jump_forward))

    def legal_masks(self, sessions: Sessions, as_: str = "ints") -> Any:
        """As Client.legal_masks, one step of the stream."""
        return self._run(self.client.protocol.legal_masks(sessions, as_))


# reopen_after: a replay's retried step (call.retry) goes on a new stream. A stream stays on the
# replica it was opened on, but behind a hash balancer (nginx, HAProxy, Envoy) the affinity key
# can move while it is open: a replica came back or was added. The replay re-creates the
# sessions on the key's new replica (InitStates is a unary call, routed afresh), which only a
# new stream reaches; the old stream would answer NOT_FOUND until the attempts ran out.


def step_result(resp: Any, step_id: int, field: str) -> Any:
    """A StepResponse's result, or its error as AstcdError."""
    if resp.step_id != step_id:
        raise AstcdError(grpc.StatusCode.INTERNAL,
                         f"Step answered step {resp.step_id}, expected {step_id}")
    if resp.status.code != 0:
        raise AstcdError.from_status(resp.status)
    return getattr(resp, field)
