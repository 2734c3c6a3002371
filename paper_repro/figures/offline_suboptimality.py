"""offline-suboptimality: SubOpt(π̂) against N, pessimistic VPO vs the MLE plug-in vs LCB  (theory §7, §8).

Hypothesis (the paper's, offline): pessimistic VPO's suboptimality is lower than the plug-in's where the behaviour
covers the optimal policy poorly, and decays like N^−1/2 — so SubOpt·√N levels off, at a multiple of the coverage
coefficient C (``vpo_theory.coverage``; theory §7), which is computed for each setting and shown beside it.

Four settings: linear-d8 under good and poor coverage, and the two tabular poor-coverage families (the rarely shown
response is bad / is the best one). Each: 8 instances × 20 data seeds; intervals resample instances, then seeds;
exponents are fitted to the instances' mean curves (the interval resamples instances). The claims
(paper_repro/claims.toml) compare SubOpt at the largest N, paired, Holm-adjusted within the figure.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpo_theory.coverage import coverage_coefficient
from paper_repro.rates import check_power_law

from ..cells import data_seeds, family_instance, instance_seeds, offline_cell
from ..common import finish_record, pyplot, readable_log_axes, reference_slope, save_figure
from ..figure import Figure, register
from ..grid import run_grid
from ..stats import family_interval

SETTINGS = [  # (label, family, behaviour)
    ("linear-d8, good coverage", "linear-d8", "good"),
    ("linear-d8, poor coverage", "linear-d8", "poor"),
    ("tabular, rare response bad", "offline-poor-coverage", "poor"),
    ("tabular, rare response best", "offline-rare-optimal", "poor"),
]
ALGORITHMS = ["vpo", "mle", "lcb"]
NAMES = {"vpo": "VPO (s=−1)", "mle": "MLE plug-in", "lcb": "LCB"}


def _cell(setting: str, algorithm: str, n: int, instance_seed: int, seed: int) -> dict:
    family, behavior = setting.split("|")
    return offline_cell(family, instance_seed, behavior, algorithm, n, seed)


def compute(quick: bool) -> dict:
    sizes = [50, 100, 200, 400, 800] if quick else [50, 100, 200, 400, 800, 1600, 3200, 6400]
    instances, seeds = instance_seeds(quick), data_seeds(quick, full=20, small=3)
    keys = [f"{family}|{behavior}" for _, family, behavior in SETTINGS]
    grid = run_grid("offline-suboptimality", _cell, {"setting": keys, "algorithm": ALGORITHMS, "n": sizes,
                                                     "instance_seed": instances, "seed": seeds})
    results, samples = {}, {}
    for (label, family, behavior), key in zip(SETTINGS, keys):
        coverage = [coverage_coefficient(family_instance(family, i), family_instance(family, i).behavior(behavior))
                    for i in instances]
        results[label], samples[label] = {"coverage": coverage}, {}
        for algorithm in ALGORITHMS:
            values = grid.where(setting=key, algorithm=algorithm).take("subopt")  # (N, I, S)
            checked = check_power_law(sizes, values.mean(axis=2).T)  # instance means (I, N)
            plain = np.array([family_interval(values[j]) for j in range(len(sizes))])  # (N, 3) mean, low, high
            scaled = plain * np.sqrt(np.asarray(sizes, dtype=float))[:, None]  # SubOpt·√N: the same interval, scaled
            results[label][algorithm] = {
                "mean": plain[:, 0], "low": plain[:, 1], "high": plain[:, 2],
                "scaled_mean": scaled[:, 0], "scaled_low": scaled[:, 1], "scaled_high": scaled[:, 2],
                "slope": checked.overall.slope, "slope_ci": [checked.overall.low, checked.overall.high],
                "shape": checked.shape, "breakpoint": checked.breakpoint,
                "local_slopes": list(checked.local_slopes), "checked": str(checked)}
            samples[label][algorithm] = {f"subopt_N{n}": values[j] for j, n in enumerate(sizes)}
    config = {"sizes": sizes, "instance_seeds": instances, "seeds": seeds,
              "settings": SETTINGS, "algorithms": ALGORITHMS,
              "options": "run_offline defaults but the tuned α scale and c_Γ: α = c·√N, π_cal = the "
                         "behaviour, the declared class (tabular B = 2, linear ‖θ‖ ≤ 4), λ = 1/N, δ = 0.05"}
    return finish_record(summarize, quick=quick, config=config, results=results, samples=samples)


def summarize(record: dict) -> dict:
    """Per setting: the coverage coefficient, each method's checked rate, SubOpt and SubOpt·√N at the first and
    largest N (family mean with its hierarchical interval)."""
    return {label: _setting_line(entry, record["config"]["sizes"]) for label, entry in record["results"].items()}


def _setting_line(entry: dict, sizes: list) -> str:
    coverage = np.asarray(entry["coverage"], dtype=float)
    parts = [f"coverage coefficient C = {np.mean(coverage):.2f} (instances {coverage.min():.2f}–{coverage.max():.2f})"]
    for algorithm in ALGORITHMS:
        fit = entry[algorithm]
        parts.append(f"{algorithm}: {fit['checked']}; SubOpt@N={sizes[-1]} {fit['mean'][-1]:.4f} "
                     f"[{fit['low'][-1]:.4f}, {fit['high'][-1]:.4f}]; SubOpt·√N {fit['scaled_mean'][0]:.2f} "
                     f"(N={sizes[0]}) → {fit['scaled_mean'][-1]:.2f} [{fit['scaled_low'][-1]:.2f}, "
                     f"{fit['scaled_high'][-1]:.2f}] (N={sizes[-1]})")
    return "; ".join(parts)


def plot(record: dict, path: Path) -> None:
    plt = pyplot()
    sizes = np.array(record["config"]["sizes"])
    settings = record["results"]
    fig, axes = plt.subplots(2, len(settings), figsize=(4.2 * len(settings), 7.2), layout="constrained")
    colors = {"vpo": "C0", "mle": "C1", "lcb": "C2"}
    for column, (label, entry) in enumerate(settings.items()):
        top, bottom = axes[0, column], axes[1, column]
        for algorithm in ALGORITHMS:
            fit = entry[algorithm]
            rate = f"N^{fit['slope']:+.2f}" if fit.get("shape", "power law") == "power law" else \
                f"{fit['shape']} at N = {fit['breakpoint']:g}"
            top.plot(sizes, fit["mean"], "o-", ms=3, color=colors[algorithm], label=f"{NAMES[algorithm]}: {rate}")
            top.fill_between(sizes, fit["low"], fit["high"], color=colors[algorithm], alpha=0.15)
            bottom.plot(sizes, fit["scaled_mean"], "o-", ms=3, color=colors[algorithm], label=NAMES[algorithm])
            bottom.fill_between(sizes, fit["scaled_low"], fit["scaled_high"], color=colors[algorithm], alpha=0.15)
        reference_slope(top, sizes, float(entry["mle"]["mean"][0]), -0.5, "∝ N^−1/2 (the theory's rate)")
        top.set(xscale="log", yscale="log", title=f"{label}\ncoverage C = {np.mean(entry['coverage']):.2f}")
        top.title.set_fontsize(9)
        bottom.set(xscale="log", xlabel="N (comparisons)")
        top.legend(fontsize=7)
        bottom.legend(fontsize=7)
        readable_log_axes(top)
        readable_log_axes(bottom)
    axes[0, 0].set_ylabel("SubOpt(π̂): family mean, 95% hierarchical interval")
    axes[1, 0].set_ylabel("SubOpt·√N (flat in the N^−1/2 regime)")
    cfg = record["config"]
    fig.suptitle(f"Offline: suboptimality against N ({len(cfg['instance_seeds'])} instances × {len(cfg['seeds'])} "
                 f"data seeds per setting)")
    save_figure(fig, path)


register(Figure("offline-suboptimality",
                "SubOpt and SubOpt·√N against N: pessimistic VPO vs MLE plug-in vs LCB, good/poor coverage, with "
                "each setting's coverage coefficient", compute, plot, summarize,
                hypothesis="pessimistic VPO's suboptimality is lower than the plug-in's under poor coverage, and "
                           "SubOpt·√N levels off"))
