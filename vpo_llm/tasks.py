"""The enumerable sequence task: exact J, KL and SubOpt of a causal-LM policy  (theory §9).

Responses are all sequences of ``response_length`` tokens over the first ``response_vocab``
token ids (Y = V^L of them); prompts are fixed token sequences with ids of their own. The
policy of a causal LM on this task is the LM restricted to response tokens (its softmax is
taken over the response vocabulary), so Σ_y π(y|x) = 1 exactly and every quantity of theory §2
is computed by enumerating all responses. The true reward is linear, r⋆(x,y) = ⟨φ(x,y), θ⋆⟩
with φ(x, y) = Σ_t E[x, t, y_t], and ``bandit_instance`` hands the identical instance to
``vpo_theory`` (arms = all sequences): the bandit-to-LLM bridge.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict
from functools import cached_property

import numpy as np
import torch

import vpo_theory as vt

from .configs import TaskConfig
from .logprobs import token_logps

__all__ = ["TaskConfig", "EnumerableTask"]


class EnumerableTask:
    def __init__(self, config: TaskConfig = TaskConfig()):
        self.config = config
        rng = np.random.default_rng(config.seed)
        X, L, V, d = config.num_prompts, config.response_length, config.response_vocab, config.feature_dim
        self.prompts = torch.arange(V, V + X * config.prompt_length).reshape(X, config.prompt_length)  # (X, P)
        self.responses = torch.tensor(list(itertools.product(range(V), repeat=L)), dtype=torch.long)  # (Y, L)
        embedding = rng.normal(size=(X, L, V, d)) / np.sqrt(L)  # E[x, t, token]
        positions = np.arange(L)
        self.features = embedding[:, positions, self.responses.numpy(), :].sum(axis=2)  # (X, Y, d)
        theta = rng.normal(size=d)
        raw = self.features @ theta
        self.theta = theta * config.reward_scale / raw.std()
        self.reward = self.features @ self.theta  # (X, Y) r*
        self.rho = np.full(X, 1.0 / X)
        self.num_responses = len(self.responses)  # Y = V^L

    @cached_property
    def _all_inputs(self) -> tuple[torch.Tensor, torch.Tensor]:
        X, Y = self.config.num_prompts, self.num_responses
        ids = torch.cat([self.prompts.repeat_interleave(Y, 0), self.responses.repeat(X, 1)], dim=1)  # (X·Y, P+L)
        contexts = torch.arange(X).repeat_interleave(Y)
        return ids, contexts

    def response_logps(self, model, ids: torch.Tensor) -> torch.Tensor:
        """log π(y|x) for rows ``ids`` = prompt ⊕ response (all of equal length), (B,).

        The softmax runs over the response vocabulary only: this is the task's policy class.
        """
        L = self.config.response_length
        logits = model(input_ids=ids).logits[:, -L - 1:-1, : self.config.response_vocab]  # (B, L, V)
        return token_logps(logits, ids[:, -L:]).sum(-1)

    def policy_logps(self, model, *, batch_size: int = 4096) -> torch.Tensor:
        """log π(y|x) for every prompt and response, (X, Y), by enumeration (differentiable)."""
        ids, _ = self._all_inputs
        chunks = [self.response_logps(model, ids[i:i + batch_size]) for i in range(0, len(ids), batch_size)]
        return torch.cat(chunks).reshape(self.config.num_prompts, self.num_responses)

    @torch.no_grad()
    def policy_table(self, model) -> np.ndarray:
        """π(y|x) as a float64 (X, Y) table."""
        logp = self.policy_logps(model).double()
        pi = torch.exp(logp - torch.logsumexp(logp, dim=1, keepdim=True))  # renormalize away float32 rounding
        return pi.cpu().numpy()

    def bandit_instance(self, pi_ref: np.ndarray, *, class_scale: float = 2.0) -> vt.BanditInstance:
        """The same problem for ``vpo_theory``: arms = all responses, linear reward φ·θ⋆; the declared class
        ‖θ‖ ≤ ``class_scale``·‖θ⋆‖ (the linear families' convention: the truth halfway to the class's edge)."""
        return vt.BanditInstance(self.rho, pi_ref, None, self.config.beta, features=self.features, theta=self.theta,
                                 bound=class_scale * float(np.linalg.norm(self.theta)),
                                 name=f"enumerable-task-{self.config.seed}",
                                 description=f"enumerable sequence task {asdict(self.config)}")

    def evaluate(self, model, pi_ref: np.ndarray) -> dict[str, float]:
        """Exact J(r⋆, π), E_π r⋆, KL(π‖π_ref) and SubOpt(π) of a model's policy."""
        pi = self.policy_table(model)
        beta = self.config.beta
        kl = float(self.rho @ vt.kl_divergence(pi, pi_ref))
        return {
            "value": vt.value(self.reward, pi, pi_ref, self.rho, beta),
            "true_reward": float(self.rho @ (pi * self.reward).sum(axis=1)),
            "kl": kl,
            "suboptimality": vt.suboptimality(pi, self.reward, pi_ref, self.rho, beta),
        }

    def pair_inputs(self, x: np.ndarray, y: np.ndarray) -> torch.Tensor:
        """prompt ⊕ response token rows for context indices x and response indices y, (B, P+L)."""
        return torch.cat([self.prompts[torch.as_tensor(x)], self.responses[torch.as_tensor(y)]], dim=1)
