"""The tabular class of one context as a polytope  (docs/theory.md §10, "The partition").

    P = {w : |(B w)_y| ≤ R for every y},   B (Y, k) an orthonormal basis of the calibrated plane {π_cal·r = 0}.

Its vertices are enumerated (Y·2^(Y−1) candidates). Up to k = ``TRIANGULATED_DIMENSION`` the search starts from a
pulling triangulation that tiles P exactly (1 320 simplices at k = 6, but 12 299 at k = 7 and 806 400 at k = 9); above
it from the 2^k simplices of the cross-polytope around the ball that holds P, cells beyond a face dropped. The faces
of the responses no comparison involves restrict the search (``PolytopeRegion.outside``). Beside the bounds every
class shares, the whole-class check has the quadratic minorant of bound 5 (``minorant``) for the Lagrangian of P's
active faces, over a ball that holds P: in any dimension it certifies a problem the data have made convex around the
minimizer in one check. (On cells the minorant cost 2.5× the search's time on 6-response problems and closed no
8-response problem the other bounds left open, so cells do without it.)
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import null_space
from scipy.optimize import nnls

from .minorant import ball_pair_minimum, quadratic_minorants
from .region import ACTIVE, Region, cross_polytope

__all__ = ["PolytopeRegion", "polytope_vertices", "MAX_VERTEX_ENUMERATION", "TRIANGULATED_DIMENSION"]

#: The largest k whose search starts from the exact triangulation; above it, from the cross-polytope cover.
TRIANGULATED_DIMENSION = 6

MAX_VERTEX_ENUMERATION = 2**16  # Y·2^(Y−1) candidate vertices at most (Y ≤ 13)
_TRIANGULATIONS: dict = {}  # (basis, bound) → the polytope's triangulation, the 256 most recent
_EPS = np.finfo(np.float64).eps


class PolytopeRegion(Region):
    """{w : |(B w)_y| ≤ R}, one context (B (Y, k) orthonormal).

    ``uncompared``: (Y,) the responses no comparison involves, when f is concave in their rewards (no ridge). For
    fixed rewards of the compared responses the uncompared ones range over the box cut by the calibration plane, a
    polytope whose vertices have at most one coordinate strictly inside (−R, R); f is concave there (ℓ does not see
    them, −a·J⋆ is concave), so its minimum over the class is attained where at most one uncompared reward is
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

    @property
    def triangulated(self) -> bool:
        return self.dimension <= TRIANGULATED_DIMENSION

    def initial_cells(self):
        """(n, k+1, k): up to ``TRIANGULATED_DIMENSION`` a triangulation of P (a cone from each face's centroid over
        its facets'; Delaunay on these symmetric vertex sets returns mostly flat simplices), above it the 2^k
        simplices of the cross-polytope ‖w‖₁ ≤ ρ√k around the ball ‖w‖ ≤ ρ that holds P."""
        return self._cover()[0]

    def initial_vertices(self):
        """(V, k) the polytope's own vertices."""
        return self._cover()[1]

    @property
    def radius(self) -> float:
        """ρ = max ‖v‖ over P's vertices: P ⊆ {‖w‖ ≤ ρ}."""
        return self._cover()[2]

    def can_branch(self, max_cells: int) -> bool:
        return self.triangulated or (self.dimension <= 16 and 2**self.dimension <= max_cells)

    def project(self, points):
        """Points pulled towards 0 (inside P) until every |r_y| ≤ R: the cover's cells reach beyond P."""
        if self.triangulated:
            return points  # the triangulation tiles P: its points are in it already
        largest = np.abs(points @ self.rows.T).max(axis=-1, keepdims=True)
        return points * np.minimum(1.0, self.bound * (1 - 1e-12) / np.maximum(largest, 1e-300))

    def _cover(self):
        """(cells, vertices, radius), computed once per class: the online loop asks for the same context's every
        round."""
        key = (self.rows.tobytes(), self.rows.shape, float(self.bound))
        if key not in _TRIANGULATIONS:
            vertices = polytope_vertices(self.rows, self.bound)  # (V, k)
            radius = float(np.linalg.norm(vertices, axis=1).max())
            if self.triangulated:
                r = vertices @ self.rows.T  # (V, Y)
                at_face = np.stack([r >= self.bound * (1 - 1e-9), r <= -self.bound * (1 - 1e-9)], axis=-1)
                cells = np.array(pulling_triangulation(vertices, at_face, np.arange(len(vertices)), self.dimension))
            else:
                cells = cross_polytope(self.dimension, radius * (1 + 1e-9))
                beyond = (cells @ self.rows.T).min(axis=1) > self.bound  # (n, Y): every vertex past r_y = R
                below = (cells @ self.rows.T).max(axis=1) < -self.bound
                cells = cells[~(beyond | below).any(axis=1)]
            for array in (cells, vertices):
                array.setflags(write=False)
            if len(_TRIANGULATIONS) >= 256:
                _TRIANGULATIONS.pop(next(iter(_TRIANGULATIONS)))
            _TRIANGULATIONS[key] = (cells, vertices, radius)
        return _TRIANGULATIONS[key]

    def feasible(self, points):
        return np.all(np.abs(points @ self.rows.T) <= self.bound * (1 + 1e-12), axis=-1)

    def outside(self, cells):
        """Cells beyond a face of P (every vertex past it: the cover's), and cells on which two or more uncompared
        rewards stay strictly inside (−R, R) (see the class docstring). A cell reaching within 1e-9·R of a face
        counts as touching it."""
        drop = np.zeros(len(cells), dtype=bool)
        if not self.triangulated:
            r = cells @ self.rows.T  # (n, m, Y)
            drop |= ((r.min(axis=1) > self.bound) | (r.max(axis=1) < -self.bound)).any(axis=1)
        if not self.uncompared.any():
            return drop
        r = cells @ self.rows[self.uncompared].T  # (n, m, |U|), affine in w: extremes at the vertices
        inside = (r.max(axis=1) < self.bound * (1 - 1e-9)) & (r.min(axis=1) > -self.bound * (1 - 1e-9))  # (n, |U|)
        return drop | (inside.sum(axis=1) >= 2)

    def multipliers(self, w, grad):
        """Linear multipliers λ_y ≥ 0 of the active faces s_y·r_y ≤ R (least squares on ∇f + Σ λ_y s_y b_y = 0)."""
        r = self.rows @ w
        sides = np.where(r < 0, -1.0, 1.0)  # which face of |r_y| ≤ R is nearer
        active = np.abs(r) >= self.bound * (1 - ACTIVE)
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

    def refine(self, objective, w):
        """Newton steps on the face a local answer lies on (the rewards at ±R held there, the others free on the
        calibration plane): quadratic convergence where f is convex on the face, so the incumbent's KKT residual —
        which the basin bound pays — falls to rounding level. Returns the best point seen (w if no step helps)."""
        free = null_space(self.rows[np.abs(self.rows @ w) >= self.bound * (1 - 1e-9)])  # (k, k − active)
        if free.shape[1] == 0:
            return w  # a vertex
        point, best = w, w
        reduced = lambda z: free.T @ objective.gradient(z)  # noqa: E731  ∇f along the face
        best_value, best_slope = float(objective.value(w)), float(np.linalg.norm(reduced(w)))
        for _ in range(6):
            hessian = free.T @ objective.hessian(point) @ free
            eigenvalues = np.linalg.eigvalsh(hessian)
            if not np.all(np.isfinite(eigenvalues)) or eigenvalues[0] <= 1e-12 * max(1.0, eigenvalues[-1]):
                break  # not strictly convex along the face (or singular in floating point): no Newton step
            try:
                step = free @ np.linalg.solve(hessian, -reduced(point))
            except np.linalg.LinAlgError:
                break
            point = point + step
            if not self.feasible(point):
                break
            value, slope = float(objective.value(point)), float(np.linalg.norm(reduced(point)))
            if value <= best_value + 4 * _EPS * (1 + abs(best_value)) and slope < best_slope:
                best, best_value, best_slope = point, min(value, best_value), slope
            if np.linalg.norm(step) <= 1e-14 * self.bound:
                break
        return best

    def whole_class_bound(self, objective, vertices, incumbent, multipliers=None) -> float:
        """The better of: C above its tangent plane at the incumbent and −a·J⋆ concave, each least at a vertex of P
        (exact with no data, where f = −a·J⋆ is concave and its minimum is a vertex); and bound 5 for the Lagrangian
        of the active faces anchored at the incumbent, over a ball that holds P (exact once the data make f convex
        around the minimizer, in any dimension)."""
        c_star, g_star, _, _ = objective.pieces(incumbent, concave=False)
        _, _, concave, _ = objective.pieces(vertices)
        tangent = float(c_star + ((vertices - incumbent) @ g_star).min() + concave.min())
        reach = np.array([np.linalg.norm(vertices - incumbent, axis=1).max()])
        minorant = self._minorant_minimum(objective, incumbent, reach, multipliers)[0]
        return max(tangent, float(minorant))

    def _minorant_minimum(self, objective, anchors, radii, multipliers=None) -> np.ndarray:
        """(n,) min over {‖w − c‖ ≤ ρ, ‖w‖ ≤ radius(P)} of the minorant of f — or, with ``multipliers`` (μ, sides),
        of L = f + Σ_y μ_y (s_y r_y − R) ≤ f on P (linear faces: no curvature) — anchored at each c: a lower bound
        of f over the region ∩ P. Margins on P move by at most 2R (|r_a − r_b| ≤ 2R)."""
        n = len(radii)
        values, grads, hessians = quadratic_minorants(objective, anchors, radii, self.radius,
                                                      pair_span=2.0 * self.bound)
        if multipliers is not None and np.any(multipliers[0]):
            mu, sides = multipliers
            r = np.reshape(anchors, (-1, self.dimension)) @ self.rows.T  # (m, Y)
            values = values + (sides * r - self.bound) @ mu
            grads = grads + (mu * sides) @ self.rows
        anchors = np.broadcast_to(anchors, (n, self.dimension))
        return ball_pair_minimum(values, np.broadcast_to(grads, (n, self.dimension)), hessians, anchors, radii,
                                 self.radius)

    def faces(self):
        return self.uncompared

    def reusable(self, faces) -> bool:
        """Leaves restricted to the faces of the same uncompared responses: once a new response is compared, the
        cells dropped for it are needed again."""
        return faces is not None and bool(np.array_equal(faces, self.uncompared))

    def _reach(self, sides, cells):
        """(n, Y) the largest distance R − s_y r_y of each cell's points to each face (at a vertex: r is affine)."""
        return np.maximum((self.bound - sides * (cells @ self.rows.T)).max(axis=1), 1e-12 * self.bound)


def pulling_triangulation(vertices, at_face, members, dimension):
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
            simplices += [[vertices[apex]] + s for s in pulling_triangulation(vertices, at_face, facet, dimension - 1)]
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
    if Y * 2 ** (Y - 1) > MAX_VERTEX_ENUMERATION:
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
