"""What every online learner is given and what the harness asks of it  (docs/theory.md §6).

A learner is one small class: ``policy(counts, t)`` is the policy π_t it plays in round t (its regret is counted on
it), computed from the pair counts of the rounds before; ``pair(x, uniforms, policy, t)`` is the pair it asks to
compare in context x — by default y¹ ~ π_t and y² by the run's sampling scheme, each drawn by inverse CDF from the
round's uniforms (the data stream's), so two learners that play the same policies see the same data;
``observed(...)`` hears the labelled pair. A learner's own randomness (a posterior draw, a sample of its own) comes
from ``run.rng``, a stream of its own: drawing from it never shifts the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import kernels
from ..estimators import Problem, VPOFit, fit_mle
from ..instances import BanditInstance

__all__ = ["Run", "Learner", "ContextFits", "PluginFit", "PluginLearner", "LEARNERS", "register"]

#: The learners by name (``run_online(instance, name, ...)``); each module registers its own.
LEARNERS: dict[str, type] = {}


def register(name: str):
    """Class decorator: add a learner to ``LEARNERS`` under ``name``."""
    def add(cls):
        if name in LEARNERS:
            raise ValueError(f"learner {name!r} is registered twice")
        cls.name = name
        LEARNERS[name] = cls
        return cls

    return add


@dataclass
class Run:
    """What a learner is given: the problem, the run's options and horizon, and its own random stream."""

    instance: BanditInstance
    options: object  # OnlineOptions
    T: int
    pi_cal: np.ndarray  # (X, Y)
    bound: float  # the declared class B (× bound_scale)
    rng: np.random.Generator  # the learner's own stream (never the data's)

    def __post_init__(self):
        self.problem = Problem.of(self.instance)  # π_ref, ρ, β (and features), validated once


class Learner:
    """The policy a learner plays and the pair it asks to compare; see the module docstring."""

    name = "learner"

    def __init__(self, run: Run):
        self.run = run

    def policy(self, counts: np.ndarray, t: int) -> np.ndarray:
        """π_t (X, Y) from the counts n[x, winner, loser] (X, Y, Y) of rounds 1 … t − 1."""
        raise NotImplementedError

    def sampling(self, policy: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        """The distributions (X, Y) of y¹ and y²: y¹ ~ π_t, y² by the run's scheme (theory §6)."""
        scheme = self.run.options.scheme
        second = {"policy-ref": self.run.instance.pi_ref, "policy-policy": policy, "policy-cal": self.run.pi_cal}
        return policy, second[scheme]

    def pair(self, x: int, uniforms: np.ndarray, policy: np.ndarray, t: int) -> tuple[int, int]:
        """(y¹, y²) in context x from the round's two uniforms (inverse CDF: the same uniforms, the same draws)."""
        first, second = self.sampling(policy, t)
        return int(kernels.inverse_cdf(first[x], uniforms[0])), int(kernels.inverse_cdf(second[x], uniforms[1]))

    def observed(self, x: int, first: int, second: int, first_wins: bool, t: int) -> None:
        """Round t's labelled pair (the counts the next ``policy`` call gets already include it)."""

    def summary(self, T: int) -> dict:
        """What the run's record keeps of the learner beyond its regret (e.g. its certificates)."""
        return {}


class ContextFits:
    """The reward r_t (X, Y) a learner re-solves only where the data changed: tabular contexts one at a time (each
    fit warm-started from its last answer, ``fits``), the linear class jointly (``fit``); ``stale``: the contexts
    whose data changed since the last solve."""

    def __init__(self, run: Run):
        self.run = run
        X, Y = run.instance.pi_ref.shape
        self.reward = np.zeros((X, Y))
        self.fits: list[VPOFit | None] = [None] * X
        self.fit: VPOFit | None = None  # linear class
        self.stale = set(range(X))
        self.contexts: list[Problem | None] = [None] * X

    def mark(self, context: int) -> None:
        self.stale.add(context)

    def context(self, x: int) -> Problem:
        """Context x alone, with weight 1 (the tabular problem separates over contexts)."""
        if self.contexts[x] is None:
            self.contexts[x] = Problem(self.run.instance.pi_ref[x:x + 1], np.ones(1), self.run.instance.beta)
        return self.contexts[x]

    def policy(self, reward: np.ndarray | None = None) -> np.ndarray:
        """π_r (X, Y), the optimal policy of ``reward`` (default: the current fit's)."""
        inst = self.run.instance
        return kernels.softmax_rows((self.reward if reward is None else reward) / inst.beta + np.log(inst.pi_ref))


class PluginFit(ContextFits):
    """The exact bounded MLE r̂_t (theory §3), re-solved only where the data changed. Its plug-in policy π_{r̂_t} is
    greedy's."""

    def update(self, counts: np.ndarray) -> np.ndarray:
        """r̂ (X, Y) on the counts so far."""
        run = self.run
        if run.instance.is_linear:
            if self.stale:
                self.fit = fit_mle(run.problem, counts, pi_cal=run.pi_cal, bound=run.bound, init=self.fit)
                self.reward = self.fit.reward
        else:
            for x in sorted(self.stale):
                fit = fit_mle(self.context(x), counts[x:x + 1], pi_cal=run.pi_cal[x:x + 1], bound=run.bound,
                              init=self.fits[x])
                self.fits[x] = fit
                self.reward[x] = fit.reward[0]
        self.stale = set()
        return self.reward

    @property
    def theta(self) -> np.ndarray:
        """θ̂ in the class's coordinates: linear θ̂, tabular the reward table (one-hot features)."""
        return self.fit.theta if self.run.instance.is_linear else self.reward.ravel()


class PluginLearner(Learner):
    """A learner built on the plug-in MLE (``plugin``, re-fitted where the data changed)."""

    def __init__(self, run: Run):
        super().__init__(run)
        self.plugin = PluginFit(run)

    def observed(self, x, first, second, first_wins, t):
        self.plugin.mark(x)
