"""The optimistic step solved globally, with a certificate  (docs/theory.md, "Certified optimism").

    minimize  f(w) = ℓ(B w) − a·J*(B w) + λ/2‖w‖²   over the reward class P

ℓ (the Bradley–Terry NLL) is convex and −a·J* is concave: f is a difference of convex
functions, whose local minima need not be global. ``certified_minimize`` finds the global minimum
by simplicial branch and bound and returns, beside the minimizer and its objective (an upper
bound on the minimum), a *proven* lower bound on the minimum and their gap.

The class P, in the coordinates w of the calibrated plane (r = B w, B orthonormal):
- tabular, one context: the polytope {w : |(B w)_y| ≤ R for every y}, its vertices enumerated and
  tiled exactly by a pulling triangulation (every vertex of P is a vertex of a cell); f is concave in the rewards
  of responses no comparison involves, so the minimum lies where at most one of those is strictly inside (−R, R),
  and cells where two or more stay inside are dropped;
- linear: the ball ‖w‖ ≤ R (θ = V w, V orthonormal, so ‖θ‖ = ‖w‖), covered by the 2^k simplices of
  the cross-polytope ‖w‖₁ ≤ R√k; cells beyond a tangent plane of the ball are dropped.

Five lower bounds on a simplex, each valid on the simplex ∩ P, for f and for the Lagrangian
L_μ = f + Σ μ_i φ_i with the incumbent's KKT multipliers μ (the proofs are in the theory document):
1. ``_cheap_bounds``: the tangent plane of the convex part at a vertex + the chord of −a·J*;
2. ``_convex_bounds``: αBB on the simplex — L_μ convexified with the negative part of a Loewner lower
   bound of its Hessian (``_Objective.hessian_lower_bounds``), minimized by Frank–Wolfe steps whose dual
   bound is valid at every iterate (``_frank_wolfe_bound``);
3. ``_convex_bounds``: the convex part kept whole + the chord of −a·J*, minimized the same way;
4. ``_basin_bounds``: where L_μ is provably convex on the hull of the cell and the incumbent, the
   incumbent's first-order condition bounds the whole cell (this removes the cluster effect, and on
   the whole class at once certifies a problem the data have made convex);
5. ``_minorant_bounds`` (ball only): a quadratic minorant of f integrated from an anchor (the cell's centroid,
   or the incumbent), minimized exactly over a ball holding the cell ∩ the class (``_minorant``). Its
   curvature decays like 1/|margin| where the Loewner bounds' decays like e^{−|margin|}, so on the whole
   ball it certifies high-dimensional problems once the data make them convex around the minimizer.
The search bisects the cells with the lowest bounds first (longest edge), sets aside every cell whose
bound is within the tolerance of the incumbent, and stops when none is left or the budget is spent.
The incumbent improves by local solves (the ``polish`` callable, e.g. SLSQP) from the given starts, the
best vertices and the best centroids. A ``Partition`` carries the leaves to the next online round.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls
from scipy.special import expit

from . import kernels
from ._minorant import ball_pair_minimum, quadratic_minorants

__all__ = ["CertifiedSolution", "Partition", "certified_minimize", "polytope_vertices", "DEFAULT_RTOL", "DEFAULT_MAX_CELLS"]

DEFAULT_RTOL = 1e-8  # certified when gap ≤ DEFAULT_RTOL·(1 + |objective|)
DEFAULT_MAX_CELLS = 400_000  # cells examined before the search gives up and reports its gap (certified=False)
_MAX_VERTEX_ENUMERATION = 2**16  # Y·2^(Y−1) candidate vertices at most (Y ≤ 13)
_FRANK_WOLFE_STEPS = 4  # steps towards the minimizer of each cell's convex underestimator
_TRIANGULATIONS: dict = {}  # (basis, bound) → the polytope's triangulation, the 256 most recent
_ACTIVE = 1e-7  # a constraint is active (gets a KKT multiplier) within this relative slack
_BALL_MIX = 0.2  # θ: the ball's Lagrangian term is θ·(exponential) + (1 − θ)·(quadratic), see _BallClass
_SPHERE_SAMPLES_PER_DIMENSION = 256  # ``explore``: sphere points sampled per dimension of the ball
_MAX_EXPONENT = 50.0  # κ(‖w‖ − R) at most this on cells reaching outside the ball: exp stays finite


@dataclass
class CertifiedSolution:
    """A global minimizer of ℓ − a·J* (+ ridge) over the class, with its certificate."""

    w: np.ndarray  # (k,) the minimizer found, in calibrated coordinates
    objective: float  # f(w): an upper bound on the minimum
    lower_bound: float  # a proven lower bound on the minimum over the class
    gap: float  # objective − lower_bound ≥ 0
    certified: bool  # gap ≤ rtol·(1 + |objective|)
    cells: int  # simplices examined
    rounds: int  # branch-and-bound rounds (each bisects the `batch` cells with the lowest bounds)


# --------------------------------------------------------------------------- the objective, batched
class _Objective:
    """f, ∇f at a batch of points, and the interval Hessian bounds of cells."""

    def __init__(self, basis, counts, log_pi_ref, rho, beta, weight, ridge):
        self.basis = basis  # (X, Y, k)
        self.counts = counts  # (X, Y, Y) n[x, winner, loser]
        self.log_pi_ref = log_pi_ref  # (X, Y)
        self.rho = rho  # (X,)
        self.beta = beta
        self.weight = weight  # a ≥ 0: the weight of J*
        self.ridge = ridge
        pairs = counts + counts.transpose(0, 2, 1)  # (X, Y, Y) comparisons of a with b, either order
        self.compared = pairs > 0
        X, Y, k = basis.shape
        self._flat_basis = np.ascontiguousarray(basis.reshape(X * Y, k).T)  # (k, X·Y): r = w @ this
        x, winner, loser = np.nonzero(counts)  # the observed (context, winner, loser) triples
        self._pair_counts = counts[x, winner, loser]  # (P,)
        self._pair_margins = np.ascontiguousarray((basis[x, winner] - basis[x, loser]).T)  # (k, P): m = w @ this
        x, a, b = np.nonzero(np.triu(self.compared, 1))  # the compared pairs {a, b}, once each (a < b)
        self._edges = (x, a, b)
        self._edge_counts = pairs[x, a, b]  # (E,) n_ab + n_ba
        self._edge_directions = basis[x, a] - basis[x, b]  # (E, k) ∇ of the margin r_a − r_b
        self._gram = np.einsum("xyk,xyl->xkl", basis, basis)  # (X, k, k) B_xᵀB_x

    def rewards(self, w):
        w = np.asarray(w)
        return (w @ self._flat_basis).reshape(*w.shape[:-1], *self.basis.shape[:2])  # (..., X, Y)

    def pieces(self, w, concave: bool = True):
        """(convex part C = ℓ + λ/2‖w‖², its gradient, −a·J*, its gradient) at points w (..., k).

        ``concave=False``: the first two only (None for the others).
        """
        w = np.asarray(w)
        # ℓ over the observed pairs only, in w directly: m_p = (b_winner − b_loser)·w (theory §3)
        nll, slope = kernels.bt_nll_pair_pieces(w @ self._pair_margins, self._pair_counts)  # (...), (..., P)
        convex = nll + 0.5 * self.ridge * np.sum(w * w, axis=-1)
        grad_convex = -slope @ self._pair_margins.T + self.ridge * w  # ∂ℓ/∂m_p = −n_p σ(−m_p)
        if not concave:
            return convex, grad_convex, None, None
        r = self.rewards(w)  # (..., X, Y)
        j_terms, grad_j, _ = kernels.optimal_value_pieces(r, self.log_pi_ref, self.rho, self.beta)  # J*'s terms, ρπ_r
        concave = -self.weight * j_terms.sum(axis=-1)  # −a·J* (theory §2, I2)
        grad_j = grad_j.reshape(*grad_j.shape[:-2], self._flat_basis.shape[1])  # (..., X·Y)
        grad_concave = -self.weight * (grad_j @ self._flat_basis.T)
        return convex, grad_convex, concave, grad_concave

    def value(self, w):
        convex, _, concave, _ = self.pieces(w)
        return convex + concave

    def hessian(self, w):
        """(k, k) ∇²f at one point w (k,): Σ_x B_xᵀ H_x B_x with the reward-space Hessian of ℓ − a·J* (+ ridge)."""
        r = self.rewards(w)  # (X, Y)
        _, _, hess = kernels.objective_pieces(r, self.counts, self.log_pi_ref, self.rho, self.beta, -self.weight)
        return np.einsum("xyk,xyz,xzl->kl", self.basis, hess, self.basis) + self.ridge * np.eye(len(w))

    def hessian_lower_bounds(self, cells, reward_range=None):
        """(n, 3, k, k): three matrices H with H ⪯ ∇²f(w) for every w in each cell (n, m, k).

        ∇²ℓ ⪰ the Bradley–Terry Laplacian with every edge weight n_ab·σ'(m_ab) at its least over the
        cell (σ' falls with |m|, and |m_ab| is at most the interval bound M_ab). For a·∇²J* =
        (a/β) Σ_x ρ_x B_xᵀ(diag π_x − π_xπ_xᵀ)B_x two upper bounds, from the interval [π̲, π̄] of π_r
        over the cell (r_y at its top and the others at their bottom, or the reverse):
        (i) diag π − ππᵀ ⪯ diag π̄;  (ii) with π̂ = π at the centroid and Δ = max(π̄ − π̂, π̂ − π̲),
        δ = π − π̂:  diag π − ππᵀ = diag π̂ − π̂π̂ᵀ + diag δ − π̂δᵀ − δπ̂ᵀ − δδᵀ
        ⪯ diag π̂ − π̂π̂ᵀ + diag Δ + 2‖π̂‖‖Δ‖ I  (the eigenvalues of −(abᵀ + baᵀ) are −a·b ± ‖a‖‖b‖).
        (ii) tends to the exact Hessian as the cell shrinks; (i) is better where π̄ is small;
        (iii) diag π − ππᵀ ⪯ ½ I everywhere (vᵀ(diag π − ππᵀ)v is the variance of v_y under π, at most
        (max v − min v)²/4 ≤ ½ for a unit v) — the one that holds on the whole class.
        ``reward_range``: (X, Y) bounds on |r| over the class; with it the intervals are those of the cell ∩
        class, and the bounds hold there only.
        """
        r = self.rewards(cells)  # (n, m, X, Y)
        low, high = r.min(axis=1), r.max(axis=1)  # (n, X, Y) interval hull of r over the cell (r is affine in w)
        if reward_range is not None:
            low, high = np.maximum(low, -reward_range), np.minimum(high, reward_range)
        # the Laplacian Σ_{a<b} n_ab σ'(M_ab) d_ab d_abᵀ, M_ab = the largest |r_a − r_b| over the cell
        x, a, b = self._edges
        spread = np.maximum(high[:, x, a] - low[:, x, b], high[:, x, b] - low[:, x, a])  # (n, E)
        edge = self._edge_counts * expit(spread) * expit(-spread)  # (n, E) least n·σ'(m) over the cell
        convex = np.einsum("ne,ek,el->nkl", edge, self._edge_directions, self._edge_directions)
        if self.ridge:
            convex += self.ridge * np.eye(convex.shape[-1])
        top, bottom = high / self.beta + self.log_pi_ref, low / self.beta + self.log_pi_ref  # (n, X, Y)
        Y = top.shape[-1]
        mask = np.eye(Y, dtype=bool)
        pi_high = np.exp(top - np.logaddexp(top, kernels.logsumexp(np.where(mask, -np.inf, bottom[..., None, :]), axis=-1)))
        pi_low = np.exp(bottom - np.logaddexp(bottom, kernels.logsumexp(np.where(mask, -np.inf, top[..., None, :]), axis=-1)))
        centre = self.rewards(cells.mean(axis=1)) / self.beta + self.log_pi_ref
        pi_hat = np.exp(centre - kernels.logsumexp(centre, axis=-1, keepdims=True))  # (n, X, Y)
        delta = np.maximum(pi_high - pi_hat, pi_hat - pi_low)
        weight = (self.weight / self.beta) * self.rho  # (X,)
        n = len(cells)
        flat = self._flat_basis  # (k, X·Y)
        first = (flat * (weight[:, None] * pi_high).reshape(n, 1, flat.shape[1])) @ flat.T  # Σ_xy w_x π̄ b bᵀ
        projected = np.einsum("xyk,nxy->nxk", self.basis, pi_hat)  # (n, X, k) B_xᵀ π̂
        second = (flat * (weight[:, None] * (pi_hat + delta)).reshape(n, 1, flat.shape[1])) @ flat.T
        second -= np.einsum("x,nxk,nxl->nkl", weight, projected, projected)
        spread_norm = 2.0 * np.linalg.norm(pi_hat, axis=-1) * np.linalg.norm(delta, axis=-1)  # (n, X)
        second += np.einsum("nx,xkl->nkl", weight * spread_norm, self._gram)
        third = 0.5 * np.einsum("x,xkl->kl", weight, self._gram)
        return np.stack([convex - first, convex - second, convex - third], axis=1)


# --------------------------------------------------------------------------- the classes
class _PolytopeClass:
    """{w : |(B w)_y| ≤ R}, one context (B (Y, k) orthonormal).

    ``uncompared``: (Y,) the responses no comparison involves, when f is concave in their rewards (no ridge). For
    fixed rewards of the compared responses the uncompared ones range over the box cut by the calibration plane, a
    polytope whose vertices have at most one coordinate strictly inside (−R, R); f is concave there (ℓ does not see
    them, −a·J* is concave), so its minimum over the class is attained where at most one uncompared reward is
    strictly inside (−R, R). Cells on which two or more of them stay strictly inside are dropped (``outside``): the
    search runs on the union of those faces, of dimension k − (|U| − 1), instead of the whole polytope — this
    removes the near-flat valleys (slopes ~1e-4, theory §10) along which rewards of rarely-chosen, uncompared
    responses trade places at no cost to the data.
    """

    def __init__(self, basis_rows, bound, uncompared=None):
        self.rows, self.bound = basis_rows, bound  # (Y, k), R
        self.dimension = basis_rows.shape[1]
        self.reward_range = np.full((1, len(basis_rows)), bound)  # |r_y| ≤ R
        uncompared = np.zeros(len(basis_rows), dtype=bool) if uncompared is None else np.asarray(uncompared, bool)
        self.uncompared = uncompared if uncompared.sum() >= 2 else np.zeros_like(uncompared)  # (Y,)

    def initial_cells(self):
        """A triangulation of the polytope (n, k+1, k): a cone from each face's centroid over its facets'.

        (Delaunay on these highly symmetric vertex sets returns mostly flat simplices.)
        """
        key = (self.rows.tobytes(), self.rows.shape, float(self.bound))
        if key not in _TRIANGULATIONS:  # the online loop asks for the same context's class every round
            vertices = polytope_vertices(self.rows, self.bound)  # (V, k)
            r = vertices @ self.rows.T  # (V, Y)
            at_face = np.stack([r >= self.bound * (1 - 1e-9), r <= -self.bound * (1 - 1e-9)], axis=-1)  # (V, Y, 2)
            simplices = np.array(_pulling_triangulation(vertices, at_face, np.arange(len(vertices)), self.rows.shape[1]))
            simplices.setflags(write=False)
            if len(_TRIANGULATIONS) >= 256:
                _TRIANGULATIONS.pop(next(iter(_TRIANGULATIONS)))
            _TRIANGULATIONS[key] = simplices
        return _TRIANGULATIONS[key]

    def initial_vertices(self):
        """(V, k) the vertices of the initial cells: the polytope's own."""
        return np.unique(self.initial_cells().reshape(-1, self.dimension), axis=0)

    def can_branch(self, max_cells: int) -> bool:
        return True  # the triangulation is enumerated (Y ≤ 13) and cached

    def feasible(self, points):
        return np.all(np.abs(points @ self.rows.T) <= self.bound * (1 + 1e-12), axis=-1)

    def project(self, points):
        """Candidate points for the incumbent: the cells tile the polytope, so their points are already in it."""
        return points

    def outside(self, cells):
        """Cells on which two or more uncompared rewards stay strictly inside (−R, R) (see the class docstring);
        every cell is inside the polytope. A cell reaching within 1e-9·R of a face counts as touching it."""
        if not self.uncompared.any():
            return np.zeros(len(cells), dtype=bool)
        r = cells @ self.rows[self.uncompared].T  # (n, m, |U|), affine in w: extremes at the vertices
        inside = (r.max(axis=1) < self.bound * (1 - 1e-9)) & (r.min(axis=1) > -self.bound * (1 - 1e-9))  # (n, |U|)
        return inside.sum(axis=1) >= 2

    def multipliers(self, w, grad):
        """Linear multipliers λ_y ≥ 0 of the active faces s_y·r_y ≤ R (least squares on ∇f + Σ λ_y s_y b_y = 0)."""
        r = self.rows @ w
        sides = np.where(r < 0, -1.0, 1.0)  # which face of |r_y| ≤ R is nearer
        active = np.abs(r) >= self.bound * (1 - _ACTIVE)
        mu = np.zeros(len(r))
        if active.any():
            normals = sides[active, None] * self.rows[active]  # (a, k) ∇(s_y r_y)
            mu[active] = nnls(normals.T, -grad)[0]
        return mu, sides

    def lagrangian_terms(self, multipliers, cells, points):
        """Σ_y μ_y φ_y (and its gradient) at points of each cell, (n, k) or (n, m, k) and its gradient at the vertices and at ``points``, and a Loewner lower bound of its Hessian.

        φ_y(w) = (exp(κ(s_y r_y − R)) − 1)/κ is convex, ≤ 0 on the class, 0 on the face s_y r_y = R,
        with gradient s_y b_y there (so μ are the faces' ordinary multipliers). Its curvature
        κ·exp(κ(s_y r_y − R)) is at least 1/(e·d) over a cell whose largest distance to the face is
        d when κ = 1/d: it grows as the cells around a face shrink, and convexifies the directions
        the face blocks.
        """
        mu, sides = multipliers
        kappa = 1.0 / self._reach(sides, cells)  # (n, Y)
        if points.ndim == 3:
            kappa = kappa[:, None, :]
        slope = np.exp(kappa * (sides * (points @ self.rows.T) - self.bound))  # (…, Y), in (0, 1] on the class
        return ((slope - 1.0) / kappa) @ mu, slope @ ((mu * sides)[:, None] * self.rows)

    def lagrangian_curvature(self, multipliers, cells):
        """(n, k, k) ⪯ ∇²Σ μ_y φ_y over each cell: κ e^{−κ d} = 1/(e d) per face, d its largest distance."""
        mu, sides = multipliers
        least = mu / (np.e * self._reach(sides, cells))  # (n, Y)
        return np.einsum("ny,yk,yl->nkl", least, self.rows, self.rows)

    def _reach(self, sides, cells):
        """(n, Y) the largest distance R − s_y r_y of each cell's points to each face (at a vertex: r is affine)."""
        return np.maximum((self.bound - sides * (cells @ self.rows.T)).max(axis=1), 1e-12 * self.bound)


class _BallClass:
    """{w : ‖w‖ ≤ R}."""

    def __init__(self, basis, bound):
        self.k, self.bound = basis.shape[-1], bound
        self.dimension = self.k
        self.reward_range = bound * np.linalg.norm(basis, axis=-1)  # (X, Y): |⟨b_xy, w⟩| ≤ ‖b_xy‖ R

    def initial_cells(self):
        k, reach = self.k, self.bound * np.sqrt(self.k)  # the cross-polytope ‖w‖₁ ≤ R√k holds the ball
        signs = np.array(np.meshgrid(*[[-1.0, 1.0]] * k, indexing="ij")).reshape(k, -1).T  # (2^k, k)
        cells = np.zeros((len(signs), k + 1, k))
        cells[:, 1:, :] = reach * signs[:, :, None] * np.eye(k)[None]
        return cells

    def initial_vertices(self):
        """(2k + 1, k) the vertices of the initial cells — the origin and ±R√k·e_i — without building the 2^k cells."""
        reach = self.bound * np.sqrt(self.k)
        return np.concatenate([np.zeros((1, self.k)), reach * np.eye(self.k), -reach * np.eye(self.k)])

    def can_branch(self, max_cells: int) -> bool:
        """Branch and bound starts from 2^k cells: beyond the budget (or 2^16) it cannot even begin, and the fit
        reports the whole-class bound, uncertified unless that bound closes."""
        return self.k <= 16 and 2**self.k <= max_cells

    def feasible(self, points):
        return np.sum(points * points, axis=-1) <= self.bound**2 * (1 + 1e-12)

    def project(self, points):
        """Points pulled radially into the ball: the cells cover more than the ball, and the optimistic step's
        minimizer usually lies on its sphere, where most of the cells' vertices and centroids are just outside."""
        norm = np.linalg.norm(points, axis=-1, keepdims=True)
        return points * np.minimum(1.0, self.bound * (1 - 1e-12) / np.maximum(norm, 1e-300))

    def outside(self, cells):
        """Cells beyond the tangent plane of the ball in the direction of their centroid."""
        centre = cells.mean(axis=1)
        norm = np.linalg.norm(centre, axis=-1, keepdims=True)
        direction = centre / np.maximum(norm, 1e-300)
        return np.all(np.einsum("nmk,nk->nm", cells, direction) > self.bound, axis=1)

    def multipliers(self, w, grad):
        """The multiplier μ ≥ 0 of ‖w‖ ≤ R where it is active (∇f + μ ŵ = 0 along ŵ), else 0."""
        norm = float(np.linalg.norm(w))
        if norm < self.bound * (1 - _ACTIVE):
            return np.zeros(1), None
        return np.array([max(0.0, -float(grad @ w) / norm)]), None

    def lagrangian_terms(self, multipliers, cells, points):
        """μ φ (value, gradient) at points of each cell, with φ = θ·φ_e + (1 − θ)·φ_q:

        φ_e(w) = (exp(κ(‖w‖ − R)) − 1)/κ and φ_q(w) = (‖w‖² − R²)/(2R), both convex, ≤ 0 in the ball, with gradient
        ŵ on the sphere (so μ is the sphere's ordinary multiplier). φ_q gives the tangential curvature I/R that the
        second-order condition on the sphere asks for, undiminished; φ_e's radial curvature κ e^{κ(‖w‖−R)} grows as
        the cells near the sphere thin (κ = 1/(R − a), a the least norm over the cell), and convexifies the
        direction the sphere blocks. κ is capped so that κ(‖w‖ − R) ≤ _MAX_EXPONENT on cells reaching outside the
        ball (any κ > 0 is valid; the cap keeps exp finite).
        """
        mu = multipliers[0][0]
        kappa, _, _ = self._kappa(cells)
        if points.ndim == 3:
            kappa = kappa[:, None]
        norm = np.linalg.norm(points, axis=-1)
        slope = np.exp(kappa * (norm - self.bound))
        unit = points / np.maximum(norm, 1e-300)[..., None]
        value = _BALL_MIX * (slope - 1.0) / kappa + (1.0 - _BALL_MIX) * (norm**2 - self.bound**2) / (2.0 * self.bound)
        grad = (_BALL_MIX * slope)[..., None] * unit + ((1.0 - _BALL_MIX) / self.bound) * points
        return mu * value, mu * grad

    def lagrangian_curvature(self, multipliers, cells):
        """(n, k, k) ⪯ ∇²(μφ) over each cell (n, m, k).

        φ_q: exactly I/R. φ_e: e^{κ(n−R)}(κ ŵŵᵀ + (I − ŵŵᵀ)/n) with n = ‖w‖ ∈ [a, b] ⪰ E·A, E = e^{κ(a−R)} (A ⪰ 0).
        Where κ ≥ 1/a and every vertex lies within angle ψ < 90° of the centroid's direction ĉ (the largest angle
        over a simplex is at a vertex: {w : ∠(w, ĉ) ≤ ψ} is a convex cone), A ⪰ (κ − 1/a)(ĉĉᵀ − sin ψ·I) + I/b
        (uuᵀ − vvᵀ has eigenvalues ±sin∠(u, v)); otherwise A ⪰ min(κ, 1/b)·I. The anisotropic form is used where
        it keeps at least half of the tangential 1/b.
        """
        mu = multipliers[0][0]
        kappa, lowest, highest = self._kappa(cells)
        k = cells.shape[-1]
        centre = cells.mean(axis=1)
        direction = centre / np.maximum(np.linalg.norm(centre, axis=-1, keepdims=True), 1e-300)  # (n, k) ĉ
        along = np.einsum("nmk,nk->nm", cells, direction)  # (n, m) v·ĉ
        across = np.linalg.norm(cells - along[..., None] * direction[:, None, :], axis=-1)  # (n, m)
        sine = np.where(along > 0, across / np.maximum(np.linalg.norm(cells, axis=-1), 1e-300), 1.0).max(axis=1)
        sine = np.where((along > 0).all(axis=1), sine, 1.0)
        scale = np.exp(kappa * (lowest - self.bound))  # E
        inverse_low = 1.0 / np.maximum(lowest, 1e-300)
        inverse_high = 1.0 / np.maximum(highest, 1e-300)
        radial = np.maximum(kappa - inverse_low, 0.0)  # κ − 1/a where positive
        tangential = inverse_high - radial * sine
        anisotropic = (kappa >= inverse_low) & (lowest > 0) & (tangential >= 0.5 * inverse_high)
        isotropic = np.minimum(kappa, inverse_high)
        eye = np.eye(k)
        exp_part = np.where(anisotropic[:, None, None],
                            (radial[:, None, None] * np.einsum("nk,nl->nkl", direction, direction)
                             + tangential[:, None, None] * eye),
                            isotropic[:, None, None] * eye)
        return mu * (_BALL_MIX * scale[:, None, None] * exp_part + ((1.0 - _BALL_MIX) / self.bound) * eye)

    def _kappa(self, cells):
        """(κ, a, b) per cell: κ = 1/(R − a), capped to _MAX_EXPONENT/(b − R) where the cell reaches beyond R."""
        lowest, highest = self._norm_range(cells)
        kappa = 1.0 / np.maximum(self.bound - lowest, 1e-12 * self.bound)
        beyond = highest - self.bound
        kappa = np.where(beyond > 0, np.minimum(kappa, _MAX_EXPONENT / np.maximum(beyond, 1e-300)), kappa)
        return kappa, lowest, highest

    def refine(self, objective: "_Objective", w):
        """Newton steps on the KKT system of min f on the sphere ‖w‖ = R from a point near it (a local solver's answer):
        (∇²f + μI) Δ + w Δμ = −(∇f + μw),  wᵀΔ = (R² − ‖w‖²)/2. Quadratic convergence where the second-order
        condition holds, so the incumbent's KKT residual — which the basin bound pays for — falls to rounding level.
        Returns the best feasible point seen (w itself if no step improves)."""
        k = len(w)
        if np.linalg.norm(w) < self.bound * (1 - 1e-3):
            return w
        best, best_value = w, float(objective.value(w))
        point = w * (self.bound / np.linalg.norm(w))
        for _ in range(8):
            grad = _gradient(objective, point)
            mu = -float(grad @ point) / self.bound**2  # ∇f + μ w = 0 along w
            system = np.zeros((k + 1, k + 1))
            system[:k, :k] = objective.hessian(point) + mu * np.eye(k)
            system[:k, k] = system[k, :k] = point
            rhs = np.concatenate([-(grad + mu * point), [0.5 * (self.bound**2 - point @ point)]])
            try:
                step = np.linalg.solve(system, rhs)[:k]
            except np.linalg.LinAlgError:
                break
            point = point + step
            point = point * (self.bound * (1 - 1e-15) / np.linalg.norm(point))  # back onto the sphere
            value = float(objective.value(point))
            if value <= best_value:
                best, best_value = point, value
            if np.linalg.norm(step) <= 1e-13 * self.bound:
                break
        return best

    @staticmethod
    def _norm_range(cells):
        """(n,), (n,): a lower bound on min ‖w‖ over each cell (its distance along the centroid's direction) and max ‖w‖."""
        direction = cells.mean(axis=1)
        direction = direction / np.maximum(np.linalg.norm(direction, axis=-1, keepdims=True), 1e-300)
        lowest = np.maximum(np.einsum("nmk,nk->nm", cells, direction).min(axis=1), 0.0)
        return lowest, np.linalg.norm(cells, axis=-1).max(axis=1)


def _pulling_triangulation(vertices, at_face, members, dimension):
    """Simplices (lists of k+1 points) triangulating the face spanned by ``vertices[members]`` of that dimension.

    A pulling triangulation: the face's first vertex v is joined to a triangulation of each facet that does not
    contain v (the faces one more active constraint |r_y| = R cuts out, one dimension lower). Every simplex is
    full-dimensional within the face, and they tile it.
    """
    points = vertices[members]
    if dimension == 0:
        return [[points[0]]]
    if dimension == 1:  # a segment: its two ends
        spread = points @ (points[-1] - points[0])
        return [[points[np.argmin(spread)], points[np.argmax(spread)]]]
    apex = members[0]
    simplices, seen = [], set()
    for y in range(at_face.shape[1]):
        for side in range(2):
            facet = members[at_face[members, y, side]]
            key = frozenset(facet.tolist())
            if len(facet) < dimension or key in seen or apex in key:
                continue
            if np.linalg.matrix_rank(vertices[facet] - vertices[facet[0]], tol=1e-9) != dimension - 1:
                continue
            seen.add(key)
            simplices += [[vertices[apex]] + s for s in _pulling_triangulation(vertices, at_face, facet, dimension - 1)]
    return simplices


def polytope_vertices(rows: np.ndarray, bound: float) -> np.ndarray:
    """Vertices of {w : |(B w)_y| ≤ R} for an orthonormal B (Y, k) whose columns span {π_cal·r = 0}.

    In r = B w the set is the box [−R, R]^Y cut by the plane π_cal·r = 0 (k = Y − 1). A vertex
    has Y − 1 coordinates at ±R and the last, free one (with π_cal > 0) solving the plane's
    equation inside [−R, R]: Y·2^(Y−1) candidates, enumerated. Returned in w = Bᵀ r, (V, k).
    """
    Y, k = rows.shape
    if k == 0:
        return np.zeros((1, 0))
    # the plane's normal: the direction orthogonal to every column of B
    normal = np.linalg.svd(rows.T, full_matrices=True)[2][-1] if k < Y else None
    if normal is None:  # no calibration plane (k = Y): the box itself
        corners = np.array(np.meshgrid(*[[-bound, bound]] * Y, indexing="ij")).reshape(Y, -1).T
        return corners @ rows
    if Y * 2 ** (Y - 1) > _MAX_VERTEX_ENUMERATION:
        raise ValueError(f"the certified optimistic step enumerates the class's vertices, Y·2^(Y−1) of them; "
                         f"Y = {Y} responses is too many (at most 13): use method='sqp-multistart' (a heuristic)")
    normal = normal / normal[np.argmax(np.abs(normal))]
    signs = np.array(np.meshgrid(*[[-1.0, 1.0]] * (Y - 1), indexing="ij")).reshape(Y - 1, -1).T * bound
    found = []
    for free in np.flatnonzero(np.abs(normal) > 1e-12):
        r = np.insert(signs, free, 0.0, axis=1)  # (2^(Y−1), Y), the free coordinate still 0
        r[:, free] = -(r @ normal) / normal[free]  # on the plane
        found.append(r[np.abs(r[:, free]) <= bound * (1 + 1e-12)])
    r = np.concatenate(found)
    r = np.clip(r, -bound, bound)
    r = np.unique(np.round(r / bound, 12), axis=0) * bound
    return r @ rows


# --------------------------------------------------------------------------- bounds on cells
def _barycentric(cells, point):
    """(n, m) barycentric coordinates of one point in each cell (n, m, k)."""
    n, m, _ = cells.shape
    system = np.concatenate([cells.transpose(0, 2, 1), np.ones((n, 1, m))], axis=1)  # (n, m, m)
    rhs = np.broadcast_to(np.append(point, 1.0), (n, m))
    try:
        return np.linalg.solve(system, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:  # a flat cell somewhere: solve one by one, flat cells get no coordinates
        out = np.full((n, m), np.nan)
        for i in range(n):
            try:
                out[i] = np.linalg.solve(system[i], rhs[i])
            except np.linalg.LinAlgError:
                pass
        return out


def _cell_bounds(objective: _Objective, space, cells, incumbent, multipliers, threshold=np.inf, *,
                 steps: int = _FRANK_WOLFE_STEPS):
    """(n,) lower bounds of f over each cell ∩ P: the largest of the bounds of the module docstring.

    The cheap bounds (1 and 4) come first; the Frank–Wolfe bounds (2 and 3) are computed only for the cells
    whose cheap bound is below ``threshold`` (the level at which a cell is set aside).
    """
    cheap = _cheap_bounds(objective, space, cells, incumbent, multipliers)
    cheap = np.where(np.isnan(cheap), -np.inf, cheap)  # a bound that failed numerically settles nothing
    if isinstance(space, _BallClass):  # 5. the integrated quadratic minorants, minimized exactly (_minorant)
        open_ = cheap < threshold
        if open_.any():
            cheap[open_] = np.fmax(cheap[open_], _minorant_bounds(objective, space, cells[open_], incumbent))
    open_ = cheap < threshold
    if not open_.any():
        return cheap
    convex = _convex_bounds(objective, space, cells[open_], incumbent, multipliers, steps)
    cheap[open_] = np.maximum(cheap[open_], np.where(np.isnan(convex), -np.inf, convex))
    return cheap


def _minorant_bounds(objective: _Objective, space, cells, incumbent):
    """(n,) bound 5 on the ball: the quadratic minorant of f anchored at each cell's centroid (on the ball around it
    holding the cell) and at the incumbent (on the ball around it holding the cell), each minimized over that ball ∩
    the class by Lagrangian duality (``_minorant.ball_pair_minimum``)."""
    n, _, k = cells.shape
    centres = cells.mean(axis=1)  # (n, k)
    best = np.full(n, -np.inf)
    for anchors in (centres, incumbent):  # the incumbent (k,) is one anchor for every cell: f, ∇f there once
        radii = np.linalg.norm(cells - np.reshape(anchors, (-1, 1, k)), axis=-1).max(axis=1)  # (n,) ball around it
        values, grads, hessians = quadratic_minorants(objective, anchors, radii, space.bound)
        best = np.fmax(best, ball_pair_minimum(values, grads, hessians, np.broadcast_to(anchors, (n, k)), radii,
                                               space.bound))
    return best


def _variants(multipliers):
    """The Lagrangians to bound with: f itself, and L_μ when the incumbent has active constraints."""
    return [None] if multipliers is None or not np.any(multipliers[0]) else [None, multipliers]


def _cheap_bounds(objective: _Objective, space, cells, incumbent, multipliers):
    """Bounds 1 (tangent + chord) and 4 (the incumbent's basin): vertex values and one Loewner bound a cell."""
    convex, grad_convex, concave, _ = objective.pieces(cells)  # (n, m), (n, m, k), (n, m) at the vertices
    edges = cells[:, None, :, :] - cells[:, :, None, :]  # (n, j, i, k) v_i − v_j
    best = np.full(len(cells), -np.inf)
    for variant in _variants(multipliers):
        C, grad_C = convex, grad_convex
        if variant is not None:  # the Lagrangian L_μ = f + Σ μ_i φ_i ≤ f on the class
            vertex_value, vertex_grad = space.lagrangian_terms(variant, cells, cells)
            C, grad_C = convex + vertex_value, grad_convex + vertex_grad
        # 1. tangent plane of the convex part at each vertex v_j + the chord of −a·J*: min over the vertices v_i
        planes = C[:, :, None] + np.einsum("njk,njik->nji", grad_C, edges) + concave[:, None, :]
        best = np.fmax(best, planes.min(axis=2).max(axis=1))
    # 4. the incumbent's basin, for f and L_μ (see _basin_bounds)
    return np.fmax(best, _basin_bounds(objective, space, cells, incumbent, _variants(multipliers)))


def _convex_bounds(objective: _Objective, space, cells, incumbent, multipliers, steps):
    """Bounds 2 (convexified Lagrangian) and 3 (convex part + chord), each minimized by a few Frank–Wolfe steps."""
    n, m, _ = cells.shape
    _, _, concave, _ = objective.pieces(cells)  # (n, m) −a·J* at the vertices
    # the first p: the incumbent in the cells that hold it, the centroid elsewhere (barycentric λ, (n, m))
    start = np.full((n, m), 1.0 / m)
    inside = _barycentric(cells, incumbent)
    holds = np.all(inside >= -1e-9, axis=1)
    if holds.any():
        clipped = np.clip(inside[holds], 0.0, None)
        start[holds] = clipped / clipped.sum(axis=1, keepdims=True)
    hessians = objective.hessian_lower_bounds(cells)  # (n, 2, k, k), each ⪯ ∇²f on each cell
    best = np.full(n, -np.inf)
    for variant in _variants(multipliers):
        def lagrangian(points):  # L_μ = f (+ Σ μ_i φ_i) and its gradient at (n, k) points
            c_val, c_grad, j_val, j_grad = objective.pieces(points)
            if variant is None:
                return c_val + j_val, c_grad + j_grad
            value, grad = space.lagrangian_terms(variant, cells, points)
            return c_val + j_val + value, c_grad + j_grad + grad

        curvature = hessians
        if variant is not None:
            curvature = hessians + space.lagrangian_curvature(variant, cells)[:, None]
        # 2. u = L_μ − ½(Σ λ_i v_iᵀKv_i − wᵀKw), convex on the cell; in barycentric λ
        #    ũ(λ) = L_μ(Vᵀλ) − ½(λ·c − λᵀGλ), c_i = v_iᵀKv_i, G = V K Vᵀ.
        #    Any λ gives the bound ũ(λ) + min_i ∂_iũ − ∇ũ·λ (the Frank–Wolfe dual bound; ũ convex); a few
        #    Frank–Wolfe steps move λ towards the minimizer of ũ, where the bound is min ũ itself.
        eigenvalues, vectors = np.linalg.eigh(curvature)  # (n, 2, k), (n, 2, k, k)
        negative = np.maximum(-eigenvalues, 0.0)
        pick = negative.sum(axis=-1).argmin(axis=1)  # the Hessian bound that needs the least convexification
        rows = np.arange(n)
        K = np.einsum("nij,nj,nlj->nil", vectors[rows, pick], negative[rows, pick], vectors[rows, pick])  # ⪰ 0
        gram = np.einsum("nik,nkl,njl->nij", cells, K, cells)  # (n, m, m)
        diag = np.einsum("nii->ni", gram)

        def convexified(lam):  # ũ(λ) and ∇_λ ũ
            value, grad = lagrangian(np.einsum("nm,nmk->nk", lam, cells))
            gram_lam = np.einsum("nij,nj->ni", gram, lam)
            u = value - 0.5 * (np.einsum("nm,nm->n", lam, diag) - np.einsum("ni,ni->n", lam, gram_lam))
            return u, np.einsum("nmk,nk->nm", cells, grad) - 0.5 * diag + gram_lam

        best = np.fmax(best, _frank_wolfe_bound(convexified, start, steps))

        # 3. the convex part kept whole + the chord of −a·J*: ũ(λ) = C(Vᵀλ) + λ·(−a·J*(v)), convex in λ.
        #    Exact where J* is affine on the cell — nearly so away from ties when β is small.
        def chord(lam):
            points = np.einsum("nm,nmk->nk", lam, cells)
            value, grad, _, _ = objective.pieces(points, concave=False)
            if variant is not None:
                extra_value, extra_grad = space.lagrangian_terms(variant, cells, points)
                value, grad = value + extra_value, grad + extra_grad
            return value + np.einsum("nm,nm->n", lam, concave), np.einsum("nmk,nk->nm", cells, grad) + concave

        best = np.fmax(best, _frank_wolfe_bound(chord, start, steps))

    return best


def _basin_bounds(objective: _Objective, space, cells, incumbent, variants):
    """(n,) bounds from the incumbent's basin, the best over ``variants`` (f, L_μ): −inf where they do not apply.

    If L_μ is convex on the hull of the cell and the incumbent w* (intersected with the class), then on the
    cell ∩ class f ≥ L_μ ≥ L_μ(w*) + ∇L_μ(w*)·(w − w*), whose minimum over the hull is at one of its
    vertices — within the KKT residual of f(w*). Cells beside a non-degenerate minimizer are then settled
    at once instead of being split ever finer (the cluster effect of branch and bound); applied to the
    whole class at once, it certifies a problem that the data have made convex.
    """
    n, _, k = cells.shape
    hull = np.concatenate([cells, np.broadcast_to(incumbent, (n, 1, k))], axis=1)  # (n, m+1, k)
    hessians = objective.hessian_lower_bounds(hull, space.reward_range)  # valid on hull ∩ class: enough here
    value, grad = float(objective.value(incumbent)), _gradient(objective, incumbent)
    best = np.full(n, -np.inf)
    for variant in variants:
        curvature, anchor_value, anchor_grad = hessians, np.full(n, value), np.broadcast_to(grad, (n, k))
        if variant is not None:
            curvature = curvature + space.lagrangian_curvature(variant, hull)[:, None]
            extra_value, extra_grad = space.lagrangian_terms(variant, hull, np.broadcast_to(incumbent, (n, k)))
            anchor_value, anchor_grad = anchor_value + extra_value, anchor_grad + extra_grad
        convex = np.linalg.eigvalsh(curvature)[..., 0].max(axis=1) >= 0.0  # (n,) one of the bounds is PSD
        basin = anchor_value + np.einsum("nk,nmk->nm", anchor_grad, hull - incumbent).min(axis=1)
        best = np.fmax(best, np.where(convex, basin, -np.inf))
    return best


def _frank_wolfe_bound(surrogate, lam, steps):
    """max over a few Frank–Wolfe iterates λ of ũ(λ) + min_i ∂_iũ(λ) − ∇ũ(λ)·λ: lower bounds of min ũ over the simplex.

    ``surrogate``: λ (n, m) ↦ (ũ (n,), ∇ũ (n, m)) for a batch of functions convex on the simplex. Every
    iterate's bound is valid (convexity: ũ(λ*) ≥ ũ(λ) + ∇ũ(λ)·(λ* − λ)); each step goes to the vertex of
    steepest descent with the length that minimizes a quadratic model (curvature from a gradient difference),
    and is taken only where it lowers ũ.
    """
    n = lam.shape[0]
    u, grad = surrogate(lam)
    best = u + grad.min(axis=1) - np.einsum("nm,nm->n", grad, lam)
    for _ in range(steps):
        direction = -lam
        direction[np.arange(n), grad.argmin(axis=1)] += 1.0
        slope = np.einsum("nm,nm->n", grad, direction)  # ≤ 0
        probe = 1e-4
        _, grad_probe = surrogate(lam + probe * direction)
        bend = np.einsum("nm,nm->n", grad_probe - grad, direction) / probe
        length = np.clip(-slope / np.maximum(bend, 1e-12), 0.0, 1.0)
        trial = lam + length[:, None] * direction
        u_trial, grad_trial = surrogate(trial)
        better = u_trial <= u
        lam = np.where(better[:, None], trial, lam)
        u = np.where(better, u_trial, u)
        grad = np.where(better[:, None], grad_trial, grad)
        best = np.fmax(best, u + grad.min(axis=1) - np.einsum("nm,nm->n", grad, lam))
    return best


def _bisect(cells):
    """Each cell (n, m, k) split in two at the midpoint of its longest edge → (2n, m, k)."""
    n, m, _ = cells.shape
    lengths = np.sum((cells[:, :, None, :] - cells[:, None, :, :]) ** 2, axis=-1).reshape(n, -1)
    flat = lengths.argmax(axis=1)
    i, j = flat // m, flat % m
    rows = np.arange(n)
    middle = 0.5 * (cells[rows, i] + cells[rows, j])
    first, second = cells.copy(), cells.copy()
    first[rows, i] = middle
    second[rows, j] = middle
    return np.concatenate([first, second])


# --------------------------------------------------------------------------- the search
@dataclass
class Partition:
    """The leaves of a finished search — cells (n, k+1, k) with their lower bounds (n,) — for the next round.

    Adding comparisons only raises ℓ (each term is ≥ 0), so with the same weight on J* every bound stays
    valid for the next round's objective, and grows by the least of the new terms over the cell; a larger
    weight a' lowers it by (a' − a)·max J* over the cell (at a vertex: J* is convex).
    """

    cells: np.ndarray
    bounds: np.ndarray
    counts: np.ndarray  # the data the bounds were computed for
    weight: float
    uncompared: np.ndarray | None = None  # polytope: (Y,) the responses whose faces the leaves were restricted to


def certified_minimize(basis, counts, log_pi_ref, rho, beta: float, *, weight: float, ridge: float = 0.0,
                       kind: str, bound: float, starts=(), polish=None, partition: Partition | None = None,
                       rtol: float = DEFAULT_RTOL, max_cells: int = DEFAULT_MAX_CELLS,
                       batch: int = 64, explore: int = 0) -> tuple[CertifiedSolution, Partition | None]:
    """Global minimum of f(w) = ℓ(B w) − weight·J*(B w) + ridge/2‖w‖² over the class, certified.

    Shapes: basis (X, Y, k), counts (X, Y, Y), log_pi_ref (X, Y), rho (X,).
    kind: "polytope" (tabular, X = 1: |(B w)_y| ≤ bound) or "ball" (linear: ‖w‖ ≤ bound).
    starts: points (k,) to start local solves from (e.g. the last round's answer); polish: a
    callable w ↦ a local minimizer near w inside the class (None: no local solves).
    partition: the last search's leaves (same class and ridge; counts and weight that have only grown), reused;
    if the reused leaves do not close the gap, a search from the initial cells follows with a budget of its own.
    explore: ball only — also local solves from the ``explore`` best of ``_SPHERE_SAMPLES_PER_DIMENSION``·k fixed
    pseudo-random points of the sphere (a cold start's search for the incumbent, see ``_sphere_candidates``), when
    the whole-class check does not close from the other starts.
    Returns the best point found with a proven lower bound — ``certified`` says whether the gap
    closed to rtol·(1 + |objective|) within ``max_cells`` cells (``batch`` bisected per round) — and
    the leaves of this search, for the next.
    """
    objective = _Objective(basis, counts, log_pi_ref, rho, beta, weight, ridge)
    k = basis.shape[-1]
    if k == 0:  # one response per context: the class is the single point r = 0
        value = float(objective.value(np.zeros(0)))
        return CertifiedSolution(np.zeros(0), value, value, 0.0, True, 0, 0), None
    if kind == "polytope":
        space = _PolytopeClass(basis[0], bound, _uncompared(objective) if ridge == 0 else None)
    else:
        space = _BallClass(basis, bound)
    best_w, best_value, multipliers, root = _incumbent_and_whole_class_bound(objective, space, starts, polish, rtol,
                                                                            explore)
    tolerance = rtol * (1.0 + abs(best_value))
    if best_value - root <= tolerance:
        return CertifiedSolution(best_w, best_value, min(root, best_value), max(0.0, best_value - root), True, 1, 0), \
            partition
    if max_cells <= 1 or not space.can_branch(max_cells):  # the whole-class check was the budget: report its bound
        root = min(root, best_value)
        return CertifiedSolution(best_w, best_value, root, best_value - root, best_value - root <= tolerance, 1, 0), \
            partition
    search = _Search(objective, space, polish, rtol, best_w, best_value, multipliers)
    leaves, rounds, examined = None, 0, 0
    if partition is not None and _reusable(partition, counts, weight, space):
        cells, bounds = partition.cells, partition.bounds + _growth(objective, partition)
        stale = bounds < best_value - tolerance
        examined = int(stale.sum())  # the budget counts this call's work: the carried leaves are not re-examined
        if stale.any():
            bounds[stale] = np.maximum(bounds[stale], _cell_bounds(objective, space, cells[stale], best_w, multipliers,
                                                                   best_value - tolerance))
        leaves, rounds, examined = search.run(cells, bounds, examined=examined, max_cells=max_cells, batch=batch)
    if leaves is None or _least(leaves) < search.best_value - search.tolerance():
        # no partition to reuse, or the reused one did not close: a reused partition is a warm start, not a
        # commitment — leaves refined for earlier data can outnumber the budget (every stale one re-bounded, none
        # left to branch), where a search from the initial cells closes; it gets a budget of its own
        initial = space.initial_cells()
        cells = initial[~space.outside(initial)]
        bounds = _cell_bounds(objective, space, cells, search.best_w, search.multipliers,
                              search.best_value - search.tolerance())
        fresh, fresh_rounds, fresh_examined = search.run(cells, bounds, examined=len(cells), max_cells=max_cells,
                                                         batch=batch)
        if leaves is None or _least(fresh) >= _least(leaves):
            leaves = fresh
        rounds, examined = rounds + fresh_rounds, examined + fresh_examined
    best_w, best_value = search.best_w, search.best_value
    # the leaves' least bound, or the whole-class bound where that is higher (both are valid for the whole class; in
    # many dimensions a budget-limited partition stays coarser than the whole-class minorant)
    lower_bound = min(max(_least(leaves), root), best_value)
    gap = best_value - lower_bound
    certified = gap <= rtol * (1.0 + abs(best_value))
    return CertifiedSolution(best_w, float(best_value), float(lower_bound), float(gap), bool(certified),
                             int(examined), rounds), leaves


def _incumbent_and_whole_class_bound(objective: _Objective, space, starts, polish, rtol: float, explore: int):
    """The best point of the local solves from ``starts`` and the class's best 3 vertices, its multipliers, and the
    whole-class lower bound from it: certified outright when the data have made the problem convex around w*.

    A cold start's sphere search (``explore``, ball only) runs only when that check stays open: where it closes, the
    incumbent is proven within the tolerance already (the search was ~90 % of a cold, whole-class-certified linear-d8
    fit at N = 600: 0.25 s → 0.02 s)."""
    vertices = space.initial_vertices()
    feasible = np.unique(space.project(vertices), axis=0)
    candidates = [np.asarray(start, dtype=np.float64) for start in starts]
    candidates.extend(feasible[np.argsort(objective.value(feasible))[:3]])
    best_w, best_value = _improve(objective, space, candidates, polish, None, np.inf)
    multipliers = space.multipliers(best_w, _gradient(objective, best_w))
    root = _whole_class_bound(objective, space, vertices, best_w, multipliers)
    if explore and isinstance(space, _BallClass) and best_value - root > rtol * (1.0 + abs(best_value)):
        best_w, best_value = _improve(objective, space, _sphere_candidates(objective, space, explore), polish,
                                      best_w, best_value)
        multipliers = space.multipliers(best_w, _gradient(objective, best_w))
        root = _whole_class_bound(objective, space, vertices, best_w, multipliers)
    return best_w, best_value, multipliers, root


class _Search:
    """Best-first branch and bound from a set of cells with bounds, carrying the incumbent (best point found)."""

    def __init__(self, objective: _Objective, space, polish, rtol: float, best_w, best_value: float, multipliers):
        self.objective, self.space, self.polish, self.rtol = objective, space, polish, rtol
        self.best_w, self.best_value, self.multipliers = best_w, best_value, multipliers

    def tolerance(self) -> float:
        return self.rtol * (1.0 + abs(self.best_value))

    def run(self, cells, bounds, *, examined: int, max_cells: int, batch: int):
        """Bisect until every cell's bound is within the tolerance of the incumbent, or ``max_cells`` are spent.

        ``examined``: the cells already bounded in this call (a reused partition's carried leaves do not count, or a
        search that ran out of budget once would stop at once in every later round). Returns (the leaves as a
        Partition, rounds, cells examined)."""
        rounds = 0
        settled_cells, settled_bounds = [], []  # leaves that cannot hold a better point than the incumbent
        while True:
            keep = bounds < self.best_value - self.tolerance()
            settled_cells.append(cells[~keep])
            settled_bounds.append(bounds[~keep])
            cells, bounds = cells[keep], bounds[keep]
            if not len(cells) or examined >= max_cells:
                break
            rounds += 1
            # best first: bisect the cells with the lowest bounds; each child inherits its parent's bound
            chosen = np.argsort(bounds)[:batch]
            rest = np.ones(len(cells), dtype=bool)
            rest[chosen] = False
            children = _bisect(cells[chosen])
            inherited = np.tile(bounds[chosen], 2)
            outside = self.space.outside(children)
            children, inherited = children[~outside], inherited[~outside]
            examined += len(children)
            self.try_centroids(children)
            child_bounds = np.maximum(_cell_bounds(self.objective, self.space, children, self.best_w, self.multipliers,
                                                   self.best_value - self.tolerance()), inherited)
            cells = np.concatenate([cells[rest], children])
            bounds = np.concatenate([bounds[rest], child_bounds])
        counts = np.array(self.objective.counts, dtype=np.float64)
        leaves = Partition(np.concatenate(settled_cells + [cells]), np.concatenate(settled_bounds + [bounds]), counts,
                           float(self.objective.weight), getattr(self.space, "uncompared", None))
        return leaves, rounds, examined

    def try_centroids(self, children) -> None:
        """The children's centroids are candidates for a better incumbent (a local solve from the best)."""
        centroids = self.space.project(children.mean(axis=1))
        if not len(centroids):
            return
        values = self.objective.value(centroids)
        if values.min() < self.best_value - self.tolerance():
            self.best_w, self.best_value = _improve(self.objective, self.space, [centroids[np.argmin(values)]],
                                                    self.polish, self.best_w, self.best_value)
            self.multipliers = self.space.multipliers(self.best_w, _gradient(self.objective, self.best_w))


def _whole_class_bound(objective: _Objective, space, vertices, incumbent, multipliers) -> float:
    """A lower bound on f over the whole class, from the incumbent w*: the best of
    - the basin bound on the hull of the class's vertices (exact when f, or L_μ, is convex on the class);
    - polytope: C ≥ its tangent plane at w* and −a·J* is concave, each least at a vertex (exact with no data);
    - ball: C ≥ its tangent at w* (least at −R·∇C/‖∇C‖) and J* is largest where every reward is at its top
      r_xy = R‖b_xy‖ (J* increases in each reward): finite, if loose;
    - ball: the quadratic minorant anchored at w* minimized exactly over the ball (bound 5; exact once Q ⪰ 0 there).
    """
    root = float(_basin_bounds(objective, space, vertices[None], incumbent, _variants(multipliers))[0])
    c_star, g_star, _, _ = objective.pieces(incumbent, concave=False)
    if isinstance(space, _PolytopeClass):
        _, _, concave, _ = objective.pieces(vertices)
        return max(root, float(c_star + ((vertices - incumbent) @ g_star).min() + concave.min()))
    j_top = float(kernels.optimal_value(space.reward_range, objective.log_pi_ref, objective.rho, objective.beta))
    root = max(root, float(c_star - g_star @ incumbent - space.bound * np.linalg.norm(g_star)) - objective.weight * j_top)
    # the quadratic minorant anchored at w* over the whole ball (exact where the data make it convex on the class)
    anchor, reach = incumbent[None], np.array([2.0 * space.bound])
    values, grads, hessians = quadratic_minorants(objective, anchor, reach, space.bound)
    return max(root, float(ball_pair_minimum(values, grads, hessians, anchor, reach, space.bound)[0]))


def _sphere_candidates(objective: _Objective, space: "_BallClass", count: int) -> np.ndarray:
    """(count, k) the points of lowest f among _SPHERE_SAMPLES_PER_DIMENSION·k fixed pseudo-random points of the sphere.

    Why the sphere: with few data −a·J* dominates, and a concave function attains its minimum over the ball at an
    extreme point, i.e. on the sphere. The cross-polytope's vertices (±R·e_i) alone left the first round of every
    linear-d8 online run 0.039 above the best point known (in another of the nine local minima of −a·J* that
    4 000 sphere starts find). The points are fixed (seed 0), so a fit is reproducible.
    """
    directions = np.random.default_rng(0).normal(size=(_SPHERE_SAMPLES_PER_DIMENSION * space.k, space.k))
    points = space.bound * (1 - 1e-12) * directions / np.linalg.norm(directions, axis=1, keepdims=True)
    return points[np.argsort(objective.value(points))[:count]]


def _least(leaves: Partition) -> float:
    """The least bound over a search's leaves (+inf when every cell was dropped)."""
    return float(leaves.bounds.min()) if len(leaves.bounds) else np.inf


def _uncompared(objective: _Objective) -> np.ndarray:
    """(Y,) the responses of the (one) context that no comparison involves."""
    return ~objective.compared[0].any(axis=-1)


def _reusable(partition: Partition, counts, weight, space) -> bool:
    """The last search's leaves bound this objective too: its data only grew, and so did the weight on J*
    (an online run's α is constant, or grows as c·√t). On the polytope the leaves cover the faces of the same
    uncompared responses: once a new response is compared, the cells dropped for it are needed again."""
    if not (weight >= partition.weight and partition.counts.shape == counts.shape
            and bool(np.all(counts >= partition.counts))):
        return False
    if isinstance(space, _PolytopeClass):
        return partition.uncompared is not None and bool(np.array_equal(partition.uncompared, space.uncompared))
    return True


def _growth(objective: _Objective, partition: Partition) -> np.ndarray:
    """(n,) how much each cell's bound may rise (or must fall) since the partition's objective f_old:

    f − f_old = Σ Δn_ab softplus(r_b − r_a) − Δa·J*, Δn ≥ 0 the new comparisons and Δa ≥ 0 the weight's growth.
    The first is at least its least value over the cell (softplus rises and the margin is affine: at a vertex);
    J* is convex, so over a simplex it is at most its largest vertex value.
    """
    growth = np.zeros(len(partition.bounds))
    added = objective.counts - partition.counts  # (X, Y, Y) ≥ 0
    x, a, b = np.nonzero(added)
    if len(x):
        r = objective.rewards(partition.cells)  # (n, m, X, Y)
        least_margin = (r[:, :, x, b] - r[:, :, x, a]).min(axis=1)  # (n, pairs)
        growth += np.logaddexp(0.0, least_margin) @ added[x, a, b]
    extra = objective.weight - partition.weight
    if extra > 0:
        j_terms, _, _ = kernels.optimal_value_pieces(objective.rewards(partition.cells), objective.log_pi_ref,
                                                     objective.rho, objective.beta)  # (n, m, X)
        growth -= extra * j_terms.sum(axis=-1).max(axis=1)
    return growth


def _gradient(objective, w):
    _, grad_convex, _, grad_concave = objective.pieces(w)
    return grad_convex + grad_concave


def _improve(objective, space, candidates, polish, best_w, best_value):
    """The best of the incumbent and the local solves from the candidates (only points in the class count)."""
    for start in candidates:
        points = [start]
        if polish is not None:
            points.append(polish(start))
        if hasattr(space, "refine"):  # the ball: a local answer on the sphere, made KKT-exact
            points.append(space.refine(objective, points[-1]))
        for point in points:
            if not space.feasible(point):
                continue
            value = float(objective.value(point))
            if value < best_value:
                best_w, best_value = np.array(point, dtype=np.float64), value
    if best_w is None:
        best_w = np.zeros(space.dimension)
        best_value = float(objective.value(best_w))
    return best_w, best_value
