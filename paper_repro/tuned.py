"""The tuned hyperparameters the figures pass explicitly: the committed `tuning` record's choices.

Every figure but `tuning` runs its learners with these values, read from ``figures/tuning.json`` (the full-size record;
the library's own defaults, ``vpo_theory.tuned``, when there is none yet) and stores them in its config — so a
record says which values it ran, and none depends on the library's defaults.
"""

from __future__ import annotations

import json
from pathlib import Path

from vpo_theory.tuned import TUNED

__all__ = ["tuned_values", "online_options", "offline_options", "TUNING_RECORD"]

TUNING_RECORD = Path("figures") / "tuning.json"


def tuned_values() -> dict:
    """The tuning record's choices (``TUNED``'s keys), or the library's defaults when no full-size record exists."""
    if TUNING_RECORD.exists():
        record = json.loads(TUNING_RECORD.read_text())
        if record.get("config", {}).get("quick") is False and "choice" in record:
            return TUNED | {key: value for key, value in record["choice"].items() if key in TUNED}
    return dict(TUNED)


def _per_class(value, linear: bool):
    return value["linear" if linear else "tabular"] if isinstance(value, dict) else value


def online_options(algorithm: str, linear: bool, values: dict | None = None) -> dict:
    """``run_online`` options carrying the tuned hyperparameter(s) of ``algorithm`` (for the class)."""
    values = values or tuned_values()
    return {"vpo": {"alpha_scale": values["online_alpha_scale"]},
            "xpo": {"xpo_scale": values["xpo_scale"]},
            "selm": {"selm_scale": values["selm_scale"]},
            "ts": {"ts_scale": values["ts_scale"]},
            "mixed": {"mixed_fraction": values["mixed_fraction"]},
            "ucb": {"c_gamma": _per_class(values["ucb_c_gamma"], linear)},
            "ucb-coverage": {"c_gamma": _per_class(values["coverage_c_gamma"], linear)},
            "maxinp": {"c_gamma": _per_class(values["maxinp_c_gamma"], linear)}}.get(algorithm, {})


def offline_options(algorithm: str, linear: bool, values: dict | None = None) -> dict:
    """``run_offline`` options carrying the tuned hyperparameter of ``algorithm`` (for the class)."""
    values = values or tuned_values()
    return {"vpo": {"alpha_scale": values["offline_alpha_scale"]},
            "lcb": {"c_gamma": _per_class(values["coverage_c_gamma"], linear)}}.get(algorithm, {})
