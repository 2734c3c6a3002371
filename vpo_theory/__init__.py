"""vpo_theory — KL-regularized bandits with Bradley–Terry feedback, VPO solved exactly.

NumPy / SciPy / cvxpy only; never imports torch. Formulas and identities: theory §2–8.
"""

from .validation import DISTRIBUTION_ATOL
from .data import Preferences, empirical_chosen_policy, pair_counts, sample_preferences
from .estimators import Problem, VPOFit, center_features, fit_mle, fit_vpo
from .instances import LINEAR_BOUND, LINEAR_DIMENSIONS, TABULAR_BOUND, BanditInstance, list_instances, make_instance
from .baselines import ConfidenceSet, confidence_set, lcb_policy, one_hot_features, ucb_reward
from .offline import OfflineOptions, OfflineResult, run_offline
from .options import DEFAULT_C_GAMMA
from .online import OnlineOptions, OnlineResult, run_online
from .core import (
    bt_nll,
    calibrate,
    implicit_reward,
    kl_divergence,
    log_partition,
    optimal_policy,
    optimal_value,
    suboptimality,
    value,
    vpo_objective,
    vpo_policy_objective,
)

__all__ = [
    "DISTRIBUTION_ATOL",
    "BanditInstance",
    "LINEAR_BOUND",
    "LINEAR_DIMENSIONS",
    "TABULAR_BOUND",
    "ConfidenceSet",
    "OfflineOptions",
    "OfflineResult",
    "OnlineOptions",
    "OnlineResult",
    "run_online",
    "confidence_set",
    "lcb_policy",
    "list_instances",
    "make_instance",
    "one_hot_features",
    "run_offline",
    "ucb_reward",
    "Preferences",
    "Problem",
    "DEFAULT_C_GAMMA",
    "VPOFit",
    "center_features",
    "empirical_chosen_policy",
    "fit_mle",
    "fit_vpo",
    "pair_counts",
    "sample_preferences",
    "bt_nll",
    "calibrate",
    "implicit_reward",
    "kl_divergence",
    "log_partition",
    "optimal_policy",
    "optimal_value",
    "suboptimality",
    "value",
    "vpo_objective",
    "vpo_policy_objective",
]
