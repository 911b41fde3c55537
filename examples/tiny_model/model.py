"""The tiny language model over astcd's token ids, shared by train.py, generate.py and the tests.

A 2-layer GRU. Its input vocabulary is astcd's vocabulary plus one BOS id (= astcd's
vocab_size), which starts every sequence; its output covers the same vocab_size + 1 ids, the
way a real model's head covers its whole embedding table, so the BOS column is a logit the
constraint has to mask like any other token the grammar does not allow.

The GRU's hidden state plays the part of a transformer's KV cache: `step` takes one token per
row and the state, so a generation loop feeds only the newest token, as transformers' and
vLLM's loops do with a cache.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
from torch import nn

CHECKPOINT_FORMAT = "astcd-tiny-gru/1"


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    vocab_size: int  # astcd's vocabulary size; the model has one more id, BOS
    embed: int = 32
    hidden: int = 64
    layers: int = 2

    @property
    def bos_id(self) -> int:
        return self.vocab_size

    @property
    def model_vocab_size(self) -> int:
        return self.vocab_size + 1


class TinyGRU(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.model_vocab_size, config.embed)
        self.gru = nn.GRU(config.embed, config.hidden, config.layers, batch_first=True)
        self.head = nn.Linear(config.hidden, config.model_vocab_size)

    def forward(self, tokens: torch.Tensor,
                state: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """tokens [batch, time] -> logits [batch, time, model_vocab_size], new state."""
        out, state = self.gru(self.embed(tokens), state)
        return self.head(out), state

    def step(self, tokens: torch.Tensor,
             state: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """One decoding step: tokens [batch] -> next-token logits [batch, model_vocab_size]."""
        logits, state = self.forward(tokens.unsqueeze(1), state)
        return logits[:, 0, :], state

    def feed(self, chunks: Sequence[Sequence[int]],
             state: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """One forward pass over a few new tokens per row (at least one each), as a transformer
        takes several tokens at once: a row's chosen token plus the tokens the grammar forced
        after it. Returns the logits after each row's last token and the new state.

        A GRU reads them in order: one step of every row, then steps of only the rows that
        have more (few: forced chains are short), which costs less than packing the batch."""
        logits, state = self.step(torch.tensor([c[0] for c in chunks]), state)
        for t in range(1, max(len(c) for c in chunks)):
            rows = torch.tensor([i for i, c in enumerate(chunks) if len(c) > t])
            more, sub = self.step(torch.tensor([chunks[i][t] for i in rows.tolist()]),
                                  state.index_select(1, rows))
            logits = logits.index_copy(0, rows, more)
            state = state.index_copy(1, rows, sub)
        return logits, state

    def initial_state(self, batch: int) -> torch.Tensor:
        """The state before any token, [layers, batch, hidden] (what nn.GRU starts from)."""
        return torch.zeros(self.config.layers, batch, self.config.hidden)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


@dataclasses.dataclass
class Checkpoint:
    """A trained model and what it was trained against: the vocabulary fingerprint (token ids
    mean nothing on another vocabulary), the astcd config, root and budget, and training
    figures."""
    model: TinyGRU
    fingerprint: str
    astcd: Dict[str, Any]  # {"config": dict or None, "start": str, "max_len": int}
    training: Dict[str, Any]


def save_checkpoint(path: str, ckpt: Checkpoint) -> None:
    torch.save({"format": CHECKPOINT_FORMAT,
                "model_config": dataclasses.asdict(ckpt.model.config),
                "state_dict": ckpt.model.state_dict(),
                "fingerprint": ckpt.fingerprint,
                "astcd": ckpt.astcd,
                "training": ckpt.training}, path)


def load_checkpoint(path: str) -> Checkpoint:
    data = torch.load(path, map_location="cpu")
    if data.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a {CHECKPOINT_FORMAT} checkpoint")
    model = TinyGRU(ModelConfig(**data["model_config"]))
    model.load_state_dict(data["state_dict"])
    model.eval()
    return Checkpoint(model, data["fingerprint"], data["astcd"], data["training"])


def check_vocabulary(ckpt: Checkpoint, vocabulary: Dict[str, Any]) -> None:
    """Refuses a server whose vocabulary (for the checkpoint's config) is not the trained one."""
    if vocabulary["fingerprint"] != ckpt.fingerprint:
        raise ValueError(f"the server's vocabulary {vocabulary['fingerprint']} is not the one "
                         f"the model was trained on ({ckpt.fingerprint})")
    if vocabulary["vocab_size"] != ckpt.model.config.vocab_size:
        raise ValueError("vocabulary size differs from the model's")
