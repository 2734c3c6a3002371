"""Exact estimators: VPO in both signs and the MLE, tabular and linear  (docs/theory.md §3, §4).

    r̂ = argmin_{r ∈ R} ℓ(r; D) − s·α·J⋆(r) (+ λ/2 ‖θ‖²),   π̂ = π_{r̂}

    fit = fit_vpo(Problem(pi_ref, rho, beta), Preferences(x, winner, loser), alpha=2.0, sign=-1, pi_cal=pi_ref, bound=2.0)

The reward class R is calibrated (E_{π_cal} r = 0 per context, theory §3, I5) and parameterized
by an orthonormal basis: r = B w. Tabular: B_x spans {v : π_cal(x)·v = 0} and θ is the reward
table (‖θ‖ = ‖w‖). Linear: r = ⟨φ̃, θ⟩ with centred features φ̃ and θ = V w, V an orthonormal
basis of the directions of θ the features can see (‖θ‖ = ‖w‖); other directions of θ change no
reward, so the minimum-norm θ is reported.

- s = −1 (pessimism) and the MLE (α = 0): a convex problem, solved to machine precision — every
  context at once by batched Newton (and a batched log-barrier method where the bound binds,
  ``_batched``), the rest block by block (``block_solvers``).
- s = +1 (optimism): ℓ − αJ⋆ is a difference of convex functions, with local minima that are
  not global. The default, ``method="certified"``, solves it globally by branch and bound
  (``certified``; theory, "Certified optimism"): the fit carries a proven lower bound on the
  minimum and the gap, and ``certified`` says whether the gap closed to 1e-8·(1 + |objective|).
  The other methods are heuristics that find stationary points only (``block_solvers``).

Tabular problems separate over contexts (ℓ, J⋆, calibration and the box all do), so they are
solved one context at a time: each solve is over Y − 1 numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from . import kernels
from ._batched import calibrated_bases, solve_bounded, solve_unconstrained
from .validation import (
    as_array,
    check_distribution,
    check_problem,
    check_sign,
    check_support_inside,
    positive_int,
    positive_scalar,
)
from .block_solvers import (
    linear_block,
    optimistic_starts,
    solve_certified_block,
    solve_convex_block,
    solve_optimistic_heuristic,
    strictly_convex,
    tabular_blocks,
    warm_start,
)
from .data import Preferences, pair_counts

__all__ = ["Problem", "VPOFit", "fit_vpo", "fit_mle", "center_features", "OPTIMISTIC_METHODS"]

OPTIMISTIC_METHODS = ("certified", "ccp+newton", "ccp", "local", "sqp-multistart")  # the first is the default

#: Where the batched unconstrained Newton solve gives up on a bounded problem: once some |w| passes
#: this multiple of the bound (plus a margin for tiny bounds) its minimizer is far outside the class or
#: does not exist (separable data), and the bounded solvers take over.
GIVE_UP_FACTOR, GIVE_UP_MARGIN = 10.0, 10.0


@dataclass(frozen=True)
class Problem:
    """What a fit needs besides the data: π_ref (X, Y) of full support, ρ (X,), β > 0, and for the
    linear class the features φ (X, Y, d). A ``BanditInstance`` can be passed wherever a Problem is."""

    pi_ref: np.ndarray
    rho: np.ndarray
    beta: float
    features: np.ndarray | None = None

    def __post_init__(self):
        for name, value in zip(("pi_ref", "rho", "beta", "features"),
                               check_problem(self.pi_ref, self.rho, self.beta, self.features)):
            object.__setattr__(self, name, value)

    @classmethod
    def of(cls, problem) -> "Problem":
        """``problem`` itself, or a Problem from any object with ``pi_ref``, ``rho``, ``beta`` (and ``features``)."""
        if isinstance(problem, cls):
            return problem
        if not all(hasattr(problem, name) for name in ("pi_ref", "rho", "beta")):
            raise TypeError(f"`problem` must be a Problem(pi_ref, rho, beta, features) or a BanditInstance, "
                            f"got {type(problem).__name__}")
        return cls(problem.pi_ref, problem.rho, problem.beta, getattr(problem, "features", None))


@dataclass
class VPOFit:
    """Result of ``fit_vpo`` / ``fit_mle``."""

    reward: np.ndarray  # (X, Y) calibrated reward estimate r̂
    policy: np.ndarray  # (X, Y) π_{r̂}
    theta: np.ndarray | None  # (d,) minimum-norm θ̂ (linear class), else None
    objective: float  # ℓ(r̂) + ⟨c, r̂⟩ − s·α·J*(r̂) + λ/2 ‖θ̂‖², the minimized objective
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
    stopped: str | None = None  # "certified": "closed", or which budget ended the search ("cells", "seconds")
    partitions: list = field(default_factory=list, repr=False)  # the searches' leaves, reused by fit_vpo(init=this)


# --------------------------------------------------------------------------- public
def center_features(features, pi_cal) -> np.ndarray:
    """φ̃(x,y) = φ(x,y) − E_{y'~π_cal(·|x)} φ(x,y'), shape (X, Y, d)  (theory §3)."""
    features = as_array("features", features, ndim=3)
    pi_cal = check_distribution("pi_cal", pi_cal, shape=features.shape[:2])
    return kernels.centred_features(features, pi_cal)


def fit_vpo(problem, data, *, alpha: float, sign: int, pi_cal, bound: float | None = None, ridge: float = 0.0,
            linear=None, init: VPOFit | None = None, method: str = "certified", max_cells: int | None = None,
            max_seconds: float | None = None, num_starts: int = 4, seed: int = 0, tol: float = 1e-9,
            max_ccp_iter: int = 2000) -> VPOFit:
    """Exact VPO reward and policy  (theory §4): r̂ = argmin_{r∈R} ℓ(r; D) + ⟨c, r⟩ − s·α·J⋆(r) + λ/2‖θ‖².

    Args:
      problem: a ``Problem`` (π_ref, ρ, β, and features φ (X, Y, d) for the linear class r = ⟨φ̃, θ⟩) or a
        ``BanditInstance``.
      data: ``Preferences`` (N comparisons), or pair counts n[x, winner, loser] (X, Y, Y), their sufficient
        statistics.
      alpha: sum-form weight α ≥ 0 (α = 0 gives the MLE); sign: +1 optimism, −1 pessimism.
      pi_cal: (X, Y) the calibration policy (theory §3).
      bound: the reward class's bound — tabular |r(x,y)| ≤ bound, linear ‖θ‖₂ ≤ bound.
        ``None`` means no bound; allowed for sign = −1 only, and then the problem must have a
        finite minimizer: either ``ridge`` > 0, or α > 0 with ρ and π_cal of full support
        (then ℓ + αJ⋆ grows in every calibrated direction). Otherwise a ValueError says so —
        e.g. the MLE on separable data has no finite minimizer and never silently diverges.
      ridge: λ ≥ 0 adds λ/2‖θ‖² (the λ of the confidence sets, theory §8).
      linear: (X, Y) coefficients c of a linear term ⟨c, r⟩ (None: none) — the sampled exploration terms of XPO
        and SELM as bandits (theory §6, "Baselines"). Convex and concave at once, so every method handles it.
      init: a previous fit to warm-start from (online loops; with "certified", its partitions are reused).
      method: sign = +1 only — "certified" (default: the global minimum by branch and bound, with
        ``lower_bound``, ``gap`` and ``certified`` on the result; see ``vpo_theory.certified``).
        Heuristics, which find a stationary point and prove nothing: "ccp+newton" (multi-start;
        CCP into a basin, then a local Newton barrier solve), "ccp" (multi-start pure convex–concave
        procedure), "local" (one local SQP solve from ``init``), "sqp-multistart" (that local solve
        from each multi-start point, the best kept).
      max_cells: "certified" only — the simplices the search may examine before it stops and returns
        its best point flagged ``certified=False`` with the gap it reached. None → 400 000 for the
        tabular class (each context: Y − 1 dimensions; fast up to Y = 6, see the README), 2 000 for
        the linear class (k dimensions; beyond k ≈ 4 only problems the data have made convex around
        the minimizer are certified quickly).
      max_seconds: "certified" only — a wall-clock budget for the search (None: none); when it runs out the fit
        returns its best point with the proven lower bound and gap reached, ``certified=False`` unless that gap
        closed. A time budget can make a fit depend on the machine where it binds; the cell budget does not.
      num_starts: heuristics, linear class — random starts on the sphere of radius bound/2.
      seed: the random starts' seed; tol, max_ccp_iter: CCP stops when ‖r_{k+1} − r_k‖_∞ ≤ tol·(1 + ‖r‖_∞).
    """
    fit = _validate(Problem.of(problem), data, alpha=alpha, sign=sign, pi_cal=pi_cal, bound=bound, ridge=ridge,
                    linear=linear, method=method, max_cells=max_cells, max_seconds=max_seconds)
    state = _State(np.zeros(fit.problem.pi_ref.shape))
    if fit.problem.features is None and not fit.optimistic and fit.linear is None and (init is None or fit.unique):
        _solve_batched(fit, init, state)
    _solve_blocks(fit, init, state, num_starts=num_starts, seed=seed, tol=tol, max_ccp_iter=max_ccp_iter)
    return _assemble(fit, state)


def fit_mle(problem, data, *, pi_cal, bound: float | None = None, ridge: float = 0.0,
            init: VPOFit | None = None) -> VPOFit:
    """Exact (bounded or ridge-regularized) Bradley–Terry MLE over the calibrated class  (theory §3).

    ``fit_vpo`` with α = 0. Its plug-in policy π_{r̂} is the greedy/MLE baseline. With neither
    ``bound`` nor ``ridge`` a ValueError is raised: the MLE need not exist (separable data).
    """
    return fit_vpo(problem, data, alpha=0.0, sign=-1, pi_cal=pi_cal, bound=bound, ridge=ridge, init=init)


# --------------------------------------------------------------------------- the pieces of fit_vpo
@dataclass
class _Validated:
    """fit_vpo's inputs, validated, and what follows from them."""

    problem: Problem
    counts: np.ndarray  # (X, Y, Y)
    pi_cal: np.ndarray  # (X, Y)
    alpha: float
    sign: int
    bound: float | None
    ridge: float
    method: str
    max_cells: int | None
    linear: np.ndarray | None = None  # (X, Y) or None
    max_seconds: float | None = None

    @property
    def optimistic(self) -> bool:
        return self.sign == +1 and self.alpha > 0

    @property
    def unique(self) -> bool:
        """One minimizer (strictly convex over the class): any exact method agrees, warm starts are safe."""
        return strictly_convex(self.alpha, self.ridge, self.problem.rho)

    @cached_property
    def log_pi_ref(self) -> np.ndarray:  # (X, Y), taken once per fit
        return np.log(self.problem.pi_ref)


@dataclass
class _State:
    """What the solves have found so far."""

    reward: np.ndarray  # (X, Y)
    solved: np.ndarray | None = None  # (X,) bool: contexts answered by the batched solve
    theta_map: np.ndarray | None = None  # (d, k) linear class: θ = V w
    w_all: list = field(default_factory=list)
    converged: bool = True
    iterations: int = 0
    residual: float = 0.0
    solver: str | None = None
    start_objectives: np.ndarray = field(default_factory=lambda: np.zeros(0))
    certificates: list = field(default_factory=list)
    partitions: list = field(default_factory=list)

    def add_solver(self, name: str) -> None:
        if self.solver is None:
            self.solver = name
        elif name not in self.solver.split("+"):
            self.solver = f"{self.solver}+{name}"


def _as_counts(data, shape: tuple[int, int]) -> np.ndarray:
    """Pair counts (X, Y, Y) from ``Preferences`` or from counts given directly."""
    X, Y = shape
    if isinstance(data, Preferences):
        return pair_counts(*data.astuple(), num_contexts=X, num_responses=Y)
    if isinstance(data, tuple) and len(data) == 3:
        return pair_counts(*data, num_contexts=X, num_responses=Y)
    if data is None or isinstance(data, (str, bytes)):
        raise TypeError(f"`data` must be Preferences(x, winner, loser) or pair counts of shape {(X, Y, Y)}, "
                        f"got {type(data).__name__}")
    counts = as_array("data", data, ndim=3)
    if counts.shape != (X, Y, Y) or np.any(counts < 0):
        raise ValueError(f"`data` as pair counts must be non-negative with shape {(X, Y, Y)}, got shape {counts.shape}")
    return counts


def _validate(problem: Problem, data, *, alpha, sign, pi_cal, bound, ridge, linear, method, max_cells,
              max_seconds) -> _Validated:
    pi_ref = problem.pi_ref
    pi_cal = check_distribution("pi_cal", pi_cal, shape=pi_ref.shape)
    check_support_inside("pi_cal", pi_cal, "pi_ref", pi_ref)
    alpha = positive_scalar("alpha", alpha, allow_zero=True)
    sign = check_sign(sign)
    ridge = positive_scalar("ridge", ridge, allow_zero=True)
    if bound is not None:
        bound = positive_scalar("bound", bound)
    if method not in OPTIMISTIC_METHODS:
        raise ValueError(f"`method` must be one of {OPTIMISTIC_METHODS}, got {method!r}")
    if max_cells is not None:
        max_cells = positive_int("max_cells", max_cells)
    if max_seconds is not None:
        max_seconds = positive_scalar("max_seconds", max_seconds)
    if linear is not None:
        linear = as_array("linear", linear, ndim=2)
        if linear.shape != pi_ref.shape:
            raise ValueError(f"`linear` must have shape (X, Y) = {pi_ref.shape}, got {linear.shape}")
    fit = _Validated(problem, _as_counts(data, pi_ref.shape), pi_cal, alpha, sign, bound, ridge, method, max_cells,
                     linear, max_seconds)
    if fit.optimistic and bound is None:
        raise ValueError("`bound` is required for sign=+1: the optimistic objective ℓ − αJ* is unbounded below "
                         "over an unbounded class (theory §4); pass e.g. bound=2*max|r*|")
    if linear is not None and bound is None and ridge == 0:
        raise ValueError("`linear` needs `bound=` (or `ridge=` > 0): a linear term can be lowered without end over an "
                         "unbounded class")
    if bound is None and ridge == 0 and not (alpha > 0 and np.all(problem.rho > 0) and np.all(pi_cal > 0)):
        raise ValueError(
            "this problem may have no finite minimizer (separable data or never-compared responses, with "
            "alpha == 0, or rho / pi_cal without full support): pass `bound=` (the reward class) or `ridge=` > 0"
        )
    return fit


def _solve_batched(fit: _Validated, init: VPOFit | None, state: _State) -> None:
    """Every context's unconstrained Newton solve at once (``_batched``), kept where it lies in the class; then
    one batched barrier solve for the contexts where the bound binds, when their minimizers are unique.

    A warm start (init) is used only when the minimizer is unique: the bounded MLE keeps its per-context path,
    whose choice among non-unique minimizers the online baselines rely on.
    """
    problem, bound = fit.problem, fit.bound
    basis = calibrated_bases(fit.pi_cal)  # (X, Y, Y−1)
    give_up = np.inf if bound is None else GIVE_UP_FACTOR * bound + GIVE_UP_MARGIN
    w0 = None
    if init is not None and init.reward.shape == problem.pi_ref.shape:
        w0 = np.einsum("xyk,xy->xk", basis, init.reward)  # B_xᵀ r: r projected on the calibrated plane
    w, converged, iterations, residual = solve_unconstrained(fit.counts, fit.log_pi_ref, problem.rho, problem.beta,
                                                             fit.alpha, fit.ridge, basis, w0, give_up_beyond=give_up)
    if not converged:
        return
    batched = (basis @ w[:, :, None])[:, :, 0]  # (X, Y)
    solved = np.ones(len(batched), dtype=bool) if bound is None else abs(batched).max(axis=1) <= bound
    state.reward = batched if solved.all() else np.where(solved[:, None], batched, state.reward)
    state.iterations, state.residual, state.solver, state.solved = iterations, residual, "newton-batched", solved
    if solved.all() or not fit.unique:
        return
    # the contexts where the bound binds, warm-started from the unconstrained answer pulled inside the class
    out = ~solved
    w_in = w[out] * (0.99 * bound / abs(batched[out]).max(axis=1))[:, None]
    w_out, converged_out, iterations_out, gap = solve_bounded(fit.counts[out], fit.log_pi_ref[out], problem.rho[out],
                                                              problem.beta, fit.alpha, fit.ridge, basis[out], bound,
                                                              w_in)
    if converged_out:
        state.reward[out] = (basis[out] @ w_out[:, :, None])[:, :, 0]
        state.solved[:] = True
        state.iterations += iterations_out
        state.residual, state.solver = max(state.residual, gap), "newton-batched+barrier-batched"


def _solve_blocks(fit: _Validated, init, state: _State, *, num_starts, seed, tol, max_ccp_iter) -> None:
    """The contexts the batched solve left (all of them when s = +1), one block at a time."""
    problem = fit.problem
    if problem.features is None:
        blocks = tabular_blocks(fit.counts, fit.pi_cal, fit.log_pi_ref, problem.rho, problem.beta, fit.ridge,
                                fit.bound, skip=state.solved, linear=fit.linear)
        theta_map = None
    else:
        block, theta_map = linear_block(problem.features, fit.counts, fit.pi_cal, fit.log_pi_ref, problem.rho,
                                        problem.beta, fit.ridge, fit.bound, linear=fit.linear)
        blocks = [(slice(None), block)]
    state.theta_map = theta_map
    rng = None
    for rows, block in blocks:
        w_init = warm_start(init, block, rows, theta_map) if init is not None else None
        if fit.optimistic and fit.method == "certified":
            w, solution, partition = solve_certified_block(block, fit.alpha, w_init, fit.bound, theta_map is not None,
                                                           init, len(state.w_all), fit.max_cells, fit.max_seconds)
            state.certificates.append(solution)
            state.partitions.append(partition)
            converged, iterations, residual = solution.certified, solution.rounds, solution.gap
            state.solver = fit.method
        elif fit.optimistic:
            if fit.method == "local":  # one local solve from the warm start (online rounds)
                starts = [w_init if w_init is not None else np.zeros(block.basis.shape[-1])]
            else:
                if rng is None:  # made on first use: a Generator costs more than a small convex fit
                    rng = np.random.default_rng(seed)
                starts = optimistic_starts(block, rows, theta_map, fit.bound, w_init, num_starts, rng)
            w, converged, iterations, residual, objectives = solve_optimistic_heuristic(
                block, fit.alpha, starts, tol=tol, max_iter=max_ccp_iter, method=fit.method)
            state.start_objectives = (np.add(state.start_objectives, objectives) if state.start_objectives.size
                                      else np.array(objectives))
            state.solver = fit.method
        else:
            w, converged, iterations, residual, block_solver = solve_convex_block(block, fit.alpha, w_init)
            state.add_solver(block_solver)
        state.reward[rows] = block.reward(w)
        state.w_all.append(w)
        state.converged &= converged
        state.iterations += iterations
        state.residual = max(state.residual, residual)


def _stopped(certificates) -> str | None:
    """Why the searches ended: "closed" when every one closed, else the budget that ended one ("seconds" first)."""
    reasons = {c.stopped for c in certificates}
    if not reasons:
        return None
    return next((reason for reason in ("seconds", "cells") if reason in reasons), "closed")


def _assemble(fit: _Validated, state: _State) -> VPOFit:
    """The fit's reward, policy, objective and certificate from the solves' answers."""
    problem, reward = fit.problem, state.reward
    theta = state.theta_map @ state.w_all[0] if state.theta_map is not None else None
    penalty = 0.0
    if fit.ridge:
        penalty = 0.5 * fit.ridge * float(np.sum(theta**2) if theta is not None else np.sum(reward**2))
    policy = kernels.softmax_rows(reward / problem.beta + fit.log_pi_ref)  # π_r, rows normalized exactly (theory §2)
    nll = float(kernels.bt_nll_counts(reward, fit.counts).sum())  # ℓ alone (theory §3)
    j_star = float(kernels.optimal_value(reward, fit.log_pi_ref, problem.rho, problem.beta))  # J* (theory §2)
    linear = 0.0 if fit.linear is None else float(np.sum(fit.linear * reward))
    objective = nll + linear - fit.sign * fit.alpha * j_star + penalty
    lower_bound = gap = certified = None
    if state.certificates:  # the blocks' objectives add up to the total, so do their lower bounds
        lower_bound = min(objective, objective - sum(c.objective - c.lower_bound for c in state.certificates))
        gap, certified = objective - lower_bound, all(c.certified for c in state.certificates)
    return VPOFit(
        reward=reward, policy=policy, theta=theta, objective=objective, nll=nll, optimal_value=j_star,
        stationarity=state.residual, converged=state.converged, iterations=state.iterations, solver=state.solver,
        start_objectives=[float(v) for v in state.start_objectives], lower_bound=lower_bound, gap=gap,
        certified=certified, cells=sum(c.cells for c in state.certificates), partitions=state.partitions,
        stopped=_stopped(state.certificates),
    )
