"""A Hugging Face transformers logits processor that keeps generation inside astcd's language.

    from astcd_client.integrations.transformers import ASTCDLogitsProcessor
    proc = ASTCDLogitsProcessor(server="127.0.0.1:50051", start="function", max_len=64)
    out = model.generate(input_ids, logits_processor=LogitsProcessorList([proc]),
                         eos_token_id=proc.eos_token_id, pad_token_id=proc.pad_token_id,
                         max_new_tokens=64)
    proc.close()

The model's token ids must be astcd's (ids 0..V-1 as `client.vocabulary(config)` lists them);
a wider model vocabulary is fine, its extra columns are always masked. This module does not
import transformers: the processor follows the documented LogitsProcessor interface,
`__call__(input_ids: LongTensor[B, L], scores: FloatTensor[B, V']) -> FloatTensor[B, V']`,
so it can be put in a `LogitsProcessorList` or called by any loop that calls processors the
way `generate` does.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Union

from .._optional import require
from ._rows import (Row, Vocab, advance_rows, check_arity, check_max_len, check_start,
                    mask_logits, open_rows, prefix_tokens, release_rows)

__all__ = ["ASTCDLogitsProcessor"]

Prompt = Union[str, Sequence[int]]


class ASTCDLogitsProcessor:
    """Masks each step's scores to the tokens astcd allows next, one session per batch row.

    At the first call it records input_ids.shape[1] and opens one session per row with one
    batched InitStates (with masks), each starting from that row's prompt. At every later call
    it advances the rows that have not yet taken <eos> by the token(s) appended to input_ids
    since the last call, with one batched Advance (with masks) per appended position, and
    masks the scores: -inf for every token astcd does not allow, and for every column >= the
    astcd vocabulary size. After a row's <eos> only <eos> and <pad> are allowed, so `generate`
    can keep padding finished rows with pad_token_id. The input scores are not modified (so
    `generate(output_logits=True)` keeps the raw logits); a masked copy is returned.

    Keyword arguments:
      client: an astcd_client.Client to use (not closed by close()); or
      server: "host:port" of an astcd-server, for a Client this processor owns.
      start: the root, "module", "function" (default), "block" or "expr".
      config: a dict of DecodeConfig fields (None: the default config).
      prompt: the sessions' prefix: None, one prompt for every row, or a list with one per
        row; a prompt is a list of astcd token ids, or a str of Python source read with
        Tokenize(partial=True) (e.g. "def func(a, b):\\n    if a > b:").
      arity: the parameters in scope for "block" and "expr".
      max_len: each session's token budget, prompt and <eos> included (1..65536).

    eos_token_id and pad_token_id are astcd's; pass them to `generate`.

    Not supported: beam search and anything else that reorders, drops or duplicates batch rows
    between calls (group beam search, contrastive search, assisted or speculative decoding
    that rolls tokens back); a changed batch size or a shorter input_ids raises ValueError, a
    reordering is not detected. Use greedy search or sampling. Call reset() (or close())
    between generate calls; the processor is not thread-safe.
    """

    def __init__(self, *, client: Any = None, server: Optional[str] = None,
                 start: str = "function", config: Optional[Dict[str, Any]] = None,
                 prompt: Union[None, Prompt, Sequence[Prompt]] = None,
                 arity: Optional[int] = None, max_len: int = 128) -> None:
        if (client is None) == (server is None):
            raise ValueError("pass exactly one of client= (an astcd_client.Client) and "
                             "server= (host:port)")
        if client is None:
            from .. import Client  # the package's client, imported only when needed
            client = Client(server)
        self._owns_client = server is not None
        self.client = client
        self.start = check_start(start)
        self.config = config
        self.arity = check_arity(arity)
        self.max_len = check_max_len(max_len)
        self.vocab = Vocab(client.vocabulary(config))
        self.vocab_size: int = self.vocab.vocab_size
        self.eos_token_id: int = self.vocab.eos_id
        self.pad_token_id: int = self.vocab.pad_id
        # One prefix for all rows, or one per row (their count is checked at the first call).
        self._per_row = isinstance(prompt, (list, tuple)) and any(
            isinstance(p, (str, list, tuple)) or hasattr(p, "tolist") for p in prompt)
        prompts = list(prompt) if self._per_row else [prompt]
        self._prefixes: List[List[int]] = [
            prefix_tokens(client, p, config=config, start=self.start, arity=self.arity,
                          max_len=self.max_len,
                          what=f"prompt[{i}]" if self._per_row else "prompt")
            for i, p in enumerate(prompts)]
        self._rows: Optional[List[Row]] = None
        self._seen = 0  # input_ids.shape[1] at the last call
        self.advance_calls = 0  # Advance RPCs made since the last reset()

    def prompt_tokens(self, row: int) -> List[int]:
        """The astcd token ids row `row`'s session starts from (its prompt, tokenized)."""
        return list(self._prefixes[row if self._per_row else 0])

    @property
    def sessions(self) -> List[Any]:
        """The rows' sessions (empty before the first call and after reset())."""
        return [r.session for r in self._rows or ()]

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        torch = require("torch", "ASTCDLogitsProcessor")
        if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2 or \
                input_ids.dtype.is_floating_point:
            raise TypeError("input_ids must be an integer tensor [batch, length]")
        if not isinstance(scores, torch.Tensor) or scores.dim() != 2 or \
                scores.shape[0] != input_ids.shape[0]:
            raise TypeError("scores must be a tensor [batch, vocab] with input_ids' batch size")
        batch, length = input_ids.shape
        if self._rows is None:
            self._rows = self._new_rows(batch)
            open_rows(self._rows)
        elif batch != len(self._rows):
            raise ValueError(f"the batch has {batch} rows, but this processor's sessions were "
                             f"made for {len(self._rows)}: reordering or resizing the batch "
                             "(beam search) is not supported; call reset() between generations")
        elif length < self._seen:
            raise ValueError(f"input_ids shrank from {self._seen} to {length} tokens: rolling "
                             "tokens back (assisted decoding) is not supported")
        elif length > self._seen:
            new = input_ids[:, self._seen:].tolist()
            self.advance_calls += advance_rows(self._rows, new)
        self._seen = length
        out = scores.clone()
        mask_logits(out, self._rows, None)
        return out

    def _new_rows(self, batch: int) -> List[Row]:
        if self._per_row and len(self._prefixes) != batch:
            raise ValueError(f"prompt has {len(self._prefixes)} entries but the batch has "
                             f"{batch} rows")
        return [Row(self.client, self.config, self.vocab, self.start,
                    self._prefixes[i if self._per_row else 0], self.max_len, self.arity)
                for i in range(batch)]

    def reset(self) -> None:
        """Releases the sessions (one ReleaseStates); the next call starts a new batch."""
        rows, self._rows, self._seen, self.advance_calls = self._rows, None, 0, 0
        if rows:
            release_rows(rows)

    def close(self) -> None:
        """reset(), then closes the client if this processor made it."""
        try:
            self.reset()
        finally:
            if self._owns_client:
                self.client.close()

    def __enter__(self) -> "ASTCDLogitsProcessor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
