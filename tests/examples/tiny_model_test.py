"""The tiny model of examples/tiny_model, trained and decoded through the real astcd-server.

    python3 tiny_model_test.py ASTCD_SERVER_BINARY

Needs astcd_client importable (the venv the CTest fixture makes) and torch. Trains the tiny GRU
with a fixed seed on programs the server samples, then generates with each adapter: the
transformers processor in transformers' `_sample` loop, the vLLM processor in vLLM's persistent
batch, and jump-forward. Every constrained program must be complete, parse under CPython to
the AST our tokens spell (tests/examples/token_ast.py against tests/oracle/cpython_oracle.py),
and run under CPython on random integer inputs without NameError, UnboundLocalError or
TypeError. The same model without the constraint must produce invalid streams. Figures are
printed; no timing is asserted. One line per check; exit status 1 if any fails.
"""
from __future__ import annotations

import math
import os
import random
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
for d in (os.path.join(ROOT, "tests", "client", "python"),  # server_process, integration_util
          os.path.join(ROOT, "tests", "oracle"),            # cpython_oracle
          os.path.join(ROOT, "examples", "tiny_model")):    # model, train, generate
    sys.path.insert(0, d)

import torch  # noqa: E402

import astcd_client  # noqa: E402
import cpython_oracle  # noqa: E402
import generate  # noqa: E402
import train  # noqa: E402
from astcd_client.integrations import vllm as vllm_adapter  # noqa: E402
from astcd_client.integrations.transformers import ASTCDLogitsProcessor  # noqa: E402
from integration_util import Checks  # noqa: E402
from server_process import AstcdServer  # noqa: E402
from token_ast import tokens_to_sexpr  # noqa: E402

C = Checks()
SEED = 7
MAX_LEN = 128
START = "function"


class Fixture:
    """The server, a client, the trained checkpoint and the vocabulary's token names."""

    def __init__(self, server: AstcdServer) -> None:
        self.address = server.address
        self.client = astcd_client.Client(server.address)
        t0 = time.perf_counter()
        self.ckpt = train.train_from_server(self.client, seed=SEED, programs=1500, epochs=3,
                                            start=START, max_len=MAX_LEN)
        self.train_wall = time.perf_counter() - t0
        vocab = self.client.vocabulary()
        self.names = [t["name"] for t in vocab["tokens"]]
        self.eos = vocab["eos_id"]
        self.rng = random.Random(SEED)

    def generator(self, offset: int) -> torch.Generator:
        return torch.Generator().manual_seed(SEED * 1000 + offset)


def program_problem(fx: Fixture, tokens: Sequence[int], shown: Dict[str, Any]) -> Optional[str]:
    """Why a constrained program is not valid, or None."""
    if not tokens or tokens[-1] != fx.eos or len(tokens) > MAX_LEN:
        return f"incomplete or over budget ({len(tokens)} tokens): {list(tokens)}"
    if not shown["ok"]:
        return f"Detokenize refused it: {shown['error']}"
    try:
        ours = cpython_oracle.flat(tokens_to_sexpr(tokens, fx.names))  # CPython's n-ary BoolOp
        theirs = cpython_oracle.our_tree(START, shown["source"], 0)
        if ours != theirs:
            return f"AST differs:\n ours    {ours}\n cpython {theirs}"
        cpython_oracle.run_checks(START, shown["source"], 0, fx.rng)
    except (AssertionError, SyntaxError, ValueError) as e:
        return f"{type(e).__name__}: {e}\n{shown['source']}"
    return None


def check_valid(fx: Fixture, name: str, programs: Sequence[generate.Generated]) -> int:
    """Checks every program; returns how many are valid."""
    shown = fx.client.detokenize([p.tokens for p in programs], start=START)
    problems = [x for x in (program_problem(fx, p.tokens, s) for p, s in zip(programs, shown))
                if x]
    C.check(f"{name}: all {len(programs)} programs complete, CPython parses each to our AST, "
            "and each runs clean on random inputs", not problems,
            f"{len(problems)} bad; first: {problems[:2]}")
    return len(programs) - len(problems)


def finish_steps(programs: Sequence[generate.Generated]) -> List[int]:
    return sorted({p.finished_step for p in programs})


# ---- the checks ---------------------------------------------------------------------------------

def check_training(fx: Fixture) -> None:
    t = fx.ckpt.training
    print(f"figures: training: {t['parameters']:,} parameters, {t['programs']} programs "
          f"({t['tokens']:,} tokens), {t['epochs']} epochs, {t['train_seconds']:.1f} s of "
          f"training (torch threads {t['threads']}), loss per token by epoch "
          + ", ".join(f"{x:.3f}" for x in t["losses"]))
    losses = t["losses"]
    C.check("training lowers the loss", losses[-1] < losses[0], str(losses))
    C.check("the model beats a uniform guess (loss < log V)",
            losses[-1] < math.log(fx.ckpt.model.config.model_vocab_size), str(losses[-1]))
    C.check("the checkpoint keeps the server's vocabulary fingerprint",
            fx.ckpt.fingerprint == fx.client.vocabulary()["fingerprint"])


def hf_batch(fx: Fixture, prefixes: Sequence[Sequence[int]], temperature: float,
             offset: int) -> List[generate.Generated]:
    with ASTCDLogitsProcessor(client=fx.client, start=START, max_len=MAX_LEN,
                              prompt=[list(p) for p in prefixes]) as proc:
        return generate.hf_generate(fx.ckpt.model, generate.bos_prompts(fx.ckpt.model, prefixes),
                                    MAX_LEN, [proc], temperature, fx.generator(offset),
                                    proc.eos_token_id, proc.pad_token_id)


def check_hf(fx: Fixture, tally: Dict[str, List[int]]) -> None:
    sampled = []
    for b in range(4):
        batch = hf_batch(fx, [[]] * 56, 1.0, b)
        C.check(f"transformers batch {b}: rows finish at different steps",
                len(finish_steps(batch)) > 1, str(finish_steps(batch)))
        sampled += batch
    # Greedy, with one-token prompts that pick the arity (def/1, def/2, def/3).
    defs = [i for i, n in enumerate(fx.names) if n.startswith("def/")]
    greedy = hf_batch(fx, [[defs[i % len(defs)]] for i in range(12)], 0.0, 9)
    C.check("transformers greedy: each prompt's rows decode alike",
            all(g.tokens == greedy[i % len(defs)].tokens for i, g in enumerate(greedy)))
    valid = check_valid(fx, "transformers sampling", sampled)
    valid += check_valid(fx, "transformers greedy", greedy)
    tally["transformers"] = [valid, len(sampled) + len(greedy)]


def check_vllm(fx: Fixture, tally: Dict[str, List[int]]) -> None:
    extra = {"astcd": {"server": fx.address, "start": START, "max_len": MAX_LEN}}
    temps = [1.0, 1.0, 0.8, 0.0]  # mixed per request, as vLLM allows; 0 is greedy
    params = [generate.sampling_params(temperature=temps[i % len(temps)], max_tokens=MAX_LEN,
                                       extra_args=extra) for i in range(216)]
    proc = vllm_adapter.ASTCDVLLMLogitsProcessor(None, "cpu", False)
    try:
        run = generate.vllm_generate(fx.ckpt.model, proc, params, 24, vllm_adapter.BatchUpdate,
                                     vllm_adapter.MoveDirectionality.UNIDIRECTIONAL,
                                     fx.eos, fx.generator(20))
    finally:
        proc.close()
    totals = run.batch_totals
    print(f"figures: vLLM loop: {len(params)} requests through 24 slots in {run.steps} steps; "
          f"BatchUpdates {totals}")
    C.check("vLLM: requests finish at different steps", len(finish_steps(run.programs)) > 1)
    C.check("vLLM: the persistent batch added every request and condensed by moves",
            totals["added"] == len(params) and totals["moved"] > 0, str(totals))
    tally["vLLM"] = [check_valid(fx, "vLLM", run.programs), len(run.programs)]


def check_unconstrained(fx: Fixture, tally: Dict[str, List[int]]) -> None:
    free: List[generate.Generated] = []
    for b in range(4):
        free += generate.hf_generate(fx.ckpt.model, generate.bos_prompts(fx.ckpt.model, [[]] * 64),
                                     MAX_LEN, (), 1.0, fx.generator(40 + b), fx.eos)
    shown = fx.client.detokenize([p.tokens for p in free], start=START)
    invalid = sum(1 for p, s in zip(free, shown) if not s["ok"] or p.tokens[-1:] != [fx.eos])
    valid, total = (sum(v[i] for v in tally.values()) for i in (0, 1))
    print(f"figures: valid programs: constrained {valid}/{total} "
          f"({100.0 * valid / max(1, total):.1f}%); the same model unconstrained "
          f"{len(free) - invalid}/{len(free)} "
          f"({100.0 * (len(free) - invalid) / len(free):.1f}%), invalid rate "
          f"{100.0 * invalid / len(free):.1f}%")
    C.check("without the constraint the model produces invalid streams", invalid > 0,
            f"{invalid}/{len(free)}")


def check_jump_forward(fx: Fixture) -> None:
    init = {"start": START, "max_len": MAX_LEN}
    plain = generate.jump_forward_generate(fx.ckpt.model, fx.client, 64, init,
                                           generator=fx.generator(60), jump_forward=None)
    C.check("without jump-forward every token costs a forward pass",
            plain.row_passes == plain.tokens, f"{plain.row_passes} vs {plain.tokens}")
    runs = [generate.jump_forward_generate(fx.ckpt.model, fx.client, 64, init,
                                           generator=fx.generator(61 + b)) for b in range(2)]
    with fx.client.step_stream() as stream:
        runs.append(generate.jump_forward_generate(fx.ckpt.model, fx.client, 64, init,
                                                   generator=fx.generator(63), stepper=stream))
    tokens = sum(r.tokens for r in runs)
    passes = sum(r.row_passes for r in runs)
    steps = sum(r.forward_passes for r in runs)
    print(f"figures: jump-forward over {64 * len(runs)} programs: {tokens} tokens took {passes} "
          f"forward passes per row ({tokens - passes} saved, "
          f"{100.0 * (tokens - passes) / tokens:.1f}%), {steps} batched model calls")
    C.check("jump-forward saves forward passes", passes < tokens, f"{passes} of {tokens}")
    check_valid(fx, "jump-forward", [p for r in runs for p in r.programs])


def main() -> None:
    torch.set_num_threads(1)  # a 50k-parameter model; the server shares the cores
    with AstcdServer(sys.argv[1]) as server:
        fx = Fixture(server)
        C.run("training", lambda: check_training(fx))
        tally: Dict[str, List[int]] = {}  # adapter -> [valid, generated]
        C.run("transformers", lambda: check_hf(fx, tally))
        C.run("vLLM", lambda: check_vllm(fx, tally))
        C.check("at least 200 valid programs from each adapter",
                len(tally) == 2 and min(v[0] for v in tally.values()) >= 200, str(tally))
        C.run("unconstrained", lambda: check_unconstrained(fx, tally))
        C.run("jump-forward", lambda: check_jump_forward(fx))
        fx.client.close()
    C.exit()


if __name__ == "__main__":
    main()
