"""A vLLM V1-engine logits processor that keeps constrained requests inside astcd's language.

Interface followed: `vllm.v1.sample.logits_processor.LogitsProcessor` of vLLM's V1 model
runner, as in vllm/v1/sample/logits_processor/interface.py and docs/design/logits_processors.md
of vllm-project/vllm (the V1 interface of vLLM 0.11.1 onwards, which added `validate_params`;
the page for v0.29 is the same; vLLM's Model Runner V2 has another interface, not this one):

- `validate_params(cls, sampling_params)` (classmethod): raise ValueError for bad settings;
- `__init__(vllm_config, device, is_pin_memory)`;
- `update_state(batch_update)`: BatchUpdate(batch_size, removed, added, moved) or None, applied
  in the order removed, added, moved; an added row is (index, SamplingParams, prompt token
  ids, output token ids) where the output list is vLLM's live list of the request's tokens;
  a moved row is (a, b, UNIDIRECTIONAL: a goes to b, emptying a and replacing b; or SWAP);
- `apply(logits [num_reqs, V']) -> logits` (in place), `is_argmax_invariant() -> False`;
- `needs_output_token_ids() -> True` (newer vLLMs: real output ids under async scheduling).

vLLM itself was not installed or run here: tests/client/python/vllm_test.py replays the
documented protocol (adds, removes, UNIDIRECTIONAL and SWAP moves, output lists appended in
place) against the real astcd-server. When vllm is importable, the processor subclasses its
LogitsProcessor and BatchUpdate/MoveDirectionality are vLLM's; otherwise they are this module's
stand-ins of the same shape.

Loading (any of vLLM's ways): `LLM(model=..., logits_processors=[ASTCDVLLMLogitsProcessor])`
or `vllm serve ... --logits-processors astcd_client.integrations.vllm:ASTCDVLLMLogitsProcessor`.
The model's token ids must be astcd's (ids 0..V-1); wider vocabularies are masked past V.

A request opts in with `SamplingParams(extra_args={"astcd": {...}})` (online: `vllm_xargs`,
where the value may be the same object as a JSON string, since vllm_xargs holds flat values):

    {"server": "host:port",          # required: the astcd-server of this request
     "config": {...},                # DecodeConfig fields; default config if absent
     "start": "function",            # module | function | block | expr
     "prefix": [3, 11] or "def func(a, b):\\n    if a > b:",   # token ids or Python source
     "arity": null,                  # block/expr: parameters in scope
     "max_len": 128}                 # session budget, prefix and <eos> included

Rows without the key pass through untouched. What happens per engine step: rows added since
the last step get sessions (one InitStates with masks per (server, config); a request that
already has output tokens, e.g. a resumed one, starts from prefix + those tokens); rows whose
output list grew are advanced by the new tokens with one batched Advance with masks per server
and config per new position (one per server per step in normal decoding when its requests
share a config: the server refuses a batch that mixes vocabularies); then every constrained
row's logits are masked. After a row's <eos> only <eos> and <pad> are allowed; tokens after <eos>
are not sent. Removed or replaced rows' sessions are released (one ReleaseStates per server).

Not supported: speculative decoding (vLLM refuses custom logits processors with it); errors
from the server (e.g. a prefix it refuses, or an unreachable server) raise from apply(), which
fails the engine step, so check requests with validate_params. Sessions left open at shutdown
expire by the server's --session-ttl, or call close().
"""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ._rows import (Row, Vocab, advance_rows, check_arity, check_max_len, check_start,
                    config_key, mask_logits, open_rows, prefix_tokens, release_rows, token_list)

try:  # vllm is optional: without it this module still works for tests and other engines
    from vllm.v1.sample.logits_processor import BatchUpdate, MoveDirectionality
    from vllm.v1.sample.logits_processor import LogitsProcessor as _Base
    VLLM_AVAILABLE = True
except ImportError:
    VLLM_AVAILABLE = False
    _Base = object

    class MoveDirectionality(enum.Enum):  # type: ignore[no-redef]
        """vLLM's MoveDirectionality, for use without vLLM."""
        UNIDIRECTIONAL = enum.auto()  # a -> b: a becomes empty, b's request is replaced
        SWAP = enum.auto()            # a <-> b

    @dataclass(frozen=True)
    class BatchUpdate:  # type: ignore[no-redef]
        """vLLM's BatchUpdate, for use without vLLM: removed indices; added (index,
        SamplingParams, prompt token ids, output token ids); moved (a, b, directionality)."""
        batch_size: int
        removed: Sequence[int]
        added: Sequence[Tuple[int, Any, Optional[List[int]], List[int]]]
        moved: Sequence[Tuple[int, int, MoveDirectionality]]

__all__ = ["ASTCDVLLMLogitsProcessor", "AstcdRequestSettings", "BatchUpdate",
           "MoveDirectionality", "EXTRA_ARGS_KEY", "VLLM_AVAILABLE", "parse_settings"]

EXTRA_ARGS_KEY = "astcd"
_KEYS = {"server", "config", "start", "prefix", "arity", "max_len"}


@dataclass(frozen=True)
class AstcdRequestSettings:
    """One request's settings, from SamplingParams.extra_args["astcd"]."""
    server: str
    config: Optional[Dict[str, Any]] = None
    start: str = "function"
    prefix: Union[None, str, Tuple[int, ...]] = None
    arity: Optional[int] = None
    max_len: int = 128


def parse_settings(extra_args: Any) -> Optional[AstcdRequestSettings]:
    """The astcd settings in a request's extra_args, or None when it has none. Raises
    ValueError naming the field at fault."""
    if not extra_args or EXTRA_ARGS_KEY not in extra_args:
        return None
    raw = extra_args[EXTRA_ARGS_KEY]
    where = f"extra_args[{EXTRA_ARGS_KEY!r}]"
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as e:
            raise ValueError(f"{where} is a string but not JSON: {e}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be an object (or its JSON), not {type(raw).__name__}")
    unknown = set(raw) - _KEYS
    if unknown:
        raise ValueError(f"{where} has unknown keys {sorted(unknown)}; known: {sorted(_KEYS)}")
    server = raw.get("server")
    if not isinstance(server, str) or ":" not in server:
        raise ValueError(f"{where}['server'] must be a 'host:port' string, not {server!r}")
    config = raw.get("config")
    if config is not None and (not isinstance(config, dict)
                               or not all(isinstance(k, str) for k in config)):
        raise ValueError(f"{where}['config'] must be an object of DecodeConfig fields")
    prefix = raw.get("prefix")
    if prefix is not None and not isinstance(prefix, str):
        try:
            prefix = tuple(token_list(prefix, f"{where}['prefix']"))
        except TypeError as e:
            raise ValueError(str(e)) from None
    return AstcdRequestSettings(
        server=server, config=config,
        start=check_start(raw.get("start", "function"), f"{where}['start']"),
        prefix=prefix, arity=check_arity(raw.get("arity"), f"{where}['arity']"),
        max_len=check_max_len(raw.get("max_len", 128), f"{where}['max_len']"))


class _Request:
    """A constrained row: its settings, vLLM's live output list, how many of those tokens its
    session has taken, and the session's Row (None until the first apply after it was added)."""

    __slots__ = ("settings", "output", "consumed", "row")

    def __init__(self, settings: AstcdRequestSettings, output: List[int]) -> None:
        self.settings = settings
        self.output = output
        self.consumed = 0
        self.row: Optional[Row] = None


class ASTCDVLLMLogitsProcessor(_Base):  # type: ignore[misc, valid-type]
    """vLLM V1 logits processor for astcd; see the module docstring."""

    @classmethod
    def validate_params(cls, sampling_params: Any) -> None:
        """Raises ValueError when extra_args["astcd"] is malformed (no server is contacted)."""
        parse_settings(getattr(sampling_params, "extra_args", None))

    def __init__(self, vllm_config: Any, device: Any, is_pin_memory: bool) -> None:
        self.device = device
        self._requests: Dict[int, _Request] = {}  # batch index -> constrained request
        self._clients: Dict[str, Any] = {}        # server address -> Client
        self._vocabs: Dict[Tuple[str, str], Vocab] = {}
        self._retired: List[Row] = []             # sessions to release
        self.advance_calls = 0                    # Advance RPCs made (all servers)

    def is_argmax_invariant(self) -> bool:
        """Masking changes which token has the highest logit."""
        return False

    def needs_output_token_ids(self) -> bool:
        """The sessions take the real output ids (async scheduling must not leave -1s)."""
        return True

    # -- batch bookkeeping ---------------------------------------------------------------------

    def update_state(self, batch_update: Optional[BatchUpdate]) -> None:
        if batch_update is None:
            return
        reqs = self._requests
        for index in batch_update.removed:
            self._retire(reqs.pop(index, None))
        for index, params, _prompt_ids, output_ids in batch_update.added:
            self._retire(reqs.pop(index, None))  # an add replaces the request at its index
            settings = parse_settings(getattr(params, "extra_args", None))
            if settings is not None:
                reqs[index] = _Request(settings, output_ids)
        for a, b, direction in batch_update.moved:
            ra, rb = reqs.pop(a, None), reqs.pop(b, None)
            if ra is not None:
                reqs[b] = ra
            if _is_swap(direction):
                if rb is not None:
                    reqs[a] = rb
            else:
                self._retire(rb)  # a one-way move onto b discards b's request
        if self._retired:
            retired, self._retired = self._retired, []
            release_rows(retired)

    def _retire(self, req: Optional[_Request]) -> None:
        if req is not None and req.row is not None:
            self._retired.append(req.row)

    # -- the step ------------------------------------------------------------------------------

    def apply(self, logits: Any) -> Any:
        if not self._requests:
            return logits
        indices = sorted(self._requests)
        if indices[-1] >= logits.shape[0]:
            raise ValueError(f"a constrained request sits at batch index {indices[-1]}, but "
                             f"logits has {logits.shape[0]} rows")
        reqs = [self._requests[i] for i in indices]
        fresh = [r for r in reqs if r.row is None]
        for r in fresh:
            r.row = self._new_row(r)
        open_rows([r.row for r in fresh])
        grown = [r for r in reqs if len(r.output) > r.consumed]
        new_tokens = [r.output[r.consumed:] for r in grown]
        for r, toks in zip(grown, new_tokens):
            if any(t < 0 for t in toks):
                raise ValueError("an output token id is negative (an async-scheduling "
                                 "placeholder): this vLLM does not call "
                                 "needs_output_token_ids(); disable async scheduling")
        self.advance_calls += advance_rows([r.row for r in grown], new_tokens)
        for r in grown:
            r.consumed = len(r.output)
        mask_logits(logits, [r.row for r in reqs], indices)
        return logits

    def _new_row(self, req: _Request) -> Row:
        s = req.settings
        client = self._clients.get(s.server)
        if client is None:
            from .. import Client  # the package's client, imported only when needed
            client = self._clients[s.server] = Client(s.server)
        vkey = (s.server, config_key(s.config))
        vocab = self._vocabs.get(vkey)
        if vocab is None:
            vocab = self._vocabs[vkey] = Vocab(client.vocabulary(s.config))
        prefix = prefix_tokens(client, s.prefix, config=s.config, start=s.start, arity=s.arity,
                               max_len=s.max_len, what=f"extra_args[{EXTRA_ARGS_KEY!r}]['prefix']")
        # A request added with output already (resumed after preemption) starts after it.
        req.consumed = len(req.output)
        return Row(client, s.config, vocab, s.start, prefix + list(req.output), s.max_len,
                   s.arity)

    # -- introspection and shutdown ------------------------------------------------------------

    def session_of(self, index: int) -> Any:
        """The session of the constrained request at a batch index (None if unconstrained or
        not opened yet)."""
        req = self._requests.get(index)
        return req.row.session if req is not None and req.row is not None else None

    def close(self) -> None:
        """Releases every session and closes the clients."""
        rows = [r.row for r in self._requests.values() if r.row is not None] + self._retired
        self._requests, self._retired = {}, []
        try:
            release_rows(rows)
        finally:
            for c in self._clients.values():
                c.close()
            self._clients = {}


def _is_swap(direction: Any) -> bool:
    # By name, so vLLM's enum and this module's stand-in both work.
    return getattr(direction, "name", direction) == "SWAP"
