#!/usr/bin/python3
"""Trains the tiny GRU (model.py) on programs that astcd samples through a running server.

    train.py --server 127.0.0.1:50051 --out model.pt [--seed K] [--programs N] [--epochs E]

The programs come from the server's Decode (the weighted sampler, a FUNCTION root, a fixed
seed), so the training data and the vocabulary are the server's own; the checkpoint keeps the
vocabulary fingerprint and the generators refuse a server with another one. Everything is
seeded: the same server, seed and sizes give the same weights.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import nn

import astcd_client
from model import Checkpoint, ModelConfig, TinyGRU, save_checkpoint

IGNORE = -100  # targets past a program's end: no loss


def sample_programs(client: astcd_client.Client, n: int, seed: int,
                    config: Optional[Dict[str, Any]] = None, start: str = "function",
                    max_len: int = 128) -> List[List[int]]:
    """n complete programs (token ids, <eos> included) from the server's weighted sampler."""
    results = client.decode(init_requests=[{"start": start, "max_len": max_len}], config=config,
                            sampler="weighted", seed=seed, n=n)
    ordered = sorted(results, key=lambda r: r["sample_index"])
    if len(ordered) != n or not all(r["complete"] for r in ordered):
        raise RuntimeError("Decode returned missing or incomplete programs")
    return [r["tokens"] for r in ordered]


def make_batch(programs: Sequence[Sequence[int]], bos: int,
               pad: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Inputs [B, T] = BOS + program (pad after), targets [B, T] = program (IGNORE after)."""
    width = max(len(p) for p in programs)
    inputs = torch.full((len(programs), width), pad, dtype=torch.long)
    targets = torch.full((len(programs), width), IGNORE, dtype=torch.long)
    for i, p in enumerate(programs):
        inputs[i, 0] = bos
        inputs[i, 1:len(p)] = torch.tensor(p[:-1])
        targets[i, :len(p)] = torch.tensor(p)
    return inputs, targets


def batches(programs: Sequence[Sequence[int]], batch_size: int,
            generator: torch.Generator) -> Iterator[List[Sequence[int]]]:
    """Batches of programs of similar length (sorted, then cut), in a seeded random order: the
    GRU runs to the longest row, so mixing lengths would waste most of each batch."""
    order = sorted(range(len(programs)), key=lambda i: len(programs[i]))
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    for c in torch.randperm(len(chunks), generator=generator).tolist():
        yield [programs[i] for i in chunks[c]]


def train(model: TinyGRU, programs: Sequence[Sequence[int]], epochs: int, seed: int,
          batch_size: int = 64, lr: float = 1e-2, pad: int = 0) -> List[float]:
    """Teacher-forced cross-entropy with Adam; returns the mean loss per token of each epoch."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss(ignore_index=IGNORE, reduction="sum")
    losses = []
    model.train()
    for _ in range(epochs):
        total, tokens = 0.0, 0
        for group in batches(programs, batch_size, generator):
            inputs, targets = make_batch(group, model.config.bos_id, pad)
            logits, _ = model(inputs)
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
            n = int((targets != IGNORE).sum())
            optimizer.zero_grad()
            (loss / n).backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            total, tokens = total + float(loss), tokens + n
        losses.append(total / tokens)
    model.eval()
    return losses


def train_from_server(client: astcd_client.Client, seed: int = 1, programs: int = 3000,
                      epochs: int = 4, config: Optional[Dict[str, Any]] = None,
                      start: str = "function", max_len: int = 128) -> Checkpoint:
    """Samples the data, trains a fresh model with fixed seeds, and returns its checkpoint."""
    torch.manual_seed(seed)
    vocab = client.vocabulary(config)
    t0 = time.perf_counter()
    data = sample_programs(client, programs, seed, config, start, max_len)
    t1 = time.perf_counter()
    model = TinyGRU(ModelConfig(vocab_size=vocab["vocab_size"]))
    losses = train(model, data, epochs, seed, pad=vocab["pad_id"])
    t2 = time.perf_counter()
    training = {"seed": seed, "programs": programs, "epochs": epochs,
                "tokens": sum(len(p) for p in data), "losses": losses,
                "parameters": model.num_parameters(), "sample_seconds": t1 - t0,
                "train_seconds": t2 - t1, "threads": torch.get_num_threads()}
    return Checkpoint(model, vocab["fingerprint"],
                      {"config": config, "start": start, "max_len": max_len}, training)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", required=True, help="astcd-server address, HOST:PORT")
    ap.add_argument("--out", required=True, help="checkpoint file to write")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--programs", type=int, default=3000)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--config", type=json.loads, default=None,
                    help="DecodeConfig as JSON (default: the server's default config)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1: the model is too small to gain from more, and the "
                         "cores are shared with the server)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    with astcd_client.Client(args.server) as client:
        ckpt = train_from_server(client, args.seed, args.programs, args.epochs, args.config)
    save_checkpoint(args.out, ckpt)
    t = ckpt.training
    print(f"trained {t['parameters']:,} parameters on {t['programs']} programs "
          f"({t['tokens']:,} tokens), {t['epochs']} epochs in {t['train_seconds']:.1f} s "
          f"(sampling {t['sample_seconds']:.2f} s); loss per token by epoch: "
          + ", ".join(f"{x:.3f}" for x in t["losses"])
          + f" (perplexity {math.exp(t['losses'][-1]):.2f}); wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
