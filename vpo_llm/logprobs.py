"""Sequence log-probabilities of responses under a causal LM  (theory §9).

log π(y|x) = Σ_t log π(y_t | x, y_<t), over response tokens only (prompt and padding excluded).
"""

from __future__ import annotations

import inspect

import torch

__all__ = ["sequence_logps", "token_logps"]


def token_logps(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[target] per position, (B, T), without a (B, T, V) log-softmax tensor.

    log p(target) = logit[target] − logsumexp(logits): one gather and one reduction over V.
    """
    picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, T)
    return picked - torch.logsumexp(logits, dim=-1)


def sequence_logps(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    """Σ over response tokens of log π(token | prefix), shape (B,).

    Args:
      model: a causal LM whose ``model(input_ids=..., attention_mask=...).logits`` is (B, T, V).
      input_ids: (B, T) prompt + response tokens, right- or left-padded.
      attention_mask: (B, T) 1 on real tokens, 0 on padding.
      response_mask: (B, T) 1 on the response tokens whose log-probs are summed.
    Position ids are derived from the attention mask (cumsum − 1), so a left-padded sequence
    gets the same positions, and the same log-probs, as the unpadded one.
    """
    for name, tensor in (("input_ids", input_ids), ("attention_mask", attention_mask), ("response_mask", response_mask)):
        if not isinstance(tensor, torch.Tensor) or tensor.ndim != 2:
            raise ValueError(f"`{name}` must be a (B, T) tensor, got {getattr(tensor, 'shape', type(tensor).__name__)}")
    if attention_mask.shape != input_ids.shape or response_mask.shape != input_ids.shape:
        raise ValueError(f"`attention_mask` {tuple(attention_mask.shape)} and `response_mask` "
                         f"{tuple(response_mask.shape)} must match `input_ids` {tuple(input_ids.shape)}")
    if bool((response_mask.bool() & ~attention_mask.bool()).any()):
        raise ValueError("`response_mask` marks a padding position; response tokens must be real tokens")
    if bool(response_mask[:, 0].bool().any()):
        raise ValueError("`response_mask` marks the first position, which has no prefix to predict it from")
    kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
    forward = getattr(model, "module", model).forward  # see through a data-parallel wrapper
    if "position_ids" in inspect.signature(forward).parameters:
        kwargs["position_ids"] = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)  # (B, T)
    logits = model(**kwargs).logits  # (B, T, V)
    # the token at t is predicted by the logits at t − 1
    per_token = token_logps(logits[:, :-1], input_ids[:, 1:])  # (B, T − 1)
    return (per_token * response_mask[:, 1:].to(per_token.dtype)).sum(-1)  # (B,)
