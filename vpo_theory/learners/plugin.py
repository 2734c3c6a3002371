"""Learners that play the exact MLE's plug-in policy, or no learning at all  (docs/theory.md §6, "Baselines").

- ``greedy``: π_t = π_{r̂_t}, the MLE's plug-in (VPO with α = 0); pairs by the run's scheme.
- ``mixed``: two-stage mixed sampling (Zhao, Ye, Gu and Zhang 2024): for the first ⌈f·T⌉ rounds both responses are
  drawn from π_ref; then y¹ from the plug-in policy of the first stage's data (frozen) and y² from π_ref. It plays
  the plug-in π_{r̂_t} on all the data every round.
- ``reference``: π_ref, no learning (``ref`` is a deprecated spelling); ``oracle``: π_{r⋆}, zero regret.
"""

from __future__ import annotations

import math

from .. import core
from .base import Learner, PluginLearner, register

__all__ = ["Greedy", "Mixed", "Reference", "Oracle"]


@register("greedy")
class Greedy(PluginLearner):
    """π_t = π_{r̂_t}, r̂_t the exact bounded MLE on the data so far  (theory §3)."""

    def policy(self, counts, t):
        return self.plugin.policy(self.plugin.update(counts))


@register("mixed")
class Mixed(Greedy):
    """Two-stage mixed sampling: (π_ref, π_ref) for ⌈mixed_fraction·T⌉ rounds, then (π̂₁, π_ref) with π̂₁ the plug-in
    of the first stage's data; it plays the plug-in of all the data."""

    def __init__(self, run):
        super().__init__(run)
        self.first_stage = max(1, math.ceil(run.options.mixed_fraction * run.T))
        self.stage_one_policy = None

    def sampling(self, policy, t):
        pi_ref = self.run.instance.pi_ref
        if t <= self.first_stage:
            return pi_ref, pi_ref
        if self.stage_one_policy is None:  # the plug-in of the first stage's data: π_t at t = first_stage + 1
            self.stage_one_policy = policy
        return self.stage_one_policy, pi_ref


@register("reference")
class Reference(Learner):
    """π_ref: no learning."""

    def policy(self, counts, t):
        return self.run.instance.pi_ref


@register("oracle")
class Oracle(Learner):
    """π_{r⋆}: the optimal policy, zero regret (a check of the harness)."""

    def policy(self, counts, t):
        inst = self.run.instance
        return core.optimal_policy(inst.reward, inst.pi_ref, inst.beta)

