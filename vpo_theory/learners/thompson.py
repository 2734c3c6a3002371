"""Thompson sampling on a Laplace posterior of the Bradley–Terry reward  (docs/theory.md §6, "Baselines").

Each round draws one reward from the posterior and plays its optimal policy π_{r̃_t} (Thompson 1933; for preference
feedback with a Laplace approximation of the logistic posterior, e.g. Chapelle and Li 2011). In the calibrated
coordinates w of the declared class (r = B w, theory §10), the posterior is approximated by the Gaussian at the
exact bounded MLE ŵ with precision H = ∇²ℓ(ŵ) + I/B² (the likelihood's curvature plus a Gaussian prior of scale
B, the class's size), widened by ``ts_scale``:

    w̃ = ŵ + ts_scale·H^{−1/2} z,   z ~ N(0, I),

and pulled back along the segment from ŵ into the class when it falls outside (the posterior lives on the class).
The draw uses the learner's own random stream, so it never shifts the data.
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from .._batched import calibrated_bases
from ..estimators import center_features
from .base import PluginLearner, register

__all__ = ["Thompson"]


@register("ts")
class Thompson(PluginLearner):
    """π_t = π_{r̃_t} with r̃_t one draw of the Laplace posterior (see the module docstring)."""

    def __init__(self, run):
        super().__init__(run)
        inst = run.instance
        self.log_pi_ref = np.log(inst.pi_ref)
        if inst.is_linear:
            self.centred = center_features(inst.features, run.pi_cal)  # (X, Y, d) φ̃
        else:
            self.bases = calibrated_bases(run.pi_cal)  # (X, Y, Y−1): r_x = B_x w_x

    def policy(self, counts, t):
        reward = self.plugin.update(counts)
        draw = self._linear_draw(counts) if self.run.instance.is_linear else self._tabular_draw(counts, reward)
        return self.plugin.policy(draw)

    def _curvature(self, reward, counts) -> np.ndarray:
        """(X, Y, Y) ∇²ℓ in reward space at r̂: a graph Laplacian per context (theory §3)."""
        inst = self.run.instance
        return kernels.objective_pieces(reward, counts, self.log_pi_ref, inst.rho, inst.beta, 0.0)[2]

    def _tabular_draw(self, counts, reward) -> np.ndarray:
        bound, scale = self.run.bound, self.run.options.ts_scale
        hessian = self._curvature(reward, counts)
        precision = np.einsum("xyk,xyz,xzl->xkl", self.bases, hessian, self.bases)  # (X, k, k) Bᵀ∇²ℓB
        precision += np.eye(precision.shape[-1]) / bound**2
        noise = self.run.rng.standard_normal(precision.shape[:2])  # (X, k)
        factor = np.linalg.cholesky(precision)  # H = LLᵀ: L⁻ᵀz ~ N(0, H⁻¹)
        step = np.linalg.solve(np.swapaxes(factor, -1, -2), noise[..., None])[..., 0]  # (X, k)
        deviation = scale * np.einsum("xyk,xk->xy", self.bases, step)  # (X, Y) r̃ − r̂
        return reward + self._inside_box(reward, deviation, bound)[:, None] * deviation

    def _linear_draw(self, counts) -> np.ndarray:
        bound, scale = self.run.bound, self.run.options.ts_scale
        theta = self.plugin.theta
        hessian = self._curvature(self.plugin.reward, counts)
        precision = np.einsum("xyd,xyz,xze->de", self.centred, hessian, self.centred) + np.eye(len(theta)) / bound**2
        factor = np.linalg.cholesky(precision)
        step = scale * np.linalg.solve(factor.T, self.run.rng.standard_normal(len(theta)))  # (d,)
        draw = theta + step
        if draw @ draw > bound**2:  # back along the segment from θ̂ onto the sphere ‖θ‖ = B
            a, b, c = step @ step, 2.0 * theta @ step, theta @ theta - bound**2
            draw = theta + (-b + np.sqrt(max(b * b - 4 * a * c, 0.0))) / (2 * a) * step
        return self.centred @ draw

    @staticmethod
    def _inside_box(reward, deviation, bound) -> np.ndarray:
        """(X,) the largest s ≤ 1 with |r̂ + s·Δ| ≤ B in every coordinate (r̂ is inside the class)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            limit = np.where(deviation > 0, (bound - reward) / deviation,
                             np.where(deviation < 0, (-bound - reward) / deviation, np.inf))
        return np.clip(limit.min(axis=1), 0.0, 1.0)
