"""The calibration policies π_cal by name: one vocabulary for the whole package  (docs/theory.md §3).

The likelihood cannot see a per-context shift of the reward (I5), J⋆ can (I3), so VPO fixes the shift by
calibrating: E_{y~π_cal(·|x)} r(x, y) = 0. Which π_cal is a choice, named the same in ``vpo_theory`` (an (X, Y)
table) and in ``vpo_llm`` (samples in a batch, ``vpo_llm.calibrations``):

- ``reference``: π_cal = π_ref (the online default, theory §6);
- ``uniform``: the uniform policy;
- ``behavior``: the data-collecting policy μ (the offline default, theory §7); the LLM trainers use both responses
  of each pair, draws from μ when the pairs were;
- ``chosen``: the empirical distribution of preferred responses per context (contexts without data: π_ref);
- ``column``: LLM only — a ``calibration`` column of the data set, samples from the user's own π_cal.

``"ref"`` is accepted for ``reference`` (a deprecated spelling, with a DeprecationWarning).
"""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np

from .data import empirical_chosen_policy
from .options import option_table

__all__ = ["CALIBRATIONS", "THEORY_CALIBRATIONS", "calibration_name", "calibration_table"]

#: Every calibration by name, with what it means.
CALIBRATIONS: dict[str, str] = {
    "reference": "π_cal = π_ref",
    "uniform": "the uniform policy",
    "behavior": "the data-collecting policy μ (the LLM trainers: both responses of each pair)",
    "chosen": "the empirical distribution of the preferred responses (contexts without data: π_ref)",
    "column": "a `calibration` column of the data: samples from your own π_cal (LLM trainers only)",
}

#: Deprecated spellings and the name they stand for.
ALIASES = {"ref": "reference"}


def calibration_name(value: str, *, allowed=tuple(CALIBRATIONS), option: str = "calibration") -> str:
    """The canonical name of a calibration (an alias mapped, with a DeprecationWarning); a ValueError naming
    ``option`` and the choices when it is not one of ``allowed``."""
    if not isinstance(value, str):
        raise TypeError(f"option `{option}` must be one of {tuple(allowed)}, got {value!r}")
    if value in ALIASES:
        warnings.warn(f"calibration {value!r} is spelt {ALIASES[value]!r} now; {value!r} will be removed",
                      DeprecationWarning, stacklevel=3)
        value = ALIASES[value]
    if value not in allowed:
        raise ValueError(f"option `{option}` must be one of {tuple(allowed)}, got {value!r}")
    return value


def _chosen(instance, behavior, data) -> np.ndarray:
    if data is None:
        raise ValueError("calibration 'chosen' needs data (the preferred responses)")
    x, winner, _ = data.astuple()
    return empirical_chosen_policy(x, winner, instance.pi_ref)


def _behavior(instance, behavior, data) -> np.ndarray:
    if behavior is None:
        raise ValueError("calibration 'behavior' needs the behaviour policy μ (offline runs)")
    return behavior


#: π_cal as an (X, Y) table: name → function(instance, behaviour μ or None, Preferences or None).
THEORY_CALIBRATIONS: dict[str, Callable] = {
    "reference": lambda instance, behavior, data: instance.pi_ref,
    "uniform": lambda instance, behavior, data: np.full(instance.pi_ref.shape, 1.0 / instance.num_responses),
    "behavior": _behavior,
    "chosen": _chosen,
}


def calibration_table(calibration, instance, *, behavior=None, data=None, allowed=tuple(THEORY_CALIBRATIONS)):
    """π_cal (X, Y) from its option value: a name (``allowed`` of ``THEORY_CALIBRATIONS``) or an (X, Y) table."""
    if isinstance(calibration, str):
        return THEORY_CALIBRATIONS[calibration_name(calibration, allowed=allowed)](instance, behavior, data)
    return option_table("calibration", calibration, instance, names=allowed)
