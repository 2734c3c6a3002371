"""The VPO term: everything the policy-space loss adds to DPO, in one value  (docs/theory.md §5).

    L = L_DPO + s·a·β·E_{ỹ~π_cal}[log π(ỹ|x) − log π_ref(ỹ|x)]      (mean form; a = α/N against a sum-form α)

``VPOTerm`` holds s, the weight (a given, or the scale c with a = c/√N, i.e. α = c·√N), which π_cal, how each
calibration log-ratio is pooled, and the bounded class for s = +1. ``mean_weight(N)`` is the one place a is computed
and ``sum_weight(N)`` = a·N the one conversion to the sum form of theory §4. ``VPOConfig``, ``OnlineVPOConfig``, the
task and bridge runners and the command line all hold or are generated from it (``trainer_fields`` is the one map to
``VPOConfig``'s ``vpo_*`` names). Imports nothing heavy.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from vpo_theory import kernels
from vpo_theory.calibration import calibration_name
from vpo_theory.options import option

__all__ = ["VPOTerm", "TRAINER_FIELDS", "LLM_CALIBRATIONS"]

#: π_cal in the LLM trainers (theory §5, "Where the calibration samples come from"; vpo_theory.calibration names).
LLM_CALIBRATIONS = ("chosen", "behavior", "column", "reference")

#: The term's fields and their names in ``VPOConfig`` (TRL's flat config: one ``vpo_*`` field each).
TRAINER_FIELDS = {"sign": "vpo_sign", "alpha": "vpo_alpha", "alpha_scale": "vpo_alpha_scale",
                  "calibration": "vpo_calibration", "normalization": "vpo_cal_normalization",
                  "reward_bound": "vpo_reward_bound"}


@dataclass(frozen=True)
class VPOTerm:
    """s·a·β·E_{π_cal}[log π − log π_ref], the term VPO adds to the DPO loss (theory §5, mean form)."""

    sign: int = option(-1, "VPO's sign s: −1 pessimism (offline), +1 optimism (online)", choices=(-1, 1))
    alpha: float | None = option(None, "the mean-form weight a ≥ 0 (a = α/N for a sum-form α over N pairs; 0 is DPO "
                                       "exactly); None → alpha_scale/√N")
    alpha_scale: float = option(1.0, "c in a = c/√N (the sum form α = c·√N, theory §4), used when alpha is None")
    calibration: str = option("chosen", "π_cal (theory §3, §5): 'chosen' (the preferred responses), 'behavior' (both "
                                        "responses of each pair), 'column' (a `calibration` column: your own samples) "
                                        "or 'reference' (one π_ref sample per pair, drawn once)",
                              choices=LLM_CALIBRATIONS)
    normalization: str = option("sum", "'sum' (theory-exact: summed log-ratios, I6) or 'token_mean' (each divided by "
                                       "its token count, as TRL's sft loss pools; departs from I6)",
                                choices=("sum", "token_mean"))
    reward_bound: float | None = option(None, "the bounded class for s = +1: the calibration samples' implicit "
                                              "rewards β·(log π − log π_ref) clipped to [−B, B] (theory §5); None: "
                                              "unbounded")

    def __post_init__(self):
        object.__setattr__(self, "calibration", check_term(dict(vars(self)), prefix="")["calibration"])

    @classmethod
    def from_fields(cls, config, prefix: str = "vpo_") -> "VPOTerm":
        """The term a flat config holds (``VPOConfig``: ``vpo_sign``, …), checked with that config's field names."""
        values = {name: getattr(config, TRAINER_FIELDS[name] if prefix == "vpo_" else prefix + name)
                  for name in TRAINER_FIELDS}
        check_term(values, prefix=prefix)
        return cls(**values)

    def mean_weight(self, num_pairs: int) -> float:
        """a for a data set of N pairs: ``alpha`` itself, or alpha_scale/√N (theory §5, mean form)."""
        if self.alpha is not None:
            return float(self.alpha)
        return kernels.mean_form_weight(self.alpha_scale, num_pairs)

    def sum_weight(self, num_pairs: int) -> float:
        """α = a·N, the same weight against a likelihood summed over the N pairs (theory §4)."""
        return self.mean_weight(num_pairs) * num_pairs

    def trainer_fields(self) -> dict:
        """``VPOConfig``'s ``vpo_*`` fields for this term."""
        return {TRAINER_FIELDS[name]: getattr(self, name) for name in TRAINER_FIELDS}

    def replace(self, **changes) -> "VPOTerm":
        return dataclasses.replace(self, **changes)


def check_term(values: dict, *, prefix: str) -> dict:
    """The term's values checked, each error naming the field as the caller spells it; the calibration's
    canonical name returned in ``values``."""
    name = (lambda field: TRAINER_FIELDS[field]) if prefix == "vpo_" else (lambda field: prefix + field)
    sign = values["sign"]
    if isinstance(sign, bool) or sign not in (1, -1):
        raise ValueError(f"`{name('sign')}` must be +1 or -1, got {sign!r}")
    for field in ("alpha", "alpha_scale", "reward_bound"):
        value = values[field]
        if value is None and field != "alpha_scale":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 \
                or (field == "reward_bound" and value == 0):
            rule = "> 0" if field == "reward_bound" else ">= 0"
            raise ValueError(f"`{name(field)}` must be a finite number {rule}"
                             f"{'' if field == 'alpha_scale' else ' (or None)'}, got {value!r}")
    if values["normalization"] not in ("sum", "token_mean"):
        raise ValueError(f"`{name('normalization')}` must be 'sum' or 'token_mean', got {values['normalization']!r}")
    values["calibration"] = calibration_name(values["calibration"], allowed=LLM_CALIBRATIONS,
                                             option=name("calibration"))
    return values
