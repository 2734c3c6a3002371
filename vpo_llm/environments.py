"""Where online responses come from: generation, log-probs and evaluation for one kind of model  (theory §6, §9).

An environment knows its prompts and how to

- ``sample(model, prompts (B,), temperature, top_p, seed)`` → responses: a list of B 1-D token tensors;
- ``logps(model, prompts (B,), responses)`` → (B,) log π(y|x), summed over response tokens;
- ``describe(prompts, responses)`` → what a preference oracle judges (indices or texts);
- ``evaluate(model)`` → a dict of exact metrics where they exist.

``TaskEnvironment`` is the built-in enumerable task (exact J, KL, SubOpt; the policy is the LM
restricted to the response vocabulary, as in ``EnumerableTask``), used by the package's own online loop.
``HFEnvironment`` is a local Hugging Face causal LM with a list of text prompts: it only samples
(``generate_completions``), for ``OnlineVPOTrainer``, whose log-probs and metrics are TRL's.
Prompts are always integer indices into the environment's prompt list.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .tasks import EnumerableTask

__all__ = ["TaskEnvironment", "HFEnvironment", "generate_completions", "filter_top_p"]


def filter_top_p(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Nucleus filtering of (B, V) probabilities: keep the smallest top set with mass ≥ top_p, renormalize."""
    if top_p >= 1.0:
        return probs
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    mass_before = sorted_probs.cumsum(-1) - sorted_probs  # mass of the strictly larger tokens
    sorted_probs = torch.where(mass_before < top_p, sorted_probs, torch.zeros_like(sorted_probs))  # first always kept
    kept = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return kept / kept.sum(-1, keepdim=True)


class TaskEnvironment:
    """The built-in enumerable task as an online environment (exact evaluation against π_ref)."""

    def __init__(self, task: EnumerableTask, pi_ref: np.ndarray):
        self.task, self.pi_ref = task, pi_ref
        self.num_prompts = task.config.num_prompts
        self.rho = task.rho
        self.response_length = task.config.response_length

    @torch.no_grad()
    def sample(self, model, prompts: torch.Tensor, *, temperature: float, top_p: float, seed: int) -> list[torch.Tensor]:
        """Autoregressive sampling of L response tokens (softmax over the response vocabulary, as the policy)."""
        V = self.task.config.response_vocab
        generator = torch.Generator().manual_seed(seed)
        device = next(model.parameters()).device
        ids = self.task.prompts[prompts].to(device)  # (B, P)
        for _ in range(self.response_length):
            logits = model(input_ids=ids).logits[:, -1, :V].double()  # (B, V): next response token
            probs = filter_top_p(torch.softmax(logits / temperature, dim=-1), top_p)
            token = torch.multinomial(probs.cpu(), 1, generator=generator).to(device)  # (B, 1)
            ids = torch.cat([ids, token], dim=1)
        return list(ids[:, -self.response_length:].cpu())

    def logps(self, model, prompts: torch.Tensor, responses: Sequence[torch.Tensor]) -> torch.Tensor:
        device = next(model.parameters()).device
        ids = torch.cat([self.task.prompts[prompts.cpu()], torch.stack(list(responses))], dim=1).to(device)  # (B, P+L)
        return self.task.response_logps(model, ids)

    def response_index(self, responses: Sequence[torch.Tensor]) -> np.ndarray:
        """Index of each response in the task's enumeration (base-V digits)."""
        V, L = self.task.config.response_vocab, self.response_length
        digits = torch.stack(list(responses)).numpy()  # (B, L)
        return digits @ (V ** np.arange(L - 1, -1, -1))

    def describe(self, prompts: torch.Tensor, responses: Sequence[torch.Tensor]):
        return prompts.numpy(), self.response_index(responses)

    def evaluate(self, model) -> dict[str, float]:
        return self.task.evaluate(model, self.pi_ref)


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
