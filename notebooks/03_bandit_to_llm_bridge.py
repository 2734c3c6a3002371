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
# # From the bandit to the LLM: the same objective
#
# Every full-support policy π defines one calibrated reward r_π = β[log π/π_ref − E_{π_cal}(·)],
# and the VPO objective in reward space equals the policy-space loss (theory §5, I6):
#
#     ℓ(r_π; D) − s·α·J*(r_π) = ℓ_DPO(π; D) + s·α·β·E_{ρ, π_cal}[log π − log π_ref]
#
# So a transformer trained with `vpo_loss` must reach the exact tabular VPO policy.
#
# **What to look at:** the two printed numbers agree to rounding (I6), and the total variation
# distance to the exact policy falls by orders of magnitude during training.
#
# **Try:** `BridgeConfig(term=VPOTerm(alpha_scale=3.0, calibration="behavior"))` — a stronger pull; does training
# reach the new exact policy as fast? (The bridge runs with s = −1: the unbounded tabular class has a unique
# minimizer only then; for s = +1 the class must be bounded, theory §4.)

# %%
import numpy as np

import vpo_theory as vt
from vpo_llm import BridgeConfig, VPOTerm, run_bridge  # noqa: F401  (VPOTerm: for the "Try" above)

# (I6) on a tabular "model": the policy-space value at a random π equals the reward-space one
rng = np.random.default_rng(0)
pi, pi_ref, pi_cal = (rng.dirichlet(np.ones(4), size=2) for _ in range(3))
rho, x, w, l = np.array([0.5, 0.5]), np.array([0, 1, 1]), np.array([0, 2, 3]), np.array([1, 0, 0])
policy_side = vt.vpo_policy_objective(pi, x, w, l, pi_ref, pi_cal, rho, 0.5, 2.0, -1)
reward_side = vt.vpo_objective(vt.implicit_reward(pi, pi_ref, pi_cal, 0.5), x, w, l, pi_ref, rho, 0.5, 2.0, -1)
print(f"policy space {policy_side:.12f}   reward space {reward_side:.12f}")

# %% [markdown]
# ## A transformer reaches the theory module's answer
# One-token responses, 4 prompts × 6 responses, 200 comparisons from π_ref (the initial model), trained through
# `VPOTrainer` — TRL's tokenization, collator and fused LM head — with π_cal = both responses of each pair. By (I6)
# its loss is the reward-space objective with ρ(x) and π_cal(y|x) the data's own shares, whose exact minimizer
# `fit_vpo` computes.

# %%
import matplotlib.pyplot as plt

result = run_bridge(BridgeConfig(steps=150, eval_every=15))
fig, ax = plt.subplots(figsize=(5.5, 3.4))
ax.semilogy(result["steps"], result["tv"], "o-")
ax.set(xlabel="training step", ylabel="TV(π_model, exact VPO policy)",
       title="A transformer trained through VPOTrainer reaches the theory's answer")
plt.show()
print(f"TV at the start {result['tv'][0]:.3f}, after {result['steps'][-1]} steps {result['tv'][-1]:.1e}")
