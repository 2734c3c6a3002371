"""Damped Newton and a log-barrier interior-point method for smooth convex problems.

Used by the estimators for every convex solve: the pessimistic VPO objective, the MLE, and
each step of the convex–concave procedure for the optimistic objective. The feasible sets
are the two reward classes of theory §4: a box A w ≤ b (tabular |r| ≤ R_max) and a Euclidean
ball ‖w‖ ≤ B (linear ‖θ‖ ≤ B).

Reference: Boyd & Vandenberghe, Convex Optimization, §9.5 (Newton) and §11.3 (barrier).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import kernels

#: The barrier parameter t grows by this factor between centerings from w = 0 (Boyd & Vandenberghe §11.3.3
#: suggest 10–20 and find the total Newton count flat over a wide range), and by the larger one from a warm
#: interior point (the optimistic polish), where Newton absorbs bigger steps of t.
BARRIER_GROWTH_COLD, BARRIER_GROWTH_WARM = 20.0, 100.0

# fun(w) -> (value, gradient (k,), Hessian (k, k))
Objective = Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Box:
    """{w : A w ≤ b}, with b > 0 so that w = 0 is strictly inside."""

    A: np.ndarray  # (m, k)
    b: np.ndarray  # (m,)

    def slack(self, w: np.ndarray) -> np.ndarray:
        return self.b - self.A @ w

    def barrier(self, w):
        s = self.slack(w)  # (m,) > 0 inside
        if np.any(s <= 0):
            return np.inf, np.zeros_like(w), np.eye(len(w)), len(s)
        value = -np.sum(np.log(s))
        grad = self.A.T @ (1.0 / s)
        hess = (self.A.T * (1.0 / s**2)) @ self.A
        return value, grad, hess, len(s)

    def max_step(self, w, d) -> float:
        rate = self.A @ d
        s = self.slack(w)
        positive = rate > 0
        return float(np.min(s[positive] / rate[positive])) if np.any(positive) else np.inf

    def contains(self, w) -> bool:
        if not np.max(np.abs(w), initial=0.0) < 1e150:  # a runaway Newton step: outside, without overflow
            return False
        return bool(np.all(self.slack(w) >= -1e-12 * np.max(np.abs(self.b))))


@dataclass(frozen=True)
class Ball:
    """{w : ‖w‖₂ ≤ radius}."""

    radius: float

    def barrier(self, w):
        u = self.radius**2 - w @ w  # > 0 inside
        if u <= 0:
            return np.inf, np.zeros_like(w), np.eye(len(w)), 1
        value = -np.log(u)
        grad = 2.0 * w / u
        hess = 2.0 * np.eye(len(w)) / u + 4.0 * np.outer(w, w) / u**2
        return value, grad, hess, 1

    def max_step(self, w, d) -> float:
        # largest s with ‖w + s d‖ < radius: root of |d|² s² + 2 w·d s + |w|² − R² = 0
        a, b, c = d @ d, 2 * w @ d, w @ w - self.radius**2
        if a == 0:
            return np.inf
        return float((-b + np.sqrt(b * b - 4 * a * c)) / (2 * a))

    def contains(self, w) -> bool:
        if not np.max(np.abs(w), initial=0.0) <= self.radius * (1 + 1e-12):  # cheap, and no overflow
            return False
        return bool(np.linalg.norm(w) <= self.radius * (1 + 1e-12))


class _LeftTheSet(Exception):
    """A line-search trial of ``newton(abort_outside=...)`` left the set: the solve gives up."""


@dataclass
class NewtonInfo:
    iterations: int
    converged: bool
    decrement: float  # Newton decrement λ²/2 at the end, or the barrier's duality gap m/t
    barrier: bool = False  # True when the constraint was active and the barrier method ran


def _solve(hess: np.ndarray, grad: np.ndarray, convex: bool = True) -> np.ndarray:
    """Newton direction −H⁻¹g; a tiny ridge keeps flat directions (no data, no curvature) at rest.

    For a non-convex objective the Hessian's eigenvalues are replaced by their absolute values
    (floored), so the direction is always a descent direction (modified Newton).
    """
    scale = max(float(np.max(np.abs(np.diag(hess)))), 1e-300)
    if not convex:
        eigenvalues, vectors = np.linalg.eigh(0.5 * (hess + hess.T))
        floor = 1e-10 * max(float(np.max(np.abs(eigenvalues))), 1e-300)
        modified = np.maximum(np.abs(eigenvalues), floor)
        return -vectors @ ((vectors.T @ grad) / modified)
    try:
        return -np.linalg.solve(hess + 1e-13 * scale * np.eye(len(grad)), grad)
    except np.linalg.LinAlgError:
        return -np.linalg.lstsq(hess, grad, rcond=None)[0]


def newton(fun: Objective, w0: np.ndarray, *, max_iter: int = 200, rtol: float = 1e-15,
           domain: Box | Ball | None = None, convex: bool = True,
           abort_outside: Box | Ball | None = None) -> tuple[np.ndarray, NewtonInfo]:
    """Minimize a smooth convex ``fun`` by damped Newton with Armijo backtracking.

    Stops when the Newton decrement λ²/2 ≤ rtol·max(1, |f|), then takes one more full step
    (quadratic convergence makes its error negligible). With ``domain`` the step is kept
    strictly inside it (used for barrier centering). With ``abort_outside`` the solve gives up
    (converged=False) as soon as an iterate leaves that set.
    """
    w = np.array(w0, dtype=np.float64)
    value, grad, hess = fun(w)
    done = False
    for iteration in range(1, max_iter + 1):
        direction = _solve(hess, grad, convex)
        decrement = float(-grad @ direction) / 2.0
        if not np.isfinite(decrement):
            break
        if decrement <= rtol * max(1.0, abs(value)):
            if done:
                return w, NewtonInfo(iteration, True, decrement)
            done = True  # one extra step past the tolerance
        first = 1.0 if domain is None else min(1.0, 0.99 * domain.max_step(w, direction))

        def trial(step, w=w, direction=direction):
            candidate = w + (first * step) * direction
            if abort_outside is not None and not abort_outside.contains(candidate):
                raise _LeftTheSet
            new_value, new_grad, new_hess = fun(candidate)
            return new_value, (candidate, new_grad, new_hess)

        try:
            _, accepted, new_value, (candidate, new_grad, new_hess) = kernels.backtrack(
                trial, value, first * decrement, slack=1e-15 * abs(value), min_step=1e-20 / first if first > 0 else np.inf)
        except _LeftTheSet:
            return w, NewtonInfo(iteration, False, decrement)  # the unconstrained path left the set
        if not accepted:
            return w, NewtonInfo(iteration, done or decrement <= 1e-10 * max(1.0, abs(value)), decrement)
        w, value, grad, hess = candidate, new_value, new_grad, new_hess
        if abort_outside is not None and not abort_outside.contains(w):
            return w, NewtonInfo(iteration, False, decrement)
    return w, NewtonInfo(max_iter, done, decrement)


def minimize_convex(fun: Objective, k: int, *, constraint: Box | Ball | None, w0: np.ndarray | None = None,
                    rtol: float = 1e-14, convex: bool = True, t0: float | None = None) -> tuple[np.ndarray, NewtonInfo]:
    """argmin_w fun(w) over R^k or over ``constraint`` (a Box or a Ball containing 0 strictly).

    Unconstrained: damped Newton from ``w0``. Constrained: first an unconstrained Newton
    solve; if it converges inside the set, that is the answer (the constraint is inactive).
    Otherwise the barrier method: centering steps on t·f + φ for t growing ×20 until the
    duality gap m/t is below rtol·max(1, |f|).

    ``convex=False`` (the optimistic objective): no unconstrained attempt (it is unbounded
    below), modified-Newton centering, and ``t0`` lets a caller start far along the central
    path from a good interior point (a local solve, not a global one).
    """
    start = np.zeros(k) if w0 is None else np.asarray(w0, dtype=np.float64)
    if constraint is None:
        return newton(fun, start, convex=convex)
    if w0 is not None and not constraint.contains(start):
        start = np.zeros(k)
    if convex:
        # if the unconstrained minimizer is inside, it is the answer; stop trying once outside
        w, info = newton(fun, start, max_iter=60, abort_outside=constraint)
        if info.converged and constraint.contains(w):
            return w, info
    # barrier method from a strictly feasible point
    # barrier method from w = 0 (strictly inside both classes). Warm starts near the boundary
    # were tried and measured: they save iterations but lose the 1e-12 accuracy CCP relies on.
    w = np.zeros(k)
    value0 = abs(fun(w)[0])
    if t0 is None:
        t0 = 1.0
    elif w0 is not None and _strictly_inside(constraint, start):
        w = start  # caller's interior point with a chosen t0 (the optimistic local polish)
    t = t0
    growth = BARRIER_GROWTH_COLD if t0 == 1.0 else BARRIER_GROWTH_WARM
    total = 0
    for _ in range(60):  # t grows ×20 a round: 60 rounds span any sane range
        def barrier_fun(v, t=t):
            f, g, h = fun(v)
            pv, pg, ph, _ = constraint.barrier(v)
            return t * f + pv, t * g + pg, t * h + ph

        w, centering = newton(barrier_fun, w, max_iter=100, rtol=1e-12, domain=constraint, convex=convex)
        total += centering.iterations
        num_constraints = constraint.barrier(w)[3]
        gap = num_constraints / t
        if gap <= rtol * max(1.0, value0, abs(fun(w)[0])):
            return w, NewtonInfo(total, centering.converged, gap, True)
        t *= growth
    return w, NewtonInfo(total, False, gap, True)


def _strictly_inside(constraint: Box | Ball, w: np.ndarray) -> bool:
    if isinstance(constraint, Box):
        return bool(np.all(constraint.slack(w) > 0))
    return bool(w @ w < constraint.radius**2)
