"""Client.dataset: `astcd dataset` over the Decode and Run RPCs (docs/dataset.md).

The same rows and summary as the CLI for the same arguments: programs sampled in order, each
run on K seeded input tuples, degenerate ones dropped, the shortest program kept per
behaviour. cli/dataset.h is the reference; this module follows it step for step.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Sequence, Set, Tuple

__all__ = ["DROP_REASONS", "FILTERS", "Dataset", "build", "degenerate", "input_tuples",
           "signature"]

# Why a sample is not a row, in the summary's order; the first three are the filters.
DROP_REASONS = ("all_error", "all_none", "constant", "duplicate")
FILTERS = DROP_REASONS[:3]
CHUNK = 1024  # samples per Decode call, as the CLI; the rows do not depend on it
_M64 = (1 << 64) - 1
_INPUT_STREAM = 1 << 32


def _splitmix64(state: int) -> Tuple[int, int]:
    """(the next output, the new state) of core/sampler.h's Rng."""
    state = (state + 0x9E3779B97F4A7C15) & _M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31), state


def _stream_seed(seed: int, input_index: int, sample_index: int) -> int:
    h, _ = _splitmix64((seed & _M64) ^ 0x6A09E667F3BCC909)
    h, _ = _splitmix64(h ^ input_index)
    h, _ = _splitmix64(h ^ ((sample_index * 0x9E3779B97F4A7C15) & _M64))
    return h


def input_tuples(seed: int, arity: int, count: int = 8,
                 input_range: Tuple[int, int] = (-10, 10)) -> List[List[int]]:
    """The argument tuples every program of `arity` runs on: tuple k's arguments are uniform
    over input_range, drawn in order from SplitMix64(StreamSeed(seed, 2^32 + arity, k))."""
    lo, hi = input_range
    tuples = []
    for k in range(count):
        state = _stream_seed(seed, _INPUT_STREAM + arity, k)
        args = []
        for _ in range(arity):
            out, state = _splitmix64(state)
            args.append(lo + ((out * (hi - lo + 1)) >> 64))
        tuples.append(args)
    return tuples


def signature(arity: int, outputs: Sequence[Dict[str, Any]]) -> str:
    """"arity:" then each run's value repr when ok, else its status, joined by ","."""
    return f"{arity}:" + ",".join(repr(o["value"]) if o["status"] == "ok" else o["status"]
                                  for o in outputs)


def degenerate(outputs: Sequence[Dict[str, Any]]) -> Optional[str]:
    """The filter a behaviour falls under (all_error, all_none, constant), or None."""
    if all(o["status"] != "ok" for o in outputs):
        return "all_error"
    if all(o["status"] == "ok" and o["value"] is None for o in outputs):
        return "all_none"
    first = (outputs[0]["status"], type(outputs[0]["value"]), outputs[0]["value"])
    if all((o["status"], type(o["value"]), o["value"]) == first for o in outputs):
        return "constant"
    return None


class Dataset(NamedTuple):
    """rows: the CLI's JSON objects (source, tokens, inputs, outputs, signature, sample_index,
    and padded_tokens when asked), in order of first appearance; summary: the CLI's summary."""
    rows: List[Dict[str, Any]]
    summary: Dict[str, Any]


class _Deduper:
    def __init__(self, filters: Iterable[str]) -> None:
        self.filters = set(filters)
        self.rows: List[Dict[str, Any]] = []
        self.row_of: Dict[str, int] = {}
        self.degenerate_seen: Set[str] = set()
        self.dropped = dict.fromkeys(DROP_REASONS, 0)
        self.sampled = self.tokens = self.passed = 0

    def offer(self, row: Dict[str, Any]) -> None:
        self.sampled += 1
        self.tokens += len(row["tokens"])
        reason = degenerate(row["outputs"])
        if reason in self.filters:
            self.dropped[reason] += 1
            self.degenerate_seen.add(row["signature"])
            return
        self.passed += 1
        index = self.row_of.setdefault(row["signature"], len(self.rows))
        if index == len(self.rows):
            self.rows.append(row)
            return
        kept = self.rows[index]
        # Shorter wins; of equal length the smaller token list; else the earlier sample stays.
        if (len(row["tokens"]), row["tokens"]) < (len(kept["tokens"]), kept["tokens"]):
            self.rows[index] = row  # the same arity, so the same inputs

    def summary(self, n: int) -> Dict[str, Any]:
        dropped = dict(self.dropped, duplicate=self.passed - len(self.rows))
        return {"sampled": self.sampled, "kept": len(self.rows),
                "unique_behaviours": len(self.rows) + len(self.degenerate_seen),
                "tokens": self.tokens, "dropped": dropped,
                "stopped": "n" if len(self.rows) >= n else "max_samples"}


def build(client: Any, n: int = 1000, *, config: Any = None, start: str = "function",
          arity: Optional[int] = None, sampler: Any = "uniform", seed: int = 0,
          max_len: int = 128, inputs: int = 8, input_range: Tuple[int, int] = (-10, 10),
          max_steps: int = 10_000, max_samples: int = 100_000, keep: Iterable[str] = (),
          padded_tokens: bool = False) -> Dataset:
    """Client.dataset's work, over client.vocabulary, client.decode and client.run."""
    if start not in ("function", "block", "expr"):
        raise ValueError("start: dataset takes function, block or expr (a row is one function)")
    unknown = set(keep) - set(FILTERS)
    if unknown:
        raise ValueError(f"keep: unknown filters {sorted(unknown)}; the filters are {FILTERS}")
    vocab = client.vocabulary(config)
    def_arity = {t["id"]: int(t["name"].split("/")[1]) for t in vocab["tokens"]
                 if t["kind"] == "function"}
    root_arity = None if start == "function" else (
        arity if arity is not None else min(def_arity.values()))
    tuples = {a: input_tuples(seed, a, inputs, input_range) for a in set(def_arity.values())}
    request = {"start": start, "arity": arity, "max_len": max_len}
    dedup = _Deduper(f for f in FILTERS if f not in set(keep))
    for offset in range(0, max_samples, CHUNK):
        results = sorted(client.decode(init_requests=[request], config=config, sampler=sampler,
                                       seed=seed & _M64, n=min(CHUNK, max_samples - offset),
                                       sample_offset=offset),
                         key=lambda r: r["sample_index"])
        for r in results:
            row_arity = root_arity if root_arity is not None else def_arity[r["tokens"][0]]
            outputs = [{"status": o["status"], "value": o["value"]} for o in client.run(
                r["tokens"], tuples[row_arity], config=config, start=start, arity=arity,
                max_steps=max_steps)]
            row = {"source": r["source"], "tokens": r["tokens"], "inputs": tuples[row_arity],
                   "outputs": outputs, "signature": signature(row_arity, outputs),
                   "sample_index": r["sample_index"]}
            if padded_tokens:
                pad = [vocab["pad_id"]] * (max_len - len(r["tokens"]))
                row["padded_tokens"] = r["tokens"] + pad
            dedup.offer(row)
            if len(dedup.rows) >= n:
                return Dataset(dedup.rows, dedup.summary(n))
    return Dataset(dedup.rows, dedup.summary(n))
