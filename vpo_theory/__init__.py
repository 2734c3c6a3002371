"""vpo_theory — KL-regularized bandits with Bradley–Terry feedback, VPO solved exactly.

NumPy / SciPy / cvxpy only; never imports torch. Formulas and identities: theory §2–8. The names below load their
module on first use (``import vpo_theory`` itself is instant; cvxpy comes with the first estimator or baseline).
"""

from __future__ import annotations

import importlib
import importlib.util

#: public name → the module that defines it
_EXPORTS = {
    "DISTRIBUTION_ATOL": "validation",
    "Preferences": "data", "empirical_chosen_policy": "data", "pair_counts": "data", "sample_preferences": "data",
    "Problem": "estimators", "VPOFit": "estimators", "center_features": "estimators", "fit_mle": "estimators",
    "fit_vpo": "estimators",
    "LINEAR_BOUND": "instances", "LINEAR_DIMENSIONS": "instances", "TABULAR_BOUND": "instances",
    "BanditInstance": "instances", "list_instances": "instances", "make_instance": "instances",
    "ConfidenceSet": "baselines", "confidence_set": "baselines", "lcb_policy": "baselines",
    "one_hot_features": "baselines", "ucb_reward": "baselines",
    "OfflineOptions": "offline", "OfflineResult": "offline", "run_offline": "offline",
    "DEFAULT_C_GAMMA": "options", "DEFAULT_UCB_C_GAMMA": "options",
    "OnlineOptions": "online", "OnlineResult": "online", "run_online": "online",
    "LEARNERS": "learners", "CALIBRATIONS": "calibration",
    **{name: "core" for name in ("bt_nll", "calibrate", "implicit_reward", "kl_divergence", "log_partition",
                                 "optimal_policy", "optimal_value", "suboptimality", "value", "vpo_objective",
                                 "vpo_policy_objective")},
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value  # once loaded, a plain attribute
        return value
    if importlib.util.find_spec(f"{__name__}.{name}") is not None:  # a submodule: vpo_theory.kernels, …
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'vpo_theory' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
