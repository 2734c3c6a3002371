"""Optimistic learners: each round the certified global minimum of a DC objective  (docs/theory.md §6, §10).

    r_t = argmin_{r ∈ R} ℓ(r; D_{t−1}) + ⟨c_t, r⟩ − Σ_x a_{t,x}·J⋆_x(r),   π_t = π_{r_t}

- ``vpo``: VPO's optimistic step (theory §6): a_{t,x} = α_t·ρ(x), no linear term; α_t = c·√T (constant) or c·√t.
- ``xpo``: XPO (Xie et al. 2024) as a bandit: the DPO loss plus its exploration term α_X·Σ_i log π(ỹ_i|x_i) over the
  π_ref samples ỹ_i actually drawn (the second response of each pair under policy-ref sampling, a draw of its own
  otherwise). In reward space log π_r(ỹ|x) = log π_ref(ỹ|x) + r(x,ỹ)/β − log Z_r(x), so with n_s[x, y] samples and
  m_x = Σ_y n_s[x, y]: c_t = w·n_s and a_{t,x} = w·m_x, w = α_X/β = c_X/√T. With the exact expectation in place of the
  samples (n_s = t·ρ·π_ref) the linear term vanishes on the class calibrated under π_ref, and it is VPO with α = w·t.
- ``selm``: SELM (Zhang et al. 2024) as a bandit: the same form with its term α_S·β·Σ_i (log π − log π_ref)(ỹ_i) on a
  reference response drawn from the current policy π_t (its iterative loop generates it with the model being
  trained); here ỹ_t = y¹_t, the response π_t drew. w = α_S = c_S/√T.

Every round's step is certified (or a named heuristic, ``optimistic_method="local"``); the run records how many
rounds were, the largest gap, and the rounds whose time budget (``step_seconds``) ended the search.
"""

from __future__ import annotations

import time

import numpy as np

from .. import kernels
from ..certified import DEFAULT_RTOL
from ..estimators import Problem, fit_vpo
from ..options import resolve_alpha
from .base import ContextFits, Learner, register

__all__ = ["Optimistic", "VPO", "XPO", "SELM", "LINEAR_BRANCH_DIMENSION"]

#: The linear class runs branch and bound online up to this dimension (a round: ~0.1–0.5 s at d = 2, seconds at
#: d = 4); above it, each round runs the whole-class certificate alone (docs/theory.md §10).
LINEAR_BRANCH_DIMENSION = 2


class Optimistic(Learner):
    """The certified optimistic step with per-context weights a_{t,x} and a linear term c_t (``weights``)."""

    def __init__(self, run):
        super().__init__(run)
        self.state = ContextFits(run)  # r_t and its per-context fits, re-solved where the data changed
        self.log = CertificateLog(run.options.optimistic_method == "certified")

    def weights(self, t: int) -> tuple[float, np.ndarray, np.ndarray | None]:
        """(A_t, ρ_t, c_t) for round t: each context's J⋆_x has weight a_{t,x} = A_t·ρ_t(x) (ρ_t (X,) sums to 1), and
        c_t (X, Y) is the linear term, or None."""
        raise NotImplementedError

    def observed(self, x, first, second, first_wins, t):
        self.state.mark(x)

    def policy(self, counts, t):
        opts, inst = self.run.options, self.run.instance
        restart = t == 1 or bool(opts.restart_every and t % opts.restart_every == 0)
        if restart or self.all_stale_each_round:
            self.state.stale = set(range(inst.num_contexts))
        total, rho, linear = self.weights(t)
        self._solve(counts, total, rho, linear, restart)
        return self.state.policy()

    @property
    def all_stale_each_round(self) -> bool:
        """Whether every context's objective changes every round (α_t = c·√t)."""
        return False

    def summary(self, T):
        return self.log.summary(T)

    def _options(self, restart: bool, solves: int) -> dict:
        opts, inst = self.run.options, self.run.instance
        if opts.optimistic_method != "certified":
            return {"method": "sqp-multistart" if restart else "local"}
        max_cells = opts.max_cells
        if max_cells is None and inst.is_linear and inst.features.shape[-1] > LINEAR_BRANCH_DIMENSION:
            max_cells = 1  # the whole-class certificate only: branch and bound over > 2 dimensions costs seconds
        seconds = None if opts.step_seconds is None else opts.step_seconds / max(1, solves)
        return {"method": "certified", "max_cells": max_cells, "max_seconds": seconds}

    def _solve(self, counts, total, rho, linear, restart):
        run, inst, state = self.run, self.run.instance, self.state
        start = time.perf_counter()
        fits = []
        if inst.is_linear:
            problem = run.problem if rho is inst.rho else Problem(inst.pi_ref, rho, inst.beta, inst.features)
            state.fit = fit_vpo(problem, counts, alpha=total, sign=+1, pi_cal=run.pi_cal, bound=run.bound,
                                linear=linear, init=state.fit, **self._options(restart, 1))
            state.reward = state.fit.reward
            fits.append(state.fit)
        else:
            options = self._options(restart, len(state.stale))
            for x in sorted(state.stale):  # separable: one context at a time, weight a_{t,x} on its J*_x
                fit = fit_vpo(state.context(x), counts[x:x + 1], alpha=total * rho[x], sign=+1,
                              pi_cal=run.pi_cal[x:x + 1], bound=run.bound, init=state.fits[x],
                              linear=None if linear is None else linear[x:x + 1], **options)
                state.fits[x] = fit
                state.reward[x] = fit.reward[0]
                fits.append(fit)
        state.stale = set()
        self.log.add(fits, time.perf_counter() - start)


@register("vpo")
class VPO(Optimistic):
    """VPO's optimistic step: argmin ℓ − α_t·J⋆ over the declared class, certified  (theory §6)."""

    def weights(self, t):
        opts = self.run.options
        count = self.run.T if opts.alpha_schedule == "constant" else t
        return resolve_alpha(opts.alpha, opts.alpha_scale, count), self.run.instance.rho, None

    @property
    def all_stale_each_round(self):
        return self.run.options.alpha_schedule == "sqrt"


class _SampledTerm(Optimistic):
    """An exploration term over samples ỹ_i drawn so far: c_t = w·n_s, a_{t,x} = w·m_x (see the module docstring)."""

    def __init__(self, run):
        super().__init__(run)
        self.samples = np.zeros(run.instance.pi_ref.shape)  # n_s[x, y]
        self.term_weight = getattr(run.options, f"{self.name}_scale") / np.sqrt(run.T)  # w = c/√T (xpo_scale, …)

    def weights(self, t):
        drawn = self.samples.sum(axis=1)  # (X,) m_x
        if not drawn.sum():  # no sample yet: the term is 0, the step is the MLE's
            return 0.0, self.run.instance.rho, None
        return self.term_weight * drawn.sum(), drawn / drawn.sum(), self.term_weight * self.samples

    def observed(self, x, first, second, first_wins, t):
        super().observed(x, first, second, first_wins, t)
        self.samples[x, self.sample(x, first, second)] += 1.0

    def sample(self, x: int, first: int, second: int) -> int:
        raise NotImplementedError


@register("xpo")
class XPO(_SampledTerm):
    """XPO as a bandit: its term over the π_ref samples actually drawn (see the module docstring)."""

    def sample(self, x, first, second):
        if self.run.options.scheme == "policy-ref":
            return second  # y² ~ π_ref: XPO's own pair
        return int(kernels.inverse_cdf(self.run.instance.pi_ref[x], self.run.rng.random()))


@register("selm")
class SELM(_SampledTerm):
    """SELM as a bandit: its term on the response the current policy drew (see the module docstring)."""

    def sample(self, x, first, second):
        return first  # y¹ ~ π_t


class CertificateLog:
    """Per solve: the gap and the tolerance it had to meet; per round: certified or not, why a search stopped."""

    def __init__(self, certified: bool):
        self.certified = certified
        self.gaps, self.tolerances, self.seconds = [], [], []
        self.uncertified_rounds = self.rounds_out_of_time = 0

    def add(self, fits, seconds: float) -> None:
        fits = [fit for fit in fits if fit.certified is not None]  # α = 0 (no samples yet): a convex fit, exact
        self.seconds.append(seconds)
        if not self.certified:
            return
        for fit in fits:
            self.gaps.append(fit.gap)
            self.tolerances.append(DEFAULT_RTOL * (1.0 + abs(fit.objective)))
        self.uncertified_rounds += not all(fit.certified for fit in fits)
        self.rounds_out_of_time += any(fit.stopped == "seconds" for fit in fits)

    def summary(self, T: int) -> dict:
        """What the record keeps: rounds certified, the largest gap and gap / tolerance, rounds out of time."""
        if not self.certified:
            return {"method": "local (heuristic, uncertified)"}
        gaps, tolerances = np.array(self.gaps or [0.0]), np.array(self.tolerances or [1.0])
        return {"method": "certified", "rounds": T, "rounds_certified": T - self.uncertified_rounds,
                "rounds_out_of_time": self.rounds_out_of_time, "solves": len(self.gaps), "max_gap": float(gaps.max()),
                "max_gap_over_tolerance": float((gaps / tolerances).max())}
