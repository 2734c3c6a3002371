"""The solves behind ``fit_vpo``, one block of contexts at a time  (docs/theory.md §4, "Certified optimism").

A *block* is a group of contexts whose problem is solved jointly over coordinates w with r = B w:
one context in the tabular class (the objective separates over contexts), all contexts in the linear
class. ``fit_vpo`` validates, runs the batched solve of every context at once where it can
(``_batched``), and sends the rest here:

- ``solve_convex_block``: s = −1 and the MLE, convex — damped Newton / log-barrier, or SQP warm starts;
- ``solve_certified_block``: s = +1, the global minimum with a certificate (``certified``);
- ``solve_optimistic_heuristic``: s = +1 heuristics that find stationary points only — the convex–concave
  procedure (CCP) with a Newton polish, and SLSQP (``local_sqp``) from one or several starts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import null_space

from . import kernels
from ._newton import Ball, Box, minimize_convex
from .certified import DEFAULT_MAX_CELLS, DEFAULT_RTOL, certified_minimize

__all__ = ["Block", "tabular_blocks", "linear_block", "warm_start", "strictly_convex", "solve_convex_block",
           "solve_certified_block", "solve_optimistic_heuristic", "optimistic_starts", "local_sqp", "ccp_step",
           "LINEAR_MAX_CELLS", "COLD_SPHERE_STARTS"]

#: The certified search's default budget in the linear class: ~1 ms a cell at X = 10, Y = 8, k = 8; beyond
#: ~4 dimensions branch and bound rarely closes, so the budget only buys the whole-class certificate and a
#: few thousand cells (docs/theory.md, "Certified optimism", what it costs).
LINEAR_MAX_CELLS = 2_000
#: Linear class, no warm start: local solves from this many of the best sampled points of the sphere ‖w‖ = bound
#: (``certified_minimize(explore=...)``): in eight dimensions the incumbent's usual starts missed the best point
#: known of the no-data problem, which the 6th best of 4 000 sphere samples reaches (docs/theory.md, "Ball").
COLD_SPHERE_STARTS = 32


@dataclass
class Block:
    """A convex-or-DC problem over w for one group of contexts (one context in the tabular case)."""

    basis: np.ndarray  # (Xb, Y, k): r = basis @ w
    counts: np.ndarray  # (Xb, Y, Y)
    log_pi_ref: np.ndarray  # (Xb, Y)
    rho: np.ndarray  # (Xb,)
    beta: float
    ridge: float
    constraint: Box | Ball | None
    linear: np.ndarray | None = None  # (Xb, Y): the problem's own linear term ⟨c, r⟩ (XPO, SELM), or None

    def reward(self, w):
        return self.basis @ w  # (Xb, Y)

    def convex(self, value_weight: float, linear: np.ndarray | None):
        """w ↦ ℓ(r) + value_weight·J⋆(r) + ⟨c + linear, r⟩ + λ/2‖w‖² with gradient and Hessian (in w); c the block's
        own linear term, ``linear`` an extra one (a CCP step's linearized J⋆)."""
        basis = self.basis
        basis_t = basis.transpose(0, 2, 1)  # (Xb, k, Y)
        if self.linear is not None:
            linear = self.linear if linear is None else self.linear + linear

        def fun(w, hessian: bool = True):
            r = basis @ w
            f, g, h = kernels.objective_pieces(r, self.counts, self.log_pi_ref, self.rho, self.beta, value_weight, hessian)
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
        j_star = float(kernels.optimal_value(r, self.log_pi_ref, self.rho, self.beta))  # J* (theory §2)
        nll = float(kernels.bt_nll_counts(r, self.counts).sum())  # ℓ (theory §3)
        linear = 0.0 if self.linear is None else float(np.sum(self.linear * r))
        return nll + linear - sign * alpha * j_star + 0.5 * self.ridge * float(w @ w)


def strictly_convex(alpha: float, ridge: float, rho: np.ndarray) -> bool:
    """ℓ + αJ⋆ + λ/2‖r‖² has one minimizer over the calibrated class (ℓ alone may be flat: α = 0 leaves
    never-compared responses free)."""
    return ridge > 0 or (alpha > 0 and bool(np.all(rho > 0)))


def solve_convex_block(block: Block, alpha: float, w0):
    """argmin ℓ + αJ⋆ + ridge over the class: convex, exact  (theory §4, s = −1; α = 0 is the MLE).

    Warm-started bounded solves (online rounds), and the one-context bounded solves of the
    tabular class (contexts where the bound binds), go through SLSQP — the problem is convex,
    so its local answer is the global one — with the barrier method only if SLSQP did not
    converge. Other cold solves use Newton / the barrier method.
    """
    k = block.basis.shape[-1]
    if block.constraint is not None and (w0 is not None or (block.basis.shape[0] == 1
                                                            and strictly_convex(alpha, block.ridge, block.rho))):
        # a warm start, or one context (the tabular fallback when the bound binds) with a unique minimizer:
        # SQP from there. (A non-unique MLE keeps the barrier's choice among its minimizers.)
        w, converged, iterations, residual, _ = local_sqp(block, alpha, w0 if w0 is not None else np.zeros(k), sign=-1)
        if converged:
            return w, True, iterations, residual, "sqp"
    w, info = minimize_convex(block.convex(alpha, None), k, constraint=block.constraint, w0=w0)
    _, grad, _ = block.convex(alpha, None)(w)
    solver = "barrier" if info.barrier else "newton"
    residual = float(info.decrement) if info.barrier else float(np.max(np.abs(grad)))
    return w, info.converged, info.iterations, residual, solver


def ccp_step(block: Block, alpha: float, w: np.ndarray):
    """One convex–concave step: minimize ℓ − α⟨∇J⋆(r_k), r⟩ (+ ridge) over the class  (theory §4)."""
    log_pi, _ = kernels.log_optimal_policy(block.reward(w), block.log_pi_ref, block.beta)
    grad_j = block.rho[:, None] * np.exp(log_pi)  # ∇J*(r_k) = ρ·π_{r_k}  (I2)
    return minimize_convex(block.convex(0.0, -alpha * grad_j), len(w), constraint=block.constraint, w0=w)


def solve_optimistic_heuristic(block: Block, alpha: float, starts: list[np.ndarray], *, tol: float, max_iter: int,
                      method: str):
    """ℓ − αJ⋆ from each start; the best objective wins  (theory §4, s = +1).

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
        return local_sqp(block, alpha, starts[0])
    if method == "sqp-multistart":  # a local SQP solve from every start; the lowest objective wins
        solves = [local_sqp(block, alpha, w_start) for w_start in starts]
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
            w_next, info = ccp_step(block, alpha, w)
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
    w_check, _ = ccp_step(block, alpha, w)
    residual = float(np.max(np.abs(block.reward(w_check) - block.reward(w))))
    converged = residual <= max(tol, 1e-7) * (1.0 + float(np.max(np.abs(block.reward(w)))))
    return w, converged, total_iterations, residual, start_objectives


def solve_certified_block(block: Block, alpha: float, w_init, bound: float, linear: bool, init, index: int,
                          max_cells: int | None, max_seconds: float | None = None):
    """The global minimum of ℓ − αJ⋆ (+ ridge) over one block's class, certified  (docs/theory.md, "Certified optimism").

    Local SQP solves polish the incumbent: from the warm start (or, when there is none, 0 and each response's
    corner — tabular — or the best sampled points of the sphere — linear), then from wherever the search finds a
    better point. The last fit's partition of this block is reused.
    """
    k = block.basis.shape[-1]
    if w_init is not None:
        starts = [w_init]
    else:
        starts = [np.zeros(k)]
        if not linear:
            starts += [0.5 * bound * block.basis[0, y, :] for y in range(block.basis.shape[1])]
    previous = init.partitions[index] if init is not None and index < len(init.partitions) else None
    default_cells = LINEAR_MAX_CELLS if linear else DEFAULT_MAX_CELLS
    solution, partition = certified_minimize(
        block.basis, block.counts, block.log_pi_ref, block.rho, block.beta, weight=alpha, ridge=block.ridge,
        linear=block.linear, kind="ball" if linear else "polytope", bound=bound, starts=starts,
        polish=lambda w: local_sqp(block, alpha, w)[0], partition=previous, rtol=DEFAULT_RTOL,
        max_cells=default_cells if max_cells is None else int(max_cells), max_seconds=max_seconds,
        explore=COLD_SPHERE_STARTS if linear and w_init is None else 0)
    return solution.w, solution, partition


def local_sqp(block: Block, alpha: float, w_start: np.ndarray, sign: int = +1):
    """A local minimizer of ℓ − s·αJ⋆ (+ ridge) over the class from ``w_start`` by SLSQP.

    For s = −1 (convex) the local minimizer is the global one.

    Returns like ``solve_optimistic_heuristic``; the stationarity reported is the norm of the KKT
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


def tabular_blocks(counts, pi_cal, log_pi_ref, rho, beta, ridge, bound, skip=None, linear=None):
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
        blocks.append((slice(i, i + 1), Block(basis, counts[i : i + 1], log_pi_ref[i : i + 1], rho[i : i + 1], beta,
                                               ridge, constraint, None if linear is None else linear[i : i + 1])))
    return blocks


def linear_block(features, counts, pi_cal, log_pi_ref, rho, beta, ridge, bound, linear=None):
    centred = kernels.centred_features(features, pi_cal)  # (X, Y, d)
    flat = centred.reshape(-1, centred.shape[-1])
    _, singular, vt = np.linalg.svd(flat, full_matrices=False)
    rank = int(np.sum(singular > 1e-10 * max(singular[0], 1e-300)))
    theta_map = vt[:rank].T  # (d, k) orthonormal: θ = V w
    basis = centred @ theta_map  # (X, Y, k)
    constraint = Ball(bound) if bound is not None else None
    return Block(basis, counts, log_pi_ref, rho, beta, ridge, constraint, linear), theta_map


def warm_start(init, block: Block, rows, theta_map):
    if theta_map is not None and init.theta is not None:
        return theta_map.T @ init.theta
    # tabular: basis is orthonormal and r calibrated, so w = Bᵀ r
    return np.einsum("xyk,xy->k", block.basis, init.reward[rows])


def optimistic_starts(block: Block, rows, theta_map, bound, w_init, num_starts, rng):
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
