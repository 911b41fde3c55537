"""Legal-token masks: the wire layout and conversions.

A mask buffer is row-major [batch, words_per_row] little-endian int32 words; token i is bit
i % 32 of word i / 32 (the XGrammar and llguidance layout).
"""
from __future__ import annotations

import array
import sys
from typing import Any, List, Union

import grpc

from ._optional import require
from .errors import AstcdError

MASK_FORMATS = ("ints", "bytes", "rows", "numpy", "torch", "numpy_bool", "torch_bool")

MaskRow = Union[int, bytes, bytearray, memoryview, Any]


def _row_to_int(row: MaskRow) -> int:
    if isinstance(row, int):
        return row
    if isinstance(row, (bytes, bytearray, memoryview)):
        return int.from_bytes(bytes(row), "little")
    if hasattr(row, "tolist"):  # a numpy or torch row of int32 words
        row = row.tolist()
    value = 0
    for i, w in enumerate(row):
        value |= (int(w) & 0xFFFFFFFF) << (32 * i)
    return value


def mask_to_token_ids(row: MaskRow) -> List[int]:
    """The token ids set in one mask row, ascending: a Python int (bit i = token i), the row's
    little-endian bytes, or a numpy/torch row of int32 words."""
    x = _row_to_int(row)
    if x < 0:
        raise ValueError("a mask row as an int must be non-negative")
    ids = []
    while x:
        low = x & -x
        ids.append(low.bit_length() - 1)
        x ^= low
    return ids


def mask_rows_to_ints(buf: bytes, words_per_row: int) -> List[int]:
    """Splits a row-major [batch, words_per_row] little-endian int32 buffer into Python ints."""
    buf = bytes(buf)
    step = 4 * words_per_row
    if step == 0:
        return []
    if len(buf) % step:
        raise ValueError(f"mask buffer of {len(buf)} bytes is not a whole number of "
                         f"{words_per_row}-word rows")
    return [int.from_bytes(buf[i:i + step], "little") for i in range(0, len(buf), step)]


def _int32_array(buf: bytes) -> array.array:
    a = array.array("i")
    if a.itemsize != 4:  # pragma: no cover - every platform grpcio runs on has a 4-byte int
        a = array.array("l")
        assert a.itemsize == 4, "no 4-byte array typecode"
    a.frombytes(bytes(buf))
    if sys.byteorder == "big":
        a.byteswap()
    return a


def masks_from_bytes(buf: bytes, batch: int, words_per_row: int, as_: str = "ints",
                     vocab_size: Union[int, None] = None) -> Any:
    """Converts a [batch, words_per_row] little-endian int32 mask buffer.

    as_: "ints" (a list of Python ints, bit i = token i), "bytes" (the buffer itself),
    "rows" (a list of per-row bytes), "numpy" (an int32 [batch, words] array viewing the buffer,
    read-only, no copy), "torch" (an int32 [batch, words] tensor), "numpy_bool" / "torch_bool"
    (a bool [batch, vocab_size] array, True where the token is legal).
    """
    buf = bytes(buf) if not isinstance(buf, bytes) else buf
    if len(buf) != 4 * batch * words_per_row:
        raise AstcdError(grpc.StatusCode.INTERNAL,
                         f"mask buffer has {len(buf)} bytes, expected {batch} rows of "
                         f"{words_per_row} int32 words")
    if as_ == "ints":
        return mask_rows_to_ints(buf, words_per_row) if words_per_row else [0] * batch
    if as_ == "bytes":
        return buf
    if as_ == "rows":
        step = 4 * words_per_row
        return [buf[i * step:(i + 1) * step] for i in range(batch)]
    if as_ in ("numpy", "numpy_bool"):
        np = require("numpy")
        words = np.frombuffer(buf, dtype="<i4").reshape(batch, words_per_row)
        if as_ == "numpy":
            return words
        bits = np.unpackbits(words.view(np.uint8).reshape(batch, 4 * words_per_row), axis=1,
                             bitorder="little").astype(bool)
        return bits[:, :vocab_size] if vocab_size is not None else bits
    if as_ in ("torch", "torch_bool"):
        torch = require("torch")
        if batch * words_per_row == 0:
            words = torch.zeros((batch, words_per_row), dtype=torch.int32)
        else:
            words = torch.frombuffer(_int32_array(buf), dtype=torch.int32).reshape(
                batch, words_per_row)
        if as_ == "torch":
            return words
        shifts = torch.arange(32, dtype=torch.int32)
        bits = ((words.unsqueeze(-1) >> shifts) & 1).reshape(batch, 32 * words_per_row).bool()
        return bits[:, :vocab_size] if vocab_size is not None else bits
    raise ValueError(f"as_ must be one of {MASK_FORMATS}, not {as_!r}")
