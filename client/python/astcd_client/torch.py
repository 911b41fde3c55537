"""Masking torch logits with astcd's packed legal-token bitmasks.

    from astcd_client.torch import apply_token_bitmask_
    sessions, masks = client.advance(sessions, next_ids, return_masks=True, as_="torch")
    apply_token_bitmask_(logits, masks)          # logits[b, t] = -inf where token t is illegal

A bitmask is row-major [rows, ceil(V/32)] little-endian int32 words; token i of a row is bit
i % 32 of word i // 32 (the layout of astcd's responses, XGrammar and llguidance).

Semantics, against XGrammar's `apply_token_bitmask_inplace` (checked in mlc-ai/xgrammar's
python/xgrammar/matcher.py) and vLLM's structured-output kernel:

- A 0 bit sets the logit to -inf; a 1 bit leaves it as it was. The same.
- `vocab_size` (default 32 * words) is the mask's real vocabulary. Columns of a wider model
  vocabulary (>= vocab_size) are set to -inf, because astcd never allows them. XGrammar leaves
  them untouched; llguidance's and outlines-core's kernels mask them, as here.
- `indices`: mask row j applies to logits row indices[j], so a compact mask of the constrained
  rows masks a batch with unconstrained rows in it (vLLM's logits-index mapping). XGrammar's
  `indices` instead names rows of both logits and a full-batch bitmask.

torch is imported when a function here is first called; without it the call raises
OptionalDependencyError (an ImportError) naming Debian's python3-torch.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

from ._optional import require

if TYPE_CHECKING:  # for annotations only: importing this module must not need torch
    import torch as _torch_t

__all__ = ["apply_token_bitmask_", "bitmask_to_bool", "allocate_token_bitmask",
           "bitmask_words"]

BitmaskLike = Union[bytes, bytearray, memoryview, "_torch_t.Tensor", Any]
IndicesLike = Union[Sequence[int], "_torch_t.Tensor", Any]


def _torch():
    return require("torch", "astcd_client.torch")


def bitmask_words(bitmask: BitmaskLike, rows: Optional[int] = None,
                  device: Any = None) -> "_torch_t.Tensor":
    """The bitmask as an int32 [rows, words] tensor on `device` (default: where it is; bytes
    and numpy arrays are on the CPU).

    bitmask: bytes (row-major little-endian int32 words; `rows` then says how many rows the
    buffer holds), a numpy int32 array or an int32 torch tensor, of shape [rows, words] or
    [words] (one row). Raises TypeError for another type or dtype, ValueError for a shape that
    does not fit.
    """
    torch = _torch()
    if isinstance(bitmask, (bytes, bytearray, memoryview)):
        buf = bytes(bitmask)
        if rows is None or rows <= 0:
            raise ValueError("bitmask: a bytes mask needs its row count (rows > 0)")
        if len(buf) == 0 or len(buf) % (4 * rows):
            raise ValueError(f"bitmask: {len(buf)} bytes is not {rows} rows of whole int32 "
                             "words")
        # Assembling words from bytes reads little-endian whatever the host's byte order.
        b = torch.frombuffer(bytearray(buf), dtype=torch.uint8).reshape(rows, -1, 4)
        b = b.to(torch.int32)
        words = b[..., 0] | (b[..., 1] << 8) | (b[..., 2] << 16) | (b[..., 3] << 24)
    elif isinstance(bitmask, torch.Tensor):
        if bitmask.dtype != torch.int32:
            raise TypeError(f"bitmask must be an int32 tensor, not {bitmask.dtype}")
        words = bitmask
    elif type(bitmask).__module__ == "numpy" and hasattr(bitmask, "dtype"):
        np = require("numpy", "numpy bitmasks")
        if bitmask.dtype != np.int32:
            raise TypeError(f"bitmask must be a numpy int32 array, not {bitmask.dtype}")
        # The client's numpy masks view the response buffer read-only; torch wants it writable.
        arr = bitmask if bitmask.flags.writeable else bitmask.copy()
        words = torch.from_numpy(np.ascontiguousarray(arr))
    else:
        raise TypeError("bitmask must be bytes, a numpy int32 array or an int32 torch tensor, "
                        f"not {type(bitmask).__name__}")
    if words.dim() == 1:
        words = words.unsqueeze(0)
    if words.dim() != 2:
        raise ValueError(f"bitmask must be 2-D [rows, words], not {tuple(words.shape)}")
    if words.shape[1] == 0:
        raise ValueError("bitmask has no words per row")
    if rows is not None and words.shape[0] != rows:
        raise ValueError(f"bitmask has {words.shape[0]} rows, expected {rows}")
    return words if device is None else words.to(device, non_blocking=True)


def _unpack(words: "_torch_t.Tensor", n: int) -> "_torch_t.Tensor":
    """bool [rows, n]: bit j of row r (n <= 32 * words)."""
    torch = _torch()
    shifts = torch.arange(32, dtype=torch.int32, device=words.device)
    bits = (words.unsqueeze(-1) >> shifts) & 1  # arithmetic shift; & 1 drops the sign copies
    return bits.reshape(words.shape[0], 32 * words.shape[1])[:, :n].bool()


def bitmask_to_bool(bitmask: BitmaskLike, vocab_size: int, rows: Optional[int] = None,
                    device: Any = None) -> "_torch_t.Tensor":
    """A bool [rows, vocab_size] tensor, True where the token is legal. bitmask as in
    bitmask_words (`rows` is needed for bytes); vocab_size at most 32 * words."""
    words = bitmask_words(bitmask, rows, device)
    vocab_size = _check_vocab_size(vocab_size, words.shape[1])
    return _unpack(words, vocab_size)


def allocate_token_bitmask(batch: int, vocab_size: int, device: Any = "cpu") -> "_torch_t.Tensor":
    """An int32 [batch, ceil(vocab_size / 32)] bitmask with every token legal (all bits set,
    like XGrammar's), to fill row by row."""
    torch = _torch()
    if batch < 0 or vocab_size <= 0:
        raise ValueError(f"allocate_token_bitmask: batch ({batch}) must be >= 0 and "
                         f"vocab_size ({vocab_size}) > 0")
    return torch.full((batch, (vocab_size + 31) // 32), -1, dtype=torch.int32, device=device)


def _check_vocab_size(vocab_size: Any, words_per_row: int) -> int:
    if isinstance(vocab_size, bool) or not hasattr(vocab_size, "__index__"):
        raise TypeError(f"vocab_size must be an int, not {type(vocab_size).__name__}")
    vocab_size = int(vocab_size)
    if not 0 < vocab_size <= 32 * words_per_row:
        raise ValueError(f"vocab_size ({vocab_size}) must be in 1..{32 * words_per_row} for a "
                         f"bitmask of {words_per_row} words per row")
    return vocab_size


def _row_indices(indices: IndicesLike, rows: int, batch: int, device: Any) -> "_torch_t.Tensor":
    torch = _torch()
    if isinstance(indices, torch.Tensor):
        if indices.dtype.is_floating_point or indices.dtype == torch.bool:
            raise TypeError(f"indices must be integers, not {indices.dtype}")
        idx = indices.reshape(-1).to("cpu", torch.long)
    else:
        if hasattr(indices, "tolist"):  # numpy
            indices = indices.tolist()
        try:
            vals = [int(i.__index__()) for i in indices]
        except (AttributeError, TypeError):
            raise TypeError("indices must be a sequence of ints or an integer tensor") from None
        idx = torch.tensor(vals, dtype=torch.long)
    if idx.numel() != rows:
        raise ValueError(f"indices has {idx.numel()} entries but the bitmask has {rows} rows")
    if rows:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= batch:
            raise ValueError(f"indices must be in 0..{batch - 1} (logits rows), got {lo}..{hi}")
        if torch.unique(idx).numel() != rows:
            raise ValueError("indices must be unique")
    return idx.to(device)


def apply_token_bitmask_(logits: "_torch_t.Tensor", bitmask: BitmaskLike,
                         vocab_size: Optional[int] = None,
                         indices: Optional[IndicesLike] = None) -> None:
    """Sets logits to -inf, in place, wherever the packed bitmask has a 0 bit.

    logits: a floating [B, V'] (or [V']) tensor on any device, any float dtype.
    bitmask: bytes, a numpy int32 array or an int32 tensor, [rows, words] (see bitmask_words);
      moved to logits.device once.
    vocab_size: the mask's vocabulary (default 32 * words); logits columns >= vocab_size are
      set to -inf too (a model vocabulary wider than astcd's).
    indices: mask row j applies to logits row indices[j] (unique, in 0..B-1); without it, mask
      row j applies to logits row j and the row counts must be equal.
    Raises TypeError/ValueError naming the argument at fault.
    """
    torch = _torch()
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch tensor, not {type(logits).__name__}")
    if not logits.dtype.is_floating_point:
        raise TypeError(f"logits must be a floating tensor, not {logits.dtype}")
    if logits.dim() == 1:
        logits = logits.unsqueeze(0)  # a view: the in-place fill reaches the caller's tensor
    if logits.dim() != 2:
        raise ValueError(f"logits must be [batch, vocab] (or [vocab]), not {tuple(logits.shape)}")
    batch, width = logits.shape
    if indices is None:
        rows = batch
    else:
        rows = len(indices) if not isinstance(indices, torch.Tensor) else indices.numel()
    words = bitmask_words(bitmask, rows if isinstance(bitmask, (bytes, bytearray, memoryview))
                          else None, logits.device)
    if indices is None and words.shape[0] != batch:
        raise ValueError(f"bitmask has {words.shape[0]} rows but logits has {batch}; pass "
                         "indices to mask a subset of the rows")
    vocab = _check_vocab_size(32 * words.shape[1] if vocab_size is None else vocab_size,
                              words.shape[1])
    n = min(vocab, width)
    # disallowed[r, t]: the mask forbids t, or t is past the mask's vocabulary.
    disallowed = torch.ones((words.shape[0], width), dtype=torch.bool, device=logits.device)
    disallowed[:, :n] = ~_unpack(words, n)
    if indices is None:
        logits.masked_fill_(disallowed, float("-inf"))
        return
    idx = _row_indices(indices, words.shape[0], batch, logits.device)
    if idx.numel():
        logits.index_copy_(0, idx, logits.index_select(0, idx).masked_fill_(disallowed,
                                                                           float("-inf")))
