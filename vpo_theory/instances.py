"""Bandit instances: the validated problem object and the named, seeded instances."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .validation import as_array, check_distribution, check_problem

__all__ = ["BanditInstance", "make_instance", "list_instances", "designed_instance", "TABULAR_BOUND", "LINEAR_BOUND",
           "LINEAR_DIMENSIONS"]


@dataclass(frozen=True)
class BanditInstance:
    """A KL-regularized contextual bandit with Bradley–Terry feedback  (theory §1–3).

    Tabular when ``features`` is None; linear when ``features`` (X, Y, d) is given, and then the
    true reward is ``features @ theta`` (pass ``theta=`` instead of ``reward``, or both and they
    must agree). ``behaviors`` holds named offline data-collection policies μ (X, Y).

    ``bound`` declares the reward class R_B that every learner fits in — tabular: calibrated rewards
    |r(x,y) − E_{π_cal} r(x,·)| ≤ B; linear: ‖θ‖ ≤ B (theory §4). It is part of the problem, stated
    before any data, as a practitioner would ("rewards lie in [−1, 1]"), and the truth must lie
    strictly inside it; learners never see the truth's own size (``reward_bound``).
    """

    rho: np.ndarray  # (X,)
    pi_ref: np.ndarray  # (X, Y), full support
    reward: np.ndarray | None  # (X, Y) true reward r*
    beta: float
    features: np.ndarray | None = None  # (X, Y, d)
    name: str = ""
    theta: np.ndarray | None = None  # (d,) true θ* (linear)
    description: str = ""
    behaviors: dict[str, np.ndarray] = field(default_factory=dict)
    bound: float | None = None  # B, the declared class (see above); None: learners must be given `bound=`

    def __post_init__(self):
        pi_ref, rho, beta, features = check_problem(self.pi_ref, self.rho, self.beta, self.features)
        for name, value in (("pi_ref", pi_ref), ("rho", rho), ("beta", beta), ("features", features)):
            object.__setattr__(self, name, value)
        reward = self.reward
        if features is not None:
            if self.theta is None:
                raise ValueError("a linear instance needs `theta=` (the true θ*); the reward is features @ theta")
            theta = as_array("theta", self.theta, ndim=1)
            if theta.shape != (features.shape[2],):
                raise ValueError(f"`theta` must have shape ({features.shape[2]},), got {theta.shape}")
            object.__setattr__(self, "theta", theta)
            implied = features @ theta
            if reward is not None and not np.allclose(as_array("reward", reward, ndim=2), implied, atol=1e-9):
                raise ValueError("`reward` must equal features @ theta for a linear instance; pass only `theta=`")
            reward = implied
        elif self.theta is not None:
            raise ValueError("`theta` is only meaningful with `features=`; a tabular instance takes `reward=`")
        if reward is None:
            raise ValueError("pass the true reward `reward=` (X, Y), or `features=` and `theta=`")
        reward = as_array("reward", reward, ndim=2)
        if reward.shape != pi_ref.shape:
            raise ValueError(f"`reward` has shape {reward.shape} but `pi_ref` has shape {pi_ref.shape}")
        object.__setattr__(self, "reward", reward)
        behaviors = {}
        for key, mu in dict(self.behaviors).items():
            behaviors[key] = check_distribution(f"behaviors[{key!r}]", mu, shape=pi_ref.shape)
        object.__setattr__(self, "behaviors", behaviors)
        if self.bound is not None:
            if isinstance(self.bound, bool) or not isinstance(self.bound, (int, float, np.floating, np.integer)) \
                    or not np.isfinite(self.bound) or self.bound <= 0:
                raise ValueError(f"`bound` (the declared class bound B) must be a finite number > 0, got {self.bound!r}")
            object.__setattr__(self, "bound", float(self.bound))
            if not self.reward_bound < self.bound:
                size = "‖θ*‖" if features is not None else "the largest range max_y r* − min_y r*"
                raise ValueError(f"`bound` = {self.bound:g} does not hold the truth strictly inside: {size} = "
                                 f"{self.reward_bound:.6g}; declare a larger class")

    @property
    def class_bound(self) -> float:
        """The declared class bound B (``bound``); an error naming the fix when the instance declares none."""
        if self.bound is None:
            raise ValueError(f"instance {self.name or '(unnamed)'!r} declares no reward class: build it with "
                             f"`BanditInstance(..., bound=B)` (B > the truth's size, {self.reward_bound:.4g}) or pass "
                             f"the option `bound=`")
        return self.bound

    @property
    def num_contexts(self) -> int:
        return self.pi_ref.shape[0]

    @property
    def num_responses(self) -> int:
        return self.pi_ref.shape[1]

    @property
    def is_linear(self) -> bool:
        return self.features is not None

    @property
    def reward_bound(self) -> float:
        """The truth's own size: the smallest class bound that contains r⋆ for every calibration. An oracle
        quantity — for the sensitivity to B (B / reward_bound), never a learner's default.

        Tabular: max_x (max_y r⋆ − min_y r⋆) ≥ |r⋆(x,y) − E_{π_cal} r⋆(x,·)| for any π_cal.
        Linear: ‖θ⋆‖₂ (calibration only centres the features).
        """
        if self.is_linear:
            return float(np.linalg.norm(self.theta))
        return float(np.max(self.reward.max(axis=1) - self.reward.min(axis=1)))

    def behavior(self, name: str | None = None) -> np.ndarray:
        """A named behaviour policy; ``None`` → "default" if defined, else π_ref."""
        if name is None:
            return self.behaviors.get("default", self.pi_ref)
        if name in ("reference", "ref"):
            return self.pi_ref
        if name == "uniform":
            return np.full(self.pi_ref.shape, 1.0 / self.num_responses)
        if name not in self.behaviors:
            raise ValueError(f"option `behavior`: instance {self.name!r} has no behaviour {name!r}; "
                             f"choose from {sorted(self.behaviors) + ['reference', 'uniform']}")
        return self.behaviors[name]


# --------------------------------------------------------------------------- named instances
#: The declared classes of the named instances. Tabular: every reward lies in [−1, 1], so a calibrated reward
#: |r(x,y) − E_{π_cal} r(x,·)| is at most the range, < 2. Linear: θ* is drawn on the sphere of radius
#: LINEAR_FRACTION·B, strictly inside the class ‖θ‖ ≤ B.
TABULAR_BOUND = 2.0
LINEAR_BOUND = 4.0
LINEAR_FRACTION = 0.5

def _mix(policy: np.ndarray, floor: float) -> np.ndarray:
    """(1 − floor)·policy + floor·uniform: full support, floor/Y at least."""
    return (1 - floor) * policy + floor / policy.shape[-1]


def _tabular_small(rng: np.random.Generator) -> BanditInstance:
    X, Y = 5, 6
    return BanditInstance(
        rho=np.full(X, 1 / X), pi_ref=_mix(rng.dirichlet(np.ones(Y), size=X), 0.3),
        reward=rng.uniform(-1, 1, size=(X, Y)), beta=0.5, name="tabular-small", bound=TABULAR_BOUND,
        description="5 contexts × 6 responses, rewards U(-1, 1), β = 0.5, a moderately non-uniform π_ref; "
                    "class: rewards in [−1, 1], B = 2",
    )


def _tabular_trap(rng: np.random.Generator) -> BanditInstance:
    X, Y = 4, 6
    reward = rng.uniform(-1, 0.5, size=(X, Y))
    best = rng.integers(0, Y, size=X)
    reward[np.arange(X), best] = 1.0
    pi_ref = rng.dirichlet(np.ones(Y) * 2, size=X)
    pi_ref[np.arange(X), best] = 0.0
    pi_ref = 0.98 * pi_ref / pi_ref.sum(axis=1, keepdims=True)
    pi_ref[np.arange(X), best] = 0.02  # the reference rarely tries the best response
    return BanditInstance(
        rho=np.full(X, 1 / X), pi_ref=pi_ref, reward=reward, beta=0.25, name="tabular-trap", bound=TABULAR_BOUND,
        description="4 × 6; the best response (reward 1) has reference mass 0.02; β = 0.25; class: rewards in "
                    "[−1, 1], B = 2",
    )


def _offline_poor_coverage(rng: np.random.Generator, rare_is_best: bool) -> BanditInstance:
    X, Y = 4, 6
    reward = rng.uniform(-0.5, 0.5, size=(X, Y))
    rare = Y - 1
    reward[:, rare] = 1.0 if rare_is_best else -1.0
    good = np.full((X, Y), 1.0 / Y)
    poor = np.full((X, Y), 1.0)
    poor[:, rare] = 0.01  # the behaviour policy almost never shows the rare response
    poor /= poor.sum(axis=1, keepdims=True)
    name = "offline-rare-optimal" if rare_is_best else "offline-poor-coverage"
    what = "the best" if rare_is_best else "a bad"
    return BanditInstance(
        rho=np.full(X, 1 / X), pi_ref=np.full((X, Y), 1.0 / Y), reward=reward, beta=0.5, name=name,
        behaviors={"default": poor, "poor": poor, "good": good}, bound=TABULAR_BOUND,
        description=f"4 × 6, uniform π_ref, β = 0.5; behaviour 'poor' shows response 5 ({what} one, "
                    f"reward {reward[0, rare]:+.0f}) with probability 0.002; 'good' is uniform; class: rewards in "
                    f"[−1, 1], B = 2",
    )


def _linear(rng: np.random.Generator, d: int) -> BanditInstance:
    """10 contexts × 8 responses, d Gaussian features N(0, I/d) (‖φ‖ ≈ 1 whatever d), ‖θ⋆‖ = 2, class ‖θ‖ ≤ 4.

    The class (B = 4, θ⋆ halfway to its edge) and the feature scale are the same for every d, the
    standard linear-bandit convention (‖φ‖ ≤ L, ‖θ⋆‖ ≤ S fixed as d grows); a random θ⋆ then spreads
    the rewards by about ‖θ⋆‖/√d.
    """
    X, Y = 10, 8
    features = rng.normal(size=(X, Y, d)) / np.sqrt(d)
    theta = rng.normal(size=d)
    theta *= LINEAR_FRACTION * LINEAR_BOUND / np.linalg.norm(theta)  # ‖θ*‖ = 2: halfway to the class's edge
    # 'poor' coverage: the behaviour avoids responses that load on the last two feature directions
    loading = np.abs(features[..., -2:]).sum(axis=-1)  # (X, Y)
    poor = np.exp(-6.0 * loading)
    poor /= poor.sum(axis=1, keepdims=True)
    return BanditInstance(
        rho=np.full(X, 1 / X), pi_ref=_mix(rng.dirichlet(np.ones(Y), size=X), 0.5), reward=None, beta=0.5,
        features=features, theta=theta, name=f"linear-d{d}", bound=LINEAR_BOUND,
        behaviors={"default": np.full((X, Y), 1.0 / Y), "good": np.full((X, Y), 1.0 / Y), "poor": poor},
        description=f"10 contexts × 8 responses, d = {d} Gaussian features, ‖θ*‖ = 2, β = 0.5; class ‖θ‖ ≤ 4; "
                    "behaviour 'good' uniform, 'poor' avoids responses loading on the last two feature directions",
    )


def designed_instance(seed: int, *, best_mass: float, beta: float, reward_range: float, num_contexts: int = 4,
                      num_responses: int = 6) -> BanditInstance:
    """A tabular family with three knobs (the `optimism-vs-greedy` figure's designed grid): in each context one best
    response with reward R/2 and reference mass ``best_mass``, the others with rewards U(−R/2, R/4) sharing the rest
    of π_ref (Dirichlet(2)); β given; the declared class B = R (the truth's range is below R)."""
    if not 0 < best_mass < 1:
        raise ValueError(f"`best_mass` must lie in (0, 1), got {best_mass!r}")
    if not reward_range > 0:
        raise ValueError(f"`reward_range` must be > 0, got {reward_range!r}")
    rng = np.random.default_rng(seed)
    X, Y = num_contexts, num_responses
    reward = rng.uniform(-reward_range / 2, reward_range / 4, size=(X, Y))
    best = rng.integers(0, Y, size=X)
    reward[np.arange(X), best] = reward_range / 2
    pi_ref = rng.dirichlet(np.ones(Y) * 2, size=X)
    pi_ref[np.arange(X), best] = 0.0
    pi_ref = (1 - best_mass) * pi_ref / pi_ref.sum(axis=1, keepdims=True)
    pi_ref[np.arange(X), best] = best_mass
    return BanditInstance(rho=np.full(X, 1 / X), pi_ref=pi_ref, reward=reward, beta=beta, bound=reward_range,
                          name=f"designed(m={best_mass:g}, β={beta:g}, R={reward_range:g})",
                          description="one best response per context with reference mass m, rewards in [−R/2, R/2]")


#: The dimensions of the linear family (``linear-d<d>``); linear-d8 is the one most figures use.
LINEAR_DIMENSIONS = (2, 4, 8, 16, 32)


_REGISTRY: dict[str, tuple[Callable[[np.random.Generator], BanditInstance], str]] = {
    "tabular-small": (_tabular_small, "5 × 6 tabular, rewards U(-1, 1), β = 0.5; class B = 2"),
    "tabular-trap": (_tabular_trap, "4 × 6 tabular; π_ref puts mass 0.02 on the best response; B = 2"),
    "offline-poor-coverage": (lambda rng: _offline_poor_coverage(rng, False),
                              "4 × 6 tabular; the behaviour rarely shows a bad response; B = 2"),
    "offline-rare-optimal": (lambda rng: _offline_poor_coverage(rng, True),
                             "4 × 6 tabular; the behaviour rarely shows the best response; B = 2"),
    **{f"linear-d{d}": ((lambda rng, d=d: _linear(rng, d)),
                        f"10 × 8 linear, d = {d}, ‖θ*‖ = 2 in the class ‖θ‖ ≤ 4; good (uniform) and poor coverage "
                        f"behaviours") for d in LINEAR_DIMENSIONS},
}


def list_instances() -> dict[str, str]:
    """Names of the built-in instances with a one-line description each."""
    return {name: text for name, (_, text) in _REGISTRY.items()}


def make_instance(name: str, seed: int = 0) -> BanditInstance:
    """A named instance, drawn with ``numpy.random.default_rng(seed)``: the same seed, the same instance."""
    if name not in _REGISTRY:
        raise ValueError(f"`name`: unknown instance {name!r}; choose from {', '.join(_REGISTRY)}")
    return _REGISTRY[name][0](np.random.default_rng(seed))
