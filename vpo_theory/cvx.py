"""cvxpy formulations of the convex estimators: independent cross-checks and the speed baseline.

These write theory §4 (s = −1) and §3 (MLE) straight into a disciplined convex program with
``cp.logistic`` and ``cp.log_sum_exp``; they share no code with the Newton solvers in
``estimators``. Slower (a conic interior-point solve) but a different route to the same
optimum.
"""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np

from dataclasses import dataclass

from . import kernels
from .data import pair_counts
from .estimators import center_features

__all__ = ["CvxResult", "fit_vpo_cvxpy", "solve"]

#: Clarabel's default tolerances (1e-8) leave the optimal *point* off by ~1e-3 on these
#: problems; a cross-check at 1e-6 in total variation needs these.
TIGHT_CLARABEL = dict(tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12, tol_ktratio=1e-10, max_iter=500)


def solve(problem: cp.Problem, solver: str | None = None) -> None:
    """Solve with Clarabel at tight tolerances (or ``solver`` at its defaults)."""
    with warnings.catch_warnings():  # "solution may be inaccurate" is reported by problem.status
        warnings.simplefilter("ignore", UserWarning)
        if solver is None or solver.upper() == "CLARABEL":
            problem.solve(solver=cp.CLARABEL, **TIGHT_CLARABEL)
        else:
            problem.solve(solver=solver)


@dataclass
class CvxResult:
    reward: np.ndarray  # (X, Y)
    policy: np.ndarray  # (X, Y)
    objective: float
    status: str  # "optimal", or "optimal_inaccurate" when the conic solver could not reach its tolerances


def fit_vpo_cvxpy(x, winner, loser, pi_ref, rho, beta: float, alpha: float, pi_cal, bound: float | None = None,
                  features=None, *, ridge: float = 0.0, solver: str | None = None) -> CvxResult:
    """argmin_{r∈R_cal} ℓ(r; D) + α·J⋆(r) + λ/2‖θ‖² as one cvxpy program (pessimistic VPO; α = 0: MLE).

    Same classes as ``fit_vpo``: tabular |r| ≤ bound,
    linear ‖θ‖₂ ≤ bound with centred features.
    """
    pi_ref = np.asarray(pi_ref, dtype=np.float64)
    num_contexts, num_responses = pi_ref.shape
    counts = pair_counts(x, winner, loser, num_contexts=num_contexts, num_responses=num_responses)
    constraints = []
    if features is None:
        theta = cp.Variable((num_contexts, num_responses))
        reward = theta
        constraints.append(cp.sum(cp.multiply(np.asarray(pi_cal), reward), axis=1) == 0)  # calibrated
        if bound is not None:
            constraints.append(cp.abs(reward) <= bound)
        flat_reward = cp.vec(reward, order="C")
    else:
        centred = center_features(features, pi_cal).reshape(num_contexts * num_responses, -1)
        theta = cp.Variable(centred.shape[1])
        flat_reward = centred @ theta
        reward = cp.reshape(flat_reward, (num_contexts, num_responses), order="C")
        if bound is not None:
            constraints.append(cp.norm(theta, 2) <= bound)

    # ℓ = Σ n[x,a,b]·logistic(−(r[x,a] − r[x,b])): one row of D per observed (x, a, b)
    xs, wins, losses = np.nonzero(counts)
    objective = 0
    if len(xs):
        difference = np.zeros((len(xs), num_contexts * num_responses))
        difference[np.arange(len(xs)), xs * num_responses + wins] = 1.0
        difference[np.arange(len(xs)), xs * num_responses + losses] -= 1.0
        objective = cp.sum(cp.multiply(counts[xs, wins, losses], cp.logistic(-(difference @ flat_reward))))
    if alpha > 0:
        # J*(r) = β Σ_x ρ(x) log Σ_y exp(r(x,y)/β + log π_ref(x,y))
        log_z = cp.log_sum_exp(reward / beta + np.log(pi_ref), axis=1)
        objective = objective + alpha * beta * (np.asarray(rho) @ log_z)
    if ridge > 0:
        objective = objective + 0.5 * ridge * cp.sum_squares(theta)
    problem = cp.Problem(cp.Minimize(objective), constraints)
    solve(problem, solver)
    if problem.status not in ("optimal", "optimal_inaccurate"):
        raise RuntimeError(f"cvxpy did not solve the VPO program: status {problem.status}")
    r = np.asarray(reward.value, dtype=np.float64)
    policy = kernels.softmax_rows(r / beta + np.log(pi_ref))  # π_r of cvxpy's answer (theory §2)
    return CvxResult(r, policy, float(problem.value), problem.status)
