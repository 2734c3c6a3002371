"""vpo_theory — KL-regularized bandits with Bradley–Terry feedback, VPO solved exactly.

NumPy / SciPy / cvxpy only; never imports torch. Formulas and identities: theory §2–8. The names below load their
module on first use (``import vpo_theory`` itself is instant; cvxpy comes with the first estimator or baseline).
"""

from __future__ import annotations

from .lazy import lazy_exports

#: public name → the module that defines it
_EXPORTS = {name: module for module, names in {
    "validation": "DISTRIBUTION_ATOL",
    "data": "Preferences empirical_chosen_policy pair_counts sample_preferences",
    "estimators": "Problem VPOFit center_features fit_mle fit_vpo",
    "instances": "LINEAR_BOUND LINEAR_DIMENSIONS TABULAR_BOUND BanditInstance list_instances make_instance",
    "baselines": "ConfidenceSet confidence_set lcb_policy one_hot_features ucb_reward",
    "offline": "OfflineOptions OfflineResult run_offline",
    "options": "DEFAULT_C_GAMMA DEFAULT_UCB_C_GAMMA",
    "online": "OnlineOptions OnlineResult run_online",
    "learners": "LEARNERS",
    "calibration": "CALIBRATIONS",
    "core": "bt_nll calibrate implicit_reward kl_divergence log_partition optimal_policy optimal_value suboptimality "
            "value vpo_objective vpo_policy_objective",
}.items() for name in names.split()}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
