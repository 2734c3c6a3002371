"""The options the offline and online runners share, each documented once and resolved in one place.

- ``option``: a dataclass field with its help text (and choices) in its metadata — the runners' options dataclasses
  (``OfflineOptions``, ``OnlineOptions``) and the LLM configs are built from it, and the command line is generated
  from those fields, so a flag's default is the library's (docs/theory.md §3, §4, §8);
- the VPO weight: α given, or α = c·√N (offline, N comparisons) / c·√T (online) — ``kernels.sum_form_weight``;
- the reward class's bound: given, or a multiple of the instance's own bound;
- the confidence multiplier c_Γ: given, or the class's default (``DEFAULT_C_GAMMA`` for coverage, LCB and the
  coverage variant of UCB; ``DEFAULT_UCB_C_GAMMA`` for regret, UCB and MaxInP).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from . import kernels
from .instances import BanditInstance
from .tuned import TUNED
from .validation import check_distribution, check_option_numbers

__all__ = ["ClassOptions", "DEFAULT_C_GAMMA", "DEFAULT_UCB_C_GAMMA", "DEFAULT_MAXINP_C_GAMMA", "option", "field_help", "check_run", "resolve_alpha",
           "resolve_bound", "resolve_c_gamma", "option_table"]

#: c_Γ for coverage, per class: the smallest multiplier whose confidence set covered θ* in ≥ 95 % of the draws of
#: the `tuning` figure (``vpo_theory.tuned``). The universal constant of the concentration bound is unknown
#: (theory §8), so it is measured; LCB and `ucb-coverage` use it.
DEFAULT_C_GAMMA = TUNED["coverage_c_gamma"]

#: c_Γ for regret, per class: the `tuning` figure's choice for `ucb` (the same protocol and budget as VPO's α).
DEFAULT_UCB_C_GAMMA = TUNED["ucb_c_gamma"]

#: c_Γ for regret, per class: the `tuning` figure's choice for `maxinp`.
DEFAULT_MAXINP_C_GAMMA = TUNED["maxinp_c_gamma"]


def option(default: Any = dataclasses.MISSING, help: str = "", *, choices=None,  # noqa: A002
           factory=dataclasses.MISSING):
    """A dataclass field with its help text (the command line's ``--help``) and, optionally, its allowed values."""
    metadata = {"help": help} | ({"choices": tuple(choices)} if choices is not None else {})
    return dataclasses.field(default=default, default_factory=factory, metadata=metadata)


@dataclasses.dataclass
class ClassOptions:
    """The options every bandit runner shares (``OfflineOptions``, ``OnlineOptions`` come after them): the declared
    reward class and the confidence level of the confidence set."""

    bound: float | None = option(None, "the reward class's bound B (tabular |r| ≤ B, linear ‖θ‖ ≤ B; theory §4); None "
                                       "→ bound_scale × the instance's declared class bound (never the truth's own size)")
    bound_scale: float = option(1.0, "see bound: a multiple of the declared class")
    delta: float = option(0.05, "confidence level δ of the confidence set (theory §8)")

    def __post_init__(self):
        check_option_numbers(self, ("bound", "bound_scale", "delta"))
        if self.bound is not None and not (np.isfinite(self.bound) and self.bound > 0):
            raise ValueError(f"option `bound` must be > 0 (or None for bound_scale × the instance's declared bound), "
                             f"got {self.bound}")
        if not (np.isfinite(self.bound_scale) and self.bound_scale > 0):
            raise ValueError(f"option `bound_scale` must be > 0, got {self.bound_scale}")
        if not 0 < self.delta < 1:
            raise ValueError(f"option `delta` must lie in (0, 1), got {self.delta}")


def field_help(cls) -> dict[str, str]:
    """{field name: help text} of a dataclass built with ``option``."""
    return {item.name: item.metadata.get("help", "") for item in dataclasses.fields(cls)}


def check_run(algorithm: str, algorithms: tuple, count_name: str, count, options: dict, options_class):
    """A runner's arguments checked by name: (the count as an int, ``options_class(**options)``).

    ``count_name`` names the run's size in the messages: "N" (comparisons, offline) or "T" (rounds, online).
    """
    if algorithm not in algorithms:
        raise ValueError(f"`algorithm` must be one of {tuple(algorithms)}, got {algorithm!r}")
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


def resolve_c_gamma(c_gamma: float | None, instance: BanditInstance, defaults: dict = DEFAULT_C_GAMMA) -> float:
    return float(c_gamma) if c_gamma is not None else defaults["linear" if instance.is_linear else "tabular"]


def option_table(name: str, value, instance: BanditInstance, *, names=None) -> np.ndarray:
    """An (X, Y) policy table given as an option: shape, finiteness and rows summing to 1 checked by name (``names``:
    the option's named values, for the message)."""
    try:
        table = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        table = None
    if table is None or table.shape != instance.pi_ref.shape:
        named = f"one of {tuple(names)}" if names else "a name"
        raise ValueError(f"option `{name}` must be {named} or an (X, Y) = {instance.pi_ref.shape} policy table, "
                         f"got {value!r}")
    return check_distribution(name, table)  # finite, >= 0, rows summing to 1: the package's one check
