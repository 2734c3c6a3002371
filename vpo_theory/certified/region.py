"""What the search asks of a reward class: the interface ``PolytopeRegion`` and ``BallRegion`` implement.

The search (``search``) and the bounds (``bounds``) never test which class they work on; everything that
differs between the tabular polytope and the linear ball is a method here (docs/theory.md §10, "The partition").
"""

from __future__ import annotations

import numpy as np

__all__ = ["Region", "ACTIVE", "cross_polytope"]

#: A constraint is active (gets a KKT multiplier) within this relative slack.
ACTIVE = 1e-7


class Region:
    """The reward class in calibrated coordinates w (r = B w): cells that cover it, feasibility, the multipliers of
    its active constraints and the Lagrangian terms built on them, and the class-specific bounds."""

    bound: float  # R
    dimension: int  # k
    reward_range: np.ndarray  # (X, Y): |r(x, y)| ≤ this on the class

    # -- the partition --------------------------------------------------------------------------------------------
    def initial_cells(self) -> np.ndarray:
        """(n, k+1, k) simplices whose union holds the class."""
        raise NotImplementedError

    def initial_vertices(self) -> np.ndarray:
        """(V, k) the vertices of the initial cells."""
        raise NotImplementedError

    def can_branch(self, max_cells: int) -> bool:
        """Whether a search from the initial cells fits the budget."""
        return True

    def feasible(self, points) -> np.ndarray:
        raise NotImplementedError

    def project(self, points) -> np.ndarray:
        """Candidate points pulled into the class (identity where the cells tile it)."""
        return points

    def outside(self, cells) -> np.ndarray:
        """(n,) cells that cannot hold the minimum (outside the class, or on a face the minimum avoids)."""
        return np.zeros(len(cells), dtype=bool)

    # -- multipliers and the Lagrangian L_μ = f + Σ μ_i φ_i ---------------------------------------------------------
    def multipliers(self, w, grad):
        raise NotImplementedError

    def lagrangian_terms(self, multipliers, cells, points):
        """(Σ μ_i φ_i, its gradient) at points of each cell."""
        raise NotImplementedError

    def lagrangian_curvature(self, multipliers, cells):
        """(n, k, k) ⪯ ∇²Σ μ_i φ_i over each cell."""
        raise NotImplementedError

    # -- what differs between the classes ---------------------------------------------------------------------------
    def refine(self, objective, w):
        """A local answer made KKT-exact (identity unless the class needs it)."""
        return w

    def extra_bounds(self, objective, cells, incumbent, multipliers) -> np.ndarray:
        """(n,) bounds the class adds to the shared ones (−inf: none)."""
        return np.full(len(cells), -np.inf)

    def whole_class_bound(self, objective, vertices, incumbent, multipliers=None) -> float:
        """A lower bound of f over the class from the incumbent, beside the basin bound (−inf: none)."""
        return -np.inf

    def cold_candidates(self, objective, count: int) -> np.ndarray:
        """(≤ count, k) extra starting points for a cold fit whose whole-class check stays open."""
        return np.zeros((0, self.dimension))

    def faces(self):
        """What a partition's leaves were restricted to (None: the whole class); see ``reusable``."""
        return None

    def reusable(self, faces) -> bool:
        """Whether leaves restricted to ``faces`` cover what this search must cover."""
        return True


def cross_polytope(k: int, radius: float) -> np.ndarray:
    """(2^k, k+1, k) the simplices of the cross-polytope ‖w‖₁ ≤ radius·√k, which holds the ball ‖w‖ ≤ radius."""
    reach = radius * np.sqrt(k)
    signs = np.array(np.meshgrid(*[[-1.0, 1.0]] * k, indexing="ij")).reshape(k, -1).T  # (2^k, k)
    cells = np.zeros((len(signs), k + 1, k))
    cells[:, 1:, :] = reach * signs[:, :, None] * np.eye(k)[None]
    return cells
