#!/usr/bin/env python3
"""Jump-forward through the Python clients (sync, asyncio, Step stream) against the real server.

usage: jump_forward_test.py ASTCD_SERVER_BINARY   (with astcd_client installed)

- "report" gives each session the chain its masks force, checked one step at a time against
  unary LegalMasks (each mask has exactly that one token), and leaves the session as it was.
- "apply" over a real decode: a seeded walk that is handed the masks after each forced chain
  makes exactly the programs of the same walk stepping through every token, with fewer model
  steps (forward passes); the figures are printed.
- A refused batch with "apply" changes nothing; sessions that applied chains are re-created
  identically after kill -9.
"""
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402

from astcd_client import AstcdError, Client, aio, mask_to_token_ids  # noqa: E402
from integration_util import Checks  # noqa: E402
from server_process import AstcdServer  # noqa: E402
from walks import UniformWalk  # noqa: E402

SERVER = sys.argv[1]
N, SEED = 48, 11
C = Checks()
check = C.check




def init_requests(start):
    return [{"start": start, "max_len": 64}] * N


def walk(client, start, advance, jump_forward=None):
    sessions, masks = client.init_states(init_requests(start), return_masks=True,
                                         jump_forward=jump_forward)
    w = UniformWalk(N, SEED)
    masks = w.settle(sessions, masks)
    while w.live:
        tokens = w.choose(masks)
        _, masks = advance([sessions[i] for i in w.live], tokens, jump_forward)
        masks = w.settle(sessions, masks)
    check(f"{start}: every session's history is what the walk took",
          all(s.tokens == t for s, t in zip(sessions, w.tokens)))
    client.release(sessions)
    return w.tokens, w.choices, w.steps


def report_is_the_forced_chain(client):
    sessions, masks = client.init_states(init_requests("function")[:8], return_masks=True,
                                         jump_forward="report")
    w = UniformWalk(8, 3)
    chains_seen = 0
    while w.live:
        live = [sessions[i] for i in w.live]
        for s in live:
            twin = client.fork(s, 1)[0]
            for t in s.forced:  # each token of the chain is the one legal token
                ok = mask_to_token_ids(client.legal_masks(twin)[0]) == [t]
                if not ok:
                    check("report: each chained token is the only legal one", False, s.forced)
                    return
                client.advance(twin, [t])
            end = client.legal_masks(twin)[0]
            if not (twin.terminated or len(mask_to_token_ids(end)) != 1):
                check("report: the chain stops at a choice or at the end", False, s.forced)
                return
            chains_seen += bool(s.forced)
            client.release(twin)
        before = [s.num_tokens for s in live]
        tokens = w.choose(masks)
        _, masks = client.advance(live, tokens, return_masks=True, jump_forward="report")
        if [s.num_tokens for s in live] != [n + 1 for n in before]:
            check("report: sessions do not take their chains", False)
            return
        masks = w.settle(sessions, masks)
    check("report: chains are exactly the forced tokens and sessions do not take them",
          chains_seen > 0, chains_seen)
    client.release(sessions)


def apply_refused_changes_nothing(client):
    sessions, masks = client.init_states(["function"] * 3, return_masks=True,
                                         jump_forward="apply")
    before = ([list(s.tokens) for s in sessions], client.legal_masks(sessions))
    legal = mask_to_token_ids(masks[0])[0]
    try:
        client.advance(sessions, [legal, legal, 10 ** 6], jump_forward="apply")
        check("apply: a bad token refuses the batch", False)
    except AstcdError as e:
        check("apply: a bad token refuses the batch, naming token_ids[2]",
              e.code == grpc.StatusCode.INVALID_ARGUMENT
              and [v.field for v in e.field_violations] == ["token_ids[2]"], str(e))
    after = ([list(s.tokens) for s in sessions], client.legal_masks(sessions))
    check("apply: the refused batch changed nothing", after == before)
    try:
        client.advance(sessions, [legal] * 3, jump_forward="sideways")
        check("an unknown jump_forward is refused", False)
    except ValueError as e:
        check("an unknown jump_forward is refused before any call", "jump_forward" in str(e))
    client.release(sessions)


def apply_survives_a_crash(binary, expected):
    server = AstcdServer(binary).start()
    port = server.port
    with Client(server.address) as client:
        sessions, masks = client.init_states(init_requests("function"), return_masks=True,
                                             jump_forward="apply")
        w = UniformWalk(N, SEED)
        masks = w.settle(sessions, masks)
        while w.live:
            if w.steps == 5:
                server.kill()
                server = AstcdServer(binary, port=port).start()
            tokens = w.choose(masks)
            _, masks = client.advance([sessions[i] for i in w.live], tokens, return_masks=True,
                                      jump_forward="apply")
            masks = w.settle(sessions, masks)
        check("apply: programs identical after kill -9", w.tokens == expected)
        check("apply: sessions with applied chains were re-created", client.replays > 0)
    server.stop()


async def aio_apply(address, expected):
    async with aio.Client(address) as client:
        sessions, masks = await client.init_states(init_requests("function"), return_masks=True,
                                                   jump_forward="apply")
        w = UniformWalk(N, SEED)
        masks = w.settle(sessions, masks)
        while w.live:
            tokens = w.choose(masks)
            _, masks = await client.advance([sessions[i] for i in w.live], tokens,
                                            return_masks=True, jump_forward="apply")
            masks = w.settle(sessions, masks)
        check("asyncio apply: the same programs", w.tokens == expected)
        await client.release(sessions)


def main():
    with AstcdServer(SERVER) as server, Client(server.address) as client:
        unary = lambda s, t, jf: client.advance(s, t, return_masks=True, jump_forward=jf)  # noqa
        report_is_the_forced_chain(client)
        for start in ("function", "module"):
            plain, plain_rows, plain_steps = walk(client, start, unary)
            jumped, jumped_rows, jumped_steps = walk(client, start, unary, "apply")
            check(f"{start}: apply gives the same programs", jumped == plain)
            n_tokens = sum(len(t) for t in plain)
            check(f"{start}: stepping through, the model chooses every token",
                  plain_rows == n_tokens, (plain_rows, n_tokens))
            saved = plain_rows - jumped_rows
            print(f"     {start}: {N} programs, {n_tokens} tokens: the model chose "
                  f"{jumped_rows} with jump-forward, {saved} forced tokens it did not have to "
                  f"({100 * saved / n_tokens:.0f}%); batched steps {plain_steps} -> "
                  f"{jumped_steps}")
            check(f"{start}: jump-forward saves forward passes", saved > 0, saved)
            with client.step_stream() as steps:
                streamed = walk(client, start, lambda s, t, jf: steps.advance(
                    s, t, jump_forward=jf), "apply")[0]
            check(f"{start}: apply over the Step stream gives the same programs",
                  streamed == plain)
            if start == "function":
                expected = plain
        apply_refused_changes_nothing(client)
        asyncio.run(aio_apply(server.address, expected))
    apply_survives_a_crash(SERVER, expected)


main()
C.exit()
