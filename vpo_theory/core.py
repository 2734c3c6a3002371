"""Core mathematics of KL-regularized bandits with Bradley–Terry feedback (MATH §2–5).

Pure float64 functions. Shapes: ``r``, ``pi``, ``pi_ref``, ``pi_cal`` are (X, Y) tables
(contexts × responses); ``rho`` is (X,); preferences are three int arrays ``x``, ``winner``,
``loser`` of equal length N. Every function validates its inputs (see ``_validation``) and
is exact for β in [1e-3, 1e2] and |r| up to 30 (r/β up to 3e4): the value is computed in
log-sum-exp / log-sigmoid form and r/β is never exponentiated directly.

The ``_``-prefixed kernels skip validation; estimators call them in inner loops after
validating once.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_expit

from ._validation import (
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


# --------------------------------------------------------------------------- kernels
def _log_optimal_policy(r: np.ndarray, log_pi_ref: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """(log π_r (X, Y), log Z_r (X,)).  log π_r = r/β + log π_ref − log Z_r   (MATH §2)."""
    logits = r / beta + log_pi_ref  # (X, Y)
    top = logits.max(axis=1)  # log-sum-exp by hand (scipy's is ~10× slower on the estimators' tiny arrays)
    log_z = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))  # (X,) log Z_r(x) = log Σ_y π_ref e^{r/β}
    return logits - log_z[:, None], log_z


def _policy_from_logits(logits: np.ndarray) -> np.ndarray:
    """Row softmax, normalized explicitly so every row sums to 1 within rounding.

    (exp(logits − log Z) has the same per-entry accuracy, but with |logits| ~ 3e4 its rows
    sum to 1 only within ~1e-12.)
    """
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True)


def _safe_log(pi: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(pi)


def _kl_rows(pi: np.ndarray, log_pi: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """(X,) KL(π(·|x) ‖ q(·|x)) with the convention 0·log 0 = 0."""
    support = pi > 0
    diff = np.where(support, log_pi, 0.0) - np.where(support, log_q, 0.0)  # finite off-support
    return np.where(support, pi * diff, 0.0).sum(axis=1)


def _bt_nll(r: np.ndarray, x: np.ndarray, winner: np.ndarray, loser: np.ndarray) -> float:
    # −Σ log σ(r(x,y⁺) − r(x,y⁻)), with log σ in its stable form (MATH §3)
    margins = r[x, winner] - r[x, loser]  # (N,)
    return float(-np.sum(log_expit(margins)))


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


# --------------------------------------------------------------------------- public
def log_partition(r, pi_ref, beta: float) -> np.ndarray:
    """log Z_r(x) = log Σ_y π_ref(y|x) exp(r(x,y)/β), shape (X,)  (MATH §2)."""
    r, pi_ref, beta = _check_tables("r", r, pi_ref, beta)
    return _log_optimal_policy(r, np.log(pi_ref), beta)[1]


def optimal_policy(r, pi_ref, beta: float) -> np.ndarray:
    """π_r(y|x) = π_ref(y|x) exp(r(x,y)/β) / Z_r(x), shape (X, Y)  (MATH §2).

    Computed as a softmax of r/β + log π_ref, so r/β up to 3e4 neither overflows nor
    underflows the normalizer.
    """
    r, pi_ref, beta = _check_tables("r", r, pi_ref, beta)
    return _policy_from_logits(r / beta + np.log(pi_ref))


def optimal_value(r, pi_ref, rho, beta: float) -> float:
    """J*(r) = max_π J(r, π) = β Σ_x ρ(x) log Z_r(x)  (MATH §2).

    Convex in r with gradient ∂J*/∂r(x,y) = ρ(x) π_r(y|x)  (I2).
    """
    r, pi_ref, beta = _check_tables("r", r, pi_ref, beta)
    rho = _check_rho(rho, r.shape[0])
    return float(beta * rho @ _log_optimal_policy(r, np.log(pi_ref), beta)[1])


def kl_divergence(pi, pi_ref) -> np.ndarray:
    """KL(π(·|x) ‖ π_ref(·|x)) per context, shape (X,), with 0·log 0 = 0."""
    pi = check_distribution("pi", pi)
    pi_ref = check_distribution("pi_ref", pi_ref, shape=pi.shape)
    check_support_inside("pi", pi, "pi_ref", pi_ref)
    return _kl_rows(pi, _safe_log(pi), _safe_log(pi_ref))


def value(r, pi, pi_ref, rho, beta: float) -> float:
    """J(r, π) = Σ_x ρ(x) [Σ_y π(y|x) r(x,y) − β KL(π(·|x) ‖ π_ref(·|x))]  (MATH §2).

    ``pi`` may lack full support; its support must lie inside π_ref's (else KL = ∞).
    """
    r, pi_ref, beta = _check_tables("r", r, pi_ref, beta)
    pi = check_distribution("pi", pi, shape=r.shape)
    rho = _check_rho(rho, r.shape[0])
    kl = _kl_rows(pi, _safe_log(pi), np.log(pi_ref))  # (X,)
    return float(rho @ ((pi * r).sum(axis=1) - beta * kl))


def suboptimality(pi, r_true, pi_ref, rho, beta: float) -> float:
    """SubOpt(π) = J*(r*) − J(r*, π) ≥ 0  (MATH §2, I4).

    Evaluated through the gap identity (I1), SubOpt = β Σ_x ρ(x) KL(π(·|x) ‖ π_{r*}(·|x)),
    which is non-negative by construction and keeps full relative precision when the gap is
    tiny compared with J* (the difference of the two values would cancel).
    """
    r_true, pi_ref, beta = _check_tables("r_true", r_true, pi_ref, beta)
    pi = check_distribution("pi", pi, shape=r_true.shape)
    rho = _check_rho(rho, r_true.shape[0])
    check_support_inside("pi", pi, "pi_ref", pi_ref)
    log_pi_star, _ = _log_optimal_policy(r_true, np.log(pi_ref), beta)
    return float(beta * rho @ _kl_rows(pi, _safe_log(pi), log_pi_star))


def bt_nll(r, x, winner, loser) -> float:
    """Bradley–Terry negative log-likelihood, sum form  (MATH §3).

    ℓ(r; D) = −Σ_i log σ(r(x_i, winner_i) − r(x_i, loser_i)); 0 for empty data.
    Invariant to per-context shifts of r (I5).
    """
    r = as_array("r", r, ndim=2)
    x, winner, loser = check_preferences(x, winner, loser, num_contexts=r.shape[0], num_responses=r.shape[1])
    return _bt_nll(r, x, winner, loser)


def calibrate(r, pi_cal) -> np.ndarray:
    """r(x,y) − E_{y'~π_cal(·|x)} r(x,y'): the calibrated representative of r  (MATH §3)."""
    r = as_array("r", r, ndim=2)
    pi_cal = check_distribution("pi_cal", pi_cal, shape=r.shape)
    return r - (pi_cal * r).sum(axis=1, keepdims=True)


def implicit_reward(pi, pi_ref, pi_cal, beta: float) -> np.ndarray:
    """The calibrated reward whose optimal policy is π  (MATH §5).

    r_π(x,y) = β [h(x,y) − E_{y'~π_cal(·|x)} h(x,y')],  h = log π − log π_ref.
    Inverse of ``optimal_policy`` on calibrated rewards: π_{r_π} = π. ``pi`` needs full
    support (h must be finite).
    """
    pi = check_distribution("pi", pi)
    pi_ref = check_distribution("pi_ref", pi_ref, shape=pi.shape)
    check_full_support("pi", pi)
    check_full_support("pi_ref", pi_ref)
    pi_cal = _check_pi_cal(pi_cal, pi_ref)
    beta = positive_scalar("beta", beta)
    h = np.log(pi) - np.log(pi_ref)  # (X, Y)
    return beta * (h - (pi_cal * h).sum(axis=1, keepdims=True))


def vpo_objective(r, x, winner, loser, pi_ref, rho, beta: float, alpha: float, sign: int) -> float:
    """ℓ(r; D) − s·α·J*(r), the reward-space VPO objective  (MATH §4).

    ``alpha`` is the sum-form weight (it multiplies J* against a summed likelihood).
    """
    r, pi_ref, beta = _check_tables("r", r, pi_ref, beta)
    rho = _check_rho(rho, r.shape[0])
    alpha = positive_scalar("alpha", alpha, allow_zero=True)
    sign = check_sign(sign)
    x, winner, loser = check_preferences(x, winner, loser, num_contexts=r.shape[0], num_responses=r.shape[1])
    j_star = beta * rho @ _log_optimal_policy(r, np.log(pi_ref), beta)[1]
    return float(_bt_nll(r, x, winner, loser) - sign * alpha * j_star)


def vpo_policy_objective(
    pi, x, winner, loser, pi_ref, pi_cal, rho, beta: float, alpha: float, sign: int
) -> float:
    """ℓ_DPO(π; D) + s·α·β·Σ_x ρ(x) E_{y~π_cal(·|x)}[log π(y|x) − log π_ref(y|x)]  (MATH §5, I6).

    Equal to ``vpo_objective(implicit_reward(pi, pi_ref, pi_cal, beta), ...)`` for every
    full-support π: the policy-space loss is the reward-space objective.
    """
    pi = check_distribution("pi", pi)
    pi_ref = check_distribution("pi_ref", pi_ref, shape=pi.shape)
    check_full_support("pi", pi)
    check_full_support("pi_ref", pi_ref)
    pi_cal = _check_pi_cal(pi_cal, pi_ref)
    rho = _check_rho(rho, pi.shape[0])
    beta = positive_scalar("beta", beta)
    alpha = positive_scalar("alpha", alpha, allow_zero=True)
    sign = check_sign(sign)
    x, winner, loser = check_preferences(x, winner, loser, num_contexts=pi.shape[0], num_responses=pi.shape[1])
    h = np.log(pi) - np.log(pi_ref)  # (X, Y)
    dpo = _bt_nll(beta * h, x, winner, loser)  # ℓ_DPO(π) = ℓ(βh): the margin only sees differences
    cal = beta * rho @ (pi_cal * h).sum(axis=1)  # β Σ ρ E_cal h = −J*(r_π)
    return float(dpo + sign * alpha * cal)
