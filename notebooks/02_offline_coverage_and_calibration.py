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
# # Offline: coverage decides whether pessimism helps
#
# Offline data come from a behaviour policy μ. If μ rarely shows some response, the MLE
# knows little about it and may over-trust a few lucky wins. Pessimistic VPO (s = −1)
# pushes down the rewards that the calibration policy π_cal rarely weighs (theory §3, §7).
# Two instances differ in one thing: the rarely shown response is **bad** in one and the
# **best** in the other.

# %%
import numpy as np

import vpo_theory as vt

for name in ["offline-poor-coverage", "offline-rare-optimal"]:
    print(name, "—", vt.make_instance(name).description)


# %%
def mean_subopt(instance, algorithm, n, seeds=range(6), **options):
    return float(np.mean([vt.run_offline(instance, algorithm, n, s, **options).suboptimality for s in seeds]))


for name in ["offline-poor-coverage", "offline-rare-optimal"]:
    instance = vt.make_instance(name)
    print(f"\n{name}")
    for n in [100, 400, 1600]:
        row = {alg: mean_subopt(instance, alg, n) for alg in ["mle", "vpo", "lcb"]}
        print(f"  N = {n:5d}: " + "  ".join(f"{alg} {value:.4f}" for alg, value in row.items()))

# %% [markdown]
# Where the rare response is bad, pessimism wins; where it is the best, pessimism keeps the
# policy away from it and loses to the MLE. Neither is tuned.
#
# ## Calibration chooses *what* pessimism distrusts
# π_cal = behaviour (or `chosen`) distrusts what the data rarely show; π_cal = ref/uniform
# pulls towards π_ref instead.

# %%
for name in ["offline-poor-coverage", "offline-rare-optimal"]:
    instance = vt.make_instance(name)
    row = {cal: mean_subopt(instance, "vpo", 800, calibration=cal) for cal in ["behavior", "chosen", "ref", "uniform"]}
    print(f"{name:24s} " + "  ".join(f"{cal} {value:.4f}" for cal, value in row.items()))
