"""The bandit-to-LLM bridge  (theory §5, I6; theory §9).

A transformer with one-token responses is trained with ``vpo_loss`` on a fixed data set,
with the calibration expectation taken exactly (weights ρ(x)·π_cal(y|x) over every response).
By (I6) its loss is the reward-space VPO objective, so it must reach the exact tabular VPO
policy that ``vpo_theory.fit_vpo`` computes on the same data: the total-variation distance
between the two is tracked over training.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

import vpo_theory as vt
from vpo_theory import kernels

from .fields import check_fields
from .losses import vpo_loss
from .models import TinyLMConfig, tiny_causal_lm
from .tasks import EnumerableTask, TaskConfig

__all__ = ["BridgeConfig", "run_bridge"]


@dataclass
class BridgeConfig:
    num_prompts: int = 4  # X
    response_vocab: int = 6  # Y (one-token responses)
    num_pairs: int = 200  # N, drawn from π_ref
    alpha_scale: float = 1.0  # sum-form α = alpha_scale·√N
    sign: int = -1  # −1: the convex case with a unique minimizer over the unbounded tabular class
    steps: int = 400  # full-batch Adam steps
    learning_rate: float = 1e-2  # cosine-decayed to 0
    eval_every: int = 10
    seed: int = 0

    def __post_init__(self):
        check_fields(self, positive_ints=("num_prompts", "response_vocab", "num_pairs", "steps", "eval_every"),
                     nonnegative_ints=("seed",), positive=("learning_rate",), nonnegative=("alpha_scale",),
                     choices={"sign": (1, -1)})


def run_bridge(config: BridgeConfig = BridgeConfig()) -> dict:
    """Train and return {"steps", "tv" (TV to the exact tabular VPO policy), "objective", "exact_objective"}."""
    if config.sign != -1:
        raise ValueError("the bridge compares against the unique minimizer, which exists for sign = -1")
    task = EnumerableTask(TaskConfig(num_prompts=config.num_prompts, response_vocab=config.response_vocab,
                                     response_length=1, seed=config.seed))
    model = tiny_causal_lm(TinyLMConfig(vocab_size=task.config.vocab_size, seed=config.seed), dtype=torch.float64)
    reference = copy.deepcopy(model).eval().requires_grad_(False)
    with torch.no_grad():
        ref_table = task.policy_logps(reference)  # (X, Y)
    pi_ref = task.policy_table(reference)
    instance = task.bandit_instance(pi_ref)
    beta, N = task.config.beta, config.num_pairs
    alpha = kernels.sum_form_weight(config.alpha_scale, N)
    data = vt.sample_preferences(np.random.default_rng(config.seed), instance.rho, pi_ref, instance.reward, N)
    exact = vt.fit_vpo(vt.Problem(pi_ref, instance.rho, beta), data, alpha=alpha, sign=config.sign, pi_cal=pi_ref)  # tabular, unbounded
    x, winner, loser = data.astuple()
    cal_weights = torch.tensor((instance.rho[:, None] * pi_ref).ravel())  # exact E_{ρ, π_cal = π_ref}
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.steps)
    steps, tv, objective = [], [], []
    for step in range(config.steps + 1):
        logp = task.policy_logps(model)  # (X, Y)
        loss, _ = vpo_loss(logp[x, winner], logp[x, loser], ref_table[x, winner], ref_table[x, loser],
                           logp.reshape(-1), ref_table.reshape(-1), beta=beta, alpha=alpha / N, sign=config.sign,
                           cal_weights=cal_weights)
        if step % config.eval_every == 0 or step == config.steps:
            policy = task.policy_table(model)
            steps.append(step)
            tv.append(float(0.5 * np.abs(policy - exact.policy).sum(axis=1).max()))
            objective.append(N * loss.item())  # = ℓ_DPO + s·α·β·E h, the reward-space objective (I6)
        if step == config.steps:
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return {"steps": steps, "tv": tv, "objective": objective, "exact_objective": exact.objective,
            "pi_ref": pi_ref, "exact_policy": exact.policy, "policy": task.policy_table(model)}
