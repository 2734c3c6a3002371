"""The convex tabular solve (s = −1 or the MLE) for every context at once  (MATH §3, §4).

In the tabular class the objective ℓ(r) + α J*(r) + λ/2‖r‖² separates over contexts, and its
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

_ARMIJO, _SHRINK = 0.25, 0.5


def calibrated_bases(pi_cal: np.ndarray) -> np.ndarray:
    """(X, Y, Y−1) orthonormal bases of {v : π_cal(x)·v = 0}, from one batched complete QR."""
    q, _ = np.linalg.qr(pi_cal[:, :, None], mode="complete")  # (X, Y, Y): column 0 ∝ π_cal(x)
    return q[:, :, 1:]


def solve_unconstrained(counts: np.ndarray, log_pi_ref: np.ndarray, rho: np.ndarray, beta: float,
                        value_weight: float, ridge: float, basis: np.ndarray, w0: np.ndarray | None = None,
                        *, max_iter: int = 100, rtol: float = 1e-15, give_up_beyond: float = np.inf):
    """argmin_w Σ_x [ℓ_x + value_weight·J*_x](B_x w_x) + λ/2‖w‖² by batched damped Newton.

    Shapes: counts (X, Y, Y), log_pi_ref (X, Y), rho (X,), basis (X, Y, k), w0 (X, k).
    ``give_up_beyond``: stop (not converged) once some |r| exceeds it — the unconstrained
    minimizer is then far outside the reward class, or does not exist (separable data).
    Returns (w (X, k), converged, iterations, max |gradient|).
    """
    from .estimators import _nll_pieces, _value_pieces  # the objective pieces every solver uses

    X, _, k = basis.shape
    basis_t = basis.transpose(0, 2, 1)  # (X, k, Y)
    eye = np.eye(k)

    def fun(w):
        r = (basis @ w[:, :, None])[:, :, 0]  # (X, Y)
        value, grad_r, hess_r = _nll_pieces(r, counts)  # ℓ (MATH §3)
        if value_weight:  # + α J* (MATH §2, I2)
            value_j, grad_j, hess_j, _ = _value_pieces(r, log_pi_ref, rho, beta)
            value, grad_r, hess_r = value + value_weight * value_j, grad_r + value_weight * grad_j, \
                hess_r + value_weight * hess_j
        grad = (basis_t @ grad_r[:, :, None])[:, :, 0]  # (X, k)
        hess = basis_t @ hess_r @ basis  # (X, k, k) block diagonal of the joint Hessian
        if ridge:
            return value + 0.5 * ridge * float((w * w).sum()), grad + ridge * w, hess + ridge * eye
        return value, grad, hess

    w = np.zeros((X, k)) if w0 is None else np.array(w0, dtype=np.float64)
    value, grad, hess = fun(w)
    done = False
    for iteration in range(1, max_iter + 1):
        try:
            direction = -np.linalg.solve(hess, grad[:, :, None])[:, :, 0]  # (X, k): every context's Newton step
        except np.linalg.LinAlgError:
            return w, False, iteration, float(np.max(np.abs(grad)))
        per_context = -np.sum(grad * direction, axis=1) / 2.0  # each context's Newton decrement, ≥ 0 if H ≻ 0
        decrement = float(per_context.sum())
        if not per_context.min() >= -1e-12 * max(1.0, abs(value)):  # (False for NaN too)
            # a numerically singular Hessian (a flat direction: rewards so large that π_r is a point
            # mass and the data do not pin them down): leave it to the per-context safeguarded solver
            return w, False, iteration, float(np.max(np.abs(grad)))
        if decrement <= rtol * max(1.0, abs(value)):
            done = True  # one more full step past the tolerance (quadratic convergence), then stop
        step = 1.0
        while True:
            candidate = w + step * direction
            new_value, new_grad, new_hess = fun(candidate)
            if np.isfinite(new_value) and new_value <= value - _ARMIJO * step * 2 * decrement + 1e-15 * abs(value):
                break
            step *= _SHRINK
            if step < 1e-20:
                converged = done or decrement <= 1e-10 * max(1.0, abs(value))
                return w, converged, iteration, float(np.max(np.abs(grad)))
        w, value, grad, hess = candidate, new_value, new_grad, new_hess
        if done:
            return w, True, iteration, float(np.max(np.abs(grad)))
        if give_up_beyond < np.inf and np.max(np.abs(np.einsum("xyk,xk->xy", basis, w))) > give_up_beyond:
            return w, False, iteration, float(np.max(np.abs(grad)))
    return w, done, max_iter, float(np.max(np.abs(grad)))
