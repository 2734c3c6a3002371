"""The coverage coefficient of a behaviour policy for the KL-regularized optimum  (theory §7, "Coverage").

Offline guarantees for pessimistic methods (Zhu, Jordan and Jiao 2023; Xiong et al. 2024; VPO's offline theorem) bound
SubOpt(π̂) by a coverage coefficient times √(d/N): how well the comparisons the behaviour μ shows span the direction
in which the optimal policy π⋆ differs from the behaviour. With pair differences z = φ(x, y) − φ(x, y′), x ~ ρ and
y, y′ ~ μ(·|x) independent (one comparison),

    Σ_μ = E[z zᵀ]                                   (d, d) — the information one comparison carries
    v   = E_{x~ρ, y~π⋆(·|x), y′~μ(·|x)}[φ(x, y) − φ(x, y′)]
    C   = ‖Σ_μ^{−1/2} v‖₂   (pseudo-inverse on the identified subspace)

so C²/N is the variance of the plug-in estimate of ⟨θ, v⟩ from N comparisons, and SubOpt·√N is expected to level
off at a multiple of C once N is large enough for the quadratic regime. Tabular instances use one-hot features
(d = X·Y; within a context only reward differences are identified, which the pseudo-inverse respects).
"""

from __future__ import annotations

import numpy as np

from .core import optimal_policy
from .instances import BanditInstance

__all__ = ["coverage_coefficient", "features_of"]


def features_of(instance: BanditInstance) -> np.ndarray:
    """(X, Y, d) features: the instance's own (linear) or one-hot per (x, y) (tabular, d = X·Y)."""
    if instance.is_linear:
        return np.asarray(instance.features, dtype=np.float64)
    X, Y = instance.pi_ref.shape
    return np.eye(X * Y).reshape(X, Y, X * Y)


def coverage_coefficient(instance: BanditInstance, behavior: np.ndarray, *, rcond: float = 1e-10) -> float:
    """C = ‖Σ_μ^{−1/2} v‖ of the module docstring for the behaviour μ (X, Y) and the optimum π⋆ of r⋆ at β.

    Returns inf when v has a component outside the span of the comparisons μ shows (μ never compares a response π⋆
    uses), the case in which no N suffices.
    """
    behavior = np.asarray(behavior, dtype=np.float64)
    phi = features_of(instance)  # (X, Y, d)
    rho = np.asarray(instance.rho, dtype=np.float64)
    mean_mu = np.einsum("xy,xyd->xd", behavior, phi)  # (X, d) E_μ φ
    # E over y, y′ ~ μ of z zᵀ = 2 (E_μ φφᵀ − E_μ φ E_μ φᵀ), per context, weighted by ρ
    second = np.einsum("x,xy,xyd,xye->de", rho, behavior, phi, phi)
    sigma = 2.0 * (second - np.einsum("x,xd,xe->de", rho, mean_mu, mean_mu))  # (d, d)
    pi_star = optimal_policy(instance.reward, instance.pi_ref, instance.beta)  # (X, Y)
    v = np.einsum("x,xd->d", rho, np.einsum("xy,xyd->xd", pi_star, phi) - mean_mu)  # (d,)
    eigenvalues, vectors = np.linalg.eigh((sigma + sigma.T) / 2)
    keep = eigenvalues > rcond * max(eigenvalues.max(), 1e-300)
    projected = vectors.T @ v  # (d,) v in the eigenbasis
    if np.linalg.norm(projected[~keep]) > 1e-8 * max(np.linalg.norm(v), 1e-300):
        return float("inf")
    return float(np.sqrt(np.sum(projected[keep] ** 2 / eigenvalues[keep])))
