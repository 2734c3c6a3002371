"""The linear class as a ball, covered by the cross-polytope's simplices  (docs/theory.md §10, "The partition").

    P = {w : ‖w‖ ≤ R}   (θ = V w with V orthonormal, so ‖θ‖ = ‖w‖)

Beside the bounds every class shares, the ball has the quadratic minorants of bound 5 (``minorant``): on the whole
ball they certify high-dimensional problems once the data make them convex around the minimizer.
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from .minorant import ball_pair_minimum, quadratic_minorants
from .region import ACTIVE, Region, cross_polytope

__all__ = ["BallRegion", "SPHERE_SAMPLES_PER_DIMENSION"]

BALL_MIX = 0.2  # θ: the ball's Lagrangian term is θ·(exponential) + (1 − θ)·(quadratic), see BallRegion
SPHERE_SAMPLES_PER_DIMENSION = 256  # ``cold_candidates``: sphere points sampled per dimension of the ball
MAX_EXPONENT = 50.0  # κ(‖w‖ − R) at most this on cells reaching outside the ball: exp stays finite


class BallRegion(Region):
    """{w : ‖w‖ ≤ R}."""

    def __init__(self, basis, bound):
        self.k, self.bound = basis.shape[-1], bound
        self.dimension = self.k
        self.reward_range = bound * np.linalg.norm(basis, axis=-1)  # (X, Y): |⟨b_xy, w⟩| ≤ ‖b_xy‖ R

    def initial_cells(self):
        return cross_polytope(self.k, self.bound)  # (2^k, k+1, k): the cross-polytope ‖w‖₁ ≤ R√k holds the ball

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
        if norm < self.bound * (1 - ACTIVE):
            return np.zeros(1), None
        return np.array([max(0.0, -float(grad @ w) / norm)]), None

    def lagrangian_terms(self, multipliers, cells, points):
        """μ φ (value, gradient) at points of each cell, with φ = θ·φ_e + (1 − θ)·φ_q:

        φ_e(w) = (exp(κ(‖w‖ − R)) − 1)/κ and φ_q(w) = (‖w‖² − R²)/(2R), both convex, ≤ 0 in the ball, with gradient
        ŵ on the sphere (so μ is the sphere's ordinary multiplier). φ_q gives the tangential curvature I/R that the
        second-order condition on the sphere asks for, undiminished; φ_e's radial curvature κ e^{κ(‖w‖−R)} grows as
        the cells near the sphere thin (κ = 1/(R − a), a the least norm over the cell), and convexifies the
        direction the sphere blocks. κ is capped so that κ(‖w‖ − R) ≤ MAX_EXPONENT on cells reaching outside the
        ball (any κ > 0 is valid; the cap keeps exp finite).
        """
        mu = multipliers[0][0]
        kappa, _, _ = self._kappa(cells)
        if points.ndim == 3:
            kappa = kappa[:, None]
        norm = np.linalg.norm(points, axis=-1)
        slope = np.exp(kappa * (norm - self.bound))
        unit = points / np.maximum(norm, 1e-300)[..., None]
        value = BALL_MIX * (slope - 1.0) / kappa + (1.0 - BALL_MIX) * (norm**2 - self.bound**2) / (2.0 * self.bound)
        grad = (BALL_MIX * slope)[..., None] * unit + ((1.0 - BALL_MIX) / self.bound) * points
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
        return mu * (BALL_MIX * scale[:, None, None] * exp_part + ((1.0 - BALL_MIX) / self.bound) * eye)

    def _kappa(self, cells):
        """(κ, a, b) per cell: κ = 1/(R − a), capped to MAX_EXPONENT/(b − R) where the cell reaches beyond R."""
        lowest, highest = self._norm_range(cells)
        kappa = 1.0 / np.maximum(self.bound - lowest, 1e-12 * self.bound)
        beyond = highest - self.bound
        kappa = np.where(beyond > 0, np.minimum(kappa, MAX_EXPONENT / np.maximum(beyond, 1e-300)), kappa)
        return kappa, lowest, highest

    def refine(self, objective, w):
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
            grad = objective.gradient(point)
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

    def extra_bounds(self, objective, cells, incumbent, multipliers):
        """(n,) bound 5: the quadratic minorant of f anchored at each cell's centroid and at the incumbent (on the
        ball around the anchor holding the cell), minimized over that ball ∩ the class by Lagrangian duality."""
        n, _, k = cells.shape
        best = np.full(n, -np.inf)
        for anchors in (cells.mean(axis=1), incumbent):  # the incumbent (k,) anchors every cell: f, ∇f there once
            radii = np.linalg.norm(cells - np.reshape(anchors, (-1, 1, k)), axis=-1).max(axis=1)  # (n,)
            values, grads, hessians = quadratic_minorants(objective, anchors, radii, self.bound)
            best = np.fmax(best, ball_pair_minimum(values, grads, hessians, np.broadcast_to(anchors, (n, k)), radii,
                                                   self.bound))
        return best

    def whole_class_bound(self, objective, vertices, incumbent, multipliers=None) -> float:
        """The better of: C above its tangent at w⋆ (least at −R·∇C/‖∇C‖) with J⋆ at most its value where every
        reward is at its top (J⋆ increases in each reward) — finite, if loose; and bound 5 anchored at w⋆ over the
        whole ball (exact once the data make f convex there)."""
        c_star, g_star, _, _ = objective.pieces(incumbent, concave=False)
        j_top = objective.weight * float(kernels.optimal_value(self.reward_range, objective.log_pi_ref, objective.rho,
                                                               objective.beta))
        tangent = float(c_star - g_star @ incumbent - self.bound * np.linalg.norm(g_star)) - j_top
        anchor, reach = incumbent[None], np.array([2.0 * self.bound])
        values, grads, hessians = quadratic_minorants(objective, anchor, reach, self.bound)
        return max(tangent, float(ball_pair_minimum(values, grads, hessians, anchor, reach, self.bound)[0]))

    def cold_candidates(self, objective, count: int):
        """(count, k) the points of lowest f among SPHERE_SAMPLES_PER_DIMENSION·k fixed pseudo-random points of the
        sphere. With few data −a·J⋆ dominates, and a concave function attains its minimum over the ball at an
        extreme point, i.e. on the sphere; the points are fixed (seed 0), so a fit is reproducible."""
        if count <= 0:
            return np.zeros((0, self.k))
        directions = np.random.default_rng(0).normal(size=(SPHERE_SAMPLES_PER_DIMENSION * self.k, self.k))
        points = self.bound * (1 - 1e-12) * directions / np.linalg.norm(directions, axis=1, keepdims=True)
        return points[np.argsort(objective.value(points))[:count]]

    @staticmethod
    def _norm_range(cells):
        """(n,), (n,): a lower bound on min ‖w‖ over each cell (its distance along the centroid's direction) and max ‖w‖."""
        direction = cells.mean(axis=1)
        direction = direction / np.maximum(np.linalg.norm(direction, axis=-1, keepdims=True), 1e-300)
        lowest = np.maximum(np.einsum("nmk,nk->nm", cells, direction).min(axis=1), 0.0)
        return lowest, np.linalg.norm(cells, axis=-1).max(axis=1)

