"""Exact estimators: VPO in both signs and the MLE, tabular and linear  (MATH §3, §4).

    r̂ = argmin_{r ∈ R} ℓ(r; D) − s·α·J*(r) (+ λ/2 ‖θ‖²),   π̂ = π_{r̂}

The reward class R is calibrated (E_{π_cal} r = 0 per context, MATH §3, I5) and
parameterized by an orthonormal basis: r = B w. Tabular: B_x spans {v : π_cal(x)·v = 0} and
θ is the reward table (‖θ‖ = ‖w‖). Linear: r = ⟨φ̃, θ⟩ with centred features φ̃ and θ = V w,
V an orthonormal basis of the directions of θ the features can see (‖θ‖ = ‖w‖); other
directions of θ change no reward, so the minimum-norm θ is reported.

- s = −1 (pessimism) and the MLE (α = 0): a convex problem, solved by damped Newton (no
  bound) or a log-barrier interior-point method (bound), to machine precision (the batched
  all-contexts Newton of ``_batched``: rewards within 1e-8·(1 + max|r|) of its limit).
- s = +1 (optimism): ℓ − αJ* is a difference of convex functions, with local minima that are
  not global. The default, ``method="certified"``, solves it globally by branch and bound
  (``certified``; docs/theory.md, "Certified optimism"): the fit carries a proven lower bound
  on the minimum and the gap, and ``certified`` says whether the gap closed to
  1e-8·(1 + |objective|). The other methods are heuristics that find stationary points only:
  the convex–concave procedure (CCP: linearize J* at the iterate, ∇J* = ρ·π_r (I2), solve the
  convex rest; its fixed points are the KKT points) from several starts, and SLSQP from one or
  several starts.

Tabular problems separate over contexts (ℓ, J*, calibration and the box all do), so they are
solved one context at a time: each solve is over Y − 1 numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import null_space
from scipy.special import expit

from . import core
from ._batched import calibrated_bases, solve_bounded, solve_unconstrained
from ._newton import Ball, Box, minimize_convex
from .certified import DEFAULT_MAX_CELLS, DEFAULT_RTOL, certified_minimize
from ._validation import (
    as_array,
    check_distribution,
    check_full_support,
    check_sign,
    check_support_inside,
    positive_scalar,
)
from .data import pair_counts

__all__ = ["VPOFit", "fit_vpo", "fit_mle", "center_features", "OPTIMISTIC_METHODS"]

OPTIMISTIC_METHODS = ("certified", "ccp+newton", "ccp", "local", "sqp-multistart")  # the first is the default
_LINEAR_MAX_CELLS = 2_000  # linear class: ~1 ms a cell at X = 10, Y = 8, k = 8; beyond ~4 dimensions B&B rarely closes


@dataclass
class VPOFit:
    """Result of ``fit_vpo`` / ``fit_mle``."""

    reward: np.ndarray  # (X, Y) calibrated reward estimate r̂
    policy: np.ndarray  # (X, Y) π_{r̂}
    theta: np.ndarray | None  # (d,) minimum-norm θ̂ (linear class), else None
    objective: float  # ℓ(r̂) − s·α·J*(r̂) + λ/2 ‖θ̂‖², the minimized objective
    nll: float  # ℓ(r̂; D), sum form
    optimal_value: float  # J*(r̂)
    stationarity: float  # convex solves: gradient norm or barrier gap; s = +1: ‖r_{k+1} − r_k‖_∞ of one more CCP step
    converged: bool
    iterations: int  # Newton (or CCP × Newton) iterations summed
    solver: str  # s = −1 / MLE: "newton-batched" (every context at once), "newton", "barrier", "sqp" (warm-started bounded), or a "+"-joined mix; s = +1: the method used
    start_objectives: list[float] = field(default_factory=list)  # s = +1 heuristics: best objective from each start
    lower_bound: float | None = None  # s = +1, method "certified": a proven lower bound on the minimum
    gap: float | None = None  # objective − lower_bound (≥ 0)
    certified: bool | None = None  # gap ≤ 1e-8·(1 + |objective|) (summed over the contexts' tolerances)
    cells: int = 0  # simplices the branch and bound examined
    partitions: list = field(default_factory=list, repr=False)  # the searches' leaves, reused by fit_vpo(init=this)


# --------------------------------------------------------------------------- objective pieces
def _nll_value(r, counts) -> float:
    """ℓ = Σ n[x,a,b] softplus(−(r[x,a] − r[x,b])) alone  (MATH §3). Shapes: r (X, Y), counts (X, Y, Y)."""
    return float((counts * np.logaddexp(0.0, r[:, None, :] - r[:, :, None])).sum())


def _objective_pieces(r, counts, log_pi_ref, rho, beta: float, value_weight: float, hessian: bool = True):
    """f = ℓ(r) + value_weight·J*(r), its r-gradient and (unless ``hessian=False``) its r-Hessian.

    ℓ = Σ n[x,a,b] softplus(−(r[x,a] − r[x,b]))  (MATH §3): ∇ and ∇² from σ(−m); ∇²ℓ is a graph
    Laplacian per context. J* = β Σ_x ρ(x) log Z_r(x)  (MATH §2, I2): ∇ = ρπ_r, ∇² = (ρ/β)(diag π_r − π_r π_rᵀ).
    Shapes: r (X, Y), counts (X, Y, Y), log_pi_ref (X, Y), rho (X,) → (float, (X, Y), (X, Y, Y)).
    Every solver (batched, per-context Newton/barrier, SLSQP) evaluates its objective here. It is
    written with as few NumPy calls as possible: on these tiny arrays the calls, not the
    arithmetic, are the cost.
    """
    negative = r[:, None, :] - r[:, :, None]  # (X, Y, Y) −m, m = r[x,a] − r[x,b]
    value = float(np.vdot(counts, np.logaddexp(0.0, negative)))  # ℓ
    sigma_negative = expit(negative)  # σ(−m)
    slope = counts * sigma_negative  # n·σ(−m) = −∂/∂m of n·softplus(−m)
    grad = (slope.transpose(0, 2, 1) - slope).sum(axis=2)  # (X, Y): Σ_b n[b,y]σ(·) − n[y,b]σ(·)
    if value_weight:
        log_pi, log_z = core._log_optimal_policy(r, log_pi_ref, beta)  # the one J* of the package (MATH §2)
        pi = np.exp(log_pi)  # (X, Y) π_r
        value += value_weight * beta * float(rho @ log_z)
        grad_value = (value_weight * rho)[:, None] * pi  # (X, Y) w·ρπ_r  (I2)
        grad += grad_value
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
    _diagonal(hess)[...] += diagonal
    return value, grad, hess


def _diagonal(stack: np.ndarray) -> np.ndarray:
    """A writable (X, Y) view of the diagonals of a C-contiguous (X, Y, Y) stack."""
    X, Y, _ = stack.shape
    return stack.reshape(X, Y * Y)[:, :: Y + 1]


@dataclass
class _Block:
    """A convex-or-DC problem over w for one group of contexts (one context in the tabular case)."""

    basis: np.ndarray  # (Xb, Y, k): r = basis @ w
    counts: np.ndarray  # (Xb, Y, Y)
    log_pi_ref: np.ndarray  # (Xb, Y)
    rho: np.ndarray  # (Xb,)
    beta: float
    ridge: float
    constraint: Box | Ball | None

    def reward(self, w):
        return self.basis @ w  # (Xb, Y)

    def convex(self, value_weight: float, linear: np.ndarray | None):
        """w ↦ ℓ(r) + value_weight·J*(r) + ⟨linear, r⟩ + λ/2‖w‖² with gradient and Hessian."""
        basis = self.basis
        basis_t = basis.transpose(0, 2, 1)  # (Xb, k, Y)

        def fun(w, hessian: bool = True):
            r = basis @ w
            f, g, h = _objective_pieces(r, self.counts, self.log_pi_ref, self.rho, self.beta, value_weight, hessian)
            if linear is not None:
                f, g = f + float(np.sum(linear * r)), g + linear
            grad = np.einsum("xyk,xy->k", basis, g) + self.ridge * w
            if not hessian:  # first-order solvers (SLSQP) need no Hessian
                return f + 0.5 * self.ridge * float(w @ w), grad, None
            hess = (basis_t @ h @ basis).sum(axis=0) + self.ridge * np.eye(len(w))  # Σ_x B_xᵀ H_x B_x
            return f + 0.5 * self.ridge * float(w @ w), grad, hess

        return fun

    def objective(self, w, alpha, sign):
        r = self.reward(w)
        j = float(self.beta * (self.rho @ core._log_optimal_policy(r, self.log_pi_ref, self.beta)[1]))  # MATH §2
        return _nll_value(r, self.counts) - sign * alpha * j + 0.5 * self.ridge * float(w @ w)


def _strictly_convex(alpha: float, ridge: float, rho: np.ndarray) -> bool:
    """ℓ + αJ* + λ/2‖r‖² has one minimizer over the calibrated class (ℓ alone may be flat: α = 0 leaves
    never-compared responses free)."""
    return ridge > 0 or (alpha > 0 and bool(np.all(rho > 0)))


def _solve_pessimistic(block: _Block, alpha: float, w0):
    """argmin ℓ + αJ* + ridge over the class: convex, exact  (MATH §4, s = −1; α = 0 is the MLE).

    Warm-started bounded solves (online rounds), and the one-context bounded solves of the
    tabular class (contexts where the bound binds), go through SLSQP — the problem is convex,
    so its local answer is the global one — with the barrier method only if SLSQP did not
    converge. Other cold solves use Newton / the barrier method.
    """
    k = block.basis.shape[-1]
    if block.constraint is not None and (w0 is not None or (block.basis.shape[0] == 1
                                                            and _strictly_convex(alpha, block.ridge, block.rho))):
        # a warm start, or one context (the tabular fallback when the bound binds) with a unique minimizer:
        # SQP from there. (A non-unique MLE keeps the barrier's choice among its minimizers.)
        w, converged, iterations, residual, _ = _local_sqp(block, alpha, w0 if w0 is not None else np.zeros(k), sign=-1)
        if converged:
            return w, True, iterations, residual, "sqp"
    w, info = minimize_convex(block.convex(alpha, None), k, constraint=block.constraint, w0=w0)
    _, grad, _ = block.convex(alpha, None)(w)
    solver = "barrier" if info.barrier else "newton"
    residual = float(info.decrement) if info.barrier else float(np.max(np.abs(grad)))
    return w, info.converged, info.iterations, residual, solver


def _ccp_step(block: _Block, alpha: float, w: np.ndarray):
    """One convex–concave step: minimize ℓ − α⟨∇J*(r_k), r⟩ (+ ridge) over the class  (MATH §4)."""
    log_pi, _ = core._log_optimal_policy(block.reward(w), block.log_pi_ref, block.beta)
    grad_j = block.rho[:, None] * np.exp(log_pi)  # ∇J*(r_k) = ρ·π_{r_k}  (I2)
    return minimize_convex(block.convex(0.0, -alpha * grad_j), len(w), constraint=block.constraint, w0=w)


def _solve_optimistic(block: _Block, alpha: float, starts: list[np.ndarray], *, tol: float, max_iter: int,
                      method: str):
    """ℓ − αJ* from each start; the best objective wins  (MATH §4, s = +1).

    ``method="ccp"``: convex–concave steps until ‖r_{k+1} − r_k‖_∞ ≤ tol·(1 + ‖r‖_∞).
    ``method="ccp+newton"`` (default): at most 2 CCP steps from each start to settle into a
    basin, then, from the two best, a local modified-Newton barrier solve of the true
    objective (quadratic instead of linear convergence), kept only if it does not raise the
    objective.
    ``method="local"``: one local SQP solve (SciPy's SLSQP, an active-set method that
    warm-starts well) from the first start only — the cheap step of an online round.
    ``method="sqp-multistart"``: that local solve from every start, the best kept — the same
    starts as "ccp+newton" at a fraction of the cost (an online loop's first round).
    The reported stationarity (not for "local") is the length of one more CCP step from the
    answer: CCP's fixed points are exactly the KKT points, so it is 0 only at a stationary point.
    """
    if method == "local":
        return _local_sqp(block, alpha, starts[0])
    if method == "sqp-multistart":  # a local SQP solve from every start; the lowest objective wins
        solves = [_local_sqp(block, alpha, w_start) for w_start in starts]
        lowest = min(solve[4][0] for solve in solves)
        # ties (symmetric optima, e.g. with no data) go to the first start, not to rounding noise that
        # differs between machines and thread counts: the same seed gives the same run everywhere
        best = next(solve for solve in solves if solve[4][0] <= lowest + 1e-9 * max(1.0, abs(lowest)))
        return best[0], best[1], sum(solve[2] for solve in solves), best[3], [solve[4][0] for solve in solves]
    start_objectives = []
    total_iterations = 0
    ccp_limit = {"ccp": max_iter, "ccp+newton": min(max_iter, 2)}[method]
    candidates = []  # (objective, w) after the CCP phase
    for w_start in starts:
        w = np.array(w_start, dtype=np.float64)
        for _ in range(ccp_limit):
            w_next, info = _ccp_step(block, alpha, w)
            total_iterations += info.iterations
            residual = float(np.max(np.abs(block.reward(w_next) - block.reward(w))))
            w = w_next
            if residual <= tol * (1.0 + float(np.max(np.abs(block.reward(w))))):
                break
        objective = block.objective(w, alpha, +1)
        start_objectives.append(objective)
        candidates.append((objective, w))
    candidates.sort(key=lambda pair: pair[0])
    if method == "ccp+newton":
        # the local Newton solve is the expensive part: only from the two most promising basins
        polished_candidates = []
        for objective, w in candidates[:2]:
            fun = block.convex(-alpha, None)  # ℓ − αJ* (+ ridge): the builder with a negative weight
            t0 = None if block.constraint is None else 1e3 / max(1.0, abs(objective))
            w_polished, info = minimize_convex(fun, len(w), constraint=block.constraint, w0=w, convex=False, t0=t0)
            total_iterations += info.iterations
            polished = block.objective(w_polished, alpha, +1)
            if polished <= objective + 1e-12 * max(1.0, abs(objective)):
                w, objective = w_polished, polished
            polished_candidates.append((objective, w))
        candidates = sorted(polished_candidates + candidates[2:], key=lambda pair: pair[0])
    best = (candidates[0][1], candidates[0][0])
    w = best[0]
    w_check, _ = _ccp_step(block, alpha, w)
    residual = float(np.max(np.abs(block.reward(w_check) - block.reward(w))))
    converged = residual <= max(tol, 1e-7) * (1.0 + float(np.max(np.abs(block.reward(w)))))
    return w, converged, total_iterations, residual, start_objectives


def _solve_certified(block: _Block, alpha: float, w_init, bound: float, linear: bool, init, index: int,
                     max_cells: int | None):
    """The global minimum of ℓ − αJ* (+ ridge) over one block's class, certified  (docs/theory.md, "Certified optimism").

    Local SQP solves polish the incumbent: from the warm start (or 0 and each response's corner when there is
    none), then from wherever the search finds a better point. The last fit's partition of this block is reused.
    """
    k = block.basis.shape[-1]
    if w_init is not None:
        starts = [w_init]
    else:
        starts = [np.zeros(k)]
        if not linear:
            starts += [0.5 * bound * block.basis[0, y, :] for y in range(block.basis.shape[1])]
    previous = init.partitions[index] if init is not None and index < len(init.partitions) else None
    default_cells = _LINEAR_MAX_CELLS if linear else DEFAULT_MAX_CELLS
    solution, partition = certified_minimize(
        block.basis, block.counts, block.log_pi_ref, block.rho, block.beta, weight=alpha, ridge=block.ridge,
        kind="ball" if linear else "polytope", bound=bound, starts=starts,
        polish=lambda w: _local_sqp(block, alpha, w)[0], partition=previous, rtol=DEFAULT_RTOL,
        max_cells=default_cells if max_cells is None else int(max_cells))
    return solution.w, solution, partition


def _local_sqp(block: _Block, alpha: float, w_start: np.ndarray, sign: int = +1):
    """A local minimizer of ℓ − s·αJ* (+ ridge) over the class from ``w_start`` by SLSQP.

    For s = −1 (convex) the local minimizer is the global one.

    Returns like ``_solve_optimistic``; the stationarity reported is the norm of the KKT
    residual ∇f + Σ μ_i ∇c_i estimated from the active constraints (least-squares multipliers).
    """
    from scipy.optimize import minimize

    fun = block.convex(-sign * alpha, None)
    constraint = block.constraint
    start_objective = block.objective(w_start, alpha, sign)
    # start a hair inside (0 is the centre of both classes): from a point on several faces at once
    # SLSQP's linearized subproblem can report "constraints incompatible" and not move at all
    x0 = np.asarray(w_start, dtype=np.float64) * (1.0 - 1e-9) if constraint is not None else np.asarray(w_start, float)
    # Precondition: SLSQP's quasi-Newton model starts from the identity, while ∇²ℓ grows with the
    # number of comparisons, so late in an online run its first steps were far too long and its line
    # search backtracked (19 objective evaluations per round at t = 10⁴ against 9 at t = 10², the
    # same 8 iterations). Solving in z with w = M z, MMᵀ = (∇²ℓ(x0) + I)⁻¹
    # (+ ridge), makes the identity model right again where the data dominate, and leaves the metric
    # at the identity where there are none (∇²ℓ = 0, e.g. the first round). The Hessian of ℓ alone
    # keeps the metric positive definite (−αJ* is concave). A change of variables only: the same
    # problem, the same local minimizers.
    curvature = block.convex(0.0, None)(x0)[2]  # ∇²ℓ + λI, (k, k) positive semidefinite
    eigenvalues, vectors = np.linalg.eigh(curvature)
    root = np.sqrt(np.maximum(eigenvalues, 0.0) + 1.0)  # (k,)
    M, M_inverse = vectors / root, (vectors * root).T  # w = M z, z = M⁻¹ w
    if isinstance(constraint, Box):  # A w ≤ b  ⇔  (A M) z ≤ b
        A_z = constraint.A @ M
        constraints = [{"type": "ineq", "fun": lambda z: constraint.b - A_z @ z, "jac": lambda z: -A_z}]
    elif isinstance(constraint, Ball):
        constraints = [{"type": "ineq", "fun": lambda z: np.array([constraint.radius**2 - (M @ z) @ (M @ z)]),
                        "jac": lambda z: -2.0 * ((M @ z) @ M)[None, :]}]
    else:
        constraints = []

    def fun_z(z):
        value, grad, _ = fun(M @ z, hessian=False)
        return value, M.T @ grad  # ∇_z = Mᵀ∇_w

    result = minimize(fun_z, M_inverse @ x0, jac=True, method="SLSQP",
                      constraints=constraints, options={"ftol": 1e-14, "maxiter": 500})
    w = M @ result.x
    if constraint is not None and not constraint.contains(w):  # SLSQP may end a hair outside: pull in
        w = w * (1 - 1e-12) if isinstance(constraint, Ball) else w
    objective = block.objective(w, alpha, sign)
    if not objective <= start_objective + 1e-12 * max(1.0, abs(start_objective)):
        w, objective = np.asarray(w_start, dtype=np.float64), start_objective
    # KKT residual: gradient minus its component along the active constraints' normals
    grad = fun(w, hessian=False)[1]
    normals = np.zeros((0, len(w)))
    if isinstance(constraint, Box):
        normals = constraint.A[constraint.slack(w) <= 1e-8 * np.max(constraint.b)]
    elif isinstance(constraint, Ball) and w @ w >= constraint.radius**2 * (1 - 1e-8):
        normals = w[None, :]
    if len(normals):
        multipliers = np.linalg.lstsq(normals.T, -grad, rcond=None)[0]
        residual_vector = grad + normals.T @ np.maximum(multipliers, 0.0)
    else:
        residual_vector = grad
    residual = float(np.max(np.abs(residual_vector))) if len(residual_vector) else 0.0
    converged = bool(result.success) and residual <= 1e-5 * max(1.0, float(np.max(np.abs(grad))))
    return w, converged, int(result.nit), residual, [objective]


# --------------------------------------------------------------------------- public
def center_features(features, pi_cal) -> np.ndarray:
    """φ̃(x,y) = φ(x,y) − E_{y'~π_cal(·|x)} φ(x,y'), shape (X, Y, d)  (MATH §3)."""
    features = as_array("features", features, ndim=3)
    pi_cal = check_distribution("pi_cal", pi_cal, shape=features.shape[:2])
    return features - np.einsum("xy,xyd->xd", pi_cal, features)[:, None, :]


def fit_vpo(x, winner, loser, pi_ref, rho, beta: float, alpha: float, sign: int, pi_cal, bound: float | None = None,
            features=None, *, ridge: float = 0.0, counts=None, init: VPOFit | None = None,
            num_starts: int = 4, seed: int = 0, tol: float = 1e-9, max_ccp_iter: int = 2000,
            method: str = "certified", max_cells: int | None = None) -> VPOFit:
    """Exact VPO reward and policy  (MATH §4): r̂ = argmin_{r∈R} ℓ(r; D) − s·α·J*(r) + λ/2‖θ‖².

    Args:
      x, winner, loser: (N,) comparisons (may be None when ``counts`` is given).
      pi_ref, pi_cal: (X, Y) reference and calibration policies; rho: (X,); beta > 0.
      alpha: sum-form weight α ≥ 0 (α = 0 gives the MLE); sign: +1 optimism, −1 pessimism.
      bound: the reward class's bound — tabular |r(x,y)| ≤ bound, linear ‖θ‖₂ ≤ bound.
        ``None`` means no bound; allowed for sign = −1 only, and then the problem must have a
        finite minimizer: either ``ridge`` > 0, or α > 0 with ρ and π_cal of full support
        (then ℓ + αJ* grows in every calibrated direction). Otherwise a ValueError says so —
        e.g. the MLE on separable data has no finite minimizer and never silently diverges.
      features: (X, Y, d) selects the linear class r = ⟨φ̃, θ⟩.
      ridge: λ ≥ 0 adds λ/2‖θ‖² (the λ of the confidence sets, MATH §8).
      counts: (X, Y, Y) pair counts instead of the three arrays (sufficient statistics).
      init: a previous fit to warm-start from (online loops).
      num_starts: extra random starts for sign = +1 in the linear class.
      tol: CCP stops when ‖r_{k+1} − r_k‖_∞ ≤ tol·(1 + ‖r‖_∞).
      method: sign = +1 only — "certified" (default: the global minimum by branch and bound, with
        ``lower_bound``, ``gap`` and ``certified`` on the result; see ``vpo_theory.certified``).
        Heuristics, which find a stationary point and prove nothing: "ccp+newton" (multi-start;
        CCP into a basin, then a local Newton barrier solve), "ccp" (multi-start pure convex–concave
        procedure), "local" (one local SQP solve from ``init``), "sqp-multistart" (that local solve
        from each multi-start point, the best kept).
      max_cells: "certified" only — the simplices the search may examine before it stops and returns
        its best point flagged ``certified=False`` with the gap it reached. None → 200 000 for the
        tabular class (each context: Y − 1 dimensions; fast up to Y = 6, see the README), 2 000 for
        the linear class (k dimensions; beyond k ≈ 4 only problems the data have made convex around
        the minimizer are certified quickly).
    """
    pi_ref = check_distribution("pi_ref", pi_ref)
    check_full_support("pi_ref", pi_ref)
    num_contexts, num_responses = pi_ref.shape
    pi_cal = check_distribution("pi_cal", pi_cal, shape=pi_ref.shape)
    check_support_inside("pi_cal", pi_cal, "pi_ref", pi_ref)
    rho = check_distribution("rho", rho, shape=(num_contexts,), ndim=1)
    beta = positive_scalar("beta", beta)
    alpha = positive_scalar("alpha", alpha, allow_zero=True)
    sign = check_sign(sign)
    ridge = positive_scalar("ridge", ridge, allow_zero=True)
    if bound is not None:
        bound = positive_scalar("bound", bound)
    if method not in OPTIMISTIC_METHODS:
        raise ValueError(f"`method` must be one of {OPTIMISTIC_METHODS}, got {method!r}")
    if max_cells is not None and (isinstance(max_cells, bool) or int(max_cells) != max_cells or max_cells < 1):
        raise ValueError(f"`max_cells` must be a positive integer (or None), got {max_cells!r}")
    if counts is None:
        counts = pair_counts(x, winner, loser, num_contexts=num_contexts, num_responses=num_responses)
    else:
        counts = as_array("counts", counts, ndim=3)
        if counts.shape != (num_contexts, num_responses, num_responses) or np.any(counts < 0):
            raise ValueError(f"`counts` must be non-negative with shape {(num_contexts, num_responses, num_responses)}, "
                             f"got shape {counts.shape}")
    optimistic = sign == +1 and alpha > 0
    if optimistic and bound is None:
        raise ValueError("`bound` is required for sign=+1: the optimistic objective ℓ − αJ* is unbounded below "
                         "over an unbounded class (MATH §4); pass e.g. bound=2*max|r*|")
    if bound is None and ridge == 0 and not (alpha > 0 and np.all(rho > 0) and np.all(pi_cal > 0)):
        raise ValueError(
            "this problem may have no finite minimizer (separable data or never-compared responses, with "
            "alpha == 0, or rho / pi_cal without full support): pass `bound=` (the reward class) or `ridge=` > 0"
        )
    log_pi_ref = np.log(pi_ref)

    reward = np.zeros(pi_ref.shape)
    w_all, converged_all, iterations_all, residual_all = [], True, 0, 0.0
    solved = np.zeros(num_contexts, dtype=bool)  # contexts already answered by the batched solve
    solver = None
    if features is None and not optimistic and (init is None or _strictly_convex(alpha, ridge, rho)):
        # every context's unconstrained Newton solve at once (see _batched); kept where it lies in the class.
        # A warm start (init) is used only when the minimizer is unique: the bounded MLE keeps its
        # per-context path, whose choice among non-unique minimizers the online baselines rely on.
        basis = calibrated_bases(pi_cal)  # (X, Y, Y−1)
        give_up = np.inf if bound is None else 10.0 * bound + 10.0
        w0 = None
        if init is not None and init.reward.shape == pi_ref.shape:
            w0 = np.einsum("xyk,xy->xk", basis, init.reward)  # B_xᵀ r: r projected on the calibrated plane
        w, converged, iterations, residual = solve_unconstrained(counts, log_pi_ref, rho, beta, alpha, ridge, basis,
                                                                 w0, give_up_beyond=give_up)
        if converged:
            batched = (basis @ w[:, :, None])[:, :, 0]  # (X, Y)
            solved = np.ones(num_contexts, dtype=bool) if bound is None else abs(batched).max(axis=1) <= bound
            reward = batched if solved.all() else np.where(solved[:, None], batched, reward)
            iterations_all, residual_all, solver = iterations, residual, "newton-batched"
            if not solved.all() and _strictly_convex(alpha, ridge, rho):
                # the contexts where the bound binds: one batched barrier solve, warm-started from the unconstrained
                # answer pulled inside the class (their minimizers are unique, so any exact method agrees)
                out = ~solved
                w_in = w[out] * (0.99 * bound / abs(batched[out]).max(axis=1))[:, None]
                w_out, converged_out, iterations_out, gap = solve_bounded(counts[out], log_pi_ref[out], rho[out], beta,
                                                                          alpha, ridge, basis[out], bound, w_in)
                if converged_out:
                    reward[out] = (basis[out] @ w_out[:, :, None])[:, :, 0]
                    solved[:] = True
                    iterations_all += iterations_out
                    residual_all, solver = max(residual_all, gap), "newton-batched+barrier-batched"
    if features is None:
        blocks, theta_map = _tabular_blocks(counts, pi_cal, log_pi_ref, rho, beta, ridge, bound, skip=solved), None
    else:
        features = as_array("features", features, ndim=3)
        if features.shape[:2] != pi_ref.shape:
            raise ValueError(f"`features` must have shape (X, Y, d) = {pi_ref.shape + (features.shape[-1],)}, "
                             f"got {features.shape}")
        block, theta_map = _linear_block(features, counts, pi_cal, log_pi_ref, rho, beta, ridge, bound)
        blocks = [(slice(None), block)]

    start_objectives, rng = np.zeros(0), None
    certificates, partitions = [], []  # method "certified": one per block
    for rows, block in blocks:
        k = block.basis.shape[-1]
        w_init = None
        if init is not None:
            w_init = _warm_start(init, block, rows, theta_map)
        if optimistic and method == "certified":
            w, solution, partition = _solve_certified(block, alpha, w_init, bound, features is not None, init, len(w_all),
                                                      max_cells)
            certificates.append(solution)
            partitions.append(partition)
            converged, iterations, residual = solution.certified, solution.rounds, solution.gap
            solver = method
        elif optimistic:
            if method == "local":  # one local solve from the warm start (online rounds)
                starts = [w_init if w_init is not None else np.zeros(k)]
            else:
                if rng is None:  # made on first use: a Generator costs more than a small convex fit
                    rng = np.random.default_rng(seed)
                starts = _optimistic_starts(block, rows, theta_map, bound, w_init, num_starts, rng)
            w, converged, iterations, residual, objectives = _solve_optimistic(
                block, alpha, starts, tol=tol, max_iter=max_ccp_iter, method=method
            )
            start_objectives = np.add(start_objectives, objectives) if start_objectives.size else np.array(objectives)
            solver = method
        else:
            w, converged, iterations, residual, block_solver = _solve_pessimistic(block, alpha, w_init)
            if solver is None:
                solver = block_solver
            elif block_solver not in solver.split("+"):
                solver = f"{solver}+{block_solver}"
        reward[rows] = block.reward(w)
        w_all.append(w)
        converged_all &= converged
        iterations_all += iterations
        residual_all = max(residual_all, residual)

    theta = theta_map @ w_all[0] if theta_map is not None else None
    penalty = 0.5 * ridge * float(np.sum(theta**2) if theta is not None else np.sum(reward**2)) if ridge else 0.0
    log_policy, log_z = core._log_optimal_policy(reward, log_pi_ref, beta)  # (MATH §2)
    policy = core._policy_from_logits(log_policy)  # softmax(log π_r) = π_r, rows normalized exactly
    nll = _nll_value(reward, counts)  # ℓ alone (MATH §3): no derivatives needed here
    j_star = float(beta * (rho @ log_z))  # J* = β Σ ρ log Z (MATH §2)
    objective = nll - sign * alpha * j_star + penalty
    lower_bound = gap = certified = None
    if certificates:  # the blocks' objectives add up to the total, so do their lower bounds
        lower_bound = min(objective, objective - sum(c.objective - c.lower_bound for c in certificates))
        gap, certified = objective - lower_bound, all(c.certified for c in certificates)
    return VPOFit(
        reward=reward, policy=policy, theta=theta, objective=objective, nll=nll,
        optimal_value=j_star, stationarity=residual_all, converged=converged_all, iterations=iterations_all,
        solver=solver, start_objectives=[float(v) for v in start_objectives], lower_bound=lower_bound, gap=gap,
        certified=certified, cells=sum(c.cells for c in certificates), partitions=partitions,
    )


def fit_mle(x, winner, loser, pi_ref, rho, beta: float, pi_cal, bound: float | None = None, features=None, *,
            ridge: float = 0.0, counts=None, init: VPOFit | None = None) -> VPOFit:
    """Exact (bounded or ridge-regularized) Bradley–Terry MLE over the calibrated class  (MATH §3).

    ``fit_vpo`` with α = 0. Its plug-in policy π_{r̂} is the greedy/MLE baseline. With neither
    ``bound`` nor ``ridge`` a ValueError is raised: the MLE need not exist (separable data).
    """
    return fit_vpo(x, winner, loser, pi_ref, rho, beta, 0.0, -1, pi_cal, bound, features, ridge=ridge,
                   counts=counts, init=init)


# --------------------------------------------------------------------------- classes
def _tabular_blocks(counts, pi_cal, log_pi_ref, rho, beta, ridge, bound, skip=None):
    """One block per context (except ``skip``-ped ones): basis of {v ∈ R^Y : π_cal(x)·v = 0}, orthonormal (Y, Y−1)."""
    blocks = []
    for i in range(counts.shape[0]):
        if skip is not None and skip[i]:
            continue
        basis = null_space(pi_cal[i][None, :])[None]  # (1, Y, Y−1)
        constraint = None
        if bound is not None:  # |r| ≤ bound  ⇔  [B; −B] w ≤ bound
            A = np.concatenate([basis[0], -basis[0]])
            constraint = Box(A, np.full(len(A), bound))
        blocks.append((slice(i, i + 1), _Block(basis, counts[i : i + 1], log_pi_ref[i : i + 1], rho[i : i + 1], beta,
                                               ridge, constraint)))
    return blocks


def _linear_block(features, counts, pi_cal, log_pi_ref, rho, beta, ridge, bound):
    centred = center_features(features, pi_cal)  # (X, Y, d)
    flat = centred.reshape(-1, centred.shape[-1])
    _, singular, vt = np.linalg.svd(flat, full_matrices=False)
    rank = int(np.sum(singular > 1e-10 * max(singular[0], 1e-300)))
    theta_map = vt[:rank].T  # (d, k) orthonormal: θ = V w
    basis = centred @ theta_map  # (X, Y, k)
    constraint = Ball(bound) if bound is not None else None
    return _Block(basis, counts, log_pi_ref, rho, beta, ridge, constraint), theta_map


def _warm_start(init: VPOFit, block: _Block, rows, theta_map):
    if theta_map is not None and init.theta is not None:
        return theta_map.T @ init.theta
    # tabular: basis is orthonormal and r calibrated, so w = Bᵀ r
    return np.einsum("xyk,xy->k", block.basis, init.reward[rows])


def _optimistic_starts(block: _Block, rows, theta_map, bound, w_init, num_starts, rng):
    k = block.basis.shape[-1]
    starts = [np.zeros(k)]
    if w_init is not None:
        starts.insert(0, w_init)
    if theta_map is None:
        # lean towards each response y in turn: r0 = calibrated (bound/2)·e_y
        for y in range(block.basis.shape[1]):
            starts.append(0.5 * bound * block.basis[0, y, :])  # Bᵀ e_y, scaled into the box
    else:
        for _ in range(num_starts):
            u = rng.normal(size=k)
            starts.append(0.5 * bound * u / np.linalg.norm(u))
    return starts
