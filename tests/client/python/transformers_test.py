"""ASTCDLogitsProcessor driven the way Hugging Face `generate` drives logits processors, with a
real (untrained, seeded) torch model and the real astcd-server.

    python3 transformers_test.py ASTCD_SERVER_BINARY

transformers itself is not installed here, so `hf_generate` below restates the loop of
GenerationMixin._sample: processors called in list order on (input_ids, float32 copy of the
last logits), greedy argmax or torch.multinomial over softmax, finished rows overwritten with
pad_token_id via unfinished_sequences, EOS and max-length stopping criteria. One line per
check; exit status 1 if any fails.
"""
from __future__ import annotations

import ast
import os
import sys
from typing import Callable, List, Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # server_process, integration_util
from integration_util import Checks, MeteredServer, tiny_lm  # noqa: E402

import torch  # noqa: E402

import astcd_client  # noqa: E402
from astcd_client import mask_to_token_ids  # noqa: E402
from astcd_client.integrations.transformers import ASTCDLogitsProcessor  # noqa: E402

C = Checks()
EXTRA_COLUMNS = 7  # the model's vocabulary is wider than astcd's


class Temperature:
    """A second processor in the list, as HF's TemperatureLogitsWarper would be."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return scores / self.t


class Audit:
    """Placed after the astcd processor: checks each step's finite columns against the server's
    own masks (LegalMasks, not Advance) and that the processor left its input untouched."""

    def __init__(self, proc: ASTCDLogitsProcessor) -> None:
        self.proc = proc
        self.steps = 0
        self.bad: List[str] = []

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        self.steps += 1
        p = self.proc
        legal = p.client.legal_masks(p.sessions)
        for b, (s, m) in enumerate(zip(p.sessions, legal)):
            want = {p.pad_token_id, p.eos_token_id} if s.terminated else set(mask_to_token_ids(m))
            got = set(torch.isfinite(scores[b]).nonzero().flatten().tolist())
            if got != want:
                self.bad.append(f"step {self.steps} row {b}: finite {sorted(got)} != "
                                f"legal {sorted(want)}")
        return scores


def hf_generate(model, input_ids: torch.Tensor, processors: Sequence[Callable], *,
                do_sample: bool, pad_token_id: int, eos_token_id: int, max_length: int,
                generator: torch.Generator, raw_logits: List[torch.Tensor]) -> torch.Tensor:
    batch = input_ids.shape[0]
    unfinished = torch.ones(batch, dtype=torch.long)
    step_input, state = input_ids, None
    with torch.no_grad():
        while True:
            logits, state = model(step_input, state)  # the GRU state plays the KV cache
            next_token_logits = logits.to(copy=True, dtype=torch.float32)
            scores = next_token_logits
            for proc in processors:  # LogitsProcessorList.__call__
                scores = proc(input_ids, scores)
            raw_logits.append(next_token_logits)  # output_logits=True keeps these
            if do_sample:
                probs = torch.nn.functional.softmax(scores, dim=-1)
                next_tokens = torch.multinomial(probs, num_samples=1, generator=generator)
                next_tokens = next_tokens.squeeze(1)
            else:
                next_tokens = torch.argmax(scores, dim=-1)
            next_tokens = next_tokens * unfinished + pad_token_id * (1 - unfinished)
            input_ids = torch.cat([input_ids, next_tokens[:, None]], dim=-1)
            step_input = next_tokens[:, None]
            is_done = torch.isin(input_ids[:, -1], torch.tensor([eos_token_id]))
            if input_ids.shape[1] >= max_length:
                is_done = torch.ones_like(is_done)
            unfinished = unfinished & ~is_done
            if unfinished.max() == 0:
                return input_ids


def generation(server: MeteredServer, client, name: str, *, do_sample: bool, batch: int,
               prompt, model_prompt: List[List[int]], max_len: int, seed: int,
               start: str = "function") -> None:
    """One generate call; checks programs, padding, session bookkeeping and RPC counts."""
    proc = ASTCDLogitsProcessor(client=client, start=start, prompt=prompt, max_len=max_len)
    v = proc.vocab_size
    model = tiny_lm(v + EXTRA_COLUMNS, v + EXTRA_COLUMNS, seed=seed)
    audit = Audit(proc)
    width = max(len(p) for p in model_prompt)
    input_ids = torch.tensor([[proc.pad_token_id] * (width - len(p)) + p for p in model_prompt])
    before = {m: server.rpc_count(m) for m in ("Advance", "InitStates", "ReleaseStates")}
    raw: List[torch.Tensor] = []
    out = hf_generate(model, input_ids, [proc, Temperature(0.8), audit], do_sample=do_sample,
                      pad_token_id=proc.pad_token_id, eos_token_id=proc.eos_token_id,
                      max_length=width + max_len, generator=torch.Generator().manual_seed(seed),
                      raw_logits=raw)
    rpc = {m: server.rpc_count(m) - n for m, n in before.items()}
    steps = out.shape[1] - width
    gen = out[:, width:].tolist()
    prefixes = [proc.prompt_tokens(i) for i in range(batch)]
    C.check(f"{name}: every step's finite logits are the server's legal set", not audit.bad,
            "; ".join(audit.bad[:3]))
    C.check(f"{name}: raw logits were not modified (no -inf)",
            all(bool(torch.isfinite(r).all()) for r in raw))
    eos_at = [g.index(proc.eos_token_id) if proc.eos_token_id in g else -1 for g in gen]
    C.check(f"{name}: every row ends with <eos>", all(e >= 0 for e in eos_at), str(eos_at))
    C.check(f"{name}: finished rows are padded with pad_token_id",
            all(all(t == proc.pad_token_id for t in g[e + 1:]) for g, e in zip(gen, eos_at)))
    C.check(f"{name}: rows finish at different steps", len(set(eos_at)) > 1, str(eos_at))
    programs = [p + g[:e + 1] for p, g, e in zip(prefixes, gen, eos_at)]
    results = client.detokenize(programs, start=start)
    sources = [r["source"] for r in results]
    C.check(f"{name}: every program detokenizes", all(r["ok"] for r in results),
            str([r["error"] for r in results if not r["ok"]]))
    parsed = []
    for src in sources:
        try:
            ast.parse(src)
            parsed.append(True)
        except SyntaxError:
            parsed.append(False)
    C.check(f"{name}: CPython parses every program", all(parsed) and len(parsed) == batch)
    # The token chosen after the last call is never seen by a processor, so a session has
    # taken its row's tokens up to the last step but one.
    C.check(f"{name}: sessions took exactly the tokens the loop appended",
            [s.num_tokens for s in proc.sessions]
            == [len(p) + min(e + 1, steps - 1) for p, e in zip(prefixes, eos_at)])
    C.check(f"{name}: one InitStates for the batch", rpc["InitStates"] == 1, str(rpc))
    C.check(f"{name}: Advance RPCs == steps after the first ({steps - 1})",
            rpc["Advance"] == steps - 1 == proc.advance_calls and audit.steps == steps,
            f"{rpc['Advance']} Advance RPCs, {proc.advance_calls} counted, {steps} steps")
    proc.reset()
    C.check(f"{name}: reset() releases the sessions with one ReleaseStates",
            server.rpc_count("ReleaseStates") - before["ReleaseStates"] == 1
            and proc.sessions == [])
    if sources:
        print(f"     e.g. {sources[0]!r}")


def scenarios(binary: str) -> None:
    with MeteredServer(binary) as server:
        client = astcd_client.Client(server.address)
        try:
            src = "def func(a, b):\n    if a > b:"
            toks = client.tokenize([src], start="function", partial=True)[0]["tokens"]
            generation(server, client, "sampling, batch 6, source prompt", do_sample=True,
                       batch=6, prompt=src, model_prompt=[toks] * 6, max_len=48, seed=1)
            # An untrained greedy model runs to the budget, which counts the prompt: prompts
            # of different lengths make the rows finish at different steps.
            generation(server, client, "greedy, batch 4, prompts of 0-3 tokens",
                       do_sample=False, batch=4, prompt=[[], [3], [2, 15], [3, 11, 40]],
                       model_prompt=[[0], [3], [2, 15], [3, 11, 40]], max_len=24, seed=2)
            per_row = [[3], "def func(a):\n    a = 1", [2, 15]]
            generation(server, client, "sampling, per-row prompts", do_sample=True, batch=3,
                       prompt=per_row, model_prompt=[[3], [2, 5, 40, 47], [2, 15]],
                       max_len=40, seed=3)
            generation(server, client, "sampling, start=module", do_sample=True, batch=5,
                       prompt=None, model_prompt=[[0]] * 5, max_len=40, seed=4, start="module")
            errors(server, client)
        finally:
            client.close()


def errors(server: MeteredServer, client) -> None:
    C.raises("client and server together are refused", ValueError,
             lambda: ASTCDLogitsProcessor(client=client, server=server.address), "exactly one")
    C.raises("neither client nor server is refused", ValueError,
             lambda: ASTCDLogitsProcessor(), "exactly one")
    C.raises("a bad start is refused", ValueError,
             lambda: ASTCDLogitsProcessor(client=client, start="class"), "start")
    C.raises("max_len 0 is refused", ValueError,
             lambda: ASTCDLogitsProcessor(client=client, max_len=0), "max_len")
    C.raises("a prompt outside the language is refused with the reason", ValueError,
             lambda: ASTCDLogitsProcessor(client=client, prompt="def func(a):\n    x = a / 2"),
             "prompt")
    C.raises("float prompt tokens are refused", TypeError,
             lambda: ASTCDLogitsProcessor(client=client, prompt=[3.0]), "prompt")
    scores = torch.zeros(2, 70)
    with ASTCDLogitsProcessor(server=server.address, prompt=[[3], [2]]) as proc:
        C.raises("per-row prompts must match the batch", ValueError,
                 lambda: proc(torch.zeros(3, 1, dtype=torch.long), torch.zeros(3, 70)), "prompt")
        proc(torch.zeros(2, 1, dtype=torch.long), scores)
        C.raises("a resized batch (beam search) is refused", ValueError,
                 lambda: proc(torch.zeros(4, 2, dtype=torch.long), torch.zeros(4, 70)), "batch")
        C.raises("input_ids that shrink are refused", ValueError,
                 lambda: proc(torch.zeros(2, 0, dtype=torch.long), scores), "shrank")
        C.raises("float input_ids are refused", TypeError,
                 lambda: proc(torch.zeros(2, 2), scores), "input_ids")
        C.raises("an illegal token is refused by the server", astcd_client.AstcdError,
                 lambda: proc(torch.tensor([[0, 40], [0, 40]]), scores), "token_ids")
    C.check("the processor made with server= closed its client", proc.sessions == [])


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: transformers_test.py ASTCD_SERVER_BINARY")
    C.run("generation", lambda: scenarios(sys.argv[1]))
    C.exit()


if __name__ == "__main__":
    main()
