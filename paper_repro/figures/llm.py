"""bridge and llm-offline: the LLM side, on the built-in enumerable task  (MATH §5, §9).

bridge: a transformer with one-token responses, trained with ``vpo_loss`` (exact calibration
weights), reaches the exact tabular VPO policy of ``vpo_theory`` on the same data — TV over
training, several seeds.
llm-offline: DPO, IPO and pessimistic VPO (π_cal = chosen, and cached reference samples) on
the same offline data: exact J(r*, π) and true reward E_π r* against the training step.
llm-online: online DPO (α = 0) and optimistic VPO (s = +1, π_cal = π_ref) running Algorithm 1
with a trap reference: exact SubOpt(π_t) per iteration and regret.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..common import cache_dir, mean_and_ci, pyplot, save_figure
from ..registry import Figure, register
from ..sweep import run_cells


# --------------------------------------------------------------------------- bridge
def _bridge_cell(seed: int, steps: int) -> dict:
    from vpo_llm.bridge import BridgeConfig, run_bridge

    result = run_bridge(BridgeConfig(steps=steps, seed=seed, eval_every=max(1, steps // 50)))
    return {"steps": result["steps"], "tv": result["tv"], "objective_gap": result["objective"][-1] - result["exact_objective"]}


def compute_bridge(quick: bool) -> dict:
    steps = 150 if quick else 400
    seeds = list(range(2 if quick else 5))
    cells = run_cells(_bridge_cell, [(s, steps) for s in seeds], desc="bridge", cache_dir=cache_dir("bridge"))
    final = [c["tv"][-1] for c in cells]
    return {"config": {"quick": quick, "steps": steps, "seeds": seeds,
                       "setup": "4 prompts × 6 one-token responses, N = 200 pairs from π_ref (the initial model), "
                                "α = √N, s = −1, π_cal = π_ref (exact weights), full-batch Adam, cosine lr from 1e-2"},
            "results": {"steps": cells[0]["steps"], "tv": [c["tv"] for c in cells],
                        "objective_gap": [c["objective_gap"] for c in cells]},
            "summary": {"final TV to the exact tabular VPO policy": f"max over {len(seeds)} seeds {max(final):.2e} "
                                                                    f"(median {np.median(final):.2e}) after {steps} steps"}}


def plot_bridge(record: dict, path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    steps = np.asarray(record["results"]["steps"])
    for k, tv in enumerate(record["results"]["tv"]):
        ax.plot(steps, tv, color="C0", alpha=0.7, label="seeds" if k == 0 else None)
    ax.set(yscale="log", xlabel="training step", ylabel="max_x TV(π_model, π_VPO exact)",
           title="bandit-to-LLM bridge: transformer → exact tabular VPO")
    ax.legend()
    save_figure(fig, path)


def _per_method(out: list, methods, num_seeds: int, keys) -> dict:
    """Cells laid out method-major (method × seed) → {method: {key: [one list per seed]}}."""
    return {method: {key: [run[key] for run in out[i * num_seeds:(i + 1) * num_seeds]] for key in keys}
            for i, method in enumerate(methods)}


def _band(ax, x, values, k: int, label: str) -> None:
    """Seed mean with its 95 % CI band, colour C{k}."""
    mean, ci = mean_and_ci(np.asarray(values))
    ax.plot(x, mean, color=f"C{k}", label=label)
    ax.fill_between(x, mean - ci, mean + ci, color=f"C{k}", alpha=0.2)


# --------------------------------------------------------------------------- llm-offline
METHODS = {  # label → OfflineConfig overrides
    "DPO": {"loss": "dpo"},
    "IPO": {"loss": "ipo"},
    "VPO s=−1, π_cal=chosen": {"loss": "vpo", "calibration": "chosen"},
    "VPO s=−1, π_cal=ref samples": {"loss": "vpo", "calibration": "ref"},
}


def _offline_cell(method: str, seed: int, steps: int) -> dict:
    from vpo_llm.training import OfflineConfig, train_offline

    config = dataclasses.replace(OfflineConfig(seed=seed, steps=steps, eval_every=max(1, steps // 20),
                                               reference_pretrain_steps=50), **METHODS[method])
    history = train_offline(config, progress=False)["history"]
    return {key: [row[key] for row in history] for key in ("step", "value", "true_reward", "kl", "suboptimality")}


def compute_offline(quick: bool) -> dict:
    steps = 100 if quick else 300
    seeds = list(range(2 if quick else 5))
    cells = [(m, s, steps) for m in METHODS for s in seeds]
    out = run_cells(_offline_cell, cells, desc="llm-offline", cache_dir=cache_dir("llm-offline"))
    results = _per_method(out, METHODS, len(seeds), ("value", "true_reward", "kl", "suboptimality"))
    summary = {}
    for i, method in enumerate(METHODS):
        results[method]["step"] = out[i * len(seeds)]["step"]
        value = np.asarray(results[method]["value"])
        summary[method] = (f"J(r*, π): start {value[:, 0].mean():.3f}, best {value.mean(0).max():.3f}, "
                           f"end {value[:, -1].mean():.3f}; KL at end {np.mean([r[-1] for r in results[method]['kl']]):.2f}")
    return {"config": {"quick": quick, "steps": steps, "seeds": seeds, "methods": METHODS,
                       "setup": "task 4 prompts × 16 two-token responses; π_ref = tiny Llama pretrained 50 steps towards "
                                "a skewed target; N = 256 pairs from π_ref; β = 0.5; α = √N; AdamW lr 3e-3, batch 32"},
            "results": results, "summary": summary}


def plot_offline(record: dict, path: Path) -> None:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for k, (method, entry) in enumerate(record["results"].items()):
        steps = np.asarray(entry["step"])
        for ax, key in ((left, "value"), (right, "true_reward")):
            _band(ax, steps, entry[key], k, method)
    left.set(xlabel="training step", ylabel="J(r*, π) = E r* − β KL (exact)", title="KL-regularized value")
    right.set(xlabel="training step", ylabel="E_π r* (exact)", title="true reward")
    left.legend(fontsize=7)
    fig.suptitle(f"Offline LLM training on the enumerable task ({len(record['config']['seeds'])} seeds)")
    save_figure(fig, path)


# --------------------------------------------------------------------------- llm-online
ONLINE_METHODS = {  # label → OnlineConfig overrides
    "online DPO (α = 0)": {"loss": "dpo"},
    "VPO s=+1, α = 0.1·√N": {"loss": "vpo", "alpha_scale": 0.1},
    "VPO s=+1, α = 1·√N": {"loss": "vpo", "alpha_scale": 1.0},
}
ONLINE_SETUP = {"reference_target": "trap", "scheme": "policy-ref", "prompts_per_iteration": 16,
                "steps_per_iteration": 10, "learning_rate": 1e-3}


def _online_cell(method: str, seed: int, iterations: int) -> dict:
    from vpo_llm.online import OnlineConfig, train_online

    config = OnlineConfig(seed=seed, iterations=iterations, **ONLINE_SETUP, **ONLINE_METHODS[method])
    result = train_online(config, progress=False)
    history = result["history"]
    return {"suboptimality": [r["suboptimality"] for r in history] + [result["final"]["suboptimality"]],
            "kl": [r["kl"] for r in history] + [result["final"]["kl"]], "regret": result["regret"]}


def compute_online(quick: bool) -> dict:
    iterations = 15 if quick else 30
    seeds = list(range(2 if quick else 5))
    cells = [(m, s, iterations) for m in ONLINE_METHODS for s in seeds]
    out = run_cells(_online_cell, cells, desc="llm-online", cache_dir=cache_dir("llm-online"))
    results = _per_method(out, ONLINE_METHODS, len(seeds), ("suboptimality", "kl", "regret"))
    summary = {}
    for method in ONLINE_METHODS:
        regret = np.asarray(results[method]["regret"])[:, -1]
        final = np.asarray(results[method]["suboptimality"])[:, -1]
        regret_mean, regret_ci = mean_and_ci(regret[:, None])
        final_mean, final_ci = mean_and_ci(final[:, None])
        summary[method] = (f"regret over {iterations} iterations {regret_mean[0]:.2f} ± {regret_ci[0]:.2f}; "
                           f"SubOpt after training {final_mean[0]:.3f} ± {final_ci[0]:.3f}; "
                           f"KL at end {np.mean(np.asarray(results[method]['kl'])[:, -1]):.2f}")
    return {"config": {"quick": quick, "iterations": iterations, "seeds": seeds, "methods": ONLINE_METHODS,
                       "setup": ONLINE_SETUP | {"task": "4 prompts × 16 two-token responses, β = 0.5; π_ref = tiny "
                                                        "Llama pretrained 50 steps towards ∝ exp(−2 r*/sd) (little "
                                                        "mass on the best responses); Bradley–Terry labels from r*; "
                                                        "π_cal = π_ref (16 cached samples per prompt, 2 per pair)"}},
            "results": results, "summary": summary}


def plot_online(record: dict, path: Path) -> None:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for k, (method, entry) in enumerate(record["results"].items()):
        for ax, key in ((left, "suboptimality"), (right, "regret")):
            _band(ax, np.arange(1, len(entry[key][0]) + 1), entry[key], k, method)
    left.set(xlabel="iteration t", ylabel="SubOpt(π_t) (exact)", title="suboptimality of the collecting policy")
    right.set(xlabel="iteration t", ylabel="Σ SubOpt(π_s), s ≤ t", title="regret")
    left.legend(fontsize=7)
    fig.suptitle(f"Online LLM training on the enumerable task ({len(record['config']['seeds'])} seeds, mean ± 95% CI)")
    save_figure(fig, path)


register(Figure("bridge", "a transformer trained with vpo_loss reaches the exact tabular VPO policy (TV over training)",
                compute_bridge, plot_bridge))
register(Figure("llm-offline", "DPO, IPO, pessimistic VPO (chosen / ref samples): exact J(r*, π) and true reward vs step",
                compute_offline, plot_offline))
register(Figure("llm-online", "online DPO vs optimistic VPO on the built-in task: exact SubOpt per iteration and regret",
                compute_online, plot_online))
