"""The options the offline and online runners share, resolved in one place  (docs/theory.md §3, §4, §8).

- the VPO weight: α given, or α = c·√N (offline, N comparisons) / c·√T (online) — ``kernels.sum_form_weight``;
- the reward class's bound: given, or a multiple of the instance's own bound;
- LCB/UCB's confidence multiplier c_Γ: given, or ``DEFAULT_C_GAMMA`` of the class;
- the calibration policy π_cal: a name or an (X, Y) table.
"""

from __future__ import annotations

import numpy as np

from . import kernels
from .validation import check_distribution
from .data import empirical_chosen_policy
from .instances import BanditInstance

__all__ = ["DEFAULT_C_GAMMA", "CALIBRATIONS", "check_run", "resolve_alpha", "resolve_bound", "resolve_c_gamma",
           "resolve_calibration", "option_table"]

#: c_Γ used by LCB and UCB unless given, per class: the smallest multiplier whose confidence set
#: covered θ* in ≥ 95 % of the draws of the `tuning` figure (figures/tuning.json, "choice": instance
#: seeds 101–102 and data seeds ≥ 1000, which no other figure uses; re-measure with
#: `vpo repro tuning`). The universal constant of the concentration bound is unknown (theory §8), so
#: it is measured; `confidence-coverage` reports the coverage it gives on the figures' instances.
DEFAULT_C_GAMMA = {"tabular": 0.0451, "linear": 0.00782}

#: π_cal by name (theory §3): "behavior" (μ, offline) and "chosen" (the data's preferred responses) need data.
CALIBRATIONS = ("behavior", "ref", "uniform", "chosen")


def check_run(algorithm: str, algorithms: tuple, count_name: str, count, options: dict, options_class):
    """A runner's arguments checked by name: (the count as an int, ``options_class(**options)``).

    ``count_name`` names the run's size in the messages: "N" (comparisons, offline) or "T" (rounds, online).
    """
    if algorithm not in algorithms:
        raise ValueError(f"`algorithm` must be one of {algorithms}, got {algorithm!r}")
    what = {"N": "number of comparisons", "T": "number of rounds"}.get(count_name, count_name)
    if isinstance(count, bool) or not isinstance(count, (int, float, np.integer, np.floating)) or int(count) != count \
            or count < 1:
        raise ValueError(f"`{count_name}` ({what}) must be a positive integer, got {count!r}")
    unknown = set(options) - set(options_class.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)}; valid: {sorted(options_class.__dataclass_fields__)}")
    return int(count), options_class(**options)


def resolve_alpha(alpha: float | None, scale: float, count: float) -> float:
    """α itself, or the sum-form α = scale·√count (count = N comparisons offline, T or t rounds online)."""
    return float(alpha) if alpha is not None else kernels.sum_form_weight(scale, count)


def resolve_bound(bound: float | None, bound_scale: float, instance: BanditInstance) -> float:
    """The class bound itself, or bound_scale × the instance's declared class bound (``BanditInstance.bound``)."""
    return float(bound) if bound is not None else bound_scale * instance.class_bound


def resolve_c_gamma(c_gamma: float | None, instance: BanditInstance) -> float:
    return float(c_gamma) if c_gamma is not None else DEFAULT_C_GAMMA["linear" if instance.is_linear else "tabular"]


def resolve_calibration(calibration, instance: BanditInstance, behavior: np.ndarray | None = None, x=None,
                        winner=None) -> np.ndarray:
    """π_cal from its option value  (theory §3): a name of ``CALIBRATIONS`` or an (X, Y) table."""
    if isinstance(calibration, str):
        if calibration in ("ref", "uniform"):
            return instance.behavior(calibration)  # the instance's own π_ref, or the uniform policy
        if calibration == "behavior" and behavior is not None:
            return behavior
        if calibration == "chosen" and x is not None:
            return empirical_chosen_policy(x, winner, instance.pi_ref)
        raise ValueError(f"option `calibration` must be one of {CALIBRATIONS} (offline) or 'ref' / 'uniform' (online), "
                         f"or an (X, Y) table, got {calibration!r}")
    return option_table("calibration", calibration, instance)


def option_table(name: str, value, instance: BanditInstance) -> np.ndarray:
    """An (X, Y) policy table given as an option: shape, finiteness and rows summing to 1 checked by name."""
    try:
        table = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        table = None
    if table is None or table.shape != instance.pi_ref.shape:
        raise ValueError(f"option `{name}` must be a name or an (X, Y) = {instance.pi_ref.shape} policy table, "
                         f"got {value!r}")
    return check_distribution(name, table)  # finite, >= 0, rows summing to 1: the package's one check
