"""Online RLHF  (theory §6): the harness ``run_online`` that runs any learner of ``vpo_theory.learners``.

    for t = 1..T:  π_t = the learner's policy from D_{t−1}
                   x_t ~ ρ;  (y¹, y²) as the learner asks;  BT label;  D_t = D_{t−1} ∪ {·}
    Regret(T) = Σ_t SubOpt(π_t)

The data are kept as pair counts n[x, y⁺, y⁻], so a round costs the same at t = 10⁴ as at t = 10². Two independent
random streams are spawned from the seed (``numpy.random.SeedSequence(seed).spawn(2)``): the data stream draws four
uniforms a round — the context, the two responses (by inverse CDF of the distributions the learner samples from),
the label — and a learner's own randomness comes from the other. So two learners that choose the same policies see
the same data, whatever else they draw: common random numbers, which make the paired comparisons tighter.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from . import core, kernels
from ._threads import single_blas_thread
from .calibration import calibration_name, calibration_table
from .instances import BanditInstance
from .learners import LEARNERS, Run
from .options import ClassOptions, check_run, option, resolve_alpha, resolve_bound
from .tuned import TUNED
from .validation import check_option_numbers

__all__ = ["OnlineOptions", "OnlineResult", "run_online", "ONLINE_ALGORITHMS", "SCHEMES", "DEFAULT_STEP_SECONDS",
           "ALIASES"]

#: The learners ``run_online`` knows (``vpo_theory.learners``).
ONLINE_ALGORITHMS = tuple(LEARNERS)
#: Deprecated names of learners.
ALIASES = {"ref": "reference"}
SCHEMES = ("policy-ref", "policy-policy", "policy-cal")
#: The certified step's default time budget, seconds per round (split among the contexts a round re-solves): a
#: 400-round run of an 8-response instance stays within minutes on 2 cores (docs/theory.md §10, "What it costs").
DEFAULT_STEP_SECONDS = 0.2


@dataclass
class OnlineOptions(ClassOptions):
    """Options of ``run_online``; every field has a default (the command line's flags are generated from them)."""

    alpha: float | None = option(None, "VPO's constant sum-form weight α; None → alpha_scale·√T")
    alpha_scale: float = option(TUNED["online_alpha_scale"], "VPO: c in α = c·√T (constant schedule) or α_t = c·√t (sqrt schedule); the "
                                     "`tuning` figure's choice")
    alpha_schedule: str = option("constant", "VPO: α constant over the run (c·√T) or α_t = c·√t (every round "
                                             "anytime)", choices=("constant", "sqrt"))
    scheme: str = option("policy-ref", "how each round's pair is drawn: y¹ ~ π_t and y² ~ π_ref (XPO-like), y² ~ π_t, "
                                       "or y² ~ π_cal (theory §6)", choices=SCHEMES)
    calibration: str | np.ndarray = option("reference", "π_cal (theory §3): 'reference' (π_ref) or 'uniform'; in "
                                                        "Python also an (X, Y) table", choices=("reference", "uniform"))
    c_gamma: float | None = option(None, "UCB / MaxInP's confidence multiplier c_Γ (theory §8); None → the class's "
                                         "value for the learner: tuned for regret (ucb, maxinp) or for coverage "
                                         "(ucb-coverage; vpo_theory.tuned)")
    optimistic_method: str = option("certified", "the optimistic step (vpo, xpo, selm): the certified global minimum "
                                                 "(a proven lower bound every round) or 'local', a warm-started SQP "
                                                 "heuristic that proves nothing", choices=("certified", "local"))
    restart_every: int = option(0, "'local' only: the multi-start solve every this many rounds (0: only at round 1)")
    max_cells: int | None = option(None, "certified only: branch-and-bound cells per solve; None → 400 000 (tabular), "
                                         "2 000 (linear up to d = 2) or 1 above d = 2 (the whole-class check alone)")
    step_seconds: float | None = option(DEFAULT_STEP_SECONDS, "certified only: the step's time budget in seconds; when "
                                        "it ends the round keeps its best point, flagged uncertified with its proven "
                                        "gap (the record counts such rounds); None: no time limit (cells only)")
    xpo_scale: float = option(TUNED["xpo_scale"], "xpo: c in its exploration weight α_X/β = c/√T (theory §6, Baselines)")
    selm_scale: float = option(TUNED["selm_scale"], "selm: c in its exploration weight α_S = c/√T (theory §6, Baselines)")
    ts_scale: float = option(TUNED["ts_scale"], "ts: the posterior's scale (1: the Laplace approximation; larger explores more)")
    mixed_fraction: float = option(TUNED["mixed_fraction"], "mixed: the share of rounds in the first stage (both responses from π_ref)")
    update_every: int = option(1, "the policy is refit every this many rounds (batched online RLHF: each batch of "
                                  "pairs is drawn from one policy, as in iterative DPO); 1: every round (theory §6)")

    def __post_init__(self):
        super().__post_init__()
        check_option_numbers(self, ("alpha", "alpha_scale", "c_gamma", "restart_every",
                                    "step_seconds", "xpo_scale", "selm_scale", "ts_scale", "mixed_fraction",
                                    "update_every"))
        for name in ("optimistic_method", "scheme", "alpha_schedule"):
            allowed = type(self).__dataclass_fields__[name].metadata["choices"]
            if getattr(self, name) not in allowed:
                raise ValueError(f"option `{name}` must be one of {allowed}, got {getattr(self, name)!r}")
        if isinstance(self.calibration, str):
            self.calibration = calibration_name(self.calibration, allowed=("reference", "uniform"))
        if isinstance(self.restart_every, float) or int(self.restart_every) != self.restart_every \
                or self.restart_every < 0:
            raise ValueError(f"option `restart_every` must be a non-negative integer, got {self.restart_every!r}")
        if isinstance(self.update_every, (bool, float)) or not isinstance(self.update_every, (int, np.integer)) \
                or self.update_every < 1:
            raise ValueError(f"option `update_every` must be a positive integer (1: refit every round), got "
                             f"{self.update_every!r}")
        if self.max_cells is not None and (isinstance(self.max_cells, bool) or not isinstance(self.max_cells, int)
                                           or self.max_cells < 1):
            raise ValueError(f"option `max_cells` must be a positive integer (or None), got {self.max_cells!r}")
        for name in ("alpha", "c_gamma", "step_seconds"):
            value = getattr(self, name)
            strict = name == "step_seconds"
            if value is not None and (not np.isfinite(value) or value < 0 or (strict and value == 0)):
                raise ValueError(f"option `{name}` must be {'> 0' if strict else '>= 0'} (or None), got {value}")
        for name in ("alpha_scale", "xpo_scale", "selm_scale", "ts_scale"):
            if not (np.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ValueError(f"option `{name}` must be >= 0, got {getattr(self, name)}")
        if not 0 < self.mixed_fraction < 1:
            raise ValueError(f"option `mixed_fraction` must lie in (0, 1), got {self.mixed_fraction}")


@dataclass
class OnlineResult:
    algorithm: str
    T: int
    seed: int
    suboptimality: np.ndarray  # (T,) SubOpt(π_t)
    regret: np.ndarray  # (T,) cumulative regret Σ_{s≤t} SubOpt(π_s)
    options: dict = field(default_factory=dict)
    round_seconds: np.ndarray | None = None  # (T,) wall time per round (not part of the determinism)
    certificate: dict = field(default_factory=dict)  # the optimistic learners: rounds certified, their largest gaps

    def to_record(self) -> dict:
        record = asdict(self)
        record.pop("round_seconds")
        return record


@single_blas_thread
def run_online(instance: BanditInstance, algorithm: str, T: int, seed: int, **options) -> OnlineResult:
    """One online run of ``algorithm`` (a name of ``vpo_theory.learners.LEARNERS``) for T rounds  (theory §6).

    ``options``: fields of ``OnlineOptions``. The seed spawns the data stream and the learner's own stream.
    """
    algorithm = _learner_name(algorithm)
    T, opts = check_run(algorithm, tuple(LEARNERS), "T", T, options, OnlineOptions)
    data_stream, learner_stream = (np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(2))
    pi_cal = calibration_table(opts.calibration, instance, allowed=("reference", "uniform"))
    run = Run(instance, opts, T, pi_cal, resolve_bound(opts.bound, opts.bound_scale, instance), learner_stream)
    learner = LEARNERS[algorithm](run)
    X, Y = instance.pi_ref.shape
    counts = np.zeros((X, Y, Y))  # n[x, y⁺, y⁻]: sufficient statistics of D_t
    subopt, seconds = np.zeros(T), np.zeros(T)
    for t in range(1, T + 1):
        start = time.perf_counter()
        if (t - 1) % opts.update_every == 0:  # π_t from D_{t−1}; kept for the batch's other rounds
            policy = learner.policy(counts, t)
            value = core.suboptimality(policy, instance.reward, instance.pi_ref, instance.rho, instance.beta)
        seconds[t - 1] = time.perf_counter() - start
        subopt[t - 1] = value
        u = data_stream.random(4)  # the round's context, two responses and label
        x = int(kernels.inverse_cdf(instance.rho, u[0]))
        first, second = learner.pair(x, u[1:3], policy, t)
        first_wins = bool(kernels.bradley_terry_wins(instance.reward[x, first] - instance.reward[x, second], u[3]))
        winner, loser = (first, second) if first_wins else (second, first)
        counts[x, winner, loser] += 1.0
        learner.observed(x, first, second, first_wins, t)
    return OnlineResult(algorithm, T, int(seed), subopt, np.cumsum(subopt), _resolved(opts, run), seconds,
                        learner.summary(T))


def _learner_name(algorithm: str) -> str:
    if algorithm in ALIASES:
        import warnings

        warnings.warn(f"learner {algorithm!r} is spelt {ALIASES[algorithm]!r} now; {algorithm!r} will be removed",
                      DeprecationWarning, stacklevel=3)
        return ALIASES[algorithm]
    return algorithm


def _resolved(opts: OnlineOptions, run: Run) -> dict:
    """The options as they ran: every field, with the derived α and class bound, and tables named "table"."""
    resolved = {name: (value if not isinstance(value, np.ndarray) else "table") for name, value in asdict(opts).items()}
    resolved["bound"] = run.bound
    if opts.alpha_schedule == "constant":
        resolved["alpha"] = resolve_alpha(opts.alpha, opts.alpha_scale, run.T)
    return resolved
