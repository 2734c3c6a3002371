"""offline-suboptimality: SubOpt(π̂) vs N, log–log; pessimistic VPO vs MLE plug-in vs LCB  (theory §7, §8).

Settings: the linear instance under good and poor coverage, and the two tabular
poor-coverage instances (the rarely shown response is bad / is the best one). Fitted
exponents with bootstrap 95 % intervals over seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpo_theory import make_instance, run_offline
from paper_repro.rates import check_power_law

from ..common import finish_panels, mean_errorbar, paired_difference, pyplot, reference_slope
from ..figure import Figure, register
from ..sweep import run_cells

SETTINGS = [  # (label, instance, behaviour)
    ("linear-d8, good coverage", "linear-d8", "good"),
    ("linear-d8, poor coverage", "linear-d8", "poor"),
    ("tabular, rare response bad", "offline-poor-coverage", "poor"),
    ("tabular, rare response best", "offline-rare-optimal", "poor"),
]
ALGORITHMS = ["vpo", "mle", "lcb"]


def _cell(instance_name: str, behavior: str, algorithm: str, n: int, seed: int) -> float:
    instance = make_instance(instance_name, seed=0)
    return run_offline(instance, algorithm, n, seed, behavior=behavior).suboptimality


def compute(quick: bool) -> dict:
    sizes = [50, 100, 200, 400, 800] if quick else [50, 100, 200, 400, 800, 1600, 3200, 6400]
    seeds = list(range(5 if quick else 20))
    cells = [(inst, beh, alg, n, s) for _, inst, beh in SETTINGS for alg in ALGORITHMS for n in sizes for s in seeds]
    values = np.array(run_cells(_cell, cells, desc="offline-suboptimality"))
    values = values.reshape(len(SETTINGS), len(ALGORITHMS), len(sizes), len(seeds))
    results, summary = {}, {}
    for i, (label, inst, beh) in enumerate(SETTINGS):
        results[label] = {}
        for j, alg in enumerate(ALGORITHMS):
            per_seed = values[i, j].T  # (seeds, sizes)
            checked = check_power_law(sizes, per_seed)  # one exponent only where one power law fits
            fit = checked.overall
            results[label][alg] = {"suboptimality": per_seed, "slope": fit.slope, "slope_ci": [fit.low, fit.high],
                                   "shape": checked.shape, "breakpoint": checked.breakpoint,
                                   "local_slopes": list(checked.local_slopes), "checked": str(checked)}
        summary[label] = "; ".join(
            f"{alg}: {results[label][alg]['checked']}, SubOpt@N={sizes[-1]} "
            f"{results[label][alg]['suboptimality'][:, -1].mean():.4f}" for alg in ALGORITHMS)
        at_largest = {alg: results[label][alg]["suboptimality"][:, -1] for alg in ALGORITHMS}
        for other in ("mle", "lcb"):  # the comparisons the README states, seed by seed at the largest N
            summary[f"{label}: vpo − {other}, SubOpt@N={sizes[-1]}"] = paired_difference(
                at_largest["vpo"], at_largest[other])["text"]
    return {"config": {"quick": quick, "sizes": sizes, "seeds": seeds, "settings": SETTINGS, "algorithms": ALGORITHMS,
                       "options": "run_offline defaults: α = c·√N (c = OfflineOptions.alpha_scale, the tuning record's), π_cal = behaviour, the declared class (tabular B = 2, linear ‖θ‖ ≤ 4), "
                                  "LCB c_Γ = DEFAULT_C_GAMMA, λ = 1/N, δ = 0.05"},
            "results": results, "summary": summary}


def fit_str(entry: dict) -> str:
    return f"{entry['slope']:+.2f} [{entry['slope_ci'][0]:+.2f}, {entry['slope_ci'][1]:+.2f}]"


def plot(record: dict, path: Path) -> None:
    plt = pyplot()
    sizes = np.array(record["config"]["sizes"])
    settings = record["results"]
    fig, axes = plt.subplots(1, len(settings), figsize=(4.2 * len(settings), 3.8), sharey=False)
    colors = {"vpo": "C0", "mle": "C1", "lcb": "C2"}
    names = {"vpo": "VPO (s=−1)", "mle": "MLE plug-in", "lcb": "LCB"}
    for ax, (label, per_alg) in zip(np.atleast_1d(axes), settings.items()):
        for alg, entry in per_alg.items():
            rate = f"N^{entry['slope']:+.2f}" if entry.get("shape", "power law") == "power law" else \
                f"{entry['shape']} at N = {entry['breakpoint']:g}"
            mean_errorbar(ax, sizes, entry["suboptimality"], colors[alg], f"{names[alg]}: {rate}", nonnegative=True)
        start = float(np.mean(np.asarray(per_alg["mle"]["suboptimality"])[:, 0])) if "mle" in per_alg else None
        if start:  # the paper's rate, through the MLE's first point
            reference_slope(ax, sizes, start, -0.5, "∝ N^−1/2 (the theory's rate)")
        ax.set_title(label, fontsize=10)
    finish_panels(fig, axes, path, xlabel="N (comparisons)", ylabel="SubOpt(π̂)  (mean, 95% bootstrap CI)",
                  title=f"Offline: suboptimality vs N ({len(record['config']['seeds'])} seeds)")


register(Figure("offline-suboptimality",
                "SubOpt vs N (log–log): pessimistic VPO vs MLE plug-in vs LCB, good/poor coverage",
                compute, plot))
