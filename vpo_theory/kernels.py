"""The formulas of the package, each written once: unvalidated float64 array functions.

Every estimator, solver, sampler, figure and oracle computes these quantities here, so a
newcomer finds each formula in one function named after it. Nothing here checks its inputs:
``core`` validates and then calls these kernels; the solvers call them in inner loops after
validating once. Equations are cited by their number in docs/theory.md ("theory §2, I2").

Shapes: a leading ``...`` is any batch of points (the certified search evaluates many at once);
``r``, ``log_pi_ref`` are (..., X, Y) tables (contexts × responses), ``rho`` is (X,), pair
counts n[x, a, b] (a preferred to b) are (X, Y, Y).

Stable forms: log Z by log-sum-exp (r/β is never exponentiated directly: r/β reaches 3e4), the
Bradley–Terry loss −log σ(m) = softplus(−m) = logaddexp(0, −m), σ by ``expit``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.special import expit, log_expit

__all__ = [
    "ARMIJO",
    "SHRINK",
    "logsumexp",
    "log_optimal_policy",
    "softmax_rows",
    "optimal_value",
    "optimal_value_pieces",
    "kl_rows",
    "safe_log",
    "bt_nll",
    "bt_nll_counts",
    "bt_nll_pieces",
    "bt_nll_pair_pieces",
    "objective_pieces",
    "centred_features",
    "diagonal_view",
    "bradley_terry_wins",
    "inverse_cdf",
    "sample_categorical",
    "mean_form_weight",
    "sum_form_weight",
    "backtrack",
]

#: Armijo sufficient-decrease fraction and step shrink factor of every damped-Newton line search
#: here (Boyd & Vandenberghe §9.2 recommend 0.01–0.3 and 0.1–0.8; these are their usual values).
ARMIJO, SHRINK = 0.25, 0.5


# --------------------------------------------------------------------------- log-partition and policies
def logsumexp(values: np.ndarray, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    """log Σ exp(values) along ``axis``, shifted by the maximum; −inf entries allowed.

    (SciPy's ``logsumexp`` costs ~10× more on the tiny arrays of the solvers' inner loops.)
    """
    top = np.max(values, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)  # an all −inf row: log 0 = −inf, not NaN
    with np.errstate(divide="ignore"):  # an all −inf row: log 0 = −inf, on purpose
        out = np.log(np.sum(np.exp(values - top), axis=axis, keepdims=True)) + top
    return out if keepdims else np.squeeze(out, axis=axis)


def log_optimal_policy(r: np.ndarray, log_pi_ref: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """(log π_r (..., X, Y), log Z_r (..., X)):  log π_r = r/β + log π_ref − log Z_r   (theory §2).

    log Z_r(x) = log Σ_y π_ref(y|x) e^{r(x,y)/β}, by log-sum-exp over finite logits.
    """
    logits = r / beta + log_pi_ref  # (..., X, Y)
    top = logits.max(axis=-1)
    log_z = top + np.log(np.exp(logits - top[..., None]).sum(axis=-1))  # (..., X)
    return logits - log_z[..., None], log_z


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    """Softmax along the last axis, normalized explicitly so every row sums to 1 within rounding.

    (exp(logits − log Z) has the same per-entry accuracy, but with |logits| ~ 3e4 its rows sum
    to 1 only within ~1e-12.) π_r = softmax_rows(r/β + log π_ref)  (theory §2).
    """
    weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return weights / weights.sum(axis=-1, keepdims=True)


def _value_terms(log_z: np.ndarray, rho: np.ndarray, beta: float) -> np.ndarray:
    """β·ρ(x)·log Z_r(x), shape (..., X): the contexts' terms of J⋆, which is their sum  (theory §2)."""
    return beta * rho * log_z


def optimal_value(r: np.ndarray, log_pi_ref: np.ndarray, rho: np.ndarray, beta: float, *, per_context: bool = False):
    """J⋆(r) = β Σ_x ρ(x) log Z_r(x)  (theory §2), shape (...); ``per_context``: its terms, shape (..., X)."""
    terms = _value_terms(log_optimal_policy(r, log_pi_ref, beta)[1], rho, beta)
    return terms if per_context else terms.sum(axis=-1)


def optimal_value_pieces(r: np.ndarray, log_pi_ref: np.ndarray, rho: np.ndarray, beta: float):
    """(J⋆'s terms β ρ(x) log Z_r(x) (..., X), ∇_r J⋆ = ρ(x)·π_r(y|x) (..., X, Y), π_r (..., X, Y))  (theory §2, I2).

    J⋆ is the sum of the terms. The Hessian per context is (ρ(x)/β)(diag π_r − π_r π_rᵀ); ``objective_pieces``
    forms it.
    """
    log_pi, log_z = log_optimal_policy(r, log_pi_ref, beta)
    pi = np.exp(log_pi)
    return _value_terms(log_z, rho, beta), rho[:, None] * pi, pi


def safe_log(pi: np.ndarray) -> np.ndarray:
    """log π with log 0 = −inf and no warning (KL's 0·log 0 = 0 convention handles it)."""
    with np.errstate(divide="ignore"):
        return np.log(pi)


def kl_rows(pi: np.ndarray, log_pi: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """(X,) KL(π(·|x) ‖ q(·|x)) = Σ_y π log(π/q), with the convention 0·log 0 = 0."""
    support = pi > 0
    diff = np.where(support, log_pi, 0.0) - np.where(support, log_q, 0.0)  # finite off-support
    return np.where(support, pi * diff, 0.0).sum(axis=-1)


# --------------------------------------------------------------------------- Bradley–Terry likelihood
def bt_nll(r: np.ndarray, x: np.ndarray, winner: np.ndarray, loser: np.ndarray) -> float:
    """ℓ(r; D) = −Σ_i log σ(r(x_i, y⁺_i) − r(x_i, y⁻_i)), from N comparisons  (theory §3)."""
    margins = r[x, winner] - r[x, loser]  # (N,)
    return float(-np.sum(log_expit(margins)))


def bt_nll_counts(r: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """ℓ per context from pair counts: Σ_{a,b} n[x,a,b]·softplus(−(r(x,a) − r(x,b))), shape (..., X)  (theory §3).

    The counts are sufficient statistics: this costs O(X·Y²) however many comparisons there were.
    """
    return _softplus_terms(counts, r[..., None, :] - r[..., :, None])


def _softplus_terms(counts: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """Σ_{a,b} n[x,a,b]·softplus(−m_ab) per context, (..., X), from −m_ab = r_b − r_a (..., X, Y, Y)  (theory §3)."""
    return (counts * np.logaddexp(0.0, negative)).sum(axis=(-2, -1))


def bt_nll_pieces(r: np.ndarray, counts: np.ndarray):
    """(ℓ per context (..., X), ∂ℓ/∂r (..., X, Y), the edge slopes n·σ(−m) (..., X, Y, Y), σ(−m)) from counts
    (theory §3); ℓ is the sum over contexts.

    ∂/∂m of n·softplus(−m) is −n·σ(−m); a response's gradient collects its edges as winner and loser.
    """
    negative = r[..., None, :] - r[..., :, None]  # (..., X, Y, Y) −m
    sigma_negative = expit(negative)  # σ(−m)
    slope = counts * sigma_negative
    value = _softplus_terms(counts, negative)
    grad = slope.sum(axis=-2) - slope.sum(axis=-1)  # (..., X, Y): Σ_b n[b,y]σ(·) − n[y,b]σ(·)
    return value, grad, slope, sigma_negative


def bt_nll_pair_pieces(margins: np.ndarray, pair_counts: np.ndarray):
    """(ℓ (...), the pair slopes n_p·σ(−m_p) (..., P)) from the margins m_p = r(x, y⁺) − r(x, y⁻) of the P
    (context, winner, loser) triples that were observed, with their counts n_p (P,)  (theory §3).

    The same ℓ as ``bt_nll_counts`` summed over contexts, Σ_p n_p·softplus(−m_p), with the zero counts left out: the
    certified search evaluates it at millions of points, and many of a context's Y² ordered pairs are never observed.
    ∂ℓ/∂m_p = −n_p·σ(−m_p).
    """
    tail = np.exp(-np.abs(margins))  # one exponential serves both: e^{−|m|} ∈ (0, 1]
    value = (np.maximum(-margins, 0.0) + np.log1p(tail)) @ pair_counts  # softplus(−m), stable for either sign
    return value, pair_counts * np.where(margins >= 0.0, tail, 1.0) / (1.0 + tail)  # σ(−m) = 1/(1 + e^{m})


def diagonal_view(stack: np.ndarray) -> np.ndarray:
    """A writable (X, Y) view of the diagonals of a C-contiguous (X, Y, Y) stack."""
    X, Y, _ = stack.shape
    return stack.reshape(X, Y * Y)[:, :: Y + 1]


def objective_pieces(r, counts, log_pi_ref, rho, beta: float, value_weight: float, hessian: bool = True, *,
                     per_context: bool = False):
    """f = ℓ(r) + value_weight·J⋆(r), its r-gradient and (unless ``hessian=False``) its r-Hessian.

    ℓ from counts (theory §3): ∇ and ∇² from σ(−m); ∇²ℓ is a graph Laplacian per context with edge
    weights n·σ(m)σ(−m). J⋆ (theory §2, I2): ∇ = ρπ_r, ∇² = (ρ/β)(diag π_r − π_r π_rᵀ).
    Shapes: r (X, Y), counts (X, Y, Y), log_pi_ref (X, Y), rho (X,) → (float, (X, Y), (X, Y, Y)); with
    ``per_context`` the value is the contexts' terms f_x, shape (X,), whose sum is f.
    Every Newton-type solver evaluates its objective here; value_weight < 0 gives the optimistic ℓ − αJ⋆.
    """
    value, grad, slope, sigma_negative = bt_nll_pieces(r, counts)  # value: (X,) ℓ_x
    if value_weight:
        j_terms, grad_value, pi = optimal_value_pieces(r, log_pi_ref, rho, beta)
        value = value + value_weight * j_terms  # (X,) ℓ_x + w·J*_x
        grad_value = value_weight * grad_value  # (X, Y) w·ρπ_r  (I2)
        grad = grad + grad_value
    value = value if per_context else float(value.sum())
    if not hessian:  # first-order solvers (SLSQP) need no Hessian
        return value, grad, None
    weight = slope * (1.0 - sigma_negative)  # n·σ(m)σ(−m), with σ(m) = 1 − σ(−m)
    weight += weight.transpose(0, 2, 1)  # symmetric per context: the Laplacian's edge weights
    diagonal = weight.sum(axis=2)  # (X, Y)
    if value_weight:  # the J* Hessian (w ρ/β)(diag π − ππᵀ) joins as more "edges" w(ρ/β)π_a π_b and a diagonal
        curvature = grad_value / beta  # (X, Y) w(ρ/β)π_r
        weight += curvature[:, :, None] * pi[:, None, :]
        diagonal += curvature
    hess = -weight  # (X, Y, Y)
    diagonal_view(hess)[...] += diagonal
    return value, grad, hess


def centred_features(features: np.ndarray, pi_cal: np.ndarray) -> np.ndarray:
    """φ̃(x,y) = φ(x,y) − E_{y'~π_cal(·|x)} φ(x,y'), shape (X, Y, d): r = ⟨φ̃, θ⟩ is calibrated for every θ  (theory §3)."""
    return features - np.einsum("xy,xyd->xd", pi_cal, features)[:, None, :]


# --------------------------------------------------------------------------- sampling and labels
def bradley_terry_wins(margin: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Bradley–Terry labels: True where the first response wins, P = σ(r(x,y¹) − r(x,y²))  (theory §3).

    ``uniform`` are U(0, 1) draws of the same shape as ``margin``.
    """
    return uniform < expit(margin)


def inverse_cdf(probabilities: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """The draw y of each row of a (..., Y) table of distributions that the U(0, 1) number ``uniform`` (...) selects:
    the first y whose cumulative mass exceeds u·(total mass), shape (...). The same uniforms give the same draw from the
    same distribution — the common random numbers that make two learners see the same data where they agree."""
    cdf = np.cumsum(probabilities, axis=-1)
    u = np.asarray(uniform)[..., None] * cdf[..., -1:]
    return np.minimum((u > cdf).sum(axis=-1), probabilities.shape[-1] - 1).astype(np.int64)


def sample_categorical(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One draw per row of a (..., Y) table of distributions, by inverse CDF (vectorized), shape (...)."""
    return inverse_cdf(probabilities, rng.uniform(size=probabilities.shape[:-1]))


# --------------------------------------------------------------------------- the VPO weight
def sum_form_weight(scale: float, num_pairs: float) -> float:
    """α = c·√N: the sum-form weight of J⋆ against a likelihood summed over N pairs  (theory §4).

    The regularizer's pull then shrinks like 1/√N relative to the likelihood, the theory's rate.
    """
    return float(scale * np.sqrt(num_pairs))


def mean_form_weight(scale: float, num_pairs: float) -> float:
    """a = α/N = c/√N: the same weight against a likelihood averaged over the N pairs  (theory §5, mean form)."""
    return float(scale / np.sqrt(num_pairs))


# --------------------------------------------------------------------------- line search
def backtrack(trial: Callable[[np.ndarray], tuple], value, decrement, *, slack=0.0, min_step: float = 1e-20,
              initial=None):
    """Armijo backtracking: step = 1, ½, ¼, … until f(step) ≤ f − ARMIJO·step·2·decrement + slack.

    ``decrement`` is the Newton decrement λ²/2 = −½∇f·d (≥ 0 for a descent direction d). Works
    element-wise: ``value`` and ``decrement`` may be arrays of independent problems (one per context),
    each with its own step. ``trial(step)`` returns (new value, anything); an infeasible or non-finite
    trial must return +inf or NaN (never accepted). Returns (step, accepted, new value, payload of the
    last trial); where ``accepted`` is False the next step would have fallen below ``min_step``.
    ``initial``: the first step to try (default 1), e.g. a fraction of the longest feasible step.
    """
    step = np.ones(np.shape(value)) if initial is None else np.array(initial, dtype=np.float64)
    while True:
        new_value, payload = trial(step if step.ndim else float(step))
        accepted = new_value <= value - ARMIJO * step * 2 * decrement + slack  # (False for NaN)
        if np.all(accepted):
            return step, accepted, new_value, payload
        shorter = np.where(accepted, step, step * SHRINK)
        if shorter.min() < min_step:  # no trial below min_step: the direction is not a descent direction
            return step, accepted, new_value, payload
        step = shorter
