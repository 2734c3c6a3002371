"""The offline runner: one offline run (theory §7) → a plain result record.

``run_offline(instance, algorithm, N, seed, **options)`` draws N Bradley–Terry comparisons
from the behaviour policy μ with ``numpy.random.default_rng(seed)`` — so every algorithm
given the same seed sees the same data — fits one estimator and reports the exact
suboptimality of its policy (theory I4).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from . import core
from .baselines import class_constants, confidence_set, lcb_policy, one_hot_features
from .data import sample_preferences
from .estimators import center_features, fit_mle, fit_vpo
from ._threads import single_blas_thread
from .validation import check_option_numbers
from .instances import BanditInstance
from .calibration import calibration_name, calibration_table
from .options import ClassOptions, check_run, option, option_table, resolve_alpha, resolve_bound, resolve_c_gamma
from .tuned import TUNED

__all__ = ["OfflineOptions", "OfflineResult", "run_offline", "mle_confidence", "OFFLINE_ALGORITHMS"]

OFFLINE_ALGORITHMS = ("vpo", "mle", "lcb", "oracle", "reference")

@dataclass
class OfflineOptions(ClassOptions):
    """Options of ``run_offline``; every field has a default (the command line's flags are generated from them)."""

    alpha: float | None = option(None, "sum-form VPO weight α; None → alpha_scale·√N (the regularizer's pull then "
                                       "shrinks like 1/√N relative to the N-term likelihood, the theory's rate)")
    alpha_scale: float = option(TUNED["offline_alpha_scale"], "c in α = c·√N; the `tuning` figure's choice")
    calibration: str | np.ndarray = option("behavior", "π_cal (theory §3): 'behavior' (μ, the data's own policy), "
                                                       "'reference', 'uniform', 'chosen'; in Python also an (X, Y) "
                                                       "table", choices=("behavior", "reference", "uniform", "chosen"))
    behavior: str | np.ndarray | None = option(None, "μ: a name of the instance's behaviours ('poor', 'good', …, "
                                                     "'reference', 'uniform'; see vpo theory --list-instances); None → "
                                                     "the instance's own; in Python also an (X, Y) table")
    c_gamma: float | None = option(None, "LCB's confidence multiplier c_Γ (theory §8); None → the class's "
                                         "coverage-calibrated DEFAULT_C_GAMMA")
    ridge: float | None = option(None, "λ of the confidence set's Σ_D + λI; None → 1/N (a prior worth one comparison)")

    def __post_init__(self):
        super().__post_init__()
        check_option_numbers(self, ("alpha", "alpha_scale", "c_gamma", "ridge"))
        for name in ("alpha", "alpha_scale", "c_gamma", "ridge"):
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and value >= 0):
                none = " (or None for alpha_scale·√N)" if name == "alpha" else ""
                raise ValueError(f"option `{name}` must be a finite number >= 0{none}, got {value}")
        if self.alpha_scale is None:
            raise ValueError("option `alpha_scale` must be a finite number >= 0, got None")
        if isinstance(self.calibration, str):
            self.calibration = calibration_name(self.calibration,
                                                allowed=type(self).__dataclass_fields__["calibration"].metadata["choices"])
        if isinstance(self.behavior, str) and self.behavior == "ref":
            self.behavior = calibration_name("ref", option="behavior")


@dataclass
class OfflineResult:
    algorithm: str
    N: int
    seed: int
    suboptimality: float  # SubOpt(π̂) = J*(r*) − J(r*, π̂)
    policy: np.ndarray  # (X, Y)
    reward: np.ndarray | None  # (X, Y) estimated reward (vpo, mle), else None
    options: dict = field(default_factory=dict)  # resolved options: alpha, bound, calibration, …

    def to_record(self) -> dict:
        record = asdict(self)
        record.pop("policy")
        record.pop("reward")
        return record


def _prepare(instance: BanditInstance, N: int, seed: int, options: dict):
    """Resolved options, the data draw (``default_rng(seed)``), π_cal and the class bound of one offline run."""
    opts = OfflineOptions(**options)
    if opts.behavior is None or isinstance(opts.behavior, str):
        behavior = instance.behavior(opts.behavior)
    else:
        behavior = option_table("behavior", opts.behavior, instance)
    data = sample_preferences(np.random.default_rng(seed), instance.rho, behavior, instance.reward, N)
    pi_cal = calibration_table(opts.calibration, instance, behavior=behavior, data=data)
    bound = resolve_bound(opts.bound, opts.bound_scale, instance)
    opts.ridge = opts.ridge if opts.ridge is not None else 1.0 / N  # a prior worth one comparison (OfflineOptions)
    opts.c_gamma = resolve_c_gamma(opts.c_gamma, instance)
    return opts, data, pi_cal, bound


@single_blas_thread
def run_offline(instance: BanditInstance, algorithm: str, N: int, seed: int, **options) -> OfflineResult:
    """One offline experiment  (theory §7). ``options``: the fields of ``OfflineOptions``."""
    if algorithm == "ref":
        import warnings

        warnings.warn("algorithm 'ref' is spelt 'reference' now; 'ref' will be removed", DeprecationWarning, stacklevel=2)
        algorithm = "reference"
    N, _ = check_run(algorithm, OFFLINE_ALGORITHMS, "N", N, options, OfflineOptions)
    opts, data, pi_cal, bound = _prepare(instance, N, seed, options)
    alpha = resolve_alpha(opts.alpha, opts.alpha_scale, N)
    resolved = {"alpha": float(alpha), "bound": float(bound),
                "calibration": opts.calibration if isinstance(opts.calibration, str) else "table",
                "behavior": opts.behavior if isinstance(opts.behavior, str) or opts.behavior is None else "table",
                "c_gamma": opts.c_gamma, "ridge": opts.ridge, "delta": opts.delta}
    reward = None
    if algorithm == "oracle":
        policy = core.optimal_policy(instance.reward, instance.pi_ref, instance.beta)
    elif algorithm == "reference":
        policy = instance.pi_ref
    elif algorithm == "vpo":
        fit = fit_vpo(instance, data, alpha=alpha, sign=-1, pi_cal=pi_cal, bound=bound)
        policy, reward = fit.policy, fit.reward
    else:
        fit = fit_mle(instance, data, pi_cal=pi_cal, bound=bound)
        policy, reward = fit.policy, fit.reward
        if algorithm == "lcb":
            policy = lcb_policy(_confidence(instance, fit, data, pi_cal, bound, opts), _features(instance),
                                instance.pi_ref, instance.rho, instance.beta, pi_cal)
    subopt = core.suboptimality(policy, instance.reward, instance.pi_ref, instance.rho, instance.beta)
    return OfflineResult(algorithm, N, int(seed), subopt, policy, reward, resolved)


def mle_confidence(instance: BanditInstance, N: int, seed: int, **options):
    """The §8 confidence set (c_Γ = 1) around the MLE of one offline data draw, and θ⋆ in its coordinates.

    Same data, class and λ as ``run_offline(instance, "lcb", N, seed, **options)``. θ⋆ is the
    calibrated truth: tabular calibrate(r⋆, π_cal) as a vector; linear the minimum-norm θ whose
    centred-feature reward equals r⋆ (the MLE's θ̂ is minimum-norm too).
    """
    opts, data, pi_cal, bound = _prepare(instance, N, seed, options)
    opts.c_gamma = 1.0
    fit = fit_mle(instance, data, pi_cal=pi_cal, bound=bound)
    confidence = _confidence(instance, fit, data, pi_cal, bound, opts)
    calibrated = core.calibrate(instance.reward, pi_cal)
    if instance.is_linear:
        centred = center_features(instance.features, pi_cal).reshape(-1, instance.features.shape[-1])
        theta_star = np.linalg.lstsq(centred, calibrated.ravel(), rcond=None)[0]
    else:
        theta_star = calibrated.ravel()
    return confidence, theta_star


def _features(instance: BanditInstance) -> np.ndarray:
    return instance.features if instance.is_linear else one_hot_features(*instance.pi_ref.shape)


def _confidence(instance, fit, data, pi_cal, bound, opts):
    """The §8 ellipsoid around the MLE, in the class's θ coordinates (``class_constants``)."""
    features, theta_bound, margin_bound = class_constants(instance.features, instance.pi_ref.shape, pi_cal, bound)
    theta_hat = fit.theta if instance.is_linear else fit.reward.ravel()
    return confidence_set(*data.astuple(), features, theta_hat, c_gamma=opts.c_gamma, delta=opts.delta,
                          ridge=opts.ridge, theta_bound=theta_bound, margin_bound=margin_bound)