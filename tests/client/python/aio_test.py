#!/usr/bin/env python3
"""astcd_client.aio.Client against the real server, checked against the blocking Client.

usage: aio_test.py ASTCD_SERVER_BINARY   (with astcd_client installed)

- Every RPC gives the same result through aio.Client as through Client.
- Eight concurrent tasks walk their own sessions on one channel and each gets the programs
  the same walk gives alone.
- Errors carry their code and BadRequest field and change nothing; a pinned fingerprint that
  the server does not have is refused.
- After kill -9 and a new server on the port, sessions are re-created and the walk finishes
  identically.
"""
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402

from astcd_client import AstcdError, Client, VocabularyMismatchError, aio  # noqa: E402
from integration_util import Checks  # noqa: E402
from server_process import AstcdServer  # noqa: E402
from walks import UniformWalk  # noqa: E402

SERVER = sys.argv[1]
C = Checks()
check = C.check
SOURCE = "def func(a, b):\n    c = a * b\n    if c > 3:\n        return c - a\n    return b\n"




def comparable(x):
    """Results with Session objects replaced by their (id-free) state."""
    if isinstance(x, dict):
        return {k: comparable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [comparable(v) for v in x]
    if hasattr(x, "session_id"):
        return ("session", x.complete, x.terminated, x.num_tokens, x.token_budget_remaining,
                tuple(x.tokens))
    return x


async def walk(client, seed, n=8):
    sessions, masks = await client.init_states([{"start": "function", "max_len": 40}] * n,
                                               return_masks=True)
    w = UniformWalk(n, seed)
    while w.live:
        tokens = w.choose(masks)
        _, masks = await client.advance([sessions[i] for i in w.live], tokens, return_masks=True)
        masks = w.settle(sessions, masks)
    await client.release(sessions)
    return w.tokens


async def same_as_sync(a, s):
    calls = {
        "vocabulary": ((), {}),
        "init_states": ((["function", {"start": "expr", "arity": 2}],),
                        {"return_masks": True}),
        "tokenize": (([SOURCE, "def f(:"],), {"start": "function"}),
        "detokenize": (([[2, 5, 8], []],), {"start": "function", "partial": True}),
        "run": ((SOURCE, [(1, 2), (3, 4), (0, 0)]), {"start": "function", "trace": True}),
    }
    for name, (args, kwargs) in calls.items():
        got = comparable(await getattr(a, name)(*args, **kwargs))
        want = comparable(getattr(s, name)(*args, **kwargs))
        check(f"{name}: aio equals sync", got == want, f"{got} != {want}")
    # Stateful calls on twin sessions.
    sa, sb = await a.init_states(["function"] * 2), s.init_states(["function"] * 2)
    masks = s.legal_masks(sb)
    check("legal_masks: aio equals sync", await a.legal_masks(sa) == masks)
    first = (masks[0] & -masks[0]).bit_length() - 1
    check("advance: aio equals sync", comparable(await a.advance(sa, [first] * 2, True)) ==
          comparable(s.advance(sb, [first] * 2, True)))
    check("fork: aio equals sync",
          comparable(await a.fork(sa, 3)) == comparable(s.fork(sb, 3)))
    check("rollback: aio equals sync", comparable(await a.rollback(sa, 1, True)) ==
          comparable(s.rollback(sb, 1, True)))
    got = [comparable(r) async for r in a.decode(init_requests=["function"], n=5, seed=3,
                                                 sampler="weighted")]
    want = [comparable(r) for r in s.decode(init_requests=["function"], n=5, seed=3,
                                            sampler="weighted")]
    check("decode: aio equals sync", sorted(map(str, got)) == sorted(map(str, want)))
    check("release: aio equals sync", await a.release(sa) == s.release(sb) == 2)


async def errors(a):
    sessions = await a.init_states(["function"] * 3)
    before = await a.legal_masks(sessions)
    legal = (before[0] & -before[0]).bit_length() - 1
    try:
        await a.advance(sessions, [legal, legal, 10 ** 6])
        check("a bad token is refused", False)
    except AstcdError as e:
        check("a bad token is INVALID_ARGUMENT naming token_ids[2]",
              e.code == grpc.StatusCode.INVALID_ARGUMENT
              and [v.field for v in e.field_violations] == ["token_ids[2]"], str(e))
    check("the refused batch changed nothing", await a.legal_masks(sessions) == before
          and all(s.num_tokens == 0 and s.tokens == [] for s in sessions))
    try:
        await a.init_states([{"start": "function", "max_len": -1}])
        check("a bad max_len is refused", False)
    except AstcdError as e:
        check("a bad max_len is INVALID_ARGUMENT with a field",
              e.code == grpc.StatusCode.INVALID_ARGUMENT and e.field_violations, str(e))
    a.expect_fingerprint("0" * 16, {"allow_loops": True})
    try:
        await a.init_states(["function"], config={"allow_loops": True})
        check("a pinned fingerprint the server lacks is refused", False)
    except VocabularyMismatchError as e:
        check("a pinned fingerprint the server lacks is refused", e.expected == "0" * 16)


async def concurrent(a, s_client):
    alone = [await walk(a, seed) for seed in range(8)]
    together = await asyncio.gather(*(walk(a, seed) for seed in range(8)))
    check("8 concurrent tasks walk as each alone", list(together) == alone)
    return alone


async def crash(binary, expected):
    server = AstcdServer(binary).start()
    port = server.port
    async with aio.Client(server.address) as a:
        sessions, masks = await a.init_states([{"start": "function", "max_len": 40}] * 8,
                                              return_masks=True)
        w = UniformWalk(8, 0)
        while w.live:
            if w.steps == 6:
                server.kill()
                server = AstcdServer(binary, port=port).start()
            tokens = w.choose(masks)
            _, masks = await a.advance([sessions[i] for i in w.live], tokens, return_masks=True)
            masks = w.settle(sessions, masks)
        check("after kill -9 the walk finishes identically", w.tokens == expected)
        check("sessions were re-created", a.replays > 0, a.replays)
    server.stop()


async def main():
    with AstcdServer(SERVER) as server, Client(server.address) as s:
        async with aio.Client(server.address) as a:
            await a.wait_ready()
            await same_as_sync(a, s)
            await errors(a)
            alone = await concurrent(a, s)
    await crash(SERVER, alone[0])


asyncio.run(main())
C.exit()
