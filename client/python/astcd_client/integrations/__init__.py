"""Logits processors that keep a model's generation inside astcd's language.

- `astcd_client.integrations.transformers.ASTCDLogitsProcessor`: a Hugging Face transformers
  LogitsProcessor (one session per batch row; for `generate` with greedy search or sampling).
- `astcd_client.integrations.vllm.ASTCDVLLMLogitsProcessor`: a vLLM V1-engine logits processor
  (per-request settings in `SamplingParams.extra_args["astcd"]`).

Both mask with `astcd_client.torch.apply_token_bitmask_`. Neither module imports its framework
until it is imported itself, and this package imports neither.
"""

__all__ = ["transformers", "vllm"]
