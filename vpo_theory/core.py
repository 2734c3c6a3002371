"""Core mathematics of KL-regularized bandits with Bradley–Terry feedback (theory §2–5).

Pure float64 functions. Shapes: ``r``, ``pi``, ``pi_ref``, ``pi_cal`` are (X, Y) tables
(contexts × responses); ``rho`` is (X,); preferences are three int arrays ``x``, ``winner``,
``loser`` of equal length N. Every function validates its inputs (see ``validation``) and
is exact for β in [1e-3, 1e2] and |r| up to 30 (r/β up to 3e4): the value is computed in
log-sum-exp / log-sigmoid form and r/β is never exponentiated directly.

Each function validates, then calls the unvalidated formula of ``kernels`` (one home per
formula); estimators call the kernels directly in inner loops after validating once.
"""

from __future__ import annotations

import numpy as np

from . import kernels
from .validation import (
    as_array,
    check_distribution,
    check_full_support,
    check_preferences,
    check_sign,
    check_support_inside,
    positive_scalar,
)

__all__ = [
    "log_partition",
    "optimal_policy",
    "optimal_value",
    "kl_divergence",
    "value",
    "suboptimality",
    "bt_nll",
    "calibrate",
    "implicit_reward",
    "vpo_objective",
    "vpo_policy_objective",
]


# --------------------------------------------------------------------------- validation
def _check_tables(r_name: str, r, pi_ref, beta) -> tuple[np.ndarray, np.ndarray, float]:
    r = as_array(r_name, r, ndim=2)
    pi_ref = check_distribution("pi_ref", pi_ref, shape=r.shape)
    check_full_support("pi_ref", pi_ref)
    return r, pi_ref, positive_scalar("beta", beta)


def _check_rho(rho, num_contexts: int) -> np.ndarray:
    return check_distribution("rho", rho, shape=(num_contexts,), ndim=1)


def _check_pi_cal(pi_cal, pi_ref: np.ndarray) -> np.ndarray:
    pi_cal = check_distribution("pi_cal", pi_cal, shape=pi_ref.shape)
    check_support_inside("pi_cal", pi_cal, "pi_ref", pi_ref)
    return pi_cal


def _check_policies(pi, pi_ref, pi_cal, beta) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """π and π_ref of full support (log-ratios must be finite), π_cal inside π_ref's support, β > 0."""
    pi = check_distribution("pi", pi)
    pi_ref = check_distribution("pi_ref", pi_ref, shape=pi.shape)
    check_full_support("pi", pi)
    check_full_support("pi_ref", pi_ref)
    return pi, pi_ref, _check_pi_cal(pi_cal, pi_ref), positive_scalar("beta", beta)


def _check_vpo_terms(alpha, sign, x, winner, loser, shape: tuple[int, int]):
    """α ≥ 0, s = ±1 and the comparisons, indices inside the (X, Y) tables."""
    preferences = check_preferences(x, winner, loser, num_contexts=shape[0], num_responses=shape[1])
    return positive_scalar("alpha", alpha, allow_zero=True), check_sign(sign), preferences


# --------------------------------------------------------------------------- public
def log_partition(r, pi_ref, beta: float) -> np.ndarray:
    """log Z_r(x) = log Σ_y π_ref(y|x) exp(r(x,y)/β), shape (X,)  (theory §2)."""
    r, pi_ref, beta = _check_tables("r", r, pi_ref, beta)
    return kernels.log_optimal_policy(r, np.log(pi_ref), beta)[1]


def optimal_policy(r, pi_ref, beta: float) -> np.ndarray:
    """π_r(y|x) = π_ref(y|x) exp(r(x,y)/β) / Z_r(x), shape (X, Y)  (theory §2).

    Computed as a softmax of r/β + log π_ref, so r/β up to 3e4 neither overflows nor
    underflows the normalizer.
    """
    r, pi_ref, beta = _check_tables("r", r, pi_ref, beta)
    return kernels.softmax_rows(r / beta + np.log(pi_ref))


def optimal_value(r, pi_ref, rho, beta: float) -> float:
    """J⋆(r) = max_π J(r, π) = β Σ_x ρ(x) log Z_r(x)  (theory §2).

    Convex in r with gradient ∂J⋆/∂r(x,y) = ρ(x) π_r(y|x)  (I2).
    """
    r, pi_ref, beta = _check_tables("r", r, pi_ref, beta)
    rho = _check_rho(rho, r.shape[0])
    return float(kernels.optimal_value(r, np.log(pi_ref), rho, beta))


def kl_divergence(pi, pi_ref) -> np.ndarray:
    """KL(π(·|x) ‖ π_ref(·|x)) per context, shape (X,), with 0·log 0 = 0."""
    pi = check_distribution("pi", pi)
    pi_ref = check_distribution("pi_ref", pi_ref, shape=pi.shape)
    check_support_inside("pi", pi, "pi_ref", pi_ref)
    return kernels.kl_rows(pi, kernels.safe_log(pi), kernels.safe_log(pi_ref))


def value(r, pi, pi_ref, rho, beta: float) -> float:
    """J(r, π) = Σ_x ρ(x) [Σ_y π(y|x) r(x,y) − β KL(π(·|x) ‖ π_ref(·|x))]  (theory §2).

    ``pi`` may lack full support; its support must lie inside π_ref's (else KL = ∞).
    """
    r, pi_ref, beta = _check_tables("r", r, pi_ref, beta)
    pi = check_distribution("pi", pi, shape=r.shape)
    rho = _check_rho(rho, r.shape[0])
    kl = kernels.kl_rows(pi, kernels.safe_log(pi), np.log(pi_ref))  # (X,)
    return float(rho @ ((pi * r).sum(axis=1) - beta * kl))


def suboptimality(pi, r_true, pi_ref, rho, beta: float) -> float:
    """SubOpt(π) = J⋆(r⋆) − J(r⋆, π) ≥ 0  (theory §2, I4).

    Evaluated through the gap identity (I1), SubOpt = β Σ_x ρ(x) KL(π(·|x) ‖ π_{r⋆}(·|x)),
    which is non-negative by construction and keeps full relative precision when the gap is
    tiny compared with J⋆ (the difference of the two values would cancel).
    """
    r_true, pi_ref, beta = _check_tables("r_true", r_true, pi_ref, beta)
    pi = check_distribution("pi", pi, shape=r_true.shape)
    rho = _check_rho(rho, r_true.shape[0])
    check_support_inside("pi", pi, "pi_ref", pi_ref)
    log_pi_star, _ = kernels.log_optimal_policy(r_true, np.log(pi_ref), beta)
    return float(beta * rho @ kernels.kl_rows(pi, kernels.safe_log(pi), log_pi_star))


def bt_nll(r, x, winner, loser) -> float:
    """Bradley–Terry negative log-likelihood, sum form  (theory §3).

    ℓ(r; D) = −Σ_i log σ(r(x_i, winner_i) − r(x_i, loser_i)); 0 for empty data.
    Invariant to per-context shifts of r (I5).
    """
    r = as_array("r", r, ndim=2)
    x, winner, loser = check_preferences(x, winner, loser, num_contexts=r.shape[0], num_responses=r.shape[1])
    return kernels.bt_nll(r, x, winner, loser)


def calibrate(r, pi_cal) -> np.ndarray:
    """r(x,y) − E_{y'~π_cal(·|x)} r(x,y'): the calibrated representative of r  (theory §3)."""
    r = as_array("r", r, ndim=2)
    pi_cal = check_distribution("pi_cal", pi_cal, shape=r.shape)
    return r - (pi_cal * r).sum(axis=1, keepdims=True)


def implicit_reward(pi, pi_ref, pi_cal, beta: float) -> np.ndarray:
    """The calibrated reward whose optimal policy is π  (theory §5).

    r_π(x,y) = β [h(x,y) − E_{y'~π_cal(·|x)} h(x,y')],  h = log π − log π_ref.
    Inverse of ``optimal_policy`` on calibrated rewards: π_{r_π} = π. ``pi`` needs full
    support (h must be finite).
    """
    pi, pi_ref, pi_cal, beta = _check_policies(pi, pi_ref, pi_cal, beta)
    h = np.log(pi) - np.log(pi_ref)  # (X, Y)
    return beta * (h - (pi_cal * h).sum(axis=1, keepdims=True))


def vpo_objective(r, x, winner, loser, pi_ref, rho, beta: float, alpha: float, sign: int) -> float:
    """ℓ(r; D) − s·α·J⋆(r), the reward-space VPO objective  (theory §4).

    ``alpha`` is the sum-form weight (it multiplies J⋆ against a summed likelihood).
    """
    r, pi_ref, beta = _check_tables("r", r, pi_ref, beta)
    rho = _check_rho(rho, r.shape[0])
    alpha, sign, (x, winner, loser) = _check_vpo_terms(alpha, sign, x, winner, loser, r.shape)
    j_star = kernels.optimal_value(r, np.log(pi_ref), rho, beta)
    return float(kernels.bt_nll(r, x, winner, loser) - sign * alpha * j_star)


def vpo_policy_objective(
    pi, x, winner, loser, pi_ref, pi_cal, rho, beta: float, alpha: float, sign: int
) -> float:
    """ℓ_DPO(π; D) + s·α·β·Σ_x ρ(x) E_{y~π_cal(·|x)}[log π(y|x) − log π_ref(y|x)]  (theory §5, I6).

    Equal to ``vpo_objective(implicit_reward(pi, pi_ref, pi_cal, beta), ...)`` for every
    full-support π: the policy-space loss is the reward-space objective.
    """
    pi, pi_ref, pi_cal, beta = _check_policies(pi, pi_ref, pi_cal, beta)
    rho = _check_rho(rho, pi.shape[0])
    alpha, sign, (x, winner, loser) = _check_vpo_terms(alpha, sign, x, winner, loser, pi.shape)
    h = np.log(pi) - np.log(pi_ref)  # (X, Y)
    dpo = kernels.bt_nll(beta * h, x, winner, loser)  # ℓ_DPO(π) = ℓ(βh): the margin only sees differences
    cal = beta * rho @ (pi_cal * h).sum(axis=1)  # β Σ ρ E_cal h = −J*(r_π)
    return float(dpo + sign * alpha * cal)
