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
problem = vt.Problem(pi_ref, rho, beta)  # π_ref, ρ, β: everything a fit needs besides the data
mle = vt.fit_mle(problem, data, pi_cal=pi_ref, bound=bound)
optimistic = vt.fit_vpo(problem, data, alpha=alpha, sign=+1, pi_cal=pi_ref, bound=bound)
pessimistic = vt.fit_vpo(problem, data, alpha=alpha, sign=-1, pi_cal=pi_ref, bound=bound)
for name, fit in [("MLE", mle), ("VPO s=+1", optimistic), ("VPO s=-1", pessimistic)]:
    subopt = vt.suboptimality(fit.policy, true_reward, pi_ref, rho, beta)
    print(f"{name:9s} reward {np.round(fit.reward[0], 2)}  J* = {fit.optimal_value:6.3f}  SubOpt = {subopt:.4f}")
print(f"the optimistic fit is certified global: gap {optimistic.gap:.1e} (theory §10)")

# %% [markdown]
# ## What each sign is for
# Look at the suboptimality of each estimate's policy: the optimistic one is usually the *worst*
# of the three. That is not a defect. Optimism is for **choosing what to sample next** — the online
# loop of theory §6 (Algorithm 1): the policy of the optimistic reward tries the responses the data
# cannot rule out, the next comparisons then correct the guess, and over many rounds that is how
# the learner finds out what it would otherwise never compare. Pessimism is for **reporting a
# policy** from data that will not grow (theory §7): nothing will correct an over-trusted response
# later, so it is discounted now. A deployed policy from fixed data should be pessimistic (or the
# plug-in); an optimistic estimate is a sampling rule. Whether optimism's exploration actually beats
# the plug-in's, and where, is measured by the `optimism-vs-greedy` figure.
#
# Optimism raises J* (it assumes the world is as good as the data allow), pessimism lowers
# it. As α grows the two move apart; at α = 0 both are the MLE.
#
# **What to look at:** the two curves leave the MLE's value in opposite directions, and the
# optimistic one stops rising once its reward reaches the class bound.

# %%
import matplotlib.pyplot as plt

alphas = np.geomspace(0.1, 100, 16)
up = [vt.fit_vpo(problem, data, alpha=a, sign=+1, pi_cal=pi_ref, bound=bound).optimal_value for a in alphas]
down = [vt.fit_vpo(problem, data, alpha=a, sign=-1, pi_cal=pi_ref, bound=bound).optimal_value for a in alphas]
fig, ax = plt.subplots(figsize=(5.5, 3.4))
ax.plot(alphas, up, "^-", color="C3", label="VPO s=+1 (optimistic)")
ax.plot(alphas, down, "v-", color="C0", label="VPO s=−1 (pessimistic)")
ax.axhline(mle.optimal_value, color="C2", ls="--", label="MLE (α = 0)")
ax.set(xscale="log", xlabel="α (sum form)", ylabel="J*(r̂)", title="The value the estimate promises")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# **Try:** set `bound = 1.0` above and run again — where does the optimistic curve flatten now,
# and why does the pessimistic one not care?
#
# ## The picture
# The `geometry` figure of the package draws the calibrated reward plane with the likelihood,
# the J* level lines, the confidence ellipse of the MLE and both VPO estimates.
#
# **What to look at:** the MLE sits at the likelihood's minimum; optimism moves up the J*
# levels (dashed), pessimism down them, both staying inside the class (black outline).

# %%
import tempfile
from pathlib import Path

from IPython.display import Image, display

from paper_repro.figures.geometry import compute, plot

record = compute(quick=True)
path = Path(tempfile.mkdtemp()) / "geometry.png"
plot(record, path)
display(Image(filename=str(path)))
print(record["summary"])
