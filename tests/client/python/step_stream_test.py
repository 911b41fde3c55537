#!/usr/bin/env python3
"""StepStream (sync and asyncio) against the real server.

usage: step_stream_test.py ASTCD_SERVER_BINARY   (with astcd_client installed)

- A seeded walk over one Step stream gives exactly the tokens and masks of the same walk over
  unary Advance, on one stream from start to end.
- A step's error (an illegal token, an unknown session) raises AstcdError with its code and
  BadRequest field, changes no session, and the stream goes on.
- When the server is killed (-9) mid-walk and a new one takes its port, the stream is opened
  again, the sessions are re-created from their tokens, and the programs come out identical.
"""
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402

from astcd_client import AstcdError, Client, aio  # noqa: E402
from integration_util import Checks  # noqa: E402
from server_process import AstcdServer  # noqa: E402
from walks import UniformWalk  # noqa: E402

SERVER = sys.argv[1]
N, SEED = 32, 7
INIT = [{"start": "function", "max_len": 48}] * N
C = Checks()
check = C.check




def walk_sync(client, advance, kill_at=None, on_kill=None):
    """The walk's tokens and every mask it saw, stepping with advance(sessions, tokens)."""
    sessions, masks = client.init_states(INIT, return_masks=True)
    walk, seen = UniformWalk(N, SEED), [masks]
    while walk.live:
        if walk.steps == kill_at:
            on_kill()
        tokens = walk.choose(masks)
        _, masks = advance([sessions[i] for i in walk.live], tokens)
        seen.append(masks)
        masks = walk.settle(sessions, masks)
    client.release(sessions)
    return walk.tokens, seen


async def walk_async(client, advance, kill_at=None, on_kill=None):
    sessions, masks = await client.init_states(INIT, return_masks=True)
    walk, seen = UniformWalk(N, SEED), [masks]
    while walk.live:
        if walk.steps == kill_at:
            on_kill()
        tokens = walk.choose(masks)
        _, masks = await advance([sessions[i] for i in walk.live], tokens)
        seen.append(masks)
        masks = walk.settle(sessions, masks)
    await client.release(sessions)
    return walk.tokens, seen


def expect_error(name, code, field, fn):
    try:
        fn()
        check(name, False, "no error")
    except AstcdError as e:
        fields = [v.field for v in e.field_violations]
        check(name, e.code == code and field in fields, f"{e.code} {fields}")


def step_errors(client, steps):
    sessions, masks = client.init_states(["function"] * 2, return_masks=True)
    before = client.legal_masks(sessions)
    illegal = next(t for t in range(200) if not (masks[1] >> t) & 1)
    legal = (masks[0] & -masks[0]).bit_length() - 1
    expect_error("stream: an illegal token is FAILED_PRECONDITION naming token_ids[1]",
                 grpc.StatusCode.FAILED_PRECONDITION, "token_ids[1]",
                 lambda: steps.advance(sessions, [legal, illegal]))
    check("stream: the refused step changed no session",
          client.legal_masks(sessions) == before and [s.num_tokens for s in sessions] == [0, 0])
    expect_error("stream: an unknown session is NOT_FOUND naming session_ids[0]",
                 grpc.StatusCode.NOT_FOUND, "session_ids[0]",
                 lambda: steps.legal_masks(["0" * 32]))
    _, after = steps.advance(sessions, [legal, legal])
    check("stream: steps after errors succeed", len(after) == 2 and sessions[0].num_tokens == 1)
    check("stream: errors did not end the stream", steps.streams_opened == 1,
          steps.streams_opened)
    check("stream: legal_masks equals the unary call",
          steps.legal_masks(sessions) == client.legal_masks(sessions))
    client.release(sessions)


def sync_part(binary):
    with AstcdServer(binary) as server, Client(server.address) as client:
        unary = walk_sync(client, lambda s, t: client.advance(s, t, return_masks=True))
        with client.step_stream() as steps:
            streamed = walk_sync(client, steps.advance)
            check("sync stream: tokens and masks equal unary Advance's", streamed == unary)
            check("sync stream: one stream for the whole walk", steps.streams_opened == 1,
                  steps.streams_opened)
        with client.step_stream() as steps:
            step_errors(client, steps)
        port = server.port
    # The crash: kill -9 mid-walk, a new server on the same port.
    servers = [AstcdServer(binary, port=port).start()]

    def crash():
        servers[0].kill()
        servers[0] = AstcdServer(binary, port=port).start()

    with Client(f"127.0.0.1:{port}") as client, client.step_stream() as steps:
        survived = walk_sync(client, steps.advance, kill_at=10, on_kill=crash)
        check("sync stream: programs identical after kill -9", survived[0] == unary[0])
        check("sync stream: a new stream after the crash", steps.streams_opened == 2,
              steps.streams_opened)
        check("sync stream: sessions were replayed", client.replays > 0, client.replays)
    servers[0].stop()
    return unary


async def async_part(binary, unary):
    with AstcdServer(binary) as server:
        async with aio.Client(server.address) as client:
            async with client.step_stream() as steps:
                streamed = await walk_async(client, steps.advance)
                check("async stream: tokens and masks equal unary Advance's", streamed == unary)
                check("async stream: one stream", steps.streams_opened == 1)
                sessions = await client.init_states(["function"])
                try:
                    await steps.advance(sessions, [10 ** 6])
                    check("async stream: an out-of-vocabulary token is refused", False)
                except AstcdError as e:
                    check("async stream: an out-of-vocabulary token is INVALID_ARGUMENT",
                          e.code == grpc.StatusCode.INVALID_ARGUMENT
                          and "token_ids[0]" in [v.field for v in e.field_violations], str(e))
                check("async stream: the stream goes on after an error",
                      len(await steps.legal_masks(sessions)) == 1 and steps.streams_opened == 1)
        port = server.port
    servers = [AstcdServer(binary, port=port).start()]

    def crash():
        servers[0].kill()
        servers[0] = AstcdServer(binary, port=port).start()

    async with aio.Client(f"127.0.0.1:{port}") as client:
        async with client.step_stream() as steps:
            survived = await walk_async(client, steps.advance, kill_at=10, on_kill=crash)
            check("async stream: programs identical after kill -9", survived[0] == unary[0])
            check("async stream: a new stream after the crash", steps.streams_opened == 2,
                  steps.streams_opened)
            check("async stream: sessions were replayed", client.replays > 0)
    servers[0].stop()


unary_walk = sync_part(SERVER)
asyncio.run(async_part(SERVER, unary_walk))
C.exit()
