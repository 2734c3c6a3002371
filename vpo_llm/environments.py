"""Where online responses come from: generation, log-probs and evaluation for one kind of model  (theory §6, §9).

An environment knows its prompts and how to

- ``sample(model, prompts (B,), temperature, top_p, seed)`` → responses: a list of B 1-D token tensors;
- ``logps(model, prompts (B,), responses)`` → (B,) log π(y|x), summed over response tokens;
- ``describe(prompts, responses)`` → what a preference oracle judges (indices or texts);
- ``evaluate(model)`` → a dict of exact metrics where they exist.

``TaskEnvironment`` is the built-in enumerable task (exact J, KL, SubOpt; the policy is the LM
restricted to the response vocabulary, as in ``EnumerableTask``). ``HFEnvironment`` is a
local Hugging Face causal LM with a list of text prompts (``model.generate``; no exact metrics).
Prompts are always integer indices into the environment's prompt list.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from .logprobs import sequence_logps
from .tasks import EnumerableTask

__all__ = ["TaskEnvironment", "HFEnvironment", "filter_top_p"]


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


class HFEnvironment:
    """A local Hugging Face causal LM and its tokenizer, with text prompts (uniform over the list)."""

    def __init__(self, tokenizer, prompts: Sequence[str], *, max_new_tokens: int):
        if not prompts:
            raise ValueError("`prompts` is empty; pass at least one prompt")
        self.tokenizer, self.prompt_texts, self.max_new_tokens = tokenizer, list(prompts), max_new_tokens
        self.prompt_ids = [torch.tensor(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in self.prompt_texts]
        empty = [p for p, ids in zip(self.prompt_texts, self.prompt_ids) if len(ids) == 0]
        if empty:
            raise ValueError(f"prompt {empty[0]!r} tokenizes to nothing; remove empty prompts")
        self.num_prompts = len(self.prompt_texts)
        self.rho = np.full(self.num_prompts, 1.0 / self.num_prompts)
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)

    @torch.no_grad()
    def sample(self, model, prompts: torch.Tensor, *, temperature: float, top_p: float, seed: int) -> list[torch.Tensor]:
        device = next(model.parameters()).device
        rows = [self.prompt_ids[i] for i in prompts.tolist()]
        width = max(len(r) for r in rows)
        ids = torch.stack([torch.cat([torch.full((width - len(r),), self.pad), r]) for r in rows])  # (B, P) left-padded
        attention = torch.stack([torch.cat([torch.zeros(width - len(r), dtype=torch.long), torch.ones(len(r), dtype=torch.long)])
                                 for r in rows])
        with torch.random.fork_rng(devices=[] if device.type == "cpu" else [device]):
            torch.manual_seed(seed)
            out = model.generate(input_ids=ids.to(device), attention_mask=attention.to(device), do_sample=True,
                                 temperature=temperature, top_p=top_p, max_new_tokens=self.max_new_tokens,
                                 pad_token_id=self.pad, eos_token_id=self.tokenizer.eos_token_id)
        responses = []
        for row in out[:, width:].cpu():  # cut each response after its first EOS
            eos = (row == self.tokenizer.eos_token_id).nonzero()
            responses.append(row[: int(eos[0]) + 1] if len(eos) else row)
        return responses

    def logps(self, model, prompts: torch.Tensor, responses: Sequence[torch.Tensor]) -> torch.Tensor:
        device = next(model.parameters()).device
        rows = [torch.cat([self.prompt_ids[i], r]) for i, r in zip(prompts.tolist(), responses)]
        masks = [torch.cat([torch.zeros(len(self.prompt_ids[i])), torch.ones(len(r))]) for i, r in zip(prompts.tolist(), responses)]
        ids = pad_sequence(rows, batch_first=True, padding_value=self.pad)  # (B, T) right-padded
        attention = pad_sequence([torch.ones(len(r)) for r in rows], batch_first=True).long()
        response_mask = pad_sequence(masks, batch_first=True).long()
        return sequence_logps(model, ids.to(device), attention.to(device), response_mask.to(device))

    def describe(self, prompts: torch.Tensor, responses: Sequence[torch.Tensor]):
        texts = [self.tokenizer.decode(r, skip_special_tokens=True) for r in responses]
        return [self.prompt_texts[i] for i in prompts.tolist()], texts

    def evaluate(self, model) -> dict[str, float]:
        return {}  # r* is unknown for a user's model; the oracle's judgments are in the metrics
