"""The hyperparameters the `tuning` figure chose, the library's defaults  (docs/theory.md §4, "Hyperparameters").

Each value is the `tuning` record's choice (figures/tuning.json), made by one protocol for every learner: a grid per
hyperparameter, instance seeds no other figure draws (the tuning families), data seeds ≥ 1000, and K folds of instance
seeds — each fold's choice scored on the others — so the record also says how well the choice generalizes. A test
checks that these equal the record's choices. The figures never rely on them: they pass the record's values
explicitly (``paper_repro.tuned``) and store them in their own configs, which is why this module, data only, is left
out of the records' source hash.
"""

from __future__ import annotations

__all__ = ["TUNED"]

#: learner's hyperparameter → its tuned value; per reward class ("tabular", "linear") where the class matters.
TUNED = {
    "offline_alpha_scale": 0.3,  # pessimistic VPO, α = c·√N
    # LCB, ucb-coverage: the set covers θ⋆ in ≥ 95 %
    "coverage_c_gamma": {"tabular": 0.04508, "linear": 0.00758},
    "online_alpha_scale": 0.1,  # optimistic VPO, α = c·√T
    # ucb, tuned for regret (multiples of coverage_c_gamma)
    "ucb_c_gamma": {"tabular": 4.508e-05, "linear": 0.0002274},
    # maxinp, tuned for regret (multiples of coverage_c_gamma)
    "maxinp_c_gamma": {"tabular": 0.04508, "linear": 0.00758},
    "xpo_scale": 0.03,  # XPO's weight α_X/β = c/√T
    "selm_scale": 0.03,  # SELM's weight α_S = c/√T
    "ts_scale": 0.3,  # Thompson sampling's posterior scale
    "mixed_fraction": 0.25,  # the first stage's share of the rounds
}
