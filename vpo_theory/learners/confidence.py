"""Learners built on the MLE's confidence set  (docs/theory.md §6 "Baselines", §8).

C_t = {θ : ‖θ − θ̂_t‖_{Σ_t+λI} ≤ Γ_t}, Σ_t from the pair counts, λ = 1/t, Γ_t = c_Γ·√((d + log 1/δ)/(κ²N) + λB²).

- ``ucb``: π_t = π_{r_t} with the pointwise optimistic reward r_t(x,y) = ⟨φ̃, θ̂_t⟩ + Γ_t‖φ̃(x,y)‖_{(Σ_t+λI)⁻¹}, c_Γ
  tuned for regret (``vpo_theory.tuned``); ``ucb-coverage``: the same with the c_Γ that makes C_t cover θ⋆.
- ``maxinp``: MaxInP (Saha 2021) in the KL-regularized bandit: it plays the plug-in π_{θ̂_t}; its pair is the one of
  largest uncertainty ‖φ̃(x,y¹) − φ̃(x,y²)‖_{(Σ_t+λI)⁻¹} among the plausible responses of context x — those no other
  response beats on the log-odds s_θ(y) = r_θ(x,y) + β log π_ref(y|x) of π_θ for every θ in C_t (Saha's elimination
  rule, applied to the scores that rank the KL-regularized policy's probabilities).
"""

from __future__ import annotations

import numpy as np

from ..baselines import class_constants, confidence_set_from_counts, ucb_reward
from ..estimators import center_features
from ..options import DEFAULT_C_GAMMA, DEFAULT_MAXINP_C_GAMMA, DEFAULT_UCB_C_GAMMA, resolve_c_gamma
from .base import PluginLearner, register

__all__ = ["UCB", "UCBCoverage", "MaxInP"]


class _ConfidenceLearner(PluginLearner):
    """The plug-in MLE with its confidence set, c_Γ from the option or this learner's class default."""

    defaults = DEFAULT_UCB_C_GAMMA

    def __init__(self, run):
        super().__init__(run)
        self.c_gamma = resolve_c_gamma(run.options.c_gamma, run.instance, self.defaults)
        self.features, self.theta_bound, self.margin_bound = class_constants(
            run.instance.features, run.instance.pi_ref.shape, run.pi_cal, run.bound)
        self.centred = center_features(self.features, run.pi_cal)  # (X, Y, d) φ̃

    def confidence(self, counts, t):
        return confidence_set_from_counts(counts, self.features, self.plugin.theta, c_gamma=self.c_gamma,
                                          delta=self.run.options.delta, ridge=1.0 / t, theta_bound=self.theta_bound,
                                          margin_bound=self.margin_bound)


@register("ucb")
class UCB(_ConfidenceLearner):
    """π_t = π_{r_t}, r_t = ⟨φ̃, θ̂_t⟩ + Γ_t‖φ̃‖_{(Σ_t+λI)⁻¹}  (theory §8), c_Γ tuned for regret."""

    def policy(self, counts, t):
        self.plugin.update(counts)
        return self.plugin.policy(ucb_reward(self.confidence(counts, t), self.features, self.run.pi_cal))


@register("ucb-coverage")
class UCBCoverage(UCB):
    """UCB with the c_Γ calibrated for coverage of θ⋆ (``DEFAULT_C_GAMMA``), not for regret."""

    defaults = DEFAULT_C_GAMMA


@register("maxinp")
class MaxInP(_ConfidenceLearner):
    """Plays the plug-in; compares the most uncertain pair of plausible responses (see the module docstring)."""

    defaults = DEFAULT_MAXINP_C_GAMMA

    def policy(self, counts, t):
        self.plugin.update(counts)
        self.confidence_now = self.confidence(counts, t)
        return self.plugin.policy()

    def pair(self, x, uniforms, policy, t):
        confidence = self.confidence_now
        inverse = np.linalg.inv(confidence.precision)
        phi = self.centred[x]  # (Y, d)
        scores = phi @ confidence.theta_hat + self.run.instance.beta * np.log(self.run.instance.pi_ref[x])  # (Y,)
        differences = phi[:, None, :] - phi[None, :, :]  # (Y, Y, d) φ̃(y) − φ̃(y')
        width = np.sqrt(np.maximum(np.einsum("abd,de,abe->ab", differences, inverse, differences), 0.0))  # (Y, Y)
        # y is eliminated when some y' beats it for every θ in C: s(y') − s(y) − Γ·width > 0
        beaten = (scores[None, :] - scores[:, None] - confidence.radius * width > 0).any(axis=1)  # (Y,) [y]
        plausible = np.flatnonzero(~beaten)
        if len(plausible) < 2:  # one response left: compare it with itself (a tie carries no information)
            return int(plausible[0]), int(plausible[0])
        sub = width[np.ix_(plausible, plausible)]
        a, b = np.unravel_index(int(np.argmax(sub)), sub.shape)
        return int(plausible[a]), int(plausible[b])
