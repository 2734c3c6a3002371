"""Quadratic minorants of the optimistic objective on a ball, and their exact minimum  (docs/theory.md, §10).

    f(w) = ℓ(B w) − a·J⋆(B w) + λ/2‖w‖²  ≥  q(w) = f(c) + ∇f(c)·(w − c) + ½(w − c)ᵀQ(w − c)
    for every w with ‖w − c‖ ≤ ρ and ‖w‖ ≤ R  (the ball class),

and  min q over {‖w − c‖ ≤ ρ, ‖w‖ ≤ R}  bounded from below by Lagrangian duality — a valid lower
bound of f over that region even where Q is indefinite (the trust-region problem; with one ball
the bound is exact, strong duality). Unlike a Loewner bound of ∇²ℓ over the region (the least
Bradley–Terry weight σ'(m) at the largest margin, which vanishes like e^{−|m|}), the curvature kept
here is integrated from the anchor c, so it decays only like 1/|m|:

- ℓ: each pair's term F(z) = n·log(1 + e^{−z}) has |F'''| ≤ F'', hence (Bach 2010, Lemma 1)
  F(z₀ + t) ≥ F(z₀) + F'(z₀)t + F''(z₀)(e^{−|t|} + |t| − 1)  ≥  … + ½F''(z₀)·φ(T)·t²  for |t| ≤ T,
  with φ(T) = 2(e^{−T} + T − 1)/T² (≤ 1, decreasing; e^{−t} + t − 1 over t² falls with t).
- J⋆: per context, J⋆_x(r) − J⋆_x(r₀) − ∇J⋆_x·Δr = β·KL(π₀ ‖ π_r)  (π₀ = π_{r₀}), and
  β·KL = β[log E_{π₀} e^{Δr/β} − E_{π₀} Δr/β] is at most (Hoeffding) range(Δr)²/(8β) ≤ ‖B_xΔw‖²/(4β),
  or (Bennett, Δr_y − E Δr ≤ S) Var_{π₀}(Δr)·g(S/β)/β with g(s) = (eˢ − 1 − s)/s² (→ ½, the Hessian, as S → 0).
  Each context takes whichever matrix has the smaller largest eigenvalue (both are valid).
So Q = H_ℓ − a·M_J + λI with H_ℓ = Σ_pairs (n_ab + n_ba)σ'(z₀)φ(T) d dᵀ and M_J = Σ_x ρ_x M_x.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from .. import kernels

__all__ = ["quadratic_minorants", "ball_pair_minimum"]

_BISECTIONS = 40  # the search over λ₂: the bracket shrinks by 2^40 (every iterate's dual value is a valid bound)
_NEWTON = 16  # Newton steps for λ₁ (quadratic convergence; every iterate gives a valid bound)


#: Rounding: relative error allowed for in every computed quantity that a bound must not underestimate.
_EPS = np.finfo(np.float64).eps
#: g(s) is taken as +inf (Bennett's matrix unused, Hoeffding's taken) where e^s would come near overflow.
_MAX_BENNETT_EXPONENT = 700.0


def _phi(T):
    """φ(T) = 2(e^{−T} + T − 1)/T² (decreasing), never above its true value: near 0 the alternating series
    1 − T/3 + T²/12 − T³/60 (the next term is positive, so the truncation is below φ), and T enlarged by its
    rounding first (a larger T gives a smaller φ)."""
    T = T * (1.0 + 16 * _EPS)
    small = T < 1e-3
    Ts = np.where(small, 1.0, T)
    return np.where(small, 1.0 - T / 3.0 + T * T / 12.0 - T**3 / 60.0,
                    2.0 * (np.expm1(-Ts) + Ts) / Ts**2 * (1.0 - 16 * _EPS))


def _bennett(s):
    """g(s) = (eˢ − 1 − s)/s² (increasing), never below its true value: near 0 the series ½ + s/6 + s²/24 plus
    s³/100 (≥ the whole tail Σ_{j≥3} s^j/(j+2)! for s < 10⁻³), elsewhere enlarged by its rounding (e^s carries
    the relative error of s times s); +inf where e^s nears overflow."""
    small = s < 1e-3
    ss = np.where(small, 1.0, np.minimum(s, _MAX_BENNETT_EXPONENT))
    value = np.where(small, 0.5 + s / 6.0 + s * s / 24.0 + s**3 / 100.0,
                     (np.expm1(ss) - ss) / ss**2 * (1.0 + 64 * _EPS * (1.0 + ss)))
    return np.where(s > _MAX_BENNETT_EXPONENT, np.inf, value)


def _value_curvature(objective, pi0, r0, spread, spread_norm, radii, points, span):
    """(n, X, k, k) matrices M_x with β·KL(π₀ ‖ π_r) ≤ ½ ΔwᵀM_xΔw on each region: per context the smaller (top
    eigenvalue) of Hoeffding's Gram/(2β) and Bennett's 2g(S/β)/β·Cov_{π₀}, both valid as computed:

    - the covariance is formed centred, Σ_y π_y (b_y − b̄)(b_y − b̄)ᵀ, which keeps its relative accuracy for a peaked
      π₀ (the uncentred Bᵀdiag(π)B − (Bᵀπ)(Bᵀπ)ᵀ cancels to rounding noise there); the error in b̄ only adds a
      positive semidefinite term;
    - what rounding can still take from it — the relative error of each π_y (that of its logit, up to
      ε·(|logit| + |log Z|)), the sums' rounding, and the mass of responses whose π_y underflowed to 0 (< 1e-300
      each, times the largest squared spread) — is added back as a multiple of the identity;
    - g(S/β) is enlarged by its rounding and is +inf near overflow, and S by its own rounding; where g·margin would
      outgrow Hoeffding's matrix, or anything is not finite, Hoeffding's is taken.
    """
    beta = objective.beta
    basis = objective.basis  # (X, Y, k)
    Y = basis.shape[1]
    S = (np.minimum(radii[:, None, None, None] * spread_norm,
                    span - np.einsum("xyzk,mk->mxyz", spread, points)).max(axis=(2, 3))
         * (1.0 + 16 * _EPS))  # (n, X): Δr_y − E Δr ≤ max_{y,y'} Δr_y − Δr_y' on the region
    mean = np.einsum("xyk,mxy->mxk", basis, pi0)  # (m, X, k) b̄ = B_xᵀπ₀
    centred = basis[None] - mean[:, :, None, :]  # (m, X, Y, k) b_y − b̄
    covariance = np.einsum("mxy,mxyk,mxyl->mxkl", pi0, centred, centred, optimize=True)  # (m, X, k, k)
    trace = np.einsum("mxy,mxyk,mxyk->mx", pi0, centred, centred)  # (m, X) Σ_y π_y‖b_y − b̄‖²
    logits = np.abs(r0 / beta + objective.log_pi_ref).max(axis=-1)  # (m, X): π's relative error ≲ ε·(this + log Z)
    margin = (64 * _EPS * (Y + 2.0 * logits + 1.0)) * trace + Y * 1e-300 * spread_norm.max(axis=(1, 2))**2
    eye = np.eye(basis.shape[-1])
    g = _bennett(S / beta)  # (n, X), +inf near overflow
    scale = np.where(np.isfinite(g), 2.0 * g / beta, 0.0)  # (n, X)
    bennett = scale[..., None, None] * (covariance + margin[..., None, None] * eye)  # (n, X, k, k)
    hoeffding = objective.gram / (2.0 * beta)  # (X, k, k) B_xᵀB_x/(2β), any anchor
    usable = np.isfinite(g) & np.all(np.isfinite(bennett), axis=(-2, -1))
    top = np.linalg.eigvalsh(np.where(usable[..., None, None], bennett, 0.0))[..., -1]
    use_bennett = usable & (top < np.linalg.eigvalsh(hoeffding)[:, -1])
    return np.where(use_bennett[..., None, None], bennett, hoeffding)


def quadratic_minorants(objective, anchors: np.ndarray, radii: np.ndarray, bound: float, pair_span=None):
    """(f(c) (n,), ∇f(c) (n, k), Q (n, k, k)): f ≥ q on {‖w − c‖ ≤ ρ} ∩ the class for each anchor c and radius ρ (n,).

    ``anchors``: (n, k), or one anchor (k,) shared by all n regions (the incumbent: f, ∇f, π₀ are computed once).
    ``objective``: an ``objective.Objective`` (basis (X, Y, k), counts, log π_ref, ρ, β, weight a, ridge).
    A margin z = d·w of a pair moves by |d·(w − c)| ≤ min(ρ‖d‖, span(d) + |d·c|) over the region, where span(d) is
    the largest |r_a − r_b| on the class: R‖d‖ on the ball ‖w‖ ≤ R (``pair_span=None``), or a number (the polytope
    |r_y| ≤ R: 2R). That is the T of φ; likewise the spread S of the rewards' change in Bennett's bound.
    """
    basis = objective.basis  # (X, Y, k)
    X, Y, k = basis.shape
    n = len(radii)
    points = anchors[None] if anchors.ndim == 1 else anchors  # (m, k), m = 1 or n
    convex, grad_convex, concave, grad_concave = objective.pieces(points)
    values = np.broadcast_to(convex + concave, (n,))
    grads = np.broadcast_to(grad_convex + grad_concave, (n, k))
    r0 = objective.rewards(points)  # (m, X, Y)
    # ℓ: every compared pair {a, b} once, with its total count n_ab + n_ba (the objective's edges)
    x, a, b = objective.edges
    d = objective.edge_directions  # (P, k) ∇ of the margin r_a − r_b
    z0 = r0[:, x, a] - r0[:, x, b]  # (m, P)
    span = bound * np.linalg.norm(d, axis=1) if pair_span is None else pair_span  # largest |d·w| on the class
    reach = np.minimum(radii[:, None] * np.linalg.norm(d, axis=1), span + np.abs(points @ d.T))  # (n, P) T
    weight = objective.edge_counts * expit(z0) * expit(-z0) * _phi(reach) * (1.0 - 16 * _EPS)  # (n, P)
    hessians = np.einsum("np,pk,pl->nkl", weight, d, d, optimize=True)
    if objective.ridge:
        hessians += objective.ridge * np.eye(k)
    if objective.weight:
        _, _, pi0 = kernels.optimal_value_pieces(r0, objective.log_pi_ref, objective.rho, objective.beta)  # (m, X, Y)
        spread = basis[:, :, None, :] - basis[:, None, :, :]  # (X, Y, Y, k) b_y − b_y'
        spread_norm = np.linalg.norm(spread, axis=-1)  # (X, Y, Y)
        span = bound * spread_norm if pair_span is None else pair_span  # largest r_y − r_y' on the class
        per_context = _value_curvature(objective, pi0, r0, spread, spread_norm, radii, points, span)  # (n, X, k, k)
        hessians -= objective.weight * np.einsum("x,nxkl->nkl", objective.rho, per_context)
    return values, grads, hessians


def ball_pair_minimum(values, grads, hessians, anchors, radii, bound: float) -> np.ndarray:
    """(n,) lower bounds of min q(w) over {‖w − c‖ ≤ ρ, ‖w‖ ≤ R}, q(w) = f + g·(w − c) + ½(w − c)ᵀQ(w − c).

    Lagrangian duality: for λ₁, λ₂ ≥ 0 with Q + (λ₁ + λ₂)I ≻ 0,
      D(λ₁, λ₂) = min_w q + λ₁/2(‖w − c‖² − ρ²) + λ₂/2(‖w‖² − R²)
                = f − ½Σ_i (ĝ_i + λ₂ĉ_i)²/(Λ_i + λ₁ + λ₂) − λ₁ρ²/2 + λ₂(‖c‖² − R²)/2   (Q = VΛVᵀ, ĝ = Vᵀg, ĉ = Vᵀc)
    is ≤ q on the region (each added term is ≤ 0 there), so every (λ₁, λ₂) gives a valid bound; D is concave, and is
    maximized over λ₁ by Newton on the secular equation and over λ₂ by bisection on ∂D/∂λ₂ (the envelope theorem).
    """
    eigenvalues, vectors = np.linalg.eigh(hessians)  # (n, k), (n, k, k)
    g_hat = np.einsum("nkl,nk->nl", vectors, grads)
    c_hat = np.einsum("nkl,nk->nl", vectors, anchors)
    slack = np.sum(anchors * anchors, axis=1) - bound**2  # ‖c‖² − R²
    rho2 = radii**2
    lowest = eigenvalues[:, 0]

    def inner(lam2):
        """max over λ₁ ≥ 0 for each cell's λ₂ (n,): (s = λ₁ + λ₂, the dual value, ∂D/∂λ₂)."""
        c = g_hat + lam2[:, None] * c_hat  # (n, k)
        floor = np.maximum(lam2, -lowest)
        floor = floor + 1e-12 * (1.0 + np.abs(floor)) * (floor <= -lowest + 1e-300)  # strictly above −Λ_min
        # the optimal s solves ‖(Λ + s)⁻¹c‖ = ρ where that s is above the floor: Newton on ψ(s) = 1/‖(Λ + s)⁻¹c‖ − 1/ρ,
        # concave and increasing, from the left (Moré & Sorensen's trust-region iteration) — monotone, a few steps
        s = floor.copy()
        for _ in range(_NEWTON):
            denominator = eigenvalues + s[:, None]
            norm = np.sqrt(np.sum((c / denominator) ** 2, axis=1))
            psi = 1.0 / norm - 1.0 / radii
            dpsi = np.sum(c * c / denominator**3, axis=1) / np.maximum(norm**3, 1e-300)
            s = np.where(psi < 0, s - psi / np.maximum(dpsi, 1e-300), s)
        denominator = eigenvalues + s[:, None]
        dual = (values - 0.5 * np.sum(c * c / denominator, axis=1) - 0.5 * (s - lam2) * rho2 + 0.5 * lam2 * slack)
        derivative = (-np.sum(c * c_hat / denominator, axis=1) + 0.5 * np.sum(c * c / denominator**2, axis=1)
                      + 0.5 * slack)
        return dual, derivative

    empty = np.sqrt(np.sum(anchors * anchors, axis=1)) - radii > bound  # the region misses the class: no point at all
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        best = _maximize(inner, len(values), empty)
    best = np.where(np.isnan(best), -np.inf, best)
    return np.where(empty, np.inf, best)


def _maximize(inner, n: int, skip: np.ndarray) -> np.ndarray:
    """The best dual value over λ₂: at 0, and by bisection on ∂D/∂λ₂ where that is positive at 0."""
    zero = np.zeros(n)
    best, derivative = inner(zero)
    needs = (derivative > 0) & ~skip  # the ball ‖w‖ ≤ R matters: search λ₂ > 0
    if needs.any():
        low, high = zero.copy(), np.ones(n)
        for _ in range(60):  # bracket: double λ₂ until ∂D/∂λ₂ < 0 (a region that misses the class never stops)
            dual, derivative = inner(high)
            best = np.fmax(best, dual)
            grow = needs & (derivative > 0)
            if not grow.any():
                break
            low, high = np.where(grow, high, low), np.where(grow, 2.0 * high, high)
        for _ in range(_BISECTIONS):
            middle = 0.5 * (low + high)
            dual, derivative = inner(np.where(needs, middle, 0.0))
            best = np.fmax(best, dual)
            up = derivative > 0
            low, high = np.where(up, middle, low), np.where(up, high, middle)
    return best
