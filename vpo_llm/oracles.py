"""Preference oracles for online training: who wins a pair of responses  (theory §3, §6).

One small interface: an oracle is called as ``oracle(prompts, first, second, rng)`` and returns
a (B,) bool array, True where ``first`` is preferred. What ``prompts``/``first``/``second`` are
depends on the environment that generated them (``describe`` of the environment):

- the built-in enumerable task: prompt indices (B,) and response indices (B,) (ints);
- a local Hugging Face model: lists of texts.

Three oracles ship: Bradley–Terry on a known reward table (the built-in task's r⋆), a local
reward model (``AutoModelForSequenceClassification``), and any user callable judging pairs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

from vpo_theory import kernels

__all__ = ["PreferenceOracle", "BradleyTerryOracle", "RewardModelOracle", "CallableOracle", "as_oracle"]


class PreferenceOracle(Protocol):
    def __call__(self, prompts, first, second, rng: np.random.Generator) -> np.ndarray:
        """(B,) bool: True where ``first`` is preferred to ``second`` for its prompt."""


def _bradley_terry_labels(margin: np.ndarray, rng: np.random.Generator, sample: bool) -> np.ndarray:
    """o ~ Bernoulli(σ(r¹ − r²)) (theory §3); ``sample=False``: the deterministic argmax."""
    if not sample:
        return margin > 0
    return kernels.bradley_terry_wins(margin, rng.uniform(size=margin.shape))


class BradleyTerryOracle:
    """Bradley–Terry labels from a known reward table ``reward`` (X, Y): P(first wins) = σ(r(x,y¹) − r(x,y²))."""

    def __init__(self, reward: np.ndarray, *, sample: bool = True):
        reward = np.asarray(reward, dtype=np.float64)
        if reward.ndim != 2 or not np.all(np.isfinite(reward)):
            raise ValueError(f"`reward` must be a finite (X, Y) table, got shape {reward.shape}")
        self.reward, self.sample = reward, sample

    def __call__(self, prompts, first, second, rng: np.random.Generator) -> np.ndarray:
        x, y1, y2 = (np.asarray(a, dtype=np.int64) for a in (prompts, first, second))
        if not (x.shape == y1.shape == y2.shape and x.ndim == 1):
            raise ValueError("BradleyTerryOracle needs prompt and response *indices* of equal length (B,); "
                             "for text pairs use RewardModelOracle or CallableOracle")
        return _bradley_terry_labels(self.reward[x, y1] - self.reward[x, y2], rng, self.sample)


class RewardModelOracle:
    """Labels from a local reward model folder (``AutoModelForSequenceClassification``, one logit).

    The reward model reads text with its own tokenizer and chat template, whatever the policy's are: a response (the
    policy's ids decoded to text by the trainer) is scored as the reward model's rendering of the conversation —
    ``apply_chat_template([user: prompt, assistant: response])`` when its tokenizer has a chat template, else
    prompt ⊕ response — encoded by its tokenizer; the score is its logit. The label is drawn from Bradley–Terry on
    the score difference (``sample=True``) or is the argmax. Nothing is downloaded: ``path`` must be a folder with
    config.json, weights and tokenizer.
    """

    def __init__(self, path: str | Path, *, sample: bool = True, batch_size: int = 16, device: str = "cpu"):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        path = Path(path)
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"`reward_model` {path} is not a Hugging Face model folder (no config.json)")
        self.model = AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True).to(device).eval()
        if self.model.config.num_labels != 1:
            raise ValueError(f"`reward_model` must have one output (num_labels=1), got {self.model.config.num_labels}")
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if self.model.config.pad_token_id is None:
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.sample, self.batch_size, self.device = sample, batch_size, device

    def render(self, prompt: str, response: str) -> str:
        """The text the reward model reads for (prompt, response): its chat template's, or the two joined."""
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template([{"role": "user", "content": prompt},
                                                       {"role": "assistant", "content": response}], tokenize=False)
        return prompt + response

    def scores(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """(B,) the reward model's score of each response to its prompt (its own tokenizer and template)."""
        import torch

        texts = [self.render(p, r) for p, r in zip(prompts, responses)]
        out = []
        with torch.no_grad():
            for i in range(0, len(texts), self.batch_size):
                encoded = self.tokenizer(texts[i:i + self.batch_size], return_tensors="pt", padding=True)
                logits = self.model(**{k: v.to(self.device) for k, v in encoded.items()}).logits  # (b, 1)
                out.append(logits[:, 0].double().cpu().numpy())
        return np.concatenate(out)

    def __call__(self, prompts, first, second, rng: np.random.Generator) -> np.ndarray:
        if not all(isinstance(t, str) for t in list(prompts) + list(first) + list(second)):
            raise TypeError("RewardModelOracle judges texts; use it with a local model (the built-in task has "
                            "BradleyTerryOracle)")
        margin = self.scores(prompts, first) - self.scores(prompts, second)
        return _bradley_terry_labels(margin, rng, self.sample)


class CallableOracle:
    """Any user function ``judge(prompts, first, second) -> (B,) bools`` (True: first preferred)."""

    def __init__(self, judge: Callable):
        if not callable(judge):
            raise TypeError(f"`judge` must be callable, got {type(judge).__name__}")
        self.judge = judge

    def __call__(self, prompts, first, second, rng: np.random.Generator) -> np.ndarray:
        labels = np.asarray(self.judge(prompts, first, second))
        if labels.shape != (len(first),):
            raise ValueError(f"the judge returned shape {labels.shape}; it must return one bool per pair, "
                             f"shape ({len(first)},)")
        if labels.dtype != bool and not np.all(np.isin(labels, (0, 1))):
            raise ValueError("the judge must return bools (or 0/1): True where the first response is preferred")
        return labels.astype(bool)


def as_oracle(oracle) -> PreferenceOracle:
    """An oracle from one of ours, or a plain function ``judge(prompts, first, second)``."""
    if isinstance(oracle, (BradleyTerryOracle, RewardModelOracle, CallableOracle)):
        return oracle
    if callable(oracle):
        return CallableOracle(oracle)
    raise TypeError(f"`oracle` must be a PreferenceOracle or a callable judge(prompts, first, second), "
                    f"got {type(oracle).__name__}")
