"""Lower bounds of the optimistic objective on a simplex ∩ the class  (docs/theory.md §10, "Five lower bounds").

Each holds for every w in the cell ∩ P, for f and for the Lagrangian L_μ = f + Σ μ_i φ_i with the incumbent's KKT
multipliers μ:
1. tangent plane of the convex part at a vertex + the chord of −a·J⋆;
2. αBB on the simplex: L_μ convexified with the negative part of a Loewner lower bound of its Hessian, minimized by
   Frank–Wolfe steps whose dual bound is valid at every iterate;
3. the convex part kept whole + the chord of −a·J⋆, minimized the same way;
4. the incumbent's basin: where L_μ is provably convex on the hull of the cell and the incumbent, its first-order
   condition bounds the whole cell;
5. what the class adds (``Region.extra_bounds``: the ball's quadratic minorants).
"""

from __future__ import annotations

import numpy as np

__all__ = ["cell_bounds", "basin_bounds", "lagrangian_variants", "barycentric", "bisect", "FRANK_WOLFE_STEPS"]

FRANK_WOLFE_STEPS = 4  # steps towards the minimizer of each cell's convex underestimator


def barycentric(cells, point):
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


def cell_bounds(objective, space, cells, incumbent, multipliers, threshold=np.inf, *,
                 steps: int = FRANK_WOLFE_STEPS):
    """(n,) lower bounds of f over each cell ∩ P: the largest of the bounds of the module docstring.

    The cheap bounds (1 and 4) come first; the Frank–Wolfe bounds (2 and 3) are computed only for the cells
    whose cheap bound is below ``threshold`` (the level at which a cell is set aside).
    """
    cheap = _cheap_bounds(objective, space, cells, incumbent, multipliers)
    cheap = np.where(np.isnan(cheap), -np.inf, cheap)  # a bound that failed numerically settles nothing
    open_ = cheap < threshold
    if open_.any():  # 5. what the class adds (the ball: quadratic minorants, minimized exactly)
        cheap[open_] = np.fmax(cheap[open_], space.extra_bounds(objective, cells[open_], incumbent, multipliers))
    open_ = cheap < threshold
    if not open_.any():
        return cheap
    convex = _convex_bounds(objective, space, cells[open_], incumbent, multipliers, steps)
    cheap[open_] = np.maximum(cheap[open_], np.where(np.isnan(convex), -np.inf, convex))
    return cheap


def lagrangian_variants(multipliers):
    """The Lagrangians to bound with: f itself, and L_μ when the incumbent has active constraints."""
    return [None] if multipliers is None or not np.any(multipliers[0]) else [None, multipliers]


def _cheap_bounds(objective, space, cells, incumbent, multipliers):
    """Bounds 1 (tangent + chord) and 4 (the incumbent's basin): vertex values and one Loewner bound a cell."""
    convex, grad_convex, concave, _ = objective.pieces(cells)  # (n, m), (n, m, k), (n, m) at the vertices
    edges = cells[:, None, :, :] - cells[:, :, None, :]  # (n, j, i, k) v_i − v_j
    best = np.full(len(cells), -np.inf)
    for variant in lagrangian_variants(multipliers):
        C, grad_C = convex, grad_convex
        if variant is not None:  # the Lagrangian L_μ = f + Σ μ_i φ_i ≤ f on the class
            vertex_value, vertex_grad = space.lagrangian_terms(variant, cells, cells)
            C, grad_C = convex + vertex_value, grad_convex + vertex_grad
        # 1. tangent plane of the convex part at each vertex v_j + the chord of −a·J*: min over the vertices v_i
        planes = C[:, :, None] + np.einsum("njk,njik->nji", grad_C, edges) + concave[:, None, :]
        best = np.fmax(best, planes.min(axis=2).max(axis=1))
    # 4. the incumbent's basin, for f and L_μ (see basin_bounds)
    return np.fmax(best, basin_bounds(objective, space, cells, incumbent, lagrangian_variants(multipliers)))


def _convex_bounds(objective, space, cells, incumbent, multipliers, steps):
    """Bounds 2 (convexified Lagrangian) and 3 (convex part + chord), each minimized by a few Frank–Wolfe steps."""
    n, m, _ = cells.shape
    _, _, concave, _ = objective.pieces(cells)  # (n, m) −a·J* at the vertices
    # the first p: the incumbent in the cells that hold it, the centroid elsewhere (barycentric λ, (n, m))
    start = np.full((n, m), 1.0 / m)
    inside = barycentric(cells, incumbent)
    holds = np.all(inside >= -1e-9, axis=1)
    if holds.any():
        clipped = np.clip(inside[holds], 0.0, None)
        start[holds] = clipped / clipped.sum(axis=1, keepdims=True)
    hessians = objective.hessian_lower_bounds(cells)  # (n, 2, k, k), each ⪯ ∇²f on each cell
    best = np.full(n, -np.inf)
    for variant in lagrangian_variants(multipliers):
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


def basin_bounds(objective, space, cells, incumbent, variants):
    """(n,) bounds from the incumbent's basin, the best over ``variants`` (f, L_μ): −inf where they do not apply.

    If L_μ is convex on the hull of the cell and the incumbent w⋆ (intersected with the class), then on the
    cell ∩ class f ≥ L_μ ≥ L_μ(w⋆) + ∇L_μ(w⋆)·(w − w⋆), whose minimum over the hull is at one of its
    vertices — within the KKT residual of f(w⋆). Cells beside a non-degenerate minimizer are then settled
    at once instead of being split ever finer (the cluster effect of branch and bound); applied to the
    whole class at once, it certifies a problem that the data have made convex.
    """
    n, _, k = cells.shape
    hull = np.concatenate([cells, np.broadcast_to(incumbent, (n, 1, k))], axis=1)  # (n, m+1, k)
    hessians = objective.hessian_lower_bounds(hull, space.reward_range)  # valid on hull ∩ class: enough here
    value, grad = float(objective.value(incumbent)), objective.gradient(incumbent)
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


def bisect(cells):
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
