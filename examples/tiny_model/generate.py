#!/usr/bin/python3
"""Generates programs with the tiny model (model.py) through a running astcd-server.

    generate.py --server 127.0.0.1:50051 --model model.pt [--n 8] [--mode hf|vllm|free|jump]

Each mode is an importable loop, written the way the serving stack it stands for drives a
logits processor (neither transformers nor vLLM is installed here, so the loops are theirs,
re-created step for step):

- hf_generate: transformers' `generate` (`_sample`): scores = processor(input_ids, logits),
  greedy or multinomial, finished rows get pad_token_id, `unfinished_sequences` bookkeeping.
  With no processor it is the same model sampling unconstrained.
- vllm_generate: vLLM V1's persistent batch: requests fill free slots as others finish, the
  batch condenses by moving the last rows into holes, and the processor hears each change as
  a BatchUpdate (removed, added, moved) in update_state before apply, every step.
- jump_forward_generate: the model is called only where the grammar leaves a choice; the
  tokens astcd forces after each choice are fed to the model in the same forward pass.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch

import astcd_client
from model import Checkpoint, TinyGRU, check_vocabulary, load_checkpoint

# transformers' LogitsProcessor signature: (input_ids [B, T], scores [B, V]) -> scores.
Processor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclasses.dataclass
class Generated:
    """One generated program: astcd token ids (<eos> included when reached; no BOS, no pads),
    the decoding step at which its row or request stopped, and how many forward passes of the
    model it took part in."""
    tokens: List[int]
    finished_step: int
    forward_passes: int


def pick(scores: torch.Tensor, temperature: float,
         generator: Optional[torch.Generator]) -> torch.Tensor:
    """Greedy at temperature 0, else a multinomial draw from softmax(scores / temperature)."""
    if temperature == 0:
        return torch.argmax(scores, dim=-1)
    probs = torch.softmax(scores / temperature, dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(1)


def _trim(row: Sequence[int], eos_id: int) -> List[int]:
    """A row's tokens up to and including its first <eos> (what came after it is padding)."""
    row = list(row)
    return row[:row.index(eos_id) + 1] if eos_id in row else row


# ---- (a) transformers -------------------------------------------------------------------------

@torch.no_grad()
def hf_generate(model: TinyGRU, prompts: torch.Tensor, max_new_tokens: int,
                processors: Sequence[Processor] = (), temperature: float = 1.0,
                generator: Optional[torch.Generator] = None, eos_token_id: int = 1,
                pad_token_id: int = 0) -> List[Generated]:
    """transformers' decoding loop (GenerationMixin._sample) over the tiny model.

    prompts: input_ids [B, L], each row BOS and then astcd tokens (see bos_prompts). As in
    `_sample`: every row, finished or not, goes through the processors each step; a finished
    row's next token is replaced by pad_token_id; a row finishes on eos_token_id or at
    max_length (L + max_new_tokens); the loop ends when no row is unfinished. The first pass
    reads the whole prompt and later ones only the newest token, the GRU state standing in for
    the KV cache.
    """
    input_ids = prompts
    batch_size, prompt_len = input_ids.shape
    max_length = prompt_len + max_new_tokens
    unfinished = torch.ones(batch_size, dtype=torch.long)
    finished_step = [0] * batch_size
    logits, state = model(input_ids)
    logits, step = logits[:, -1, :], 0
    while True:
        scores = logits
        for p in processors:
            scores = p(input_ids, scores)
        next_tokens = pick(scores, temperature, generator)
        next_tokens = next_tokens * unfinished + pad_token_id * (1 - unfinished)
        input_ids = torch.cat([input_ids, next_tokens[:, None]], dim=-1)
        done = (next_tokens == eos_token_id) | (input_ids.shape[-1] >= max_length)
        step += 1
        for i in torch.nonzero(unfinished.bool() & done).flatten().tolist():
            finished_step[i] = step
        unfinished = unfinished & ~done
        if unfinished.max() == 0:
            break
        logits, state = model.step(next_tokens, state)
    return [Generated(_trim(input_ids[i, 1:].tolist(), eos_token_id), finished_step[i],
                      finished_step[i]) for i in range(batch_size)]


def bos_prompts(model: TinyGRU, prefixes: Sequence[Sequence[int]]) -> torch.Tensor:
    """input_ids [B, 1 + L]: BOS, then each row's astcd prefix (all of one length L)."""
    rows = [[model.config.bos_id] + list(p) for p in prefixes]
    if len({len(r) for r in rows}) != 1:
        raise ValueError("prompts of one batch must have one length (no left padding here)")
    return torch.tensor(rows, dtype=torch.long)


# ---- (b) vLLM ----------------------------------------------------------------------------------

@dataclasses.dataclass
class RequestParams:
    """The SamplingParams fields this loop reads (vLLM's own class when vllm is importable):
    temperature (0 = greedy), max_tokens, extra_args (where {"astcd": {...}} asks for the
    constraint)."""
    temperature: float = 1.0
    max_tokens: int = 128
    extra_args: Optional[Dict[str, Any]] = None


def sampling_params(**kwargs: Any) -> Any:
    try:
        from vllm import SamplingParams
    except ImportError:
        return RequestParams(**kwargs)
    return SamplingParams(**kwargs)


@dataclasses.dataclass(eq=False)  # requests are compared by identity, like vLLM's
class Request:
    params: Any
    prompt: List[int]
    output: List[int] = dataclasses.field(default_factory=list)  # vLLM's live output list
    finished_step: int = 0


class PersistentBatch:
    """vLLM V1's InputBatch slot bookkeeping with its BatchUpdateBuilder, over the tiny model.

    As in vllm/v1/worker/gpu_input_batch.py and logits_processor/state.py: a finished
    request's slot is recorded as removed; an added request takes the lowest removed slot, or
    the end of the batch; condense() then moves the last requests down into the holes left
    (UNIDIRECTIONAL moves); the logits processors get it all as one BatchUpdate, or None
    when nothing changed. The model's per-slot GRU state moves with its request.
    """

    def __init__(self, model: TinyGRU, max_num_reqs: int, batch_update_cls: Any,
                 unidirectional: Any) -> None:
        self.model = model
        self.slots: List[Optional[Request]] = [None] * max_num_reqs
        self.state = model.initial_state(max_num_reqs)
        self.num_reqs = 0
        self._batch_update_cls, self._unidirectional = batch_update_cls, unidirectional
        self._removed: List[int] = []
        self._added: List[Any] = []
        self._moved: List[Any] = []
        # Over the run. "removed" counts only the holes no add or move filled, as vLLM reports.
        self.totals = {"added": 0, "removed": 0, "moved": 0, "updates": 0}

    def remove(self, req: Request) -> None:
        index = self.slots.index(req)
        self.slots[index] = None
        self._removed.append(index)
        self.num_reqs -= 1

    def add(self, req: Request) -> None:
        index = self._pop_lowest_removed()
        if index is None:
            index = self.num_reqs
        self.slots[index] = req
        self.state[:, index] = 0.0  # a new request starts from the model's initial state
        self.num_reqs += 1
        self._added.append((index, req.params, req.prompt, req.output))

    def _pop_lowest_removed(self) -> Optional[int]:
        if not self._removed:
            return None
        self._removed.sort(reverse=True)
        return self._removed.pop()

    def condense(self) -> None:
        """Fills the holes below num_reqs with the last requests, lowest hole first."""
        self._removed.sort(reverse=True)
        last = self.num_reqs + len(self._removed) - 1
        while self._removed:
            while last in self._removed:
                last -= 1
            hole = self._removed[-1]
            if hole >= last:
                break
            self._removed.pop()
            self.slots[hole], self.slots[last] = self.slots[last], None
            self.state[:, hole] = self.state[:, last]
            self._moved.append((last, hole, self._unidirectional))
            last -= 1

    def batch_update(self) -> Any:
        """The step's BatchUpdate (None if the batch did not change), and a fresh builder."""
        if not (self._removed or self._added or self._moved):
            return None
        update = self._batch_update_cls(batch_size=self.num_reqs, removed=self._removed,
                                        added=self._added, moved=self._moved)
        for key, items in (("added", self._added), ("removed", self._removed),
                           ("moved", self._moved)):
            self.totals[key] += len(items)
        self.totals["updates"] += 1
        self._removed, self._added, self._moved = [], [], []
        return update

    def forward(self) -> torch.Tensor:
        """One model step for slots 0..num_reqs-1: each reads its newest token (the prompt's
        last for a request just added). Returns logits [num_reqs, V']."""
        reqs = self.slots[:self.num_reqs]
        last = torch.tensor([(r.output or r.prompt)[-1] for r in reqs], dtype=torch.long)
        logits, state = self.model.step(last, self.state[:, :self.num_reqs])
        self.state[:, :self.num_reqs] = state
        return logits


@dataclasses.dataclass
class VllmRun:
    programs: List[Generated]  # in request order
    steps: int
    batch_totals: Dict[str, int]  # what the BatchUpdates carried over the run


@torch.no_grad()
def vllm_generate(model: TinyGRU, processor: Any, params: Sequence[Any], max_num_seqs: int,
                  batch_update_cls: Any, unidirectional: Any, eos_token_id: int = 1,
                  generator: Optional[torch.Generator] = None) -> VllmRun:
    """Runs one request per params through vLLM V1's step loop with `processor` (a vLLM
    LogitsProcessor, or None for no constraint) and returns them in request order.

    Each step, as the engine core and the GPU model runner do it: requests that finished last
    step leave the batch, waiting ones fill the free slots, the batch condenses,
    processor.update_state(batch update or None), the model runs on the batch,
    processor.apply(logits), each row samples with its own temperature, the token is appended
    to the request's output list (the list the processor holds), and a request finishes on
    <eos> or at max_tokens.
    """
    requests = [Request(p, [model.config.bos_id]) for p in params]
    waiting, running, finished = list(requests), [], []
    batch = PersistentBatch(model, max_num_seqs, batch_update_cls, unidirectional)
    step = 0
    while waiting or running:
        for r in finished:
            batch.remove(r)
        while waiting and batch.num_reqs < max_num_seqs:
            running.append(waiting.pop(0))
            batch.add(running[-1])
        batch.condense()
        if processor is not None:
            processor.update_state(batch.batch_update())
        logits = batch.forward()
        if processor is not None:
            logits = processor.apply(logits)
        step += 1
        finished = _sample_batch(batch.slots[:batch.num_reqs], logits, step, eos_token_id,
                                 generator)
        running = [r for r in running if r not in finished]
    return VllmRun([Generated(r.output, r.finished_step, r.finished_step) for r in requests],
                   step, batch.totals)


def _sample_batch(reqs: Sequence[Request], logits: torch.Tensor, step: int, eos_token_id: int,
                  generator: Optional[torch.Generator]) -> List[Request]:
    """Samples each row at its request's temperature, appends the token to its output, and
    returns the requests that stop here."""
    done = []
    for j, r in enumerate(reqs):
        token = int(pick(logits[j:j + 1], r.params.temperature, generator)[0])
        r.output.append(token)
        if token == eos_token_id or len(r.output) >= r.params.max_tokens:
            r.finished_step = step
            done.append(r)
    return done


# ---- jump-forward -----------------------------------------------------------------------------

class ConstrainedBatch:
    """Rows decoding through astcd sessions, with or without jump-forward.

    Each step the model reads every stepped row's unread tokens in one forward pass, the
    logits are masked with the row's legal mask, a token is drawn, and one batched Advance
    (with the next masks) takes the chosen tokens. With jump_forward="apply" the server also
    appends the chain the grammar forces next (Session.forced): the model never chooses those
    tokens, and reads them in its next pass together with the chosen one, the way a
    transformer reads several tokens at once.
    """

    def __init__(self, model: TinyGRU, sessions: List[Any], masks: torch.Tensor,
                 vocab_size: int, jump_forward: Optional[str] = None) -> None:
        self.model = model
        self.sessions = sessions
        self.masks = masks.clone()  # rows are overwritten as the batch goes
        self.vocab_size = vocab_size
        self.jump_forward = jump_forward
        self.unread = [[model.config.bos_id] + list(s.forced) for s in sessions]
        self.state = model.initial_state(len(sessions))
        self.passes = [0] * len(sessions)  # forward passes each row took part in

    @classmethod
    def open(cls, model: TinyGRU, client: Any, init: Dict[str, Any], batch_size: int,
             config: Optional[Dict[str, Any]] = None,
             jump_forward: Optional[str] = None) -> "ConstrainedBatch":
        """batch_size fresh sessions from one InitStates (with masks and jump_forward)."""
        sessions, masks = client.init_states([init] * batch_size, config=config,
                                             return_masks=True, as_="torch",
                                             jump_forward=jump_forward)
        return cls(model, sessions, masks, client.vocabulary(config)["vocab_size"],
                   jump_forward)

    def live(self) -> List[int]:
        return [i for i, s in enumerate(self.sessions) if not s.terminated]

    @torch.no_grad()
    def step(self, stepper: Any, rows: List[int], temperature: float = 1.0,
             generator: Optional[torch.Generator] = None,
             clock: Optional[List[Any]] = None) -> None:
        """One decoding step of `rows` over `stepper` (a Client, or a StepStream). With
        `clock`, appends the step's parts in seconds: (forward, mask, draw, Advance)."""
        from astcd_client.torch import apply_token_bitmask_

        every = len(rows) == len(self.sessions)  # no gathers and scatters then
        t0 = time.perf_counter()
        logits, new_state = self.model.feed([self.unread[i] for i in rows],
                                            self.state if every else self.state[:, rows])
        if every:
            self.state = new_state
        else:
            self.state[:, rows] = new_state
        t1 = time.perf_counter()
        apply_token_bitmask_(logits, self.masks if every else self.masks[rows],
                             vocab_size=self.vocab_size)
        t2 = time.perf_counter()
        chosen = pick(logits, temperature, generator)
        t3 = time.perf_counter()
        _, masks = stepper.advance([self.sessions[i] for i in rows], chosen, return_masks=True,
                                   as_="torch", jump_forward=self.jump_forward)
        t4 = time.perf_counter()
        if every:
            self.masks = masks.clone()  # the response's buffer; restart() writes rows into it
        else:
            self.masks[rows] = masks
        for j, i in enumerate(rows):
            self.unread[i] = [int(chosen[j])] + list(self.sessions[i].forced)
            self.passes[i] += 1
        if clock is not None:
            clock.append((t1 - t0, t2 - t1, t3 - t2, t4 - t3))

    def restart(self, client: Any, init: Dict[str, Any], rows: List[int],
                config: Optional[Dict[str, Any]] = None) -> None:
        """Gives `rows` fresh sessions and model state (the old sessions are released)."""
        client.release([self.sessions[i] for i in rows])
        fresh = ConstrainedBatch.open(self.model, client, init, len(rows), config,
                                      self.jump_forward)
        for j, i in enumerate(rows):
            self.sessions[i], self.unread[i] = fresh.sessions[j], fresh.unread[j]
            self.passes[i] = 0
        self.masks[rows] = fresh.masks
        self.state[:, rows] = 0.0


@dataclasses.dataclass
class JumpForwardRun:
    programs: List[Generated]
    forward_passes: int  # batched model calls
    row_passes: int      # sum over rows of the model calls each took part in
    tokens: int          # tokens the programs hold: one model call each without jump-forward


def jump_forward_generate(model: TinyGRU, client: Any, batch_size: int,
                          init: Dict[str, Any], config: Optional[Dict[str, Any]] = None,
                          temperature: float = 1.0, generator: Optional[torch.Generator] = None,
                          stepper: Any = None, jump_forward: Optional[str] = "apply"
                          ) -> JumpForwardRun:
    """Decodes batch_size programs with ConstrainedBatch until every row has taken <eos>.
    jump_forward=None is the same loop with one model call per token. stepper: the Client
    (unary Advance, the default) or a StepStream."""
    batch = ConstrainedBatch.open(model, client, init, batch_size, config, jump_forward)
    steps = 0
    while batch.live():
        batch.step(stepper or client, batch.live(), temperature, generator)
        steps += 1
    client.release(batch.sessions)
    programs = [Generated(list(s.tokens), p, p) for s, p in zip(batch.sessions, batch.passes)]
    return JumpForwardRun(programs, steps, sum(batch.passes),
                          sum(len(s.tokens) for s in batch.sessions))


# ---- the command line -------------------------------------------------------------------------

def run_mode(mode: str, ckpt: Checkpoint, client: Any, server: str, n: int, temperature: float,
             generator: torch.Generator) -> List[Generated]:
    """n programs from one of the loops, with the checkpoint's astcd settings."""
    a = ckpt.astcd
    if mode == "hf":
        from astcd_client.integrations.transformers import ASTCDLogitsProcessor
        with ASTCDLogitsProcessor(client=client, start=a["start"], config=a["config"],
                                  max_len=a["max_len"]) as proc:
            return hf_generate(ckpt.model, bos_prompts(ckpt.model, [[]] * n), a["max_len"],
                               [proc], temperature, generator, proc.eos_token_id,
                               proc.pad_token_id)
    if mode == "free":
        return hf_generate(ckpt.model, bos_prompts(ckpt.model, [[]] * n), a["max_len"], (),
                           temperature, generator)
    if mode == "vllm":
        from astcd_client.integrations import vllm as adapter
        proc = adapter.ASTCDVLLMLogitsProcessor(None, "cpu", False)
        extra = {"astcd": {"server": server, "config": a["config"], "start": a["start"],
                           "max_len": a["max_len"]}}
        params = [sampling_params(temperature=temperature, max_tokens=a["max_len"],
                                  extra_args=extra) for _ in range(n)]
        try:
            return vllm_generate(ckpt.model, proc, params, max(1, n // 2), adapter.BatchUpdate,
                                 adapter.MoveDirectionality.UNIDIRECTIONAL,
                                 generator=generator).programs
        finally:
            proc.close()
    init = {"start": a["start"], "max_len": a["max_len"]}
    return jump_forward_generate(ckpt.model, client, n, init, a["config"], temperature,
                                 generator).programs


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", required=True, help="astcd-server address, HOST:PORT")
    ap.add_argument("--model", required=True, help="checkpoint written by train.py")
    ap.add_argument("--mode", choices=("hf", "vllm", "jump", "free"), default="hf",
                    help="hf: transformers' loop; vllm: vLLM's persistent batch; jump: "
                         "jump-forward; free: no constraint")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--temperature", type=float, default=1.0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ckpt = load_checkpoint(args.model)
    generator = torch.Generator().manual_seed(args.seed)
    with astcd_client.Client(args.server) as client:
        check_vocabulary(ckpt, client.vocabulary(ckpt.astcd["config"]))
        programs = run_mode(args.mode, ckpt, client, args.server, args.n, args.temperature,
                            generator)
        shown = client.detokenize([p.tokens for p in programs], config=ckpt.astcd["config"],
                                  start=ckpt.astcd["start"])
    for p, d in zip(programs, shown):
        print(f"# {len(p.tokens)} tokens, stopped at step {p.finished_step}")
        print(d["source"] if d["ok"] else f"# INVALID: {d['error']}\n# tokens: {p.tokens}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
