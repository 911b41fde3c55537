#!/usr/bin/python3
"""Benchmark 7: what the constraint adds to a real model's decoding step (docs/benchmarks.md).

usage: model_step_bench.py --build DIR --out FILE.json [--smoke] [--rounds N] [--rpc-step FILE]

  --build     a build tree holding bench/astcd_bench_server (the real Decoder service and
              bench/rpc's Null service in one process)
  --out       the result, in bench/report.py's shared format
  --smoke     tiny sizes: checks that everything runs; the numbers mean nothing
  --rpc-step  bench/rpc's rpc_step.json of the same run, for its C++ null-RPC floor

Needs torch and astcd_client (run it with the venv's python: bench/run_all.sh does). It trains
examples/tiny_model's GRU through the server, then times decoding steps at batch 1, 16 and 64,
the batch kept full (a row that takes <eos> gets a fresh session between steps, untimed):

  model        the model's own step: one forward pass and a draw, no constraint
  unary null   + the mask and a Python-client Advance against Null.Echo: the same bytes and
               the same client work, and no server work: the floor of any remote constraint
  unary        + Advance with return_masks (the real constraint, unary calls)
  unary+jf     with jump_forward="apply": forced tokens are appended by the server and read
               by the model in its next pass
  stream null, stream, stream+jf   the same over the Step stream (Null.EchoStream for null)

Every step is timed in four parts (forward, mask, draw, RPC); the table gives medians over
steps, then over rounds (the kinds are interleaved, their order rotating every round). Nothing
here asserts a timing; a failed RPC or process fails the run.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import statistics
import sys
import time
import types
import uuid
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "examples", "tiny_model"))

import torch  # noqa: E402

import astcd_client  # noqa: E402
import generate  # noqa: E402
import train  # noqa: E402
from model import TinyGRU  # noqa: E402


def _load_rpc_run() -> types.ModuleType:
    """bench/rpc/run.py, for its Server, BenchError and machine_note."""
    spec = importlib.util.spec_from_file_location("rpc_run", os.path.join(ROOT, "bench", "rpc",
                                                                          "run.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rpc_run = _load_rpc_run()


def log(msg: str) -> None:
    print(f"model_step_bench.py: {msg}", file=sys.stderr, flush=True)

BATCHES = (1, 16, 64)
KINDS = ("model", "unary null", "unary", "unary+jf", "stream null", "stream", "stream+jf")
INIT = {"start": "function", "max_len": 128}
# Per-step parts as ConstrainedBatch.step's clock records them, in seconds.
Parts = Tuple[float, float, float, float]  # forward, mask, draw, RPC


def null_client(address: str) -> astcd_client.Client:
    """A Client whose Advance and Step go to Null.Echo and Null.EchoStream: the request, the
    response and the client's work are those of a real Advance; the server does none."""
    client = astcd_client.Client(address)
    pb2 = client.pb2
    client.stub = types.SimpleNamespace(
        Advance=client.channel.unary_unary(
            "/astcd.bench.v1.Null/Echo", request_serializer=pb2.AdvanceRequest.SerializeToString,
            response_deserializer=pb2.AdvanceResponse.FromString),
        Step=client.channel.stream_stream(
            "/astcd.bench.v1.Null/EchoStream",
            request_serializer=pb2.StepRequest.SerializeToString,
            response_deserializer=pb2.StepResponse.FromString))
    return client


@torch.no_grad()
def model_steps(model: TinyGRU, batch: int, steps: int, generator: torch.Generator) -> List[Parts]:
    """The model alone: each step one forward pass over the newest tokens and a draw."""
    tokens = torch.full((batch,), model.config.bos_id, dtype=torch.long)
    state = model.initial_state(batch)
    parts = []
    for _ in range(steps):
        t0 = time.perf_counter()
        logits, state = model.step(tokens, state)
        t1 = time.perf_counter()
        tokens = generate.pick(logits, 1.0, generator)
        parts.append((t1 - t0, 0.0, time.perf_counter() - t1, 0.0))
    return parts


class Measurement:
    """One (batch, kind) measured in one round: per-step parts, and the tokens the rows took."""

    def __init__(self, parts: List[Parts], row_steps: int = 0, tokens: int = 0) -> None:
        self.parts = parts
        self.row_steps = row_steps
        self.tokens = tokens


def constrained_steps(batch: generate.ConstrainedBatch, stepper: Any, steps: int,
                      refill: Optional[Callable[[List[int]], None]],
                      generator: torch.Generator) -> Measurement:
    """steps timed steps of every row; rows that finished are refilled between steps."""
    parts: List[Any] = []
    rows = list(range(len(batch.sessions)))
    tokens = 0
    for _ in range(steps):
        batch.step(stepper, rows, 1.0, generator, parts)
        tokens += sum(1 + len(batch.sessions[i].forced) for i in rows)  # chosen + forced
        done = [i for i in rows if batch.sessions[i].terminated]
        if done and refill is not None:
            refill(done)
    return Measurement(parts, steps * len(rows), tokens)


def run_kind(kind: str, batch: int, steps: int, env: "Env") -> Measurement:
    """One measurement (after a few untimed warm-up steps)."""
    gen = torch.Generator().manual_seed(batch)
    if kind == "model":
        model_steps(env.model, batch, 5, gen)
        return Measurement(model_steps(env.model, batch, steps, gen))
    stream = kind.startswith("stream")
    if kind.endswith("null"):
        ids = [astcd_client.Session(uuid.uuid4().hex) for _ in range(batch)]
        masks = torch.full((batch, env.words), -1, dtype=torch.int32)  # every token legal
        nb = generate.ConstrainedBatch(env.model, ids, masks, env.vocab_size)
        return _stepped(nb, env.null, steps, None, gen, stream)
    jf = "apply" if kind.endswith("+jf") else None
    client = env.client
    cb = generate.ConstrainedBatch.open(env.model, client, INIT, batch, jump_forward=jf)
    try:
        return _stepped(cb, client, steps, lambda rows: cb.restart(client, INIT, rows), gen,
                        stream)
    finally:
        client.release(cb.sessions)


def _stepped(batch: generate.ConstrainedBatch, client: Any, steps: int,
             refill: Optional[Callable[[List[int]], None]], gen: torch.Generator,
             stream: bool = False) -> Measurement:
    if not stream:
        constrained_steps(batch, client, 5, refill, gen)
        return constrained_steps(batch, client, steps, refill, gen)
    with client.step_stream() as s:
        constrained_steps(batch, s, 5, refill, gen)
        return constrained_steps(batch, s, steps, refill, gen)


class Env:
    def __init__(self, model: TinyGRU, client: astcd_client.Client,
                 null: astcd_client.Client) -> None:
        self.model = model
        self.client = client
        self.null = null
        self.vocab_size = client.vocabulary()["vocab_size"]
        self.words = (self.vocab_size + 31) // 32


# ---- the result --------------------------------------------------------------------------------

def p50(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else 0.0


def summary(ms: List[Measurement]) -> Dict[str, float]:
    """Medians over rounds of per-round medians over steps, in µs; token counts summed."""
    def med(f: Callable[[Parts], float]) -> float:
        return 1e6 * p50([p50([f(p) for p in m.parts]) for m in ms])
    row_steps = sum(m.row_steps for m in ms)
    tokens = sum(m.tokens for m in ms)
    return {"step": med(lambda p: sum(p)), "forward": med(lambda p: p[0]),
            "mask": med(lambda p: p[1]), "draw": med(lambda p: p[2]), "rpc": med(lambda p: p[3]),
            "added": med(lambda p: p[1] + p[3]), "row_steps": row_steps, "tokens": tokens,
            "tokens_per_row_step": tokens / row_steps if row_steps else 1.0}


def cpp_null_floor(path: Optional[str]) -> Dict[Tuple[str, int], float]:
    """bench/rpc's null p50 (µs) at concurrency 1, by (transport, batch), if it ran."""
    if not path or not os.path.exists(path):
        return {}
    with open(path) as f:
        table = json.load(f)["tables"][0]
    cols = table["columns"]
    t, b, c, n = (cols.index(x) for x in ("transport", "batch", "concurrency", "null p50"))
    return {(row[t], row[b]): row[n] for row in table["rows"] if row[c] == 1}


CPP_TRANSPORTS = {"unary": "unary", "stream": "Step stream"}  # rpc_step.json's names


def tables(s: Dict[Tuple[int, str], Dict[str, float]],
           cpp: Dict[Tuple[str, int], float]) -> List[Dict[str, Any]]:
    step_rows = []
    for b in BATCHES:
        model = s[(b, "model")]
        for kind in KINDS:
            r = s[(b, kind)]
            transport = "stream" if kind.startswith("stream") else "unary"
            floor = s[(b, transport + " null")]["rpc"]
            step_rows.append([
                b, kind, r["step"], r["forward"], r["mask"] + r["draw"], r["rpc"],
                r["step"] - model["step"] if kind != "model" else 0.0,
                r["added"] if kind != "model" else 0.0,
                r["rpc"] / floor if kind != "model" and "null" not in kind else "—",
                cpp.get((CPP_TRANSPORTS[transport], b), "—") if kind != "model" else "—"])
    jf_rows = []
    for b in BATCHES:
        for transport in ("unary", "stream"):
            plain, jf = s[(b, transport)], s[(b, transport + "+jf")]
            saved = jf["tokens"] - jf["row_steps"]
            jf_rows.append([b, transport, jf["row_steps"], jf["tokens"], saved,
                            100.0 * saved / jf["tokens"] if jf["tokens"] else 0.0,
                            plain["step"], jf["step"],
                            plain["step"] / plain["tokens_per_row_step"],
                            jf["step"] / jf["tokens_per_row_step"]])
    return [
        {"caption": "Per decoding step at a constant batch; µs; medians over steps, then over "
                    "rounds. 'step vs model' = this step's median less the model's own; "
                    "'mask + RPC' = the constraint's own parts of the same steps; 'RPC / null' = "
                    "this RPC's median over the null RPC's (same bytes, no server work)",
         "columns": ["batch", "kind", "step p50", "forward p50", "mask + draw p50", "RPC p50",
                     "step vs model", "mask + RPC p50", "RPC / null", "C++ null p50 (bench 3)"],
         "rows": step_rows},
        {"caption": "Jump-forward: forward passes saved over the same steps (row-steps = "
                    "forward passes each row took part in; tokens = tokens the rows took); "
                    "µs per token = step median / tokens per row-step",
         "columns": ["batch", "transport", "row-steps", "tokens", "passes saved", "% saved",
                     "step p50, no jf", "step p50, jf", "µs/token, no jf", "µs/token, jf"],
         "rows": jf_rows},
    ]


def notes(train_info: Dict[str, Any], rounds: int, steps: Dict[int, int],
          build_type: str) -> List[str]:
    return [
        f"The model is examples/tiny_model's 2-layer GRU ({train_info['parameters']:,} "
        f"parameters), trained in this run through the same server ({train_info['programs']} "
        f"programs, {train_info['epochs']} epochs, loss per token "
        f"{train_info['losses'][-1]:.3f}), on one torch thread, on Debian's torch 1.13 "
        "(reference BLAS). A real model's forward pass is far longer, so the same added time "
        "is a far smaller share of its step; what carries over is the added time itself.",
        "Each step of a constrained kind: the model reads each row's unread tokens (one "
        "forward pass), the row's mask from the last response is applied "
        "(`astcd_client.torch.apply_token_bitmask_`), a token is drawn at temperature 1, and one "
        "batched `Advance` with `return_masks` (as a torch tensor) takes the batch's tokens. "
        "FUNCTION root, default config, `max_len` 128. The batch stays full: a row that takes "
        "`<eos>` gets a fresh session and model state between steps, untimed. "
        f"Steps per measurement: {', '.join(f'batch {b}: {n}' for b, n in steps.items())}, "
        f"after 5 untimed; {rounds} round(s), kinds interleaved, order rotating each round.",
        "The null kinds run the same loop with a `Client` whose `Advance` and `Step` go to "
        "`astcd.bench.v1.Null` (bench/rpc/null.proto) in the same server process: the same "
        "request and response bytes and the same Python client work, none of the server's. "
        "Its RPC time is the floor a remote constraint cannot go below from this client. The "
        "last column is bench/rpc's C++ client against the same null service (concurrency 1; "
        "batch 16 is not in that benchmark): the Python client's own share is the difference.",
        "With jump-forward the server appends the tokens the grammar forces after each chosen "
        "token (`jump_forward=\"apply\"`); the model reads them in its next pass together with "
        "the chosen token, so a row takes more than one token per forward pass. A transformer "
        "reads those tokens in parallel within the pass; this GRU reads them in order (one step "
        "of the batch, then steps of only the rows that have more), so here the pass itself "
        "grows. For these short FUNCTION programs the chains are mostly `<eos>` after a "
        "complete function, `end <eos>` after a full body, and a lone assignable name.",
        "In Python the Step stream can be slower than unary calls, unlike bench 3's C++ "
        "client: the sync `StepStream` puts each request on a queue that gRPC's "
        "request-iterator thread drains, so every step crosses threads twice.",
        f"Server: `astcd_bench_server` of a {build_type} build. " + rpc_run.machine_note(rounds),
    ]


def findings(s: Dict[Tuple[int, str], Dict[str, float]],
             cpp: Dict[Tuple[str, int], float]) -> List[str]:
    """The run's headline, from its own figures."""
    parts = []
    for b in BATCHES:
        model, unary, null = s[(b, "model")], s[(b, "unary")], s[(b, "unary null")]
        jf = s[(b, "unary+jf")]
        saved = jf["tokens"] - jf["row_steps"]
        parts.append(
            f"batch {b}: the model's own step {model['step']:,.0f} µs; the constraint's parts "
            f"(mask + unary Advance) {unary['added']:,.0f} µs against {null['added']:,.0f} µs "
            f"for the same parts against the null service; the step as a whole "
            f"{unary['step']:,.0f} µs ({unary['step'] / model['step']:.1f}x the model's); "
            f"jump-forward saved {saved:,} of {jf['tokens']:,} forward passes "
            f"({100.0 * saved / max(1, jf['tokens']):.1f}%)")
    out = ["**In this run** (medians): " + "; ".join(parts) + "."]
    if ("unary", 1) in cpp:
        out.append(f"At batch 1 this Python client's null unary RPC takes "
                   f"{s[(1, 'unary null')]['rpc']:,.0f} µs and bench 3's C++ client's "
                   f"{cpp[('unary', 1)]:,.0f} µs: the client's own work, not the server's, is "
                   "most of the constraint's cost from Python.")
    return out


def build_type(build: str) -> str:
    """CMAKE_BUILD_TYPE of a build tree, from its CMakeCache.txt."""
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_BUILD_TYPE:"):
                    # Empty means the top-level CMakeLists.txt's default.
                    return line.split("=", 1)[1].strip() or "RelWithDebInfo"
    except OSError:
        pass
    return "unknown"


# ---- main --------------------------------------------------------------------------------------

def measure(env: Env, rounds: int,
            steps: Dict[int, int]) -> Dict[Tuple[int, str], Dict[str, float]]:
    got: Dict[Tuple[int, str], List[Measurement]] = {}
    for r in range(rounds):
        for b in BATCHES:
            order = KINDS[r % len(KINDS):] + KINDS[:r % len(KINDS)]
            for kind in order:
                got.setdefault((b, kind), []).append(run_kind(kind, b, steps[b], env))
        log(f"round {r + 1}/{rounds} done")
    return {key: summary(ms) for key, ms in got.items()}


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--rpc-step")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, rpc_run.on_sigterm)  # unwinds, so the server is stopped
    torch.set_num_threads(1)
    rounds = args.rounds or (1 if args.smoke else 3)
    steps = {b: (10 if args.smoke else 300) for b in BATCHES}
    server_bin = os.path.join(os.path.abspath(args.build), "bench", "astcd_bench_server")
    log_path = os.path.splitext(os.path.abspath(args.out))[0] + "-server.log"
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    try:
        with rpc_run.Server([server_bin, "--listen", "127.0.0.1:0", "--metrics-listen",
                             "127.0.0.1:0"], log_path, "astcd_bench_server") as server:
            with astcd_client.Client(server.target) as client, null_client(server.target) as null:
                ckpt = train.train_from_server(client, seed=1,
                                               programs=300 if args.smoke else 3000,
                                               epochs=1 if args.smoke else 4)
                summaries = measure(Env(ckpt.model, client, null), rounds, steps)
    except (rpc_run.BenchError, astcd_client.AstcdError) as e:
        log(f"FAILED: {e}")
        return 1
    cpp = cpp_null_floor(args.rpc_step)
    result = {"name": "model_step",
              "title": "The constraint's cost in a real model's decoding step",
              "tables": tables(summaries, cpp),
              "ratios": [],
              "notes": findings(summaries, cpp) + notes(ckpt.training, rounds, steps,
                                                        build_type(args.build))}
    if args.smoke:
        result["notes"].insert(0, "**Smoke run**: tiny sizes; the numbers mean nothing.")
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1, ensure_ascii=False)
        f.write("\n")
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
