"""The optimistic objective, batched: f, ∇f, ∇²f at many points, and Loewner bounds of ∇²f over cells.

    f(w) = ℓ(B w) + ⟨c, B w⟩ − a·J⋆(B w) + λ/2‖w‖²       (docs/theory.md §10, "The problem in calibrated coordinates")

ℓ (the Bradley–Terry NLL, theory §3) is convex and −a·J⋆ (theory §2) is concave; the optional linear term ⟨c, r⟩
(the sampled exploration terms of XPO and SELM, theory §6) joins the convex part. Every bound of the search
(``bounds``, ``minorant``) reads the objective through this class's public attributes: the compared pairs
(``edges``), their counts and gradient directions, and the Gram matrices B_xᵀB_x.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from .. import kernels

__all__ = ["Objective"]


class Objective:
    """f, ∇f at a batch of points, and the interval Hessian bounds of cells.

    Shapes: basis (X, Y, k) with r = B w, counts n[x, winner, loser] (X, Y, Y), log_pi_ref (X, Y), rho (X,),
    linear (X, Y) or None (the coefficients c of ⟨c, r⟩).
    """

    def __init__(self, basis, counts, log_pi_ref, rho, beta, weight, ridge, linear=None):
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
        self.flat_basis = np.ascontiguousarray(basis.reshape(X * Y, k).T)  # (k, X·Y): r = w @ this
        x, winner, loser = np.nonzero(counts)  # the observed (context, winner, loser) triples
        self.pair_counts = counts[x, winner, loser]  # (P,)
        self.pair_margins = np.ascontiguousarray((basis[x, winner] - basis[x, loser]).T)  # (k, P): m = w @ this
        x, a, b = np.nonzero(np.triu(self.compared, 1))  # the compared pairs {a, b}, once each (a < b)
        self.edges = (x, a, b)
        self.edge_counts = pairs[x, a, b]  # (E,) n_ab + n_ba
        self.edge_directions = basis[x, a] - basis[x, b]  # (E, k) ∇ of the margin r_a − r_b
        self.gram = np.einsum("xyk,xyl->xkl", basis, basis)  # (X, k, k) B_xᵀB_x
        self.linear = linear  # (X, Y) or None
        self.linear_w = None if linear is None else self.flat_basis @ np.asarray(linear).ravel()  # (k,) ⟨c, Bw⟩ = w·this

    @property
    def dimension(self) -> int:
        return self.basis.shape[-1]

    def uncompared(self) -> np.ndarray:
        """(Y,) the responses of the (first) context that no comparison involves."""
        return ~self.compared[0].any(axis=-1)

    def rewards(self, w):
        w = np.asarray(w)
        return (w @ self.flat_basis).reshape(*w.shape[:-1], *self.basis.shape[:2])  # (..., X, Y)

    def pieces(self, w, concave: bool = True):
        """(convex part C = ℓ + ⟨c, r⟩ + λ/2‖w‖², its gradient, −a·J⋆, its gradient) at points w (..., k).

        ``concave=False``: the first two only (None for the others).
        """
        w = np.asarray(w)
        # ℓ over the observed pairs only, in w directly: m_p = (b_winner − b_loser)·w (theory §3)
        nll, slope = kernels.bt_nll_pair_pieces(w @ self.pair_margins, self.pair_counts)  # (...), (..., P)
        convex = nll + 0.5 * self.ridge * np.sum(w * w, axis=-1)
        grad_convex = -slope @ self.pair_margins.T + self.ridge * w  # ∂ℓ/∂m_p = −n_p σ(−m_p)
        if self.linear_w is not None:
            convex = convex + w @ self.linear_w
            grad_convex = grad_convex + self.linear_w
        if not concave:
            return convex, grad_convex, None, None
        r = self.rewards(w)  # (..., X, Y)
        j_terms, grad_j, _ = kernels.optimal_value_pieces(r, self.log_pi_ref, self.rho, self.beta)  # J*'s terms, ρπ_r
        concave = -self.weight * j_terms.sum(axis=-1)  # −a·J* (theory §2, I2)
        grad_j = grad_j.reshape(*grad_j.shape[:-2], self.flat_basis.shape[1])  # (..., X·Y)
        grad_concave = -self.weight * (grad_j @ self.flat_basis.T)
        return convex, grad_convex, concave, grad_concave

    def value(self, w):
        convex, _, concave, _ = self.pieces(w)
        return convex + concave

    def gradient(self, w):
        """∇f at one point (k,) or a batch (..., k)."""
        _, grad_convex, _, grad_concave = self.pieces(w)
        return grad_convex + grad_concave

    def hessian(self, w):
        """(k, k) ∇²f at one point w (k,): Σ_x B_xᵀ H_x B_x with the reward-space Hessian of ℓ − a·J⋆ (+ ridge)."""
        r = self.rewards(w)  # (X, Y)
        _, _, hess = kernels.objective_pieces(r, self.counts, self.log_pi_ref, self.rho, self.beta, -self.weight)
        return np.einsum("xyk,xyz,xzl->kl", self.basis, hess, self.basis) + self.ridge * np.eye(len(w))

    def hessian_lower_bounds(self, cells, reward_range=None):
        """(n, 3, k, k): three matrices H with H ⪯ ∇²f(w) for every w in each cell (n, m, k)  (theory §10).

        ∇²ℓ ⪰ the Bradley–Terry Laplacian with every edge weight n_ab·σ'(m_ab) at its least over the
        cell (σ' falls with |m|, and |m_ab| is at most the interval bound M_ab). For a·∇²J⋆ =
        (a/β) Σ_x ρ_x B_xᵀ(diag π_x − π_xπ_xᵀ)B_x three upper bounds, from the interval [π̲, π̄] of π_r
        over the cell (r_y at its top and the others at their bottom, or the reverse):
        (i) diag π − ππᵀ ⪯ diag π̄;  (ii) with π̂ = π at the centroid and Δ = max(π̄ − π̂, π̂ − π̲):
        diag π − ππᵀ ⪯ diag π̂ − π̂π̂ᵀ + diag Δ + 2‖π̂‖‖Δ‖ I;  (iii) diag π − ππᵀ ⪯ ½ I everywhere.
        ``reward_range``: (X, Y) bounds on |r| over the class; with it the intervals are those of the cell ∩
        class, and the bounds hold there only.
        """
        r = self.rewards(cells)  # (n, m, X, Y)
        low, high = r.min(axis=1), r.max(axis=1)  # (n, X, Y) interval hull of r over the cell (r is affine in w)
        if reward_range is not None:
            low, high = np.maximum(low, -reward_range), np.minimum(high, reward_range)
        # the Laplacian Σ_{a<b} n_ab σ'(M_ab) d_ab d_abᵀ, M_ab = the largest |r_a − r_b| over the cell
        x, a, b = self.edges
        spread = np.maximum(high[:, x, a] - low[:, x, b], high[:, x, b] - low[:, x, a])  # (n, E)
        edge = self.edge_counts * expit(spread) * expit(-spread)  # (n, E) least n·σ'(m) over the cell
        convex = np.einsum("ne,ek,el->nkl", edge, self.edge_directions, self.edge_directions)
        if self.ridge:
            convex += self.ridge * np.eye(convex.shape[-1])
        top, bottom = high / self.beta + self.log_pi_ref, low / self.beta + self.log_pi_ref  # (n, X, Y)
        mask = np.eye(top.shape[-1], dtype=bool)
        others_low = kernels.logsumexp(np.where(mask, -np.inf, bottom[..., None, :]), axis=-1)
        others_high = kernels.logsumexp(np.where(mask, -np.inf, top[..., None, :]), axis=-1)
        pi_high = np.exp(top - np.logaddexp(top, others_low))
        pi_low = np.exp(bottom - np.logaddexp(bottom, others_high))
        centre = self.rewards(cells.mean(axis=1)) / self.beta + self.log_pi_ref
        pi_hat = np.exp(centre - kernels.logsumexp(centre, axis=-1, keepdims=True))  # (n, X, Y)
        delta = np.maximum(pi_high - pi_hat, pi_hat - pi_low)
        weight = (self.weight / self.beta) * self.rho  # (X,)
        n = len(cells)
        flat = self.flat_basis  # (k, X·Y)
        first = (flat * (weight[:, None] * pi_high).reshape(n, 1, flat.shape[1])) @ flat.T  # Σ_xy w_x π̄ b bᵀ
        projected = np.einsum("xyk,nxy->nxk", self.basis, pi_hat)  # (n, X, k) B_xᵀ π̂
        second = (flat * (weight[:, None] * (pi_hat + delta)).reshape(n, 1, flat.shape[1])) @ flat.T
        second -= np.einsum("x,nxk,nxl->nkl", weight, projected, projected)
        spread_norm = 2.0 * np.linalg.norm(pi_hat, axis=-1) * np.linalg.norm(delta, axis=-1)  # (n, X)
        second += np.einsum("nx,xkl->nkl", weight * spread_norm, self.gram)
        third = 0.5 * np.einsum("x,xkl->kl", weight, self.gram)
        return np.stack([convex - first, convex - second, convex - third], axis=1)
