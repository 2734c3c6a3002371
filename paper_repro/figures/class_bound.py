"""class-bound: how the results move with the reward class's size B relative to the truth's  (theory §4).

The learners are given B = k × size(r⋆) for k ∈ {1, 2, 4}, size(r⋆) = ‖θ⋆‖ (linear) or the largest range of r⋆
(tabular) — an oracle quantity, used here on purpose to measure the sensitivity; every other figure gives the
learners the instance's declared class (k = 2 for linear-d8, B = 2 for the tabular instances, k ≈ 1.0–1.4).
Offline: SubOpt at N = 1600 of pessimistic VPO, the MLE plug-in and LCB on the offline settings. Online:
Regret(T) of optimistic VPO, greedy and UCB on linear-d8. 4 instances of each family × the data seeds; each value is a
family mean with its hierarchical interval. A measurement of sensitivity: no claim of the claims file rests on it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..cells import family_instance, instance_seeds, offline_cell, run_learner
from ..common import certificate_summary, finish_record, panels, save_figure
from ..figure import Figure, register
from ..stats import family_interval
from ..grid import run_grid

SCALES = [1.0, 2.0, 4.0]  # B / size(r*)
OFFLINE_SETTINGS = [("linear-d8, poor coverage", "linear-d8", "poor"),
                    ("tabular, rare response bad", "offline-poor-coverage", "poor"),
                    ("tabular, rare response best", "offline-rare-optimal", "poor")]
OFFLINE_ALGORITHMS = ["vpo", "mle", "lcb"]
ONLINE_INSTANCE = "linear-d8"
ONLINE_ALGORITHMS = ["vpo", "greedy", "ucb"]


def _sizes(quick: bool) -> dict:
    if quick:
        return {"N": 400, "instances": instance_seeds(True), "seeds": list(range(3)), "T": 60,
                "online_seeds": list(range(1))}
    return {"N": 1600, "instances": instance_seeds(False, full=4), "seeds": list(range(10)), "T": 300,
            "online_seeds": list(range(4))}


def _offline_cell(instance: str, instance_seed: int, behavior: str, algorithm: str, scale: float, n: int,
                  seed: int) -> dict:
    problem = family_instance(instance, instance_seed)
    return offline_cell(instance, instance_seed, behavior, algorithm, n, seed,
                        options={"bound": scale * problem.reward_bound})


def _online_cell(algorithm: str, instance_seed: int, scale: float, horizon: int, seed: int) -> dict:
    problem = family_instance(ONLINE_INSTANCE, instance_seed)
    return run_learner(problem, algorithm, horizon, seed, [horizon], options={"bound": scale * problem.reward_bound})


def compute(quick: bool) -> dict:
    size = _sizes(quick)
    instances = size["instances"]
    offline = {}
    for label, instance, behavior in OFFLINE_SETTINGS:
        grid = run_grid("class-bound", _offline_cell, {"algorithm": OFFLINE_ALGORITHMS, "scale": SCALES,
                                                       "instance_seed": instances, "seed": size["seeds"]},
                        fixed={"instance": instance, "behavior": behavior, "n": size["N"]})
        offline[label] = {alg: grid.where(algorithm=alg).take("subopt") for alg in OFFLINE_ALGORITHMS}  # (B, I, S)
    online = run_grid("class-bound", _online_cell, {"algorithm": ONLINE_ALGORITHMS, "scale": SCALES,
                                                    "instance_seed": instances, "seed": size["online_seeds"]},
                      fixed={"horizon": size["T"]})
    certificates = [certificate_summary(list(online.where(algorithm="vpo", scale=k).outputs.ravel())) for k in SCALES]
    results = {"offline": offline,
               "online": {alg: online.where(algorithm=alg).take("regret_T") for alg in ONLINE_ALGORITHMS},
               "online_certificates": certificates}
    config = {"scales": SCALES, "N": size["N"], "instance_seeds": instances,
              "seeds": size["seeds"], "T": size["T"], "online_seeds": size["online_seeds"],
              "online_instance": ONLINE_INSTANCE, "settings": OFFLINE_SETTINGS,
              "options": "the tuned hyperparameters; bound = scale × the truth's own size"}
    return finish_record(summarize, quick=quick, config=config, results=results)


def summarize(record: dict) -> dict:
    """Per setting and scale: each method's family mean with its hierarchical 95 % interval."""
    cfg, summary = record["config"], {}
    scales = cfg["scales"]
    blocks = [(label, f"SubOpt at N = {cfg['N']}", entry) for label, entry in record["results"]["offline"].items()]
    blocks.append((f"online {cfg['online_instance']}", f"Regret({cfg['T']})", record["results"]["online"]))
    for label, what, entry in blocks:
        for k, scale in enumerate(scales):
            values = {alg: np.asarray(v)[k] for alg, v in entry.items()}  # (instances, seeds)
            line = f"B = {scale:g} × size(r*): {what} " + ", ".join(
                "{} {:.4g} [{:.4g}, {:.4g}]".format(alg, *family_interval(v)) for alg, v in values.items())
            if label.startswith("online"):
                certificate = record["results"]["online_certificates"][k]
                line += f" — VPO rounds certified {certificate['rounds_certified']}/{certificate['rounds']}"
            summary[f"{label}, B = {scale:g}×"] = line
    return summary


def plot(record: dict, path: Path) -> None:
    cfg = record["config"]
    scales = np.asarray(cfg["scales"])
    blocks = list(record["results"]["offline"].items()) + [(f"online: {cfg['online_instance']}",
                                                            record["results"]["online"])]
    fig, axes = panels(len(blocks), width=4.2, height=3.6)
    for ax, (label, entry) in zip(axes[0], blocks):
        for k, (alg, values) in enumerate(entry.items()):
            intervals = np.array([family_interval(per_scale) for per_scale in np.asarray(values, dtype=float)])
            ax.errorbar(scales, intervals[:, 0], yerr=[intervals[:, 0] - intervals[:, 1], intervals[:, 2] -
                                                        intervals[:, 0]], marker="o", ms=3, capsize=2, color=f"C{k}",
                        label=alg)
        ax.set(xscale="log", xlabel="B / size(r⋆)", title=label, xticks=scales, xticklabels=[f"{k:g}" for k in scales],
               ylabel=f"Regret(T = {cfg['T']})" if label.startswith("online") else f"SubOpt at N = {cfg['N']}")
        ax.legend(fontsize=7)
    save_figure(fig, path)


register(Figure("class-bound", "sensitivity to the class bound B / size(r*) ∈ {1, 2, 4}, offline and online",
                compute, plot, summarize))
