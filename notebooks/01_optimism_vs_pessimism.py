# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Optimism vs pessimism on a 3-response bandit
#
# VPO fits a reward by maximum likelihood on Bradley–Terry comparisons and adds the reward's
# own optimal value J*(r), with a sign (theory §4):
#
#     r̂ = argmin_r  ℓ(r; D) − s·α·J*(r),   π̂ ∝ π_ref · exp(r̂/β)
#
# * s = +1 (**optimism**) prefers rewards under which a good policy would do *well*: it
#   explores responses the data cannot rule out.
# * s = −1 (**pessimism**) prefers rewards under which the best policy does *badly*: it
#   protects against responses the data over-trust.
#
# Everything below calls the package; nothing is re-derived here.

# %%
import numpy as np

import vpo_theory as vt

pi_ref = np.array([[0.5, 0.3, 0.2]])  # one context, three responses
rho = np.array([1.0])
true_reward = np.array([[0.0, 0.6, 1.0]])
beta = 0.5
data = vt.sample_preferences(np.random.default_rng(3), rho, np.full((1, 3), 1 / 3), true_reward, 30)
print("comparisons:", len(data), " counts n[y+, y-]:\n", vt.pair_counts(*data.astuple(), num_contexts=1, num_responses=3)[0])

# %% [markdown]
# ## The three estimates
# The class is bounded (|r| ≤ 3) and calibrated (E_{π_ref} r = 0): without a bound the
# optimistic objective is unbounded below (theory §4).

# %%
alpha, bound = np.sqrt(len(data)), 3.0
mle = vt.fit_mle(vt.Problem(pi_ref, rho, beta), data, pi_cal=pi_ref, bound=bound)
optimistic = vt.fit_vpo(vt.Problem(pi_ref, rho, beta), data, alpha=alpha, sign=+1, pi_cal=pi_ref, bound=bound)
pessimistic = vt.fit_vpo(vt.Problem(pi_ref, rho, beta), data, alpha=alpha, sign=-1, pi_cal=pi_ref, bound=bound)
for name, fit in [("MLE", mle), ("VPO s=+1", optimistic), ("VPO s=-1", pessimistic)]:
    subopt = vt.suboptimality(fit.policy, true_reward, pi_ref, rho, beta)
    print(f"{name:9s} reward {np.round(fit.reward[0], 2)}  J* = {fit.optimal_value:6.3f}  SubOpt = {subopt:.4f}")

# %% [markdown]
# Optimism raises J* (it assumes the world is as good as the data allow), pessimism lowers
# it. As α grows the two move further apart; at α = 0 both are the MLE.

# %%
for a in [0.0, 1.0, 3.0, 10.0, 30.0]:
    up = vt.fit_vpo(vt.Problem(pi_ref, rho, beta), data, alpha=a, sign=+1, pi_cal=pi_ref, bound=bound).optimal_value if a else mle.optimal_value
    down = vt.fit_vpo(vt.Problem(pi_ref, rho, beta), data, alpha=a, sign=-1, pi_cal=pi_ref, bound=bound).optimal_value if a else mle.optimal_value
    print(f"alpha = {a:5.1f}:  J*(optimistic) = {up:6.3f}   J*(pessimistic) = {down:6.3f}")

# %% [markdown]
# ## The picture
# The `geometry` figure of the package draws the calibrated reward plane with the likelihood,
# the J* level lines, the confidence ellipse of the MLE and both VPO estimates.

# %%
from pathlib import Path
import tempfile

from paper_repro.figures.geometry import compute, plot

record = compute(quick=True)
path = Path(tempfile.mkdtemp()) / "geometry.png"
plot(record, path)
print("figure written to", path, "| summary:", record["summary"])
