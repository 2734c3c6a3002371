"""Confidence-set baselines (theory §8): the MLE confidence ellipsoid, LCB (offline), UCB bonus (online).

Tabular problems are the linear class with one-hot features (θ = the reward table, d = X·Y).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import pair_counts
from .estimators import center_features

__all__ = ["ConfidenceSet", "confidence_set", "confidence_set_from_counts", "class_constants", "one_hot_features",
           "lcb_policy", "ucb_reward"]


def one_hot_features(num_contexts: int, num_responses: int) -> np.ndarray:
    """φ(x, y) = e_{x·Y + y} ∈ R^{X·Y}: the tabular class as a linear one, shape (X, Y, X·Y)."""
    return np.eye(num_contexts * num_responses).reshape(num_contexts, num_responses, -1)


@dataclass(frozen=True)
class ConfidenceSet:
    """C = {θ : ‖θ − θ̂‖_{Σ_D+λI} ≤ Γ}  (theory §8)."""

    theta_hat: np.ndarray  # (d,)
    precision: np.ndarray  # (d, d) Σ_D + λI
    radius: float  # Γ

    def contains(self, theta: np.ndarray) -> bool:
        return self.distance(theta) <= self.radius

    def distance(self, theta: np.ndarray) -> float:
        """‖θ − θ̂‖_{Σ_D+λI}."""
        diff = np.asarray(theta) - self.theta_hat
        return float(np.sqrt(diff @ self.precision @ diff))


def confidence_radius(num_pairs: int, dim: int, *, c_gamma: float, delta: float, ridge: float,
                      theta_bound: float, margin_bound: float) -> float:
    """Γ = c_Γ·sqrt((d + log(1/δ))/(κ²N) + λB²),  κ = 1/(2 + e^{−LB} + e^{LB})  (theory §8).

    ``margin_bound`` is L·B, the largest possible |⟨z, θ⟩| (it sets κ, the smallest BT
    curvature); ``theta_bound`` is B in λB².
    """
    kappa = 1.0 / (2.0 + np.exp(-margin_bound) + np.exp(margin_bound))
    return float(c_gamma * np.sqrt((dim + np.log(1.0 / delta)) / (kappa**2 * max(num_pairs, 1))
                                   + ridge * theta_bound**2))


def confidence_set(x, winner, loser, features: np.ndarray, theta_hat: np.ndarray, *, c_gamma: float, delta: float,
                   ridge: float, theta_bound: float, margin_bound: float) -> ConfidenceSet:
    """The ellipsoid around an MLE θ̂ from pair differences z_i = φ(x_i, y_i⁺) − φ(x_i, y_i⁻)."""
    counts = pair_counts(x, winner, loser, num_contexts=features.shape[0], num_responses=features.shape[1])
    return confidence_set_from_counts(counts, features, theta_hat, c_gamma=c_gamma, delta=delta, ridge=ridge,
                                      theta_bound=theta_bound, margin_bound=margin_bound)


def confidence_set_from_counts(counts: np.ndarray, features: np.ndarray, theta_hat: np.ndarray, *, c_gamma: float,
                               delta: float, ridge: float, theta_bound: float, margin_bound: float) -> ConfidenceSet:
    """The same ellipsoid from pair counts n[x, y⁺, y⁻]: Σ_D = (1/N) Σ n·z zᵀ (the orientation of z is irrelevant)."""
    z = features[:, :, None, :] - features[:, None, :, :]  # (X, Y, Y, d) all pair differences
    num_pairs = float(counts.sum())
    sigma = np.einsum("xab,xabd,xabe->de", counts, z, z) / max(num_pairs, 1.0)
    precision = sigma + ridge * np.eye(features.shape[-1])
    radius = confidence_radius(int(num_pairs), features.shape[-1], c_gamma=c_gamma, delta=delta, ridge=ridge,
                               theta_bound=theta_bound, margin_bound=margin_bound)
    return ConfidenceSet(np.asarray(theta_hat, dtype=np.float64), precision, radius)


def class_constants(features: np.ndarray | None, shape: tuple[int, int], pi_cal: np.ndarray, bound: float):
    """(features, B, L·B) of the reward class for the §8 set, shared by LCB and UCB.

    Tabular (``features`` None): one-hot features, θ = the calibrated reward table, B = bound·√(X·Y)
    (‖θ‖₂ in the box) and L·B = 2·bound (the largest BT margin in the box — tighter than ‖z‖·‖θ‖).
    Linear: B = bound and L = max‖φ̃‖ over centred features.
    """
    if features is None:
        return one_hot_features(*shape), bound * np.sqrt(shape[0] * shape[1]), 2 * bound
    lipschitz = float(np.max(np.linalg.norm(center_features(features, pi_cal), axis=-1)))
    return features, bound, lipschitz * bound


def lcb_policy(confidence: ConfidenceSet, features: np.ndarray, pi_ref: np.ndarray, rho: np.ndarray, beta: float,
               pi_cal: np.ndarray) -> np.ndarray:
    """argmax_π ⟨θ̂, v(π)⟩ − Γ‖v(π)‖_{(Σ_D+λI)^{-1}} − β Σ_x ρ(x) KL(π(·|x) ‖ π_ref(·|x))  (theory §8).

    v(π) = Σ_x ρ(x) Σ_y π(y|x) φ̃(x,y) with φ̃ centred under π_cal. Concave in π: one cvxpy
    program (simplex rows, the norm as a second-order cone through a Cholesky factor, KL with
    ``cp.rel_entr``). With Γ = 0 it is the MLE plug-in policy π_{r̂}.
    """
    import cvxpy as cp  # imported here: the online learners use this module without cvxpy

    from .cvx import solve

    centred = center_features(features, pi_cal)  # (X, Y, d)
    num_contexts, num_responses, dim = centred.shape
    pi = cp.Variable((num_contexts, num_responses), nonneg=True)
    weighted = (rho[:, None, None] * centred).reshape(num_contexts * num_responses, dim)
    v = weighted.T @ cp.vec(pi, order="C")  # (d,)
    # ‖v‖_{M^{-1}} = ‖L^{-1} v‖ with M = L Lᵀ
    inverse_factor = np.linalg.inv(np.linalg.cholesky(confidence.precision))
    kl = cp.sum(cp.multiply(rho[:, None], cp.rel_entr(pi, pi_ref)))
    objective = confidence.theta_hat @ v - beta * kl
    if confidence.radius > 0:
        objective = objective - confidence.radius * cp.norm(inverse_factor @ v, 2)
    problem = cp.Problem(cp.Maximize(objective), [cp.sum(pi, axis=1) == 1])
    solve(problem)
    if problem.status not in ("optimal", "optimal_inaccurate"):
        raise RuntimeError(f"the LCB program was not solved: status {problem.status}")
    policy = np.clip(np.asarray(pi.value), 0.0, None)
    return policy / policy.sum(axis=1, keepdims=True)


def ucb_reward(confidence: ConfidenceSet, features: np.ndarray, pi_cal: np.ndarray) -> np.ndarray:
    """Pointwise optimistic reward ⟨φ̃, θ̂⟩ + Γ‖φ̃‖_{(Σ+λI)^{-1}}, shape (X, Y)  (theory §8, UCB)."""
    centred = center_features(features, pi_cal)
    inverse = np.linalg.inv(confidence.precision)
    bonus = np.sqrt(np.einsum("xyd,de,xye->xy", centred, inverse, centred))
    return centred @ confidence.theta_hat + confidence.radius * bonus
