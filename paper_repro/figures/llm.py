"""bridge and llm-offline: the LLM side, on the built-in enumerable task  (theory §5, §9).

bridge: a transformer with one-token responses, trained with ``vpo_loss`` (exact calibration
weights), reaches the exact tabular VPO policy of ``vpo_theory`` on the same data — TV over
training, several seeds; and the same through ``VPOTrainer`` (TRL's tokenization, collator and fused
head; π_cal = both responses of each pair), against the exact policy of that objective.
llm-offline: DPO, IPO and pessimistic VPO (π_cal = chosen, and cached reference samples) on
the same offline data: exact J(r⋆, π) and true reward E_π r⋆ against the training step.
llm-online: online DPO (α = 0) and optimistic VPO (s = +1, π_cal = π_ref) running Algorithm 1
with a trap reference: exact SubOpt(π_t) per iteration and regret.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..common import (MIN_SEEDS_FOR_INTERVAL, bootstrap_mean_interval, cache_dir, finish_record, mean_band, pyplot,
                      save_figure)
from ..figure import Figure, register
from ..sweep import run_cells


# --------------------------------------------------------------------------- bridge
def _bridge_cell(seed: int, steps: int) -> dict:
    from vpo_llm.bridge import BridgeConfig, run_bridge

    result = run_bridge(BridgeConfig(steps=steps, seed=seed, eval_every=max(1, steps // 50)))
    return {"steps": result["steps"], "tv": result["tv"]}


def compute_bridge(quick: bool) -> dict:
    steps = 150 if quick else 400
    seeds = list(range(2 if quick else 5))
    cells = run_cells(_bridge_cell, [(s, steps) for s in seeds], desc="bridge", cache_dir=cache_dir("bridge"))
    final = [c["tv"][-1] for c in cells]
    return {"config": {"quick": quick, "steps": steps, "seeds": seeds,
                       "setup": "4 prompts × 6 one-token responses, N = 200 pairs from π_ref (the initial model) as TRL "
                                "rows through VPOTrainer (LM head restricted to the responses, TRL's EOS dropped), "
                                "s = −1, a = 1/√N, π_cal = behavior (both responses), against the exact policy of that "
                                "objective (ρ = n_x/N); full batch, AdamW, cosine lr from 3e-2"},
            "results": {"steps": cells[0]["steps"], "tv": [c["tv"] for c in cells]},
            "summary": {"final TV to the exact tabular VPO policy": f"max over {len(seeds)} seeds {max(final):.2e} "
                                                                    f"(median {np.median(final):.2e}) after {steps} steps"}}


def plot_bridge(record: dict, path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    steps = np.asarray(record["results"]["steps"])
    for k, tv in enumerate(record["results"]["tv"]):
        ax.plot(steps, tv, color="C0", alpha=0.7, label="VPOTrainer, π_cal = behavior (seeds)" if k == 0 else None)
    ax.set(yscale="log", xlabel="training step", ylabel="max_x TV(π_model, π_VPO exact)",
           title="bandit-to-LLM bridge: transformer → exact tabular VPO")
    ax.legend()
    save_figure(fig, path)


def _run_methods(cell, methods, seeds: list[int], size: int, name: str, keys):
    """One cell per (method, seed), run (cached, resumable) → (the cells' outputs, method-major, and
    {method: {key: [one list per seed]}})."""
    cells = [(method, seed, size) for method in methods for seed in seeds]
    out = run_cells(cell, cells, desc=name, cache_dir=cache_dir(name))
    per_method = {method: {key: [run[key] for run in out[i * len(seeds):(i + 1) * len(seeds)]] for key in keys}
                  for i, method in enumerate(methods)}
    return out, per_method


# --------------------------------------------------------------------------- llm-offline
METHODS = {  # label → (loss, π_cal)
    "DPO": ("dpo", "chosen"),
    "IPO": ("ipo", "chosen"),
    "VPO s=−1, π_cal=chosen": ("vpo", "chosen"),
    "VPO s=−1, π_cal=ref samples": ("vpo", "reference"),
}


def _offline_cell(method: str, seed: int, steps: int) -> dict:
    from vpo_llm.configs import OfflineConfig
    from vpo_llm.runs import train_offline
    from vpo_llm.term import VPOTerm

    loss, calibration = METHODS[method]
    config = OfflineConfig(seed=seed, steps=steps, eval_every=max(1, steps // 20), reference_pretrain_steps=50,
                           loss=loss, term=VPOTerm(calibration=calibration), progress=False)
    history = train_offline(config)["history"]
    return {key: [row[key] for row in history] for key in ("step", "value", "true_reward", "kl", "suboptimality")}


def compute_offline(quick: bool) -> dict:
    steps, seeds = (100, [0, 1]) if quick else (300, list(range(5)))
    out, results = _run_methods(_offline_cell, METHODS, seeds, steps, "llm-offline",
                                ("value", "true_reward", "kl", "suboptimality"))
    summary = {}
    for i, method in enumerate(METHODS):
        results[method]["step"] = out[i * len(seeds)]["step"]
        value = np.asarray(results[method]["value"])
        summary[method] = (f"J(r*, π): start {value[:, 0].mean():.3f}, best {value.mean(0).max():.3f}, "
                           f"end {value[:, -1].mean():.3f}; KL at end {np.mean([r[-1] for r in results[method]['kl']]):.2f}")
    return {"config": {"quick": quick, "steps": steps, "seeds": seeds, "methods": METHODS,
                       "setup": "task 4 prompts × 16 two-token responses; π_ref = tiny Llama pretrained 50 steps towards "
                                "a skewed target; N = 256 pairs from π_ref; β = 0.5; α = √N; AdamW lr 3e-3, batch 32; "
                                "run through VPOTrainer (TRL), π_cal 'ref samples' = one π_ref sample per pair"},
            "results": results, "summary": summary}


def plot_offline(record: dict, path: Path) -> None:
    _two_panels(record, path, lambda entry, key: np.asarray(entry["step"]), "training step",
                [("value", "J(r*, π) = E r* − β KL (exact)", "KL-regularized value"),
                 ("true_reward", "E_π r* (exact)", "true reward")], "Offline LLM training on the enumerable task")


def _two_panels(record: dict, path: Path, x_of, xlabel: str, panels, title: str, *, nonnegative: bool = False) -> None:
    """Each method's seed mean and 95 % interval of two metrics side by side; ``panels``: (key, ylabel, title) twice;
    ``nonnegative``: the metrics cannot be negative (bootstrap percentile intervals)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for k, (method, entry) in enumerate(record["results"].items()):
        for ax, (key, _, _) in zip(axes, panels):
            mean_band(ax, x_of(entry, key), entry[key], f"C{k}", method, nonnegative=nonnegative)
    for ax, (_, ylabel, panel_title) in zip(axes, panels):
        ax.set(xlabel=xlabel, ylabel=ylabel, title=panel_title)
    axes[0].legend(fontsize=7)
    seeds = len(record["config"]["seeds"])
    spread = "mean and 95% interval" if seeds >= MIN_SEEDS_FOR_INTERVAL else "mean; thin lines: each seed"
    fig.suptitle(f"{title} ({seeds} seeds, {spread})")
    save_figure(fig, path)


# --------------------------------------------------------------------------- llm-online
ONLINE_METHODS = {  # label → (loss, c in α = c·√N)
    "online DPO (α = 0)": ("dpo", 0.1),
    "VPO s=+1, α = 0.1·√N": ("vpo", 0.1),
    "VPO s=+1, α = 1·√N": ("vpo", 1.0),
}
ONLINE_SETUP = {"reference_target": "trap", "scheme": "policy-ref", "prompts_per_iteration": 16,
                "steps_per_iteration": 10, "learning_rate": 1e-3}


def _online_cell(method: str, seed: int, iterations: int) -> dict:
    """One run through OnlineVPOTrainer, and the theory module's learner on the identical instance (the task's
    ``bandit_instance`` with the trained π_ref) under the same scheme and batches: greedy for online DPO, VPO with
    the same c for VPO (theory §6, §9)."""
    from vpo_llm.configs import OnlineConfig
    from vpo_llm.runs import train_online
    from vpo_llm.task_trainers import task_setup
    from vpo_llm.term import VPOTerm
    from vpo_theory import run_online

    loss, scale = ONLINE_METHODS[method]
    config = OnlineConfig(seed=seed, iterations=iterations, loss=loss, progress=False, **ONLINE_SETUP,
                          term=VPOTerm(sign=1, alpha_scale=scale, calibration="reference"))
    result = train_online(config)
    history = result["history"]
    task, _, _, _, pi_ref = task_setup(config, target=config.reference_target)
    batch = config.prompts_per_iteration
    theory = run_online(task.bandit_instance(pi_ref), "greedy" if loss == "dpo" else "vpo", iterations * batch, seed,
                        update_every=batch, scheme=config.scheme, alpha_scale=scale, step_seconds=None)
    return {"suboptimality": [r["suboptimality"] for r in history] + [result["final"]["suboptimality"]],
            "kl": [r["kl"] for r in history] + [result["final"]["kl"]], "regret": result["regret"],
            "theory_regret": (theory.regret[batch - 1::batch] / batch).tolist(),  # per iteration, as the LLM's
            "round_seconds": [r["collect_seconds"] + r["fit_seconds"] for r in history]}


def compute_online(quick: bool) -> dict:
    iterations, seeds = (6, [0]) if quick else (50, list(range(5)))
    _, results = _run_methods(_online_cell, ONLINE_METHODS, seeds, iterations, "llm-online",
                              ("suboptimality", "kl", "regret", "theory_regret", "round_seconds"))
    config = {"iterations": iterations, "seeds": seeds, "methods": ONLINE_METHODS,
              "setup": ONLINE_SETUP | {
                  "task": "4 prompts × 16 two-token responses, β = 0.5; π_ref = tiny Llama pretrained 50 "
                          "steps towards ∝ exp(−2 r*/sd) (little mass on the best responses); Bradley–Terry "
                          "labels from r*; π_cal = π_ref (16 cached samples per prompt, 1 per pair); run "
                          "through OnlineVPOTrainer (TRL)",
                  "theory": "vpo_theory.run_online on task.bandit_instance(π_ref): greedy (for online DPO) "
                            "or VPO with the same c, policy-ref, refit every 16 pairs; its regret is read "
                            "per iteration (Σ over the batch's rounds / 16)"}}
    return finish_record(summarize_online, quick=quick, config=config, tuned=False, results=results)


def summarize_online(record: dict) -> dict:
    """Per method: the LLM's exact regret and the theory module's on the same instance (seed means, 95 % bootstrap),
    SubOpt after training, and the seconds a round takes early and late (the reference work does not grow)."""
    iterations, summary = record["config"]["iterations"], {}
    for method, entry in record["results"].items():
        regret = np.asarray(entry["regret"])[:, -1]
        theory = np.asarray(entry["theory_regret"])[:, -1]
        final = np.asarray(entry["suboptimality"])[:, -1]
        seconds = np.asarray(entry["round_seconds"])  # (seeds, rounds)
        early, late = seconds[:, 1:4].mean(), seconds[:, -3:].mean()
        summary[method] = ("LLM regret over {} rounds {:.2f} [{:.2f}, {:.2f}]; theory module on the same instance "
                           "{:.2f} [{:.2f}, {:.2f}]; SubOpt after training {:.3f} [{:.3f}, {:.3f}] (95% bootstrap over "
                           "seeds); seconds a round: {:.2f} (rounds 2–4) → {:.2f} (last 3)").format(
            iterations, *bootstrap_mean_interval(regret), *bootstrap_mean_interval(theory),
            *bootstrap_mean_interval(final), early, late)
    return summary


def plot_online(record: dict, path: Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8), layout="constrained")
    for k, (method, entry) in enumerate(record["results"].items()):
        rounds = np.arange(1, len(entry["regret"][0]) + 1)
        mean_band(axes[0], np.arange(1, len(entry["suboptimality"][0]) + 1), entry["suboptimality"], f"C{k}", method,
                  nonnegative=True)
        mean_band(axes[1], rounds, entry["regret"], f"C{k}", f"{method} (LLM)", nonnegative=True)
        axes[1].plot(rounds, np.mean(entry["theory_regret"], axis=0), color=f"C{k}", ls="--", lw=1,
                     label="theory module, same instance")
        mean_band(axes[2], rounds, entry["round_seconds"], f"C{k}", method, nonnegative=True)
    axes[0].set(xlabel="round t", ylabel="SubOpt(π_t) (exact)", title="suboptimality of the collecting policy")
    axes[1].set(xlabel="round t", ylabel="Σ SubOpt(π_s), s ≤ t", title="regret: LLM (solid) and theory (dashed)")
    axes[2].set(xlabel="round t", ylabel="seconds", title="time a round (collect + fit), buffer growing")
    for ax in axes:
        ax.legend(fontsize=6)
    fig.suptitle(f"Online LLM training on the enumerable task ({len(record['config']['seeds'])} seeds, mean and 95% "
                 f"interval)")
    save_figure(fig, path)


register(
    Figure("bridge", "a transformer trained with vpo_loss reaches the exact tabular VPO policy (TV over training)",
           compute_bridge, plot_bridge),
    Figure("llm-offline", "DPO, IPO, pessimistic VPO (chosen / ref samples): exact J(r*, π) and true reward vs step",
           compute_offline, plot_offline),
    Figure("llm-online", "online DPO and optimistic VPO through OnlineVPOTrainer on the built-in task: exact SubOpt "
           "and regret per round beside the theory module's on the same instance, and the time a round takes",
           compute_online, plot_online, summarize_online),
)
