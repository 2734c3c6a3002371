"""Online RLHF with optimism  (theory §6): the VPO loop and its baselines, ``run_online``.

    for t = 1..T:  r_t = argmin_{r∈R} ℓ(r; D_{t−1}) − α_t J*(r);  π_t = π_{r_t}
                   x_t ~ ρ;  (y¹, y²) by scheme;  BT label;  D_t = D_{t−1} ∪ {·}
    Regret(T) = Σ_t SubOpt(π_t)

The data are kept as pair counts n[x, y⁺, y⁻], so a round costs the same at t = 10⁴ as at
t = 10². Every VPO round's optimistic step is the certified global minimum (``fit_vpo``'s
default method; docs/theory.md, "Certified optimism"), warm-started from the last round's answer
and the last round's branch-and-bound partition; each run records how many rounds were
certified and the largest gap. In the tabular class the problem separates over contexts, and
with a constant α only the context that received the new comparison changes, so only that
context is re-solved; with α_t = c·√t every context is re-solved each round, from its own last
partition (its bounds lowered by Δα·max J* over each cell).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from . import core
from .baselines import class_constants, confidence_set_from_counts, ucb_reward
from .certified import DEFAULT_RTOL
from .data import label_pairs, sample_pairs
from .estimators import Problem, VPOFit, fit_mle, fit_vpo
from ._threads import single_blas_thread
from .validation import check_option_numbers
from .instances import BanditInstance
from .options import check_run, resolve_alpha, resolve_bound, resolve_c_gamma, resolve_calibration

__all__ = ["OnlineOptions", "OnlineResult", "run_online", "ONLINE_ALGORITHMS", "SCHEMES"]

ONLINE_ALGORITHMS = ("vpo", "greedy", "ucb", "ref", "oracle")
#: The linear class runs branch and bound online up to this dimension (a round: ~0.1–0.5 s at d = 2, seconds at
#: d = 4); above it, each round runs the whole-class certificate alone (docs/theory.md, "Certified optimism").
LINEAR_BRANCH_DIMENSION = 2
SCHEMES = ("policy-ref", "policy-policy", "policy-cal")


@dataclass
class OnlineOptions:
    """Options of ``run_online``; every field has a default.

    alpha: VPO's constant sum-form weight; None → alpha_scale·√T.
    alpha_scale: c in α = c·√T (constant schedule) or α_t = c·√t ("sqrt" schedule). Default 0.1: the
        `tuning` figure's choice (figures/tuning.json) from {0.03, 0.1, 0.3, 1}, the least geometric mean
        of Regret(VPO)/Regret(greedy) at T = 150 over tabular-small, tabular-trap and linear-d8 drawn with
        instance seeds 101–102 (no figure uses them) and the declared classes: 1.11 at c = 0.1 — VPO
        above greedy at every c there.
    alpha_schedule: "constant" (default) or "sqrt".
    scheme: how the pair is drawn — "policy-ref" (y¹ ~ π_t, y² ~ π_ref; XPO-like, default),
        "policy-policy" (both from π_t) or "policy-cal" (y² ~ π_cal).
    calibration: π_cal — "ref" (default online), "uniform", or an (X, Y) table.
    bound: the reward class, part of the problem (theory §4); None → bound_scale × the instance's
        declared class bound ``instance.bound`` (never the truth's own size).
    bound_scale: see bound. Default 1: the declared class. A looser class lets the optimistic step
        reach for rewards no data can refute (the online-schemes figure measures 1× and 2× the truth's size).
    c_gamma: UCB's confidence multiplier; None → DEFAULT_C_GAMMA of the class.
    delta: UCB's confidence level.
    optimistic_method: VPO's step — "certified" (default: the global minimum with a proven lower
        bound, every round) or "local" (a heuristic: a warm-started local SQP step, with the
        multi-start SQP at round 1 and every ``restart_every`` rounds; proves nothing).
    restart_every: "local" only — see optimistic_method. 0 → only at round 1.
    max_cells: "certified" only — the branch and bound's budget per solve; a round that runs out is
        recorded as uncertified with its gap. None → fit_vpo's default for the tabular class and for
        the linear class up to d = LINEAR_BRANCH_DIMENSION, and 1 above it: only the whole-class
        certificate (which holds once the data make the problem convex around the minimizer), because
        branch and bound over more dimensions costs seconds a round and rarely closes beyond d ≈ 4.
    """

    alpha: float | None = None
    alpha_scale: float = 0.1
    alpha_schedule: str = "constant"
    scheme: str = "policy-ref"
    calibration: str | np.ndarray = "ref"
    bound: float | None = None
    bound_scale: float = 1.0
    c_gamma: float | None = None
    delta: float = 0.05
    optimistic_method: str = "certified"
    restart_every: int = 0
    max_cells: int | None = None

    def __post_init__(self):
        check_option_numbers(self, ("alpha", "alpha_scale", "bound", "bound_scale", "c_gamma", "delta", "restart_every"))
        if isinstance(self.restart_every, float):
            raise ValueError(f"option `restart_every` must be a non-negative integer, got {self.restart_every!r}")
        if self.optimistic_method not in ("certified", "local"):
            raise ValueError(f"option `optimistic_method` must be 'certified' or 'local', got {self.optimistic_method!r}")
        if self.max_cells is not None and (isinstance(self.max_cells, bool) or not isinstance(self.max_cells, int)
                                           or self.max_cells < 1):
            raise ValueError(f"option `max_cells` must be a positive integer (or None), got {self.max_cells!r}")
        if self.scheme not in SCHEMES:
            raise ValueError(f"option `scheme` must be one of {SCHEMES}, got {self.scheme!r}")
        if self.alpha_schedule not in ("constant", "sqrt"):
            raise ValueError(f"option `alpha_schedule` must be 'constant' or 'sqrt', got {self.alpha_schedule!r}")
        if isinstance(self.calibration, str) and self.calibration not in ("ref", "uniform"):
            raise ValueError(f"option `calibration` must be 'ref', 'uniform' or an (X, Y) table online, "
                             f"got {self.calibration!r}")
        for name in ("alpha", "bound", "c_gamma"):
            value = getattr(self, name)
            if value is not None and (not np.isfinite(value) or value < 0 or (name == "bound" and value == 0)):
                raise ValueError(f"option `{name}` must be {'> 0' if name == 'bound' else '>= 0'} (or None), got {value}")
        if not (np.isfinite(self.alpha_scale) and self.alpha_scale >= 0):
            raise ValueError(f"option `alpha_scale` must be >= 0, got {self.alpha_scale}")
        if not (np.isfinite(self.bound_scale) and self.bound_scale > 0):
            raise ValueError(f"option `bound_scale` must be > 0, got {self.bound_scale}")
        if not 0 < self.delta < 1:
            raise ValueError(f"option `delta` must lie in (0, 1), got {self.delta}")
        if int(self.restart_every) != self.restart_every or self.restart_every < 0:
            raise ValueError(f"option `restart_every` must be a non-negative integer, got {self.restart_every}")


@dataclass
class OnlineResult:
    algorithm: str
    T: int
    seed: int
    suboptimality: np.ndarray  # (T,) SubOpt(π_t)
    regret: np.ndarray  # (T,) cumulative regret Σ_{s≤t} SubOpt(π_s)
    options: dict = field(default_factory=dict)
    round_seconds: np.ndarray | None = None  # (T,) wall time per round (not part of the determinism)
    certificate: dict = field(default_factory=dict)  # VPO: rounds certified, their largest gaps

    def to_record(self) -> dict:
        record = asdict(self)
        record.pop("round_seconds")
        return record


@single_blas_thread
def run_online(instance: BanditInstance, algorithm: str, T: int, seed: int, **options) -> OnlineResult:
    """One online run of ``algorithm`` for T rounds  (theory §6). ``options``: fields of ``OnlineOptions``."""
    T, opts = check_run(algorithm, ONLINE_ALGORITHMS, "T", T, options, OnlineOptions)
    X, Y = instance.pi_ref.shape
    pi_cal = resolve_calibration(opts.calibration, instance)  # "ref", "uniform" or a table
    bound = resolve_bound(opts.bound, opts.bound_scale, instance)
    c_gamma = resolve_c_gamma(opts.c_gamma, instance)
    resolved = {"alpha_scale": opts.alpha_scale, "alpha_schedule": opts.alpha_schedule, "scheme": opts.scheme,
                "calibration": opts.calibration if isinstance(opts.calibration, str) else "table", "bound": bound,
                "c_gamma": c_gamma, "delta": opts.delta, "optimistic_method": opts.optimistic_method}
    if opts.optimistic_method == "local":
        resolved["restart_every"] = opts.restart_every
    if opts.alpha_schedule == "constant":
        resolved["alpha"] = resolve_alpha(opts.alpha, opts.alpha_scale, T)

    rng = np.random.default_rng(seed)
    counts = np.zeros((X, Y, Y))  # n[x, y⁺, y⁻]: sufficient statistics of D_t
    learner = _Learner(instance, algorithm, opts, pi_cal, bound, c_gamma, resolved.get("alpha"))
    subopt = np.zeros(T)
    seconds = np.zeros(T)
    oracle_policy = core.optimal_policy(instance.reward, instance.pi_ref, instance.beta)
    for t in range(1, T + 1):
        start = time.perf_counter()
        policy = oracle_policy if algorithm == "oracle" else learner.policy(counts, t)  # π_t from D_{t−1}
        seconds[t - 1] = time.perf_counter() - start
        subopt[t - 1] = core.suboptimality(policy, instance.reward, instance.pi_ref, instance.rho, instance.beta)
        second = {"policy-policy": policy, "policy-ref": instance.pi_ref, "policy-cal": pi_cal}[opts.scheme]
        x, y1, y2 = sample_pairs(rng, instance.rho, policy, second, 1)
        pair = label_pairs(rng, instance.reward, x, y1, y2)
        counts[pair.x[0], pair.winner[0], pair.loser[0]] += 1.0
        learner.observed(int(pair.x[0]))
    return OnlineResult(algorithm, T, int(seed), subopt, np.cumsum(subopt), resolved, seconds,
                        learner.certificate_summary(T) if algorithm == "vpo" else {})


class _Learner:
    """The per-round estimator of one algorithm, with its warm-start state."""

    def __init__(self, instance, algorithm, opts, pi_cal, bound, c_gamma, alpha):
        self.instance, self.algorithm, self.opts = instance, algorithm, opts
        self.pi_cal, self.bound, self.c_gamma, self.alpha = pi_cal, bound, c_gamma, alpha
        X, Y = instance.pi_ref.shape
        self.reward = np.zeros((X, Y))
        self.fits: list[VPOFit | None] = [None] * X  # tabular: one warm start per context
        self.problem = Problem.of(instance)
        self.contexts: list[Problem | None] = [None] * X  # tabular: each context as a problem of its own
        self.fit: VPOFit | None = None  # linear
        self.stale = set(range(X))  # contexts whose data changed since their last solve
        self.gaps: list[float] = []  # VPO, certified: per solve, the gap and the tolerance it had to meet
        self.tolerances: list[float] = []
        self.uncertified_rounds = 0

    def observed(self, context: int) -> None:
        self.stale.add(context)

    def certificate_summary(self, T: int) -> dict:
        """What the record keeps of the certificates: how many rounds were certified, the largest gaps."""
        if self.opts.optimistic_method != "certified":
            return {"method": "local (heuristic, uncertified)"}
        gaps, tolerances = np.array(self.gaps or [0.0]), np.array(self.tolerances or [1.0])
        return {"method": "certified", "rounds": T, "rounds_certified": T - self.uncertified_rounds,
                "solves": len(self.gaps), "max_gap": float(gaps.max()),
                "max_gap_over_tolerance": float((gaps / tolerances).max())}

    def alpha_at(self, t: int) -> float:
        return resolve_alpha(self.alpha, self.opts.alpha_scale, t)

    def policy(self, counts: np.ndarray, t: int) -> np.ndarray:
        inst = self.instance
        if self.algorithm == "ref":
            return inst.pi_ref
        restart = t == 1 or (self.opts.restart_every and t % self.opts.restart_every == 0)
        if self.opts.alpha_schedule == "sqrt" or restart:
            self.stale = set(range(inst.num_contexts))
        if self.algorithm == "vpo":
            self._solve_vpo(counts, self.alpha_at(t), restart)
            return core.optimal_policy(self.reward, inst.pi_ref, inst.beta)
        self._solve_mle(counts)
        if self.algorithm == "greedy":
            return core.optimal_policy(self.reward, inst.pi_ref, inst.beta)
        return core.optimal_policy(self._ucb_reward(counts, t), inst.pi_ref, inst.beta)

    # ------------------------------------------------------------------ estimators
    def _solve_vpo(self, counts, alpha, restart):
        inst = self.instance
        certified = self.opts.optimistic_method == "certified"
        method = "certified" if certified else ("sqp-multistart" if restart else "local")
        max_cells = self.opts.max_cells
        if max_cells is None and inst.is_linear and inst.features.shape[-1] > LINEAR_BRANCH_DIMENSION:
            max_cells = 1  # the whole-class certificate only: branch and bound over > 2 dimensions costs seconds a round
        options = {"method": method, "max_cells": max_cells} if certified else {"method": method}
        fits = []
        if inst.is_linear:
            self.fit = fit_vpo(self.problem, counts, alpha=alpha, sign=+1, pi_cal=self.pi_cal, bound=self.bound, init=self.fit,
                               **options)
            self.reward = self.fit.reward
            fits.append(self.fit)
        else:
            for x in sorted(self.stale):  # separable: one context at a time, weight α·ρ(x) on its J*
                fit = fit_vpo(self._context(x), counts[x:x + 1], alpha=alpha * inst.rho[x], sign=+1,
                              pi_cal=self.pi_cal[x:x + 1], bound=self.bound, init=self.fits[x], **options)
                self.fits[x] = fit
                self.reward[x] = fit.reward[0]
                fits.append(fit)
            self.stale = set()
        if certified:
            for fit in fits:
                self.gaps.append(fit.gap)
                self.tolerances.append(DEFAULT_RTOL * (1.0 + abs(fit.objective)))
            self.uncertified_rounds += not all(fit.certified for fit in fits)

    def _solve_mle(self, counts):
        inst = self.instance
        if inst.is_linear:
            self.fit = fit_mle(self.problem, counts, pi_cal=self.pi_cal, bound=self.bound, init=self.fit)
            self.reward = self.fit.reward
            return
        for x in sorted(self.stale):
            fit = fit_mle(self._context(x), counts[x:x + 1], pi_cal=self.pi_cal[x:x + 1], bound=self.bound,
                          init=self.fits[x])
            self.fits[x] = fit
            self.reward[x] = fit.reward[0]
        self.stale = set()

    def _context(self, x: int) -> Problem:
        """Context x alone, with weight 1 (the tabular problem separates; its J* weight is α·ρ(x))."""
        if self.contexts[x] is None:
            self.contexts[x] = Problem(self.instance.pi_ref[x:x + 1], np.ones(1), self.instance.beta)
        return self.contexts[x]

    def _ucb_reward(self, counts, t):
        """⟨φ̃, θ̂⟩ + Γ_t‖φ̃‖_{(Σ_t+λI)^{-1}} with Σ_t from the counts and λ = 1/t  (theory §8)."""
        inst = self.instance
        features, theta_bound, margin_bound = class_constants(inst.features, inst.pi_ref.shape, self.pi_cal, self.bound)
        theta_hat = self.fit.theta if inst.is_linear else self.reward.ravel()
        confidence = confidence_set_from_counts(counts, features, theta_hat, c_gamma=self.c_gamma,
                                                delta=self.opts.delta, ridge=1.0 / t, theta_bound=theta_bound,
                                                margin_bound=margin_bound)
        return ucb_reward(confidence, features, self.pi_cal)
