"""The convex tabular solve (s = −1 or the MLE) for every context at once  (theory §3, §4).

In the tabular class the objective ℓ(r) + α J⋆(r) + λ/2‖r‖² separates over contexts, and its
Hessian in the calibrated coordinates w (r[x] = B_x w[x], B_x an orthonormal basis of
{v : π_cal(x)·v = 0}) is block diagonal. One damped Newton method on the joint problem then
takes every context's Newton step in one batched solve of (X, k, k) systems, with one Armijo
line search on the total — the joint Newton direction *is* the stack of the per-context ones.
This replaces X Python-level solves by one, which is what made the per-context path slow
(its cost was call overhead, not arithmetic).

Only the unconstrained problem is solved here; ``fit_vpo`` keeps the answer when it lies in
the reward class (the bound is then inactive) and otherwise falls back to the per-context
barrier method for the contexts whose answer left the class.
"""

from __future__ import annotations

import numpy as np

from . import kernels

#: Armijo slack of the batched Newton method, relative to max(1, |f|): f = ℓ + α·J* can be a small difference of
#: large terms, whose rounding then exceeds one ulp of f; with a slack of 1e-15·|f| a Newton step at the minimizer
#: was rejected as "no decrease" and the iteration crept by halved steps (gradient 3e-8 after 60 iterations on a
#: 2-response problem with α = 10√N; 4e-16 with plain Newton).
ROUNDING_SLACK = 1e-14


def calibrated_bases(pi_cal: np.ndarray) -> np.ndarray:
    """(X, Y, Y−1) orthonormal bases of {v : π_cal(x)·v = 0}, one Householder reflection per context.

    With p = π_cal(x)/‖π_cal(x)‖ (p ≥ 0) and u = p + e₀, ‖u‖² = 2(1 + p₀), the reflection
    H = I − uuᵀ/(1 + p₀) is orthogonal and symmetric and maps e₀ to −p, so its columns 1..Y−1
    are orthonormal and orthogonal to p. (This is what a complete QR of p computes, without
    LAPACK's per-call overhead on these tiny arrays; p₀ ≥ 0 means no cancellation in 1 + p₀.)
    """
    Y = pi_cal.shape[1]
    p = pi_cal / np.sqrt((pi_cal * pi_cal).sum(axis=1))[:, None]  # (X, Y) unit rows
    u = p.copy()
    u[:, 0] += 1.0
    v = p[:, 1:] / (1.0 + p[:, :1])  # (X, Y−1): rows 1.. of u, over 1 + p₀
    return np.eye(Y)[:, 1:] - u[:, :, None] * v[:, None, :]  # (X, Y, Y−1) columns 1.. of H


def solve_unconstrained(counts: np.ndarray, log_pi_ref: np.ndarray, rho: np.ndarray, beta: float,
                        value_weight: float, ridge: float, basis: np.ndarray, w0: np.ndarray | None = None,
                        *, max_iter: int = 100, xtol: float = 1e-5, give_up_beyond: float = np.inf):
    """argmin_w Σ_x [ℓ_x + value_weight·J⋆_x](B_x w_x) + λ/2‖w‖² by batched damped Newton.

    Shapes: counts (X, Y, Y), log_pi_ref (X, Y), rho (X,), basis (X, Y, k), w0 (X, k).
    Stops after taking a Newton step no longer than ``xtol``·(1 + max|w|) in every context
    (‖Δr_x‖₂ = ‖Δw_x‖₂): such a step is in the quadratic phase, so the error left after it is of
    order its square. Only that last step's gradient is computed, not its Hessian. Measured on
    400 random problems (tests/test_estimators.py): rewards within 1e-9·(1 + max|r|) of a run
    to the line search's limit, the same as testing the decrement against 1e-15·|f| afterwards,
    with one Hessian fewer.
    ``give_up_beyond``: stop (not converged) once some |w_xi| (≤ ‖r_x‖₂) exceeds it — the unconstrained
    minimizer is then far outside the reward class, or does not exist (separable data).
    Returns (w (X, k), converged, iterations, max |gradient|).
    """
    X, _, k = basis.shape
    basis_t = basis.transpose(0, 2, 1)  # (X, k, Y)

    def fun(w, hessian=True):
        r = (basis @ w[:, :, None])[:, :, 0]  # (X, Y)
        value, grad_r, hess_r = kernels.objective_pieces(r, counts, log_pi_ref, rho, beta, value_weight, hessian)  # ℓ + αJ*
        grad = (basis_t @ grad_r[:, :, None])[:, :, 0]  # (X, k)
        hess = basis_t @ hess_r @ basis if hessian else None  # (X, k, k) block diagonal of the joint Hessian
        if ridge:
            value, grad = value + 0.5 * ridge * float((w * w).sum()), grad + ridge * w
            if hessian:
                hess = hess + ridge * np.eye(k)
        return value, grad, hess

    w = np.zeros((X, k)) if w0 is None else np.array(w0, dtype=np.float64)
    value, grad, hess = fun(w)
    for iteration in range(1, max_iter + 1):
        size = float(abs(w).max())  # ‖r_x‖₂ = ‖w_x‖₂ ≥ every |w_xi|: no need to form r for the two tests below
        if size > give_up_beyond:
            return w, False, iteration, float(abs(grad).max())
        try:
            direction = -np.linalg.solve(hess, grad[:, :, None])[:, :, 0]  # (X, k): every context's Newton step
        except np.linalg.LinAlgError:
            return w, False, iteration, float(abs(grad).max())
        per_context = (grad * direction).sum(axis=1)  # (X,) −2·(each context's Newton decrement), ≤ 0 if H ≻ 0
        decrement = -0.5 * float(per_context.sum())
        if not per_context.max() <= 2e-12 * max(1.0, abs(value)):  # (False for NaN too)
            # a numerically singular Hessian (a flat direction: rewards so large that π_r is a point
            # mass and the data do not pin them down): leave it to the per-context safeguarded solver
            return w, False, iteration, float(abs(grad).max())
        # a Newton step this short is in the quadratic phase: take it, and stop without a Hessian after it
        done = float((direction * direction).sum(axis=1).max()) <= (xtol * (1.0 + size)) ** 2
        step, accepted, new_value, (new_grad, new_hess) = kernels.backtrack(
            lambda step: _trial(fun, w + step * direction, not done), value, decrement, slack=ROUNDING_SLACK * max(1.0, abs(value)))
        if not accepted:
            converged = done or decrement <= 1e-10 * max(1.0, abs(value))
            return w, converged, iteration, float(abs(grad).max())
        candidate = w + step * direction
        w, value, grad, hess = candidate, new_value, new_grad, new_hess
        if done:
            return w, True, iteration, float(abs(grad).max())
    return w, False, max_iter, float(abs(grad).max())


def solve_bounded(counts: np.ndarray, log_pi_ref: np.ndarray, rho: np.ndarray, beta: float, value_weight: float,
                  ridge: float, basis: np.ndarray, bound: float, w0: np.ndarray | None = None, *,
                  rtol: float = 1e-13, max_newton: int = 200, t0: float | None = None,
                  growth: float = 100.0) -> tuple[np.ndarray, bool, int, float]:
    """argmin ℓ + value_weight·J⋆ + λ/2‖w‖² over |B_x w_x| ≤ R, every context at once: a log-barrier method.

    The problem separates over contexts, so each context x minimizes t·f_x(w_x) − Σ_y log(R² − r_xy²) with
    its own Newton step and its own backtracking line search, batched: one (X, k, k) solve per iteration
    for all the contexts where the bound binds (instead of one SQP solve per context). t grows ×``growth``
    once every context's Newton step is shorter than 1e-10·(1 + max|w|); the method stops when the barrier's
    duality gap 2Y/t is below ``rtol``·(1 + |f_x|) in every context (Boyd & Vandenberghe §11.3). A warm
    start (strictly inside) begins at the t where that gap is 1e-6·(1 + |f|): measured on the 40 × 12
    benchmark, 38 Newton iterations instead of 82 from t = 1/N with growth 20.
    Meant for problems with one minimizer (value_weight > 0 with ρ > 0, or ridge > 0).
    Shapes: counts (X, Y, Y), log_pi_ref (X, Y), rho (X,), basis (X, Y, k), w0 (X, k) strictly inside.
    Returns (w (X, k), converged, Newton iterations, the largest duality gap bound).
    """
    problem = _BarrierProblem(counts, log_pi_ref, rho, beta, value_weight, ridge, basis, bound)
    X, Y, k = basis.shape
    w = np.zeros((X, k)) if w0 is None else np.array(w0, dtype=np.float64)
    if t0 is None:  # cold: from the analytic centre's side; warm: where the barrier's gap is 1e-6 of f (near the path)
        t0 = 1.0 / max(1.0, float(np.abs(counts).sum(axis=(1, 2)).max()))
        if w0 is not None:
            t0 = 2 * Y / (1e-6 * (1.0 + float(np.abs(problem.pieces(w, 1.0, False)[1]).max())))
    t = t0
    iterations = 0
    while True:
        w, f, steps, centred = _centre(problem, w, t, max_newton)
        iterations += steps
        if centred is None:  # left the domain or a singular system
            return w, False, iterations, np.inf
        if not centred:
            return w, False, iterations, 2 * Y / t
        if 2 * Y / t <= rtol * (1.0 + float(np.abs(f).min())):  # the barrier's duality gap, every context
            return w, True, iterations, 2 * Y / t
        t *= growth


class _BarrierProblem:
    """Per context x: F_x = t·f_x(w_x) − Σ_y log(R² − r_xy²) with f = ℓ + value_weight·J⋆ + λ/2‖w‖², batched."""

    def __init__(self, counts, log_pi_ref, rho, beta, value_weight, ridge, basis, bound):
        self.counts, self.log_pi_ref, self.rho, self.beta = counts, log_pi_ref, rho, beta
        self.value_weight, self.ridge, self.basis, self.bound = value_weight, ridge, basis, bound
        self.basis_t = basis.transpose(0, 2, 1)  # (X, k, Y)

    def pieces(self, w, t, hessian):
        """(F (X,), f (X,), ∇F (X, k), ∇²F (X, k, k)); F = +inf outside the class; no derivatives unless ``hessian``."""
        X, Y, k = self.basis.shape
        r = (self.basis @ w[:, :, None])[:, :, 0]  # (X, Y)
        slack_high, slack_low = self.bound - r, self.bound + r
        if np.any(slack_high <= 0) or np.any(slack_low <= 0):
            inside = (slack_high > 0).all(axis=1) & (slack_low > 0).all(axis=1)
        else:
            inside = np.ones(X, dtype=bool)
        if hessian:  # f_x with its derivatives, per context: the Hessian is block diagonal
            f, grad_r, hess_r = kernels.objective_pieces(r, self.counts, self.log_pi_ref, self.rho, self.beta,
                                                         self.value_weight, per_context=True)
        else:
            f = kernels.bt_nll_counts(r, self.counts) + self.value_weight * kernels.optimal_value(
                r, self.log_pi_ref, self.rho, self.beta, per_context=True)
        f = f + 0.5 * self.ridge * (w * w).sum(axis=1)  # (X,) ℓ_x + w·J*_x + ridge
        with np.errstate(invalid="ignore", divide="ignore"):
            barrier = -(np.log(slack_high) + np.log(slack_low)).sum(axis=1)
        value = np.where(inside, t * f + barrier, np.inf)
        if not hessian:
            return value, f, None, None
        with np.errstate(divide="ignore"):
            grad_r = t * grad_r + 1.0 / slack_high - 1.0 / slack_low
            curvature = 1.0 / slack_high**2 + 1.0 / slack_low**2  # (X, Y)
        hess_r = t * hess_r
        hess_r[:, np.arange(Y), np.arange(Y)] += curvature
        grad = (self.basis_t @ grad_r[:, :, None])[:, :, 0] + t * self.ridge * w
        hess = self.basis_t @ hess_r @ self.basis + t * self.ridge * np.eye(k)
        return value, f, grad, hess


def _centre(problem: _BarrierProblem, w, t, max_newton):
    """Newton on F = t·f + barrier in every context until every step is short: (w, f, iterations, centred).

    ``centred`` is None when the start is outside the class or a Newton system is singular.
    """
    value, f, grad, hess = problem.pieces(w, t, True)
    if not np.all(np.isfinite(value)):
        return w, f, 0, None
    for iteration in range(1, max_newton + 1):
        try:
            direction = -np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            return w, f, iteration, None
        # centred when every Newton step is this short (quadratic phase): a test on the decrement alone
        # (the objective) leaves errors of order √ε in w — 2e-6 against the per-context barrier, measured
        if float((direction * direction).sum(axis=1).max()) <= (1e-10 * (1.0 + float(abs(w).max()))) ** 2:
            return w, f, iteration, True
        decrement = -0.5 * (grad * direction).sum(axis=1)  # (X,) λ²/2 ≥ 0
        # the first trial stays inside the class (99 % of the way to its boundary along the direction): an
        # infeasible trial is a wasted evaluation of every context, and Newton steps near the bound overshoot it
        change = (problem.basis @ direction[:, :, None])[:, :, 0]  # (X, Y) Δr
        r = (problem.basis @ w[:, :, None])[:, :, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            room = np.where(change > 0, (problem.bound - r) / change, np.where(change < 0, (problem.bound + r) / -change,
                                                                                 np.inf))
        initial = np.minimum(1.0, 0.99 * room.min(axis=1))
        # per-context backtracking (an infeasible trial has value +inf). The slack of one rounding of F lets a
        # Newton step whose predicted decrease is below F's precision through (F ~ t·f reaches 1e17): without it
        # the Armijo test compares rounding noise and accepts only vanishing steps, and centring stalls
        step, moved, _, _ = kernels.backtrack(lambda step: (problem.pieces(w + step[:, None] * direction, t, False)[0],
                                                            None), value, decrement, slack=1e-15 * np.abs(value),
                                              initial=initial)
        w = np.where(moved[:, None], w + step[:, None] * direction, w)
        value, f, grad, hess = problem.pieces(w, t, True)
        if not moved.any():
            return w, f, iteration, True
    return w, f, max_newton, False


def _trial(fun, candidate, hessian):
    """A line-search trial of the batched Newton method: (value, (gradient, Hessian)) at ``candidate``."""
    value, grad, hess = fun(candidate, hessian=hessian)
    return value, (grad, hess)
