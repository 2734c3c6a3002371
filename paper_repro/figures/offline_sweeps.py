"""alpha-sweep (offline half) and calibration (offline half)  (MATH §3, §7, §8).

alpha-sweep: SubOpt at fixed N against α = c·√N for pessimistic VPO, and against c_Γ for
LCB on a grid of the same size; the MLE plug-in (α = 0) as the reference line.
calibration: SubOpt vs N for pessimistic VPO with each π_cal (behaviour, ref, uniform, chosen).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpo_theory import make_instance, run_offline
from vpo_theory.rates import fit_loglog_slope

from ..common import mean_and_ci, pyplot, save_figure
from ..registry import Figure, register
from ..sweep import run_cells

SETTINGS = [("tabular, rare response bad", "offline-poor-coverage", "poor"),
            ("tabular, rare response best", "offline-rare-optimal", "poor"),
            ("linear-d8, poor coverage", "linear-d8", "poor")]
ALPHA_SCALES = [0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]
C_GAMMA_GRID = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]  # same budget: 7 values each
CALIBRATIONS = ["behavior", "ref", "uniform", "chosen"]


def _cell(instance_name, behavior, algorithm, n, seed, options):
    return run_offline(make_instance(instance_name, 0), algorithm, n, seed, behavior=behavior, **options).suboptimality


# --------------------------------------------------------------------------- alpha-sweep
def compute_alpha(quick: bool) -> dict:
    n = 400 if quick else 1600
    seeds = list(range(5 if quick else 20))
    cells = []
    for _, inst, beh in SETTINGS:
        cells += [(inst, beh, "vpo", n, s, {"alpha_scale": c}) for c in ALPHA_SCALES for s in seeds]
        cells += [(inst, beh, "lcb", n, s, {"c_gamma": c}) for c in C_GAMMA_GRID for s in seeds]
        cells += [(inst, beh, "mle", n, s, {}) for s in seeds]
    values = np.array(run_cells(_cell, cells, desc="alpha-sweep (offline)"))
    per_setting = len(ALPHA_SCALES) * len(seeds) + len(C_GAMMA_GRID) * len(seeds) + len(seeds)
    results, summary = {}, {}
    for i, (label, _, _) in enumerate(SETTINGS):
        chunk = values[i * per_setting:(i + 1) * per_setting]
        vpo = chunk[:len(ALPHA_SCALES) * len(seeds)].reshape(len(ALPHA_SCALES), len(seeds))
        lcb = chunk[len(ALPHA_SCALES) * len(seeds):-len(seeds)].reshape(len(C_GAMMA_GRID), len(seeds))
        mle = chunk[-len(seeds):]
        results[label] = {"vpo": vpo, "lcb": lcb, "mle": mle}
        best_alpha = ALPHA_SCALES[int(np.argmin(vpo.mean(axis=1)))]
        best_gamma = C_GAMMA_GRID[int(np.argmin(lcb.mean(axis=1)))]
        summary[label] = (f"N={n}: MLE {mle.mean():.4f}; VPO best c={best_alpha:g} (α={best_alpha * np.sqrt(n):.3g}) "
                          f"{vpo.mean(axis=1).min():.4f}, at the default c=1 {vpo[ALPHA_SCALES.index(1.0)].mean():.4f}; "
                          f"LCB best c_Γ={best_gamma:g} {lcb.mean(axis=1).min():.4f}")
    return {"config": {"quick": quick, "N": n, "seeds": seeds, "alpha_scales": ALPHA_SCALES, "c_gamma_grid": C_GAMMA_GRID,
                       "settings": SETTINGS}, "results": results, "summary": summary}


def plot_alpha(record: dict, path: Path) -> None:
    plt = pyplot()
    cfg = record["config"]
    fig, axes = plt.subplots(1, len(record["results"]), figsize=(4.3 * len(record["results"]), 3.8))
    for ax, (label, entry) in zip(np.atleast_1d(axes), record["results"].items()):
        for key, grid, color, name in (("vpo", cfg["alpha_scales"], "C0", "VPO: α = c·√N, x = c"),
                                       ("lcb", cfg["c_gamma_grid"], "C2", "LCB: x = c_Γ")):
            mean, ci = mean_and_ci(np.asarray(entry[key]).T)
            ax.errorbar(grid, mean, yerr=ci, marker="o", ms=3, capsize=2, color=color, label=name)
        ax.axhline(np.mean(entry["mle"]), color="C1", ls="--", label="MLE plug-in (α = 0)")
        ax.set(xscale="log", yscale="log", xlabel="c (VPO) / c_Γ (LCB)", title=label)
        ax.legend(fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel(f"SubOpt at N = {cfg['N']}")
    save_figure(fig, path)


# --------------------------------------------------------------------------- calibration
def compute_calibration(quick: bool) -> dict:
    sizes = [100, 400, 1600] if quick else [100, 200, 400, 800, 1600, 3200]
    seeds = list(range(5 if quick else 20))
    cells = [(inst, beh, "vpo", n, s, {"calibration": cal}) for _, inst, beh in SETTINGS[:2]
             for cal in CALIBRATIONS for n in sizes for s in seeds]
    values = np.array(run_cells(_cell, cells, desc="calibration (offline)"))
    values = values.reshape(2, len(CALIBRATIONS), len(sizes), len(seeds))
    results, summary = {}, {}
    for i, (label, _, _) in enumerate(SETTINGS[:2]):
        results[label] = {}
        parts = []
        for j, cal in enumerate(CALIBRATIONS):
            per_seed = values[i, j].T
            fit = fit_loglog_slope(sizes, per_seed)
            results[label][cal] = {"suboptimality": per_seed, "slope": fit.slope, "slope_ci": [fit.low, fit.high]}
            parts.append(f"{cal} {per_seed[:, -1].mean():.4f} (exponent {fit})")
        summary[label] = f"SubOpt at N={sizes[-1]}: " + "; ".join(parts)
    return {"config": {"quick": quick, "sizes": sizes, "seeds": seeds, "calibrations": CALIBRATIONS,
                       "settings": SETTINGS[:2]}, "results": results, "summary": summary}


def plot_calibration(record: dict, path: Path) -> None:
    plt = pyplot()
    sizes = np.asarray(record["config"]["sizes"])
    fig, axes = plt.subplots(1, len(record["results"]), figsize=(5 * len(record["results"]), 3.8))
    for ax, (label, entry) in zip(np.atleast_1d(axes), record["results"].items()):
        for k, (cal, values) in enumerate(entry.items()):
            mean, ci = mean_and_ci(np.asarray(values["suboptimality"]))
            ax.errorbar(sizes, mean, yerr=ci, marker="o", ms=3, capsize=2, color=f"C{k}",
                        label=f"π_cal = {cal}: N^{values['slope']:+.2f}")
        ax.set(xscale="log", yscale="log", xlabel="N", title=f"pessimistic VPO — {label}")
        ax.legend(fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel("SubOpt(π̂)")
    save_figure(fig, path)


register(Figure("alpha-sweep", "SubOpt at fixed N vs α (VPO) and c_Γ (LCB) on the same grid budget",
                compute_alpha, plot_alpha))
register(Figure("calibration", "effect of π_cal (behavior, ref, uniform, chosen) on pessimistic VPO",
                compute_calibration, plot_calibration))
