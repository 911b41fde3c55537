"""What the Hugging Face and vLLM logits processors share: one astcd session per constrained
sequence ("row"), created, advanced and released in batches, and the masking of a logits batch
with the rows' next-token masks.

Batching rule: one InitStates per (client, config) for new rows, and one Advance with
return_masks per (client, config) per token position (the server refuses a batch that mixes
vocabularies, and a config fixes the vocabulary); a row that has taken <eos> takes no more
tokens and allows only <eos> and <pad>.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Hashable, List, Optional, Sequence, Tuple, TypeVar

from .._optional import require
from ..torch import apply_token_bitmask_

STARTS = ("module", "function", "block", "expr")

T = TypeVar("T")


def config_key(config: Optional[Dict[str, Any]]) -> str:
    """A hashable key for a config dict (equal configs, equal keys)."""
    return json.dumps(config or {}, sort_keys=True, default=list)


def group_by(items: Sequence[T], key) -> List[List[T]]:
    """Items grouped by key(item), groups in first-seen order, items in input order."""
    groups: Dict[Hashable, List[T]] = {}
    for it in items:
        groups.setdefault(key(it), []).append(it)
    return list(groups.values())


def check_start(start: Any, what: str = "start") -> str:
    if start not in STARTS:
        raise ValueError(f"{what} must be one of {', '.join(STARTS)}, not {start!r}")
    return start


def check_max_len(max_len: Any, what: str = "max_len") -> int:
    if isinstance(max_len, bool) or not isinstance(max_len, int) or not 1 <= max_len <= 65536:
        raise ValueError(f"{what} must be an int in 1..65536, not {max_len!r}")
    return max_len


def check_arity(arity: Any, what: str = "arity") -> Optional[int]:
    if arity is not None and (isinstance(arity, bool) or not isinstance(arity, int) or arity < 0):
        raise ValueError(f"{what} must be None or an int >= 0, not {arity!r}")
    return arity


def token_list(tokens: Any, what: str) -> List[int]:
    """Token ids from a list, tuple, numpy array or torch tensor; TypeError otherwise."""
    if hasattr(tokens, "tolist"):
        tokens = tokens.tolist()
    if not isinstance(tokens, (list, tuple)) or not all(
            isinstance(t, int) and not isinstance(t, bool) for t in tokens):
        raise TypeError(f"{what} must be a list of int token ids or a str of Python source")
    return list(tokens)


def prefix_tokens(client: Any, prefix: Any, *, config: Optional[Dict[str, Any]], start: str,
                  arity: Optional[int], max_len: int, what: str = "prompt") -> List[int]:
    """A prefix as astcd token ids: None (empty), token ids, or a str of Python source read
    with Tokenize(partial=True) (ValueError, with the reason, when it is not in the language)."""
    if prefix is None:
        return []
    if isinstance(prefix, str):
        r = client.tokenize([prefix], config=config, start=start, partial=True, arity=arity,
                            max_len=max_len)[0]
        if not r["ok"]:
            raise ValueError(f"{what} is not a prefix of a program in the language: "
                             f"{r['error']}")
        return list(r["tokens"])
    return token_list(prefix, what)


class Vocab:
    """The parts of a vocabulary masking needs, and the mask of a finished row."""

    def __init__(self, info: Dict[str, Any]) -> None:
        torch = require("torch", "the astcd logits processors")
        self.vocab_size: int = int(info["vocab_size"])
        self.pad_id: int = int(info["pad_id"])
        self.eos_id: int = int(info["eos_id"])
        self.words: int = (self.vocab_size + 31) // 32
        finished = [0] * self.words
        for t in (self.pad_id, self.eos_id):
            finished[t // 32] |= 1 << (t % 32)
        # int32 words: a set bit 31 must read as a negative number.
        self.finished = torch.tensor([w - (1 << 32) if w >= 1 << 31 else w for w in finished],
                                     dtype=torch.int32)


class Row:
    """One constrained sequence: its client, how to create its session, the session, and the
    mask of its next token (a [words] int32 tensor)."""

    __slots__ = ("client", "config", "request", "vocab", "session", "mask")

    def __init__(self, client: Any, config: Optional[Dict[str, Any]], vocab: Vocab,
                 start: str, prefix: List[int], max_len: int, arity: Optional[int]) -> None:
        self.client = client
        self.config = config
        self.vocab = vocab
        self.request: Dict[str, Any] = {"start": start, "prefix_tokens": list(prefix),
                                        "max_len": max_len, "arity": arity}
        self.session: Any = None
        self.mask: Any = None

    @property
    def terminated(self) -> bool:
        return self.session is not None and bool(self.session.terminated)

    def next_mask(self):
        # After <eos> the server allows only <pad>; <eos> is allowed too, so a loop that pads
        # finished rows with either id (Hugging Face pads with pad_token_id) keeps working.
        return self.vocab.finished if self.terminated else self.mask


def open_rows(rows: Sequence[Row]) -> None:
    """Creates the sessions of rows that have none: one InitStates, with masks, per
    (client, config)."""
    todo = [r for r in rows if r.session is None]
    for group in group_by(todo, lambda r: (id(r.client), config_key(r.config))):
        sessions, masks = group[0].client.init_states(
            [r.request for r in group], config=group[0].config, return_masks=True, as_="torch")
        for r, s, m in zip(group, sessions, masks):
            r.session, r.mask = s, m


def advance_rows(rows: Sequence[Row], tokens: Sequence[Sequence[int]]) -> int:
    """Row i takes tokens[i], in order: one Advance with return_masks per (client, config)
    per token position, over the rows still open. Tokens after a row's <eos> are not sent (its mask
    allowed only <eos>/<pad>). Returns the number of Advance calls made."""
    calls = 0
    depth = max((len(t) for t in tokens), default=0)
    for k in range(depth):
        live = [(r, int(t[k])) for r, t in zip(rows, tokens) if len(t) > k and not r.terminated]
        for group in group_by(live, lambda rt: (id(rt[0].client), config_key(rt[0].config))):
            grows = [r for r, _ in group]
            _, masks = grows[0].client.advance([r.session for r in grows],
                                               [t for _, t in group], return_masks=True,
                                               as_="torch")
            calls += 1
            for r, m in zip(grows, masks):
                r.mask = m
    return calls


def release_rows(rows: Sequence[Row]) -> None:
    """Frees the rows' sessions: one ReleaseStates per client."""
    opened = [r for r in rows if r.session is not None]
    for group in group_by(opened, lambda r: id(r.client)):
        group[0].client.release([r.session for r in group])
    for r in opened:
        r.session, r.mask = None, None


def mask_logits(logits: Any, rows: Sequence[Row], indices: Optional[Sequence[int]]) -> None:
    """Masks logits in place: row rows[j] masks logits row indices[j] (or j when indices is
    None and the rows cover the batch). One apply_token_bitmask_ per vocabulary size."""
    torch = require("torch", "the astcd logits processors")
    order = list(range(len(rows))) if indices is None else list(indices)
    groups: Dict[int, List[Tuple[int, Row]]] = {}
    for i, r in zip(order, rows):
        groups.setdefault(r.vocab.vocab_size, []).append((i, r))
    for vocab_size, group in groups.items():
        bitmask = torch.stack([r.next_mask() for _, r in group])
        whole = indices is None and len(groups) == 1
        apply_token_bitmask_(logits, bitmask, vocab_size=vocab_size,
                             indices=None if whole else [i for i, _ in group])
