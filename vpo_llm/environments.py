"""Where online responses come from: sampling completions from a causal LM  (theory §6, §9).

``sample(model, prompts (B,), temperature, top_p, seed)`` → responses: a list of B 1-D token tensors.
``HFEnvironment`` is a Hugging Face causal LM with a list of text prompts (a user's model, or the built-in task's
adapted tiny Llama): it samples (``generate_completions``) for ``OnlineVPOTrainer``, whose log-probs and metrics are
TRL's. Prompts are integer indices into the environment's prompt list.
"""

from __future__ import annotations

from typing import Sequence

import torch

__all__ = ["HFEnvironment", "generate_completions"]


@torch.no_grad()
def generate_completions(model, prompts: Sequence[Sequence[int]], *, pad: int, eos: int | None, max_new_tokens: int,
                         temperature: float = 1.0, top_p: float = 1.0, keep_eos: bool = True) -> list[list[int]]:
    """One sampled completion per prompt (token ids), from ``model.generate``: prompts left-padded with ``pad``,
    plain sampling at ``temperature`` (top-k off, whatever the model's generation config says; ``top_p`` = 1 off),
    in eval mode, each completion cut after its first ``eos`` (``keep_eos=False``: before it).

    The shared way the trainers draw from π_t and π_ref; seeding is the caller's (torch's global generator).
    """
    width = max(len(p) for p in prompts)
    device = next(model.parameters()).device
    input_ids = torch.tensor([[pad] * (width - len(p)) + list(p) for p in prompts], device=device)  # (B, P)
    attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    was_training = model.training
    model.eval()
    try:
        output = model.generate(input_ids=input_ids, attention_mask=attention, do_sample=True, temperature=temperature,
                                top_k=0, top_p=top_p, max_new_tokens=max_new_tokens, pad_token_id=pad,
                                eos_token_id=eos)
    finally:
        model.train(was_training)
    completions = []
    for row in output[:, width:].tolist():  # (B, ≤ max_new_tokens)
        cut = row.index(eos) + int(keep_eos) if eos is not None and eos in row else len(row)
        completions.append(row[:cut])
    return completions


class HFEnvironment:
    """A local Hugging Face causal LM and its tokenizer, with text prompts (uniform over the list): what
    ``OnlineVPOTrainer`` samples from (``sample``; log-probs and metrics are the trainers')."""

    def __init__(self, tokenizer, prompts: Sequence[str], *, max_new_tokens: int):
        if not prompts:
            raise ValueError("`prompts` is empty; pass at least one prompt")
        self.tokenizer, self.prompt_texts, self.max_new_tokens = tokenizer, list(prompts), max_new_tokens
        self.prompt_ids = [torch.tensor(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in self.prompt_texts]
        empty = [p for p, ids in zip(self.prompt_texts, self.prompt_ids) if len(ids) == 0]
        if empty:
            raise ValueError(f"prompt {empty[0]!r} tokenizes to nothing; remove empty prompts")
        self.num_prompts = len(self.prompt_texts)
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)

    def sample(self, model, prompts: torch.Tensor, *, temperature: float, top_p: float, seed: int) -> list[torch.Tensor]:
        """One completion per prompt index (B,), cut after EOS, drawn with torch's generator seeded at ``seed``."""
        device = next(model.parameters()).device
        with torch.random.fork_rng(devices=[] if device.type == "cpu" else [device]):
            torch.manual_seed(seed)
            completions = generate_completions(model, [self.prompt_ids[i].tolist() for i in prompts.tolist()],
                                               pad=self.pad, eos=self.tokenizer.eos_token_id,
                                               max_new_tokens=self.max_new_tokens, temperature=temperature, top_p=top_p)
        return [torch.tensor(c, dtype=torch.long) for c in completions]
