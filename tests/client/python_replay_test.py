"""The Python client's sessions survive the loss of their server.

Usage: python_replay_test.py ASTCD_SERVER_BINARY  (with astcd_client installed)

1,000 sessions decode with a seeded client-side sampler (random.Random per session). Midway the
server is killed with SIGKILL and a new one starts on the same port. The client re-creates each
session from its tokens; every program must come out byte-identical to an uninterrupted run,
none lost and none duplicated (afterwards the new server's whole session cap is free).
"""
import ast
import os
import random
import signal
import subprocess
import sys
import threading
import time

SERVER = sys.argv[1]
from astcd_client import AstcdError, Client, mask_to_token_ids  # noqa: E402

SESSIONS, BATCH = 1000, 100


def start(port, *args):
    p = subprocess.Popen([SERVER, "--listen", f"127.0.0.1:{port}", "--metrics-listen", "",
                          *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    assert line.startswith("astcd-server listening on "), line
    return p, int(line.rsplit(":", 1)[1])


def decode_all(client, kill_after=None, on_kill=None):
    batches, masks = [], []
    for _ in range(SESSIONS // BATCH):
        s, m = client.init_states([{"start": "function", "max_len": 64}] * BATCH,
                                  return_masks=True)
        batches.append(s)
        masks.append(m)
    rngs = [random.Random(7000 + i) for i in range(SESSIONS)]
    advances = 0
    active = True
    while active:
        active = False
        for b, batch in enumerate(batches):
            live = [k for k, s in enumerate(batch) if not s.terminated]
            if not live:
                continue
            active = True
            picks = [rngs[b * BATCH + k].choice(mask_to_token_ids(masks[b][k])) for k in live]
            advances += 1
            if advances == kill_after:
                on_kill()
            _, nxt = client.advance([batch[k] for k in live], picks, return_masks=True)
            for j, k in enumerate(live):
                masks[b][k] = nxt[j]
    sources = []
    for batch in batches:
        for r in client.detokenize([s.tokens for s in batch], start="function"):
            assert r["ok"], r
            sources.append(r["source"])
    released = client.release([s for batch in batches for s in batch])
    return sources, released


def main():
    first, port = start(0)
    second = None
    try:
        client = Client(f"127.0.0.1:{port}", timeout=60)
        clean, released = decode_all(client)
        assert len(clean) == SESSIONS and released == SESSIONS, (len(clean), released)
        assert client.replays == 0
        for s in clean:
            ast.parse(s)

        restarted = {}

        def kill():
            first.send_signal(signal.SIGKILL)
            first.wait()

            def restart():
                time.sleep(0.3)
                restarted["p"], _ = start(port, "--max-sessions", str(SESSIONS))
            restarted["t"] = threading.Thread(target=restart)
            restarted["t"].start()

        again, released = decode_all(client, kill_after=150, on_kill=kill)
        restarted["t"].join()
        second = restarted["p"]
        assert client.replays > 0, "the kill caused no replay"
        diff = [i for i in range(SESSIONS) if again[i] != clean[i]]
        assert not diff, f"{len(diff)} programs differ, first: {again[diff[0]]!r}"
        assert 0 < released <= SESSIONS, released
        # No orphan: the new server's whole cap is free, and not one more.
        client.init_states([{"start": "function"}] * SESSIONS)
        try:
            client.init_states(["function"])
            raise AssertionError("the session cap should be full")
        except AstcdError as e:
            assert e.code.name == "RESOURCE_EXHAUSTED", e
        print(f"python_replay_test: {SESSIONS} programs identical after a kill -9; "
              f"{client.replays} replays, {released} sessions re-created")
    finally:
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()


if __name__ == "__main__":
    main()
