"""exploration: instances where exploration is the learner's own job  (theory §6).

`policy-policy` sampling — both responses drawn from π_t, so nobody explores for the learner — on
tabular-trap (the best response of each context has reference mass 0.02; β = 0.25, the instance's own)
and on tabular-small at β = 0.1 (peaked policies: a response π_t stops sampling is seldom compared
again). Greedy (the MLE plug-in) can only learn about the best response if its own policy samples it;
optimistic VPO raises the reward of what was never compared to the edge of the class, and tries it.

α_t = c·√t (the "sqrt" schedule, c the tuned scale): with it every learner is *anytime* — round t
does not depend on the horizon — so Regret(t) of one run at t = 25 … T is what independent runs at each
horizon would give (the same seed draws the same first t rounds). The growth is read from the
checked log–log fit over those horizons (a bend or a plateau is reported as such) and from the local
slope over the last doubling: ≈ 1 is linear regret, well below 1 is learning.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from vpo_theory import make_instance, run_online
from vpo_theory.online import OnlineOptions
from paper_repro.rates import check_power_law

from ..common import (finish_record, cache_dir, certificate_summary, finish_panels, mean_band, paired_difference,
                      pyplot)
from ..figure import Figure, register
from ..sweep import run_cells

SETTINGS = [("tabular-trap", 0.25), ("tabular-small", 0.1)]  # (instance, β)
ALGORITHMS = ["vpo", "greedy", "ucb"]


def _sizes(quick: bool) -> tuple[int, list[int]]:
    return (100, list(range(2))) if quick else (400, list(range(4)))


def _horizons(horizon: int) -> list[int]:
    """T, T/2, T/4, … down to ≥ 12: the checkpoints (at least 6 at full size)."""
    points = [horizon]
    while points[-1] // 2 >= 12:
        points.append(points[-1] // 2)
    return points[::-1]


def _cell(instance_name: str, beta: float, algorithm: str, horizon: int, seed: int) -> dict:
    instance = dataclasses.replace(make_instance(instance_name, 0), beta=beta)
    result = run_online(instance, algorithm, horizon, seed, scheme="policy-policy", alpha_schedule="sqrt")
    return {"regret": result.regret.tolist(), "certificate": result.certificate,
            "seconds_per_round": float(np.mean(result.round_seconds))}


def compute(quick: bool) -> dict:
    horizon, seeds = _sizes(quick)
    checkpoints = _horizons(horizon)
    cells = [(name, beta, alg, horizon, s) for name, beta in SETTINGS for alg in ALGORITHMS for s in seeds]
    outputs = run_cells(_cell, cells, desc="exploration", cache_dir=cache_dir("exploration"))
    curves = np.array([out["regret"] for out in outputs]).reshape(len(SETTINGS), len(ALGORITHMS), len(seeds), horizon)
    outputs = np.array(outputs, dtype=object).reshape(len(SETTINGS), len(ALGORITHMS), len(seeds))
    results = {}
    for i, (name, beta) in enumerate(SETTINGS):
        results[f"{name}, β={beta}"] = {}
        for j, alg in enumerate(ALGORITHMS):
            at = curves[i, j][:, [t - 1 for t in checkpoints]]  # (seeds, horizons)
            entry = {"regret": curves[i, j][:, ::max(1, horizon // 100)], "at_checkpoints": at}
            if alg == "vpo":
                entry["certificate"] = certificate_summary(list(outputs[i, j]))
            results[f"{name}, β={beta}"][alg] = entry
    record = {"config": {"quick": quick, "T": horizon, "seeds": seeds, "checkpoints": checkpoints,
                         "settings": SETTINGS, "algorithms": ALGORITHMS, "stride": max(1, horizon // 100),
                         "options": "run_online defaults but scheme policy-policy and α_t = c·√t (sqrt schedule)",
                         "alpha_scale": OnlineOptions().alpha_scale},
              "results": results}
    return finish_record(record, summarize)


def summarize(record: dict) -> dict:
    """Per β: Regret(T) per method with its checked growth over the horizons and the last doubling's slope, and
    VPO − each baseline paired over the seeds at T."""
    cfg, summary = record["config"], {}
    checkpoints = cfg["checkpoints"]
    for setting, per_alg in record["results"].items():
        parts = []
        for alg, entry in per_alg.items():
            at = np.asarray(entry["at_checkpoints"])
            growth = check_power_law(checkpoints, at, variable="t") if len(checkpoints) >= 6 else None
            last = np.log(at[:, -1].mean() / at[:, -2].mean()) / np.log(checkpoints[-1] / checkpoints[-2])
            text = f"{alg} {at[:, -1].mean():.1f} (last doubling slope {last:.2f}"
            text += f"; {growth})" if growth is not None else ")"
            if "certificate" in entry and entry["certificate"]:
                text += f" [certified {entry['certificate']['rounds_certified']}/{entry['certificate']['rounds']}]"
            parts.append(text)
        summary[setting] = f"Regret({cfg['T']}), policy-policy: " + "; ".join(parts)
        for other in per_alg:
            if other != "vpo":
                summary[f"{setting}: vpo − {other}, Regret({cfg['T']})"] = paired_difference(
                    np.asarray(per_alg["vpo"]["at_checkpoints"])[:, -1],
                    np.asarray(per_alg[other]["at_checkpoints"])[:, -1])["text"]
    return summary


def plot(record: dict, path: Path) -> None:
    plt = pyplot()
    cfg = record["config"]
    fig, axes = plt.subplots(1, len(record["results"]), figsize=(5 * len(record["results"]), 3.8))
    names = {"vpo": "VPO (s=+1, certified)", "greedy": "greedy (MLE)", "ucb": "UCB"}
    steps = np.arange(1, cfg["T"] + 1)[::cfg["stride"]]
    for ax, (setting, per_alg) in zip(np.atleast_1d(axes), record["results"].items()):
        for k, (alg, entry) in enumerate(per_alg.items()):
            mean_band(ax, steps, entry["regret"], f"C{k}", names[alg], nonnegative=True)
        ax.plot(steps, steps * 0.5, color="0.6", ls=":", lw=1, label="∝ t (linear)")
        ax.set_title(setting)
    finish_panels(fig, axes, path, xlabel="round t", ylabel="Regret(t) (mean, 95% bootstrap CI)",
                  title=f"Exploration left to the learner: policy-policy sampling ({len(cfg['seeds'])} seeds)")


register(Figure("exploration", "policy-policy sampling (tabular-trap; tabular-small at β = 0.1): does greedy's regret grow "
                "linearly?",
                compute, plot, summarize))
