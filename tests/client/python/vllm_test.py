"""ASTCDVLLMLogitsProcessor driven by a replay of vLLM's persistent-batch protocol, with a real
(untrained, seeded) torch model and two real astcd-servers.

    python3 vllm_test.py ASTCD_SERVER_BINARY

vLLM is not installed here. `PersistentBatch` below follows vLLM's docs/design/logits_processors.md:
each step, finished requests' slots are replaced by new requests in increasing index order,
extra new requests are appended, leftover finished slots are Removed and the batch condensed
by UNIDIRECTIONAL moves from the highest slot into the lowest hole, then random SWAPs reorder
it; update_state gets BatchUpdate(batch_size, removed, added, moved) (None when nothing
changed), apply gets the [num_reqs, V'] logits, and each request's output list (the very list
passed in `added`) is appended in place. A preempted request is removed and later added again
with its output so far. SamplingParams is represented by an object with `extra_args`, the only
field the processor reads. One line per check; exit status 1 if any fails.
"""
from __future__ import annotations

import ast
import json
import os
import random
import sys
import types
from typing import Any, Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # server_process, integration_util
from integration_util import Checks, MeteredServer, tiny_lm  # noqa: E402

import torch  # noqa: E402

import astcd_client  # noqa: E402
from astcd_client import mask_to_token_ids  # noqa: E402
from astcd_client.integrations.vllm import (  # noqa: E402
    ASTCDVLLMLogitsProcessor, BatchUpdate, MoveDirectionality, parse_settings)

C = Checks()
MODEL_VOCAB = 96  # wider than every astcd vocabulary used here (57, 55 and 88)
EOS, PAD = 1, 0
MAX_NUM_SEQS = 4


def params(astcd: Any = None, **other: Any) -> Any:
    extra = dict(other)
    if astcd is not None:
        extra["astcd"] = astcd
    return types.SimpleNamespace(extra_args=extra or None)


class Request:
    def __init__(self, name: str, sampling_params: Any, max_tokens: int = 200) -> None:
        self.name = name
        self.params = sampling_params
        self.settings = parse_settings(sampling_params.extra_args)
        self.prompt = [PAD]  # the model's prompt; the astcd prefix is in the settings
        self.output: List[int] = []  # vLLM's live list: appended in place, never replaced
        self.max_tokens = max_tokens
        self.state: Optional[torch.Tensor] = None  # the model's GRU state
        self.done = False
        self.preempt_at: Optional[int] = None


class PersistentBatch:
    def __init__(self, proc: ASTCDVLLMLogitsProcessor, servers: Dict[str, MeteredServer],
                 queue: List[Request], seed: int) -> None:
        self.proc = proc
        self.servers = servers
        self.queue = list(queue)
        self.slots: List[Optional[Request]] = []
        self.rng = random.Random(seed)
        self.gen = torch.Generator().manual_seed(seed)
        self.model = tiny_lm(MODEL_VOCAB, MODEL_VOCAB, seed=seed)
        self.finished: List[Request] = []
        self.step_no = 0
        self.moves = {"UNIDIRECTIONAL": 0, "SWAP": 0}
        self.removed = 0
        self.preempted = 0
        self.none_updates = 0
        self.audit_bad: List[str] = []
        self.untouched_bad: List[str] = []
        self.advance_bad: List[str] = []
        self.advances_per_step: List[int] = []
        self.advanced_rows = 0
        self.clients: Dict[Any, Any] = {}

    def client_for(self, s: Any) -> Any:
        """A checking client per (server, config): each holds one vocabulary."""
        key = (s.server, json.dumps(s.config, sort_keys=True))
        if key not in self.clients:
            self.clients[key] = astcd_client.Client(s.server)
        return self.clients[key]

    def schedule(self) -> Optional[BatchUpdate]:
        leaving = sorted(i for i, r in enumerate(self.slots)
                         if r is not None and (r.done or r.preempt_at == len(r.output)))
        for i in leaving:
            r = self.slots[i]
            if r.done:
                self.finished.append(r)
            else:  # preempted: back to the front of the queue with its output so far
                r.preempt_at, r.state = None, None
                self.queue.insert(1, r)
                self.preempted += 1
            self.slots[i] = None
        running = sum(r is not None for r in self.slots)
        new = [self.queue.pop(0) for _ in range(min(len(self.queue), MAX_NUM_SEQS - running))]
        added, removed, moved = [], [], []
        for i in leaving:
            if new:
                r = new.pop(0)
                self.slots[i] = r
                added.append((i, r.params, r.prompt, r.output))
            else:
                removed.append(i)
        for r in new:
            self.slots.append(r)
            added.append((len(self.slots) - 1, r.params, r.prompt, r.output))
        while True:  # condense: the highest request fills the lowest hole
            while self.slots and self.slots[-1] is None:
                self.slots.pop()
            if None not in self.slots:
                break
            hole, top = self.slots.index(None), len(self.slots) - 1
            self.slots[hole], self.slots[top] = self.slots[top], None
            moved.append((top, hole, MoveDirectionality.UNIDIRECTIONAL))
        for _ in range(2):
            if len(self.slots) >= 2 and self.rng.random() < 0.4:
                a, b = self.rng.sample(range(len(self.slots)), 2)
                self.slots[a], self.slots[b] = self.slots[b], self.slots[a]
                moved.append((a, b, MoveDirectionality.SWAP))
        for _, _, d in moved:
            self.moves[d.name] += 1
        self.removed += len(removed)
        if not (added or removed or moved):
            self.none_updates += 1
            return None
        return BatchUpdate(batch_size=len(self.slots), removed=removed, added=added,
                           moved=moved)

    def step(self) -> bool:
        self.step_no += 1
        self.proc.update_state(self.schedule())
        if not self.slots:
            return False
        with torch.no_grad():
            rows = []
            for r in self.slots:
                ids = torch.tensor([r.prompt + r.output if r.state is None else r.output[-1:]])
                logits, r.state = self.model(ids, r.state)
                rows.append(logits[0])
            logits = torch.stack(rows)
        before = logits.clone()
        # Every open, unterminated session got one token since the last step: expect one
        # Advance per (server, config) among them, and none for the rest.
        want = {a: set() for a in self.servers}
        for i, r in enumerate(self.slots):
            s = self.proc.session_of(i)
            if s is not None and not s.terminated:
                want[r.settings.server].add(json.dumps(r.settings.config, sort_keys=True))
                self.advanced_rows += 1
        adv = {a: s.rpc_count("Advance") for a, s in self.servers.items()}
        calls = self.proc.advance_calls
        out = self.proc.apply(logits)
        spent = {a: s.rpc_count("Advance") - adv[a] for a, s in self.servers.items()}
        self.advances_per_step.append(sum(spent.values()))
        if out is not logits or any(spent[a] != len(want[a]) for a in spent) \
                or sum(spent.values()) != self.proc.advance_calls - calls:
            self.advance_bad.append(f"step {self.step_no}: {spent} != "
                                    f"{ {a: len(w) for a, w in want.items()} }")
        self.audit(before, out)
        for i, r in enumerate(self.slots):
            probs = torch.softmax(out[i].float(), dim=-1)
            t = int(torch.multinomial(probs, 1, generator=self.gen))
            r.output.append(t)  # in place: the processor holds this list
            r.done = t == EOS if r.settings else (t == EOS or len(r.output) >= r.max_tokens)
        return True

    def audit(self, before: torch.Tensor, after: torch.Tensor) -> None:
        """Unconstrained rows untouched; constrained rows' finite columns == the server's legal
        set (LegalMasks, from another client) or {<pad>, <eos>} after <eos>."""
        for i, r in enumerate(self.slots):
            if r.settings is None:
                if not torch.equal(before[i], after[i]):
                    self.untouched_bad.append(f"step {self.step_no} row {i} ({r.name})")
                continue
            s = self.proc.session_of(i)
            client = self.client_for(r.settings)
            want = ({PAD, EOS} if s.terminated else
                    set(mask_to_token_ids(client.legal_masks([s.session_id])[0])))
            got = set(torch.isfinite(after[i]).nonzero().flatten().tolist())
            if got != want:
                self.audit_bad.append(f"step {self.step_no} row {i} ({r.name}): "
                                      f"{sorted(got)} != {sorted(want)}")

    def close(self) -> None:
        for c in self.clients.values():
            c.close()


def replay(binary: str) -> None:
    with MeteredServer(binary) as sa, MeteredServer(binary) as sb:
        A, B = sa.address, sb.address
        src = "def func(a, b):\n    if a > b:"
        reqs = [
            Request("c1 A function source prefix",
                    params({"server": A, "prefix": src, "max_len": 40})),
            Request("u1 unconstrained", params(None), max_tokens=7),
            Request("c2 A expr arity 2", params({"server": A, "start": "expr", "arity": 2,
                                                 "max_len": 20})),
            Request("c3 B loops, arities 1-2", params({"server": B, "prefix": [3],
                                                       "max_len": 30, "config": {
                                                           "allow_loops": True,
                                                           "arities": [1, 2]}})),
            Request("u2 other extra_args", params(None, other_key=3), max_tokens=11),
            Request("c4 B module, JSON string", params(json.dumps(
                {"server": B, "start": "module", "max_len": 40}))),
            Request("c5 A preempted and resumed", params({"server": A, "max_len": 36,
                                                          "config": {"const_range": [0, 40]}})),
            Request("u3 unconstrained", params(None), max_tokens=5),
            Request("c6 B block", params({"server": B, "start": "block", "arity": 1,
                                          "max_len": 25})),
        ]
        reqs[6].preempt_at = 4
        proc = ASTCDVLLMLogitsProcessor(None, torch.device("cpu"), False)
        pb = PersistentBatch(proc, {A: sa, B: sb}, reqs, seed=7)
        try:
            while pb.step() and pb.step_no < 2000:
                pass
            C.check("every request finished", len(pb.finished) == len(reqs),
                    f"{len(pb.finished)} of {len(reqs)} after {pb.step_no} steps")
            C.check("the replay removed, moved one-way and swapped",
                    pb.removed > 0 and pb.moves["UNIDIRECTIONAL"] > 0 and pb.moves["SWAP"] > 0,
                    f"removed {pb.removed}, moves {pb.moves}")
            C.check("a request was preempted and added again", pb.preempted == 1)
            C.check("steps without batch changes passed None", pb.none_updates > 0)
            C.check("unconstrained rows' logits are untouched", not pb.untouched_bad,
                    "; ".join(pb.untouched_bad[:3]))
            C.check("constrained rows' finite logits are the server's legal set",
                    not pb.audit_bad, "; ".join(pb.audit_bad[:3]))
            C.check("each step: one Advance per (server, config) of the advancing rows, "
                    "apply in place", not pb.advance_bad, "; ".join(pb.advance_bad[:3]))
            C.check("Advance batched rows: fewer calls than row advances",
                    0 < sum(pb.advances_per_step) < pb.advanced_rows,
                    f"{sum(pb.advances_per_step)} calls for {pb.advanced_rows} row advances")
            C.check("both servers served Advance",
                    sa.rpc_count("Advance") > 0 and sb.rpc_count("Advance") > 0)
            constrained = [r for r in pb.finished if r.settings]
            ok_programs = 0
            for r in constrained:
                s = r.settings
                client = pb.client_for(s)
                prefix = (client.tokenize([s.prefix], start=s.start, partial=True,
                                          config=s.config)[0]["tokens"]
                          if isinstance(s.prefix, str) else list(s.prefix or ()))
                d = client.detokenize([prefix + r.output], start=s.start, arity=s.arity,
                                      config=s.config)[0]
                try:
                    ok = d["ok"] and r.output[-1] == EOS and ast.parse(d["source"]) is not None
                except SyntaxError:
                    ok = False
                C.check(f"{r.name}: a whole program CPython parses", ok,
                        f"{d} from {r.output}")
                ok_programs += ok
            C.check("six constrained programs", ok_programs == 6)
            C.check("unconstrained requests ran to their own stop",
                    all(r.output[-1] == EOS or len(r.output) == r.max_tokens
                        for r in pb.finished if not r.settings))
            for name, server in (("A", sa), ("B", sb)):
                created = server.metric("astcd_sessions_created_total")
                released = server.metric("astcd_sessions_released_total")
                C.check(f"server {name}: every session released when its request left",
                        created > 0 and created == released, f"{created} created, "
                        f"{released} released")
        finally:
            pb.close()
            proc.close()


def protocol_edges(binary: str) -> None:
    """Hand-made BatchUpdates: a one-way move onto a constrained row discards (and releases)
    it; a swap keeps both; a removed row leaves; replacing by an add releases the old one."""
    with MeteredServer(binary) as s:
        a = s.address
        proc = ASTCDVLLMLogitsProcessor(None, "cpu", False)
        outs = [[], [], [], []]
        p = params({"server": a, "max_len": 20})
        proc.update_state(BatchUpdate(4, [], [(i, p, [0], outs[i]) for i in range(3)]
                                      + [(3, params(None), [0], outs[3])], []))
        logits = torch.zeros(4, MODEL_VOCAB)
        proc.apply(logits)
        ids = [proc.session_of(i).session_id for i in range(3)]
        C.check("one InitStates for three new constrained rows", s.rpc_count("InitStates") == 1)
        C.check("the unconstrained row stays zero", bool((logits[3] == 0).all()))
        proc.update_state(BatchUpdate(3, [], [], [(0, 1, MoveDirectionality.SWAP),
                                                  (3, 2, MoveDirectionality.UNIDIRECTIONAL)]))
        C.check("SWAP exchanges rows; a one-way move of an unconstrained row onto a constrained "
                "one discards it",
                [proc.session_of(i) and proc.session_of(i).session_id for i in range(4)]
                == [ids[1], ids[0], None, None] and s.rpc_count("ReleaseStates") == 1)
        proc.update_state(BatchUpdate(2, [1], [(0, params(None), [0], [])], []))
        C.check("removing and replacing release the sessions",
                proc.session_of(0) is None and proc.session_of(1) is None
                and s.rpc_count("ReleaseStates") == 2 and s.metric("astcd_sessions_live") == 0)
        proc.update_state(BatchUpdate(1, [], [(0, p, [0], [3, 15])], []))
        proc.apply(torch.zeros(1, MODEL_VOCAB))
        C.check("a request added with output starts after it",
                proc.session_of(0).num_tokens == 2)
        proc.close()
        C.check("close() releases the rest", s.metric("astcd_sessions_live") == 0)


def validation() -> None:
    v = ASTCDVLLMLogitsProcessor.validate_params
    ok = params({"server": "h:1", "prefix": [3, 11], "start": "block", "arity": 2,
                 "max_len": 64, "config": {"allow_loops": True}})
    C.check("good settings pass validate_params", v(ok) is None)
    C.check("requests without the key pass", v(params(None)) is None
            and v(types.SimpleNamespace(extra_args=None)) is None
            and v(types.SimpleNamespace()) is None)
    C.check("settings as a JSON string pass",
            v(params(json.dumps({"server": "h:1", "prefix": "def func(a):"}))) is None)
    for name, bad, words in (
            ("no server", {"start": "function"}, "server"),
            ("a server without a port", {"server": "localhost"}, "host:port"),
            ("an unknown key", {"server": "h:1", "temperature": 1}, "unknown keys"),
            ("a bad start", {"server": "h:1", "start": "class"}, "start"),
            ("max_len 0", {"server": "h:1", "max_len": 0}, "max_len"),
            ("max_len as a string", {"server": "h:1", "max_len": "64"}, "max_len"),
            ("a negative arity", {"server": "h:1", "arity": -1}, "arity"),
            ("float prefix tokens", {"server": "h:1", "prefix": [3.5]}, "prefix"),
            ("a config that is not an object", {"server": "h:1", "config": [1]}, "config"),
            ("settings that are a list", [1, 2], "object"),
            ("a string that is not JSON", "{server", "JSON")):
        C.raises(f"validate_params refuses {name}", ValueError, lambda b=bad: v(params(b)),
                 words)
    C.check("is_argmax_invariant is False",
            ASTCDVLLMLogitsProcessor(None, "cpu", False).is_argmax_invariant() is False)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: vllm_test.py ASTCD_SERVER_BINARY")
    C.run("validation", validation)
    C.run("protocol edges", lambda: protocol_edges(sys.argv[1]))
    C.run("replay", lambda: replay(sys.argv[1]))
    C.exit()


if __name__ == "__main__":
    main()
