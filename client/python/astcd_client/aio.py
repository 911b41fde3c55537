"""The asyncio client on grpc.aio: Client and StepStream, with the same methods, arguments,
results, fingerprint pinning and session replay as the blocking ones (astcd_client.Client).

    async with astcd_client.aio.Client("127.0.0.1:50051") as client:
        sessions, masks = await client.init_states(["function"] * 8, return_masks=True)
        async with client.step_stream() as steps:
            sessions, masks = await steps.advance(sessions, token_ids)

Every operation is written once in _protocol.py; this module only makes the calls.
"""
from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Dict, Iterable, List, Optional, Sequence, Union

import grpc
import grpc.aio

from ._protocol import Call, Config, JumpForward, Operation, Session, Sessions, Sleep, T
from .client import STEP_ACTIONS, Connection, step_result
from .errors import AstcdError, stream_error

__all__ = ["Client", "StepStream"]


async def drive(operation: Operation[T], execute: Any) -> T:
    """Runs an operation to its result, awaiting execute(call) for each call."""
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
                await asyncio.sleep(op.seconds)
            else:
                send = await execute(op)
        except AstcdError as e:
            error = e


class Client(Connection):
    """A grpc.aio connection to astcd-server (see astcd_client.Connection for the arguments).
    Every RPC method is a coroutine; decode() is an async iterator. Create it inside the event
    loop that uses it."""

    _channels = grpc.aio

    async def close(self) -> None:
        if self._own_channel:
            await self.channel.close()

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Waits until the channel is connected; raises AstcdError(UNAVAILABLE) on timeout."""
        try:
            await asyncio.wait_for(self.channel.channel_ready(), timeout)
        except asyncio.TimeoutError:
            raise AstcdError(grpc.StatusCode.UNAVAILABLE,
                             f"server not ready within {timeout} s") from None

    async def execute(self, call: Call) -> Any:
        """Makes one unary call (the protocol's I/O)."""
        kwargs = {"wait_for_ready": True} if call.retry else {}
        try:
            return await getattr(self.stub, call.method)(
                call.request, timeout=self.timeout, metadata=self.metadata or None, **kwargs)
        except grpc.RpcError as e:
            raise AstcdError.from_rpc_error(e) from None

    async def _run(self, operation: Operation[T]) -> T:
        return await drive(operation, self.execute)

    def step_stream(self, timeout: Optional[float] = None) -> "StepStream":
        """A long-lived Step stream for advance/legal_masks (see StepStream)."""
        return StepStream(self, timeout)

    # -- the RPCs: as astcd_client.Client's, awaited ------------------------------------------

    async def vocabulary(self, config: Config = None) -> Dict[str, Any]:
        return await self._run(self.protocol.vocabulary(config))

    async def init_states(self, requests: Any, config: Config = None, return_masks: bool = False,
                          as_: str = "ints", jump_forward: JumpForward = None) -> Any:
        return await self._run(self.protocol.init_states(requests, config, return_masks, as_,
                                                         jump_forward))

    async def legal_masks(self, sessions: Sessions, as_: str = "ints") -> Any:
        return await self._run(self.protocol.legal_masks(sessions, as_))

    async def advance(self, sessions: Sessions, token_ids: Any, return_masks: bool = False,
                      as_: str = "ints", jump_forward: JumpForward = None) -> Any:
        return await self._run(self.protocol.advance(sessions, token_ids, return_masks, as_,
                                                     jump_forward))

    async def rollback(self, sessions: Sessions, num_tokens: Any, return_masks: bool = False,
                       as_: str = "ints") -> Any:
        return await self._run(self.protocol.rollback(sessions, num_tokens, return_masks, as_))

    async def fork(self, sessions: Sessions, n: int = 2) -> List[Session]:
        return await self._run(self.protocol.fork(sessions, n))

    async def release(self, sessions: Sessions) -> int:
        return await self._run(self.protocol.release(sessions))

    async def tokenize(self, sources: Union[str, Sequence[str]], config: Config = None,
                       start: Union[str, int] = "module", partial: bool = False,
                       create_sessions: bool = False, arity: Optional[int] = None,
                       max_len: int = 0) -> List[Dict[str, Any]]:
        return await self._run(self.protocol.tokenize(sources, config, start, partial,
                                                      create_sessions, arity, max_len))

    async def detokenize(self, programs: Any, config: Config = None,
                         start: Union[str, int] = "module", partial: bool = False,
                         arity: Optional[int] = None) -> List[Dict[str, Any]]:
        return await self._run(self.protocol.detokenize(programs, config, start, partial, arity))

    async def run(self, program: Any, inputs: Iterable[Any], config: Config = None,
                  start: Union[str, int] = "module", arity: Optional[int] = None,
                  entry: Optional[int] = None, max_steps: Optional[int] = None,
                  trace: bool = False, locals: bool = False) -> List[Dict[str, Any]]:
        return await self._run(self.protocol.run(program, inputs, config, start, arity, entry,
                                                 max_steps, trace, locals))

    async def decode(self, sessions: Optional[Sessions] = None, init_requests: Any = None,
                     config: Config = None, sampler: Any = None, seed: int = 0, n: int = 1,
                     max_new_tokens: int = 0, max_total_tokens: int = 0, stop_at: str = "eos",
                     pad: bool = False, trace: bool = False, keep_sessions: bool = False,
                     timeout: Optional[float] = None,
                     sample_offset: int = 0) -> AsyncIterator[Dict[str, Any]]:
        """As astcd_client.Client.decode, as an async iterator (`async for r in
        client.decode(...)`)."""
        call = self.protocol.decode_request(sessions, init_requests, config, sampler, seed, n,
                                            max_new_tokens, max_total_tokens, stop_at, pad,
                                            trace, keep_sessions, sample_offset)
        stream = self.stub.Decode(call.request, timeout=timeout, metadata=self.metadata or None)
        try:
            async for r in stream:
                yield call.result(r)
        except grpc.RpcError as e:
            raise AstcdError.from_rpc_error(e) from None
        finally:
            stream.cancel()


class StepStream:
    """The asyncio form of astcd_client.StepStream: advance and legal_masks as steps of one
    long-lived Step stream, per-step errors without ending it, a new stream and session replay
    when it breaks. One step in flight at a time: use one StepStream per task."""

    def __init__(self, client: Client, timeout: Optional[float] = None) -> None:
        self.client = client
        self.timeout = timeout
        self.streams_opened = 0
        self._call: Any = None
        self._step_id = 0

    async def close(self) -> None:
        """Half-closes the stream and frees it."""
        call, self._call = self._call, None
        if call is not None:
            try:
                await call.done_writing()
            except (grpc.RpcError, asyncio.InvalidStateError):
                pass  # the stream had already ended
            call.cancel()

    async def __aenter__(self) -> "StepStream":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def execute(self, call: Call) -> Any:
        field = STEP_ACTIONS.get(call.method)
        if field is None:
            return await self.client.execute(call)
        if call.retry and self._call is not None:
            await self.close()  # a replay's retry goes on a new stream (client.py, reopen_after)
        if self._call is None:
            self._call = self.client.stub.Step(timeout=self.timeout,
                                               metadata=self.client.metadata or None)
            self.streams_opened += 1
        self._step_id += 1
        try:
            await self._call.write(self.client.pb2.StepRequest(step_id=self._step_id,
                                                               **{field: call.request}))
            resp = await self._call.read()
        except grpc.RpcError as e:
            self._call = None
            raise stream_error(e) from None
        if resp is grpc.aio.EOF:
            self._call = None
            raise AstcdError(grpc.StatusCode.UNAVAILABLE, "the Step stream ended")
        return step_result(resp, self._step_id, field)

    async def _run(self, operation: Operation[T]) -> T:
        return await drive(operation, self.execute)

    async def advance(self, sessions: Sessions, token_ids: Any, return_masks: bool = True,
                      as_: str = "ints", jump_forward: JumpForward = None) -> Any:
        """As Client.advance, one step of the stream (return_masks defaults to True here)."""
        return await self._run(self.client.protocol.advance(sessions, token_ids, return_masks,
                                                            as_, jump_forward))

    async def legal_masks(self, sessions: Sessions, as_: str = "ints") -> Any:
        return await self._run(self.client.protocol.legal_masks(sessions, as_))
