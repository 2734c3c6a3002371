"""Best-first branch and bound with an incumbent and an anytime certificate  (docs/theory.md §10).

    minimize  f(w) = ℓ(B w) − a·J⋆(B w) + λ/2‖w‖²   over the reward class P

``certified_minimize`` returns the best point found, a proven lower bound on the minimum and their gap. It first
solves locally from the given starts and the class's best vertices and checks the whole class at once (which
certifies a problem the data have made convex); otherwise it bisects the cells with the lowest bounds first,
sets aside every cell whose bound is within the tolerance of the incumbent, and stops when none is left or the
budget — cells and/or seconds — is spent. Whenever it stops it is *anytime*: the best point so far, the least bound
over the open leaves (a valid lower bound of the whole class) and the gap. A ``Partition`` carries the leaves to
the next online round.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .. import kernels
from .ball import BallRegion
from .bounds import basin_bounds, bisect, cell_bounds, lagrangian_variants
from .objective import Objective
from .polytope import PolytopeRegion

__all__ = ["CertifiedSolution", "Partition", "Budget", "certified_minimize", "REGIONS", "DEFAULT_RTOL",
           "DEFAULT_MAX_CELLS"]

DEFAULT_RTOL = 1e-8  # certified when gap ≤ DEFAULT_RTOL·(1 + |objective|)
DEFAULT_MAX_CELLS = 400_000  # cells examined before the search gives up and reports its gap (certified=False)

#: The reward classes by name: "polytope" (tabular, one context) and "ball" (linear).
REGIONS = {"polytope": lambda objective, basis, bound, ridge: PolytopeRegion(
               basis[0], bound, objective.uncompared() if ridge == 0 else None),
           "ball": lambda objective, basis, bound, ridge: BallRegion(basis, bound)}


@dataclass
class CertifiedSolution:
    """A global minimizer of ℓ − a·J⋆ (+ ridge) over the class, with its certificate."""

    w: np.ndarray  # (k,) the minimizer found, in calibrated coordinates
    objective: float  # f(w): an upper bound on the minimum
    lower_bound: float  # a proven lower bound on the minimum over the class
    gap: float  # objective − lower_bound ≥ 0
    certified: bool  # gap ≤ rtol·(1 + |objective|)
    cells: int  # simplices examined
    rounds: int  # branch-and-bound rounds (each bisects the `batch` cells with the lowest bounds)
    stopped: str = "closed"  # why the search ended: "closed", "cells" (max_cells spent) or "seconds" (time budget)
    seconds: float = 0.0  # wall time of the search


@dataclass
class Partition:
    """The leaves of a finished search — cells (n, k+1, k) with their lower bounds (n,) — for the next round.

    Adding comparisons only raises ℓ (each term is ≥ 0), so with the same weights on J⋆ every bound stays
    valid for the next round's objective, and grows by the least of the new terms over the cell; larger
    weights a'_x lower it by Σ_x (a'_x − a_x)·J⋆_x at most, its largest value over the cell (at a vertex: convex).
    """

    cells: np.ndarray
    bounds: np.ndarray
    counts: np.ndarray  # the data the bounds were computed for
    value_weights: np.ndarray  # (X,) the weight a·ρ(x) of each context's J*_x the bounds were computed for
    faces: np.ndarray | None = None  # what the leaves were restricted to (``Region.faces``)
    linear: np.ndarray | None = None  # (X, Y) the linear term's coefficients the bounds were computed for


@dataclass
class Budget:
    """How much a search may spend: cells examined and, optionally, seconds of wall time (from ``start``)."""

    max_cells: int = DEFAULT_MAX_CELLS
    max_seconds: float | None = None
    start: float = 0.0

    def spent(self, examined: int) -> str | None:
        """None while the budget lasts, else which part ran out ("cells" or "seconds")."""
        if examined >= self.max_cells:
            return "cells"
        if self.max_seconds is not None and time.perf_counter() - self.start >= self.max_seconds:
            return "seconds"
        return None


def certified_minimize(basis, counts, log_pi_ref, rho, beta: float, *, weight: float, ridge: float = 0.0,
                       linear=None, kind: str, bound: float, starts=(), polish=None, partition: Partition | None = None,
                       rtol: float = DEFAULT_RTOL, max_cells: int = DEFAULT_MAX_CELLS, max_seconds: float | None = None,
                       batch: int = 64, explore: int = 0) -> tuple[CertifiedSolution, Partition | None]:
    """Global minimum of f(w) = ℓ(B w) + ⟨linear, B w⟩ − weight·J⋆(B w) + ridge/2‖w‖² over the class, certified.

    Shapes: basis (X, Y, k), counts (X, Y, Y), log_pi_ref (X, Y), rho (X,), linear (X, Y) or None.
    kind: a name of ``REGIONS`` — "polytope" (tabular, X = 1: |(B w)_y| ≤ bound) or "ball" (linear: ‖w‖ ≤ bound).
    starts: points (k,) to start local solves from (e.g. the last round's answer); polish: a callable w ↦ a local
    minimizer near w inside the class (None: no local solves).
    partition: the last search's leaves (same class and ridge; counts and weight that have only grown), reused; if
    the reused leaves do not close the gap, a search from the initial cells follows while the budget lasts.
    max_cells, max_seconds: the budget (cells examined; wall-clock seconds, None: no limit). Whenever it runs out
    the search stops and reports what it has — the best point, a proven lower bound and the gap — flagged
    ``certified=False`` unless the gap closed (``stopped`` says which part of the budget ran out).
    explore: local solves from the class's ``cold_candidates`` (the ball: the best of many sphere points) when the
    whole-class check does not close from the other starts.
    """
    budget = Budget(max_cells, max_seconds, time.perf_counter())
    objective = Objective(basis, counts, log_pi_ref, rho, beta, weight, ridge, linear)
    if objective.dimension == 0:  # one response per context: the class is the single point r = 0
        value = float(objective.value(np.zeros(0)))
        return CertifiedSolution(np.zeros(0), value, value, 0.0, True, 0, 0), None
    space = REGIONS[kind](objective, basis, bound, ridge)
    search = Search(objective, space, polish, rtol, budget)
    root = search.start(starts, explore)
    if search.best_value - root <= search.tolerance():
        return search.solution(root, rounds=0, examined=1, stopped="closed"), partition
    if max_cells <= 1 or not space.can_branch(max_cells):  # the whole-class check was the budget: report its bound
        return search.solution(root, rounds=0, examined=1, stopped="cells"), partition
    leaves, rounds, examined = None, 0, 0
    if partition is not None and reusable_partition(partition, counts, weight * np.asarray(rho), space):
        leaves, rounds, examined = search.resume(partition, batch=batch)
    if leaves is None or (_least(leaves) < search.best_value - search.tolerance() and search.stopped != "seconds"):
        # no partition to reuse, or the reused one did not close: a reused partition is a warm start, not a
        # commitment — leaves refined for earlier data can outnumber the budget (every stale one re-bounded, none
        # left to branch), where a search from the initial cells closes; it gets a cell budget of its own (the time
        # budget, if any, is shared)
        initial = space.initial_cells()
        cells = initial[~space.outside(initial)]
        bounds = search.bound_cells(cells, floor=root)
        fresh, fresh_rounds, fresh_examined = search.run(cells, bounds, examined=len(cells), batch=batch)
        if leaves is None or _least(fresh) >= _least(leaves):
            leaves = fresh
        rounds, examined = rounds + fresh_rounds, examined + fresh_examined
    # the leaves' least bound, or the whole-class bound where that is higher (both are valid for the whole class; in
    # many dimensions a budget-limited partition stays coarser than the whole-class minorant)
    lower_bound = max(_least(leaves), root)
    return search.solution(lower_bound, rounds=rounds, examined=examined, stopped=search.stopped or "closed"), leaves


class Search:
    """Best-first branch and bound from a set of cells with bounds, carrying the incumbent (best point found)."""

    def __init__(self, objective: Objective, space, polish, rtol: float, budget: Budget):
        self.objective, self.space, self.polish, self.rtol, self.budget = objective, space, polish, rtol, budget
        self.best_w, self.best_value, self.multipliers = None, np.inf, None
        self.stopped: str | None = None  # which part of the budget ran out, once one has

    def tolerance(self) -> float:
        return self.rtol * (1.0 + abs(self.best_value))

    def solution(self, lower_bound: float, *, rounds: int, examined: int, stopped: str) -> CertifiedSolution:
        lower_bound = min(float(lower_bound), self.best_value)
        gap = self.best_value - lower_bound
        return CertifiedSolution(self.best_w, float(self.best_value), lower_bound, float(gap),
                                 bool(gap <= self.tolerance()), int(examined), rounds,
                                 "closed" if gap <= self.tolerance() else stopped,
                                 time.perf_counter() - self.budget.start)

    def start(self, starts, explore: int) -> float:
        """The incumbent from local solves (the starts and the class's best 3 vertices) and the whole-class lower
        bound from it; a cold start's extra candidates (``explore``) only when that bound does not close."""
        vertices = self.space.initial_vertices()
        feasible = np.unique(self.space.project(vertices), axis=0)
        candidates = [np.asarray(start, dtype=np.float64) for start in starts]
        candidates.extend(feasible[np.argsort(self.objective.value(feasible))[:3]])
        self.improve(candidates)
        root = self.whole_class_bound(vertices)
        if explore and self.best_value - root > self.tolerance():
            extra = self.space.cold_candidates(self.objective, explore)
            if len(extra):
                self.improve(list(extra))
                root = self.whole_class_bound(vertices)
        return root

    def whole_class_bound(self, vertices) -> float:
        """The basin bound on the hull of the class's vertices (exact when f, or L_μ, is convex on the class), or the
        class's own bound from the incumbent (``Region.whole_class_bound``), whichever is higher."""
        basin = float(basin_bounds(self.objective, self.space, vertices[None], self.best_w,
                                   lagrangian_variants(self.multipliers))[0])
        return max(basin, self.space.whole_class_bound(self.objective, vertices, self.best_w, self.multipliers))

    def improve(self, candidates) -> None:
        """The best of the incumbent and the local solves from the candidates (only points in the class count)."""
        for start in candidates:
            points = [start]
            if self.polish is not None:
                points.append(self.polish(start))
            points.append(self.space.refine(self.objective, points[-1]))  # the ball: made KKT-exact on the sphere
            for point in points:
                if not self.space.feasible(point):
                    continue
                value = float(self.objective.value(point))
                if value < self.best_value:
                    self.best_w, self.best_value = np.array(point, dtype=np.float64), value
        if self.best_w is None:
            self.best_w = np.zeros(self.space.dimension)
            self.best_value = float(self.objective.value(self.best_w))
        self.multipliers = self.space.multipliers(self.best_w, self.objective.gradient(self.best_w))

    def bound_cells(self, cells, floor=-np.inf, chunk: int = 256) -> np.ndarray:
        """(n,) each cell's lower bound, chunk by chunk while the time budget lasts; a cell not reached keeps its
        ``floor`` (a bound valid for it: the whole-class bound, or its carried one; a number or (n,))."""
        bounds = np.array(np.broadcast_to(floor, (len(cells),)), dtype=np.float64)
        for start in range(0, len(cells), chunk):
            if start and self.budget.spent(0) == "seconds":
                self.stopped = "seconds"
                break
            part = cell_bounds(self.objective, self.space, cells[start:start + chunk], self.best_w, self.multipliers,
                               self.best_value - self.tolerance())
            bounds[start:start + chunk] = np.maximum(part, bounds[start:start + chunk])
        return bounds

    def resume(self, partition: Partition, *, batch: int):
        """The last search's leaves with their bounds moved to this objective (``_growth``); the stale ones (below
        the incumbent) re-bounded — the budget counts this call's work, not the carried leaves — then searched."""
        cells, bounds = partition.cells, partition.bounds + _growth(self.objective, partition)
        stale = bounds < self.best_value - self.tolerance()
        if stale.any():
            bounds[stale] = self.bound_cells(cells[stale], floor=bounds[stale])
        return self.run(cells, bounds, examined=int(stale.sum()), batch=batch)

    def run(self, cells, bounds, *, examined: int, batch: int):
        """Bisect until every cell's bound is within the tolerance of the incumbent, or the budget is spent.

        ``examined``: the cells already bounded in this call. Returns (the leaves as a Partition, rounds, cells
        examined)."""
        rounds = 0
        settled_cells, settled_bounds = [], []  # leaves that cannot hold a better point than the incumbent
        while True:
            keep = bounds < self.best_value - self.tolerance()
            settled_cells.append(cells[~keep])
            settled_bounds.append(bounds[~keep])
            cells, bounds = cells[keep], bounds[keep]
            if not len(cells):
                break
            self.stopped = self.budget.spent(examined)
            if self.stopped:
                break
            rounds += 1
            # best first: bisect the cells with the lowest bounds; each child inherits its parent's bound
            chosen = np.argsort(bounds)[:batch]
            rest = np.ones(len(cells), dtype=bool)
            rest[chosen] = False
            children = bisect(cells[chosen])
            inherited = np.tile(bounds[chosen], 2)
            outside = self.space.outside(children)
            children, inherited = children[~outside], inherited[~outside]
            examined += len(children)
            self.try_centroids(children)
            child_bounds = self.bound_cells(children, floor=inherited)
            cells = np.concatenate([cells[rest], children])
            bounds = np.concatenate([bounds[rest], child_bounds])
        counts = np.array(self.objective.counts, dtype=np.float64)
        leaves = Partition(np.concatenate(settled_cells + [cells]), np.concatenate(settled_bounds + [bounds]), counts,
                           self.objective.weight * np.asarray(self.objective.rho, dtype=np.float64), self.space.faces(),
                           None if self.objective.linear is None else np.array(self.objective.linear))
        return leaves, rounds, examined

    def try_centroids(self, children) -> None:
        """The children's centroids are candidates for a better incumbent (a local solve from the best)."""
        centroids = self.space.project(children.mean(axis=1))
        if not len(centroids):
            return
        values = self.objective.value(centroids)
        if values.min() < self.best_value - self.tolerance():
            self.improve([centroids[np.argmin(values)]])


def _least(leaves: Partition) -> float:
    """The least bound over a search's leaves (+inf when every cell was dropped)."""
    return float(leaves.bounds.min()) if len(leaves.bounds) else np.inf


def reusable_partition(partition: Partition, counts, weight, space) -> bool:
    """The last search's leaves bound this objective too: its data only grew, and so did each context's weight on
    J⋆_x (``weight`` (X,): a·ρ(x); an online run's α is constant, or grows as c·√t), and the leaves cover what this
    search must (``Region.reusable``)."""
    if not (partition.counts.shape == counts.shape and bool(np.all(counts >= partition.counts))
            and partition.value_weights.shape == np.shape(weight) and bool(np.all(weight >= partition.value_weights))):
        return False
    return space.reusable(partition.faces)


def _growth(objective: Objective, partition: Partition) -> np.ndarray:
    """(n,) how much each cell's bound may rise (or must fall) since the partition's objective f_old:

    f − f_old = Σ Δn_ab softplus(r_b − r_a) + ⟨Δc, r⟩ − Δa·J⋆, Δn ≥ 0 the new comparisons, Δc the linear term's change
    and Δa ≥ 0 the weight's growth. The first two are at least their least value over the cell (softplus rises and
    the margin is affine, ⟨Δc, r⟩ is affine: at a vertex); J⋆ is convex, so over a simplex it is at most its largest
    vertex value.
    """
    growth = np.zeros(len(partition.bounds))
    added = objective.counts - partition.counts  # (X, Y, Y) ≥ 0
    x, a, b = np.nonzero(added)
    if len(x):
        r = objective.rewards(partition.cells)  # (n, m, X, Y)
        least_margin = (r[:, :, x, b] - r[:, :, x, a]).min(axis=1)  # (n, pairs)
        growth += np.logaddexp(0.0, least_margin) @ added[x, a, b]
    if objective.linear is not None or partition.linear is not None:
        change = (0.0 if objective.linear is None else objective.linear) - (
            0.0 if partition.linear is None else partition.linear)  # (X, Y) Δc
        if np.any(change):
            growth += np.einsum("nmxy,xy->nm", objective.rewards(partition.cells), np.broadcast_to(
                change, objective.log_pi_ref.shape)).min(axis=1)
    extra = objective.weight * np.asarray(objective.rho) - partition.value_weights  # (X,) ≥ 0
    if np.any(extra > 0):
        j_terms, _, _ = kernels.optimal_value_pieces(objective.rewards(partition.cells), objective.log_pi_ref,
                                                     np.ones(len(extra)), objective.beta)  # (n, m, X) J*_x = β log Z_x
        growth -= (j_terms @ extra).max(axis=1)
    return growth
