"""alpha-sweep and calibration: how pessimistic VPO depends on α and on π_cal  (theory §3, §7, §8).

alpha-sweep: SubOpt at fixed N against α = c·√N for pessimistic VPO, and against c_Γ for LCB on a grid of the same
size, with the MLE plug-in (α = 0) as the reference line; each method's best grid value chosen on half of the instances
and measured on the other half (the online α is swept where it is chosen: the `tuning` figure).
calibration: SubOpt against N for pessimistic VPO with each π_cal (behaviour, reference, uniform, chosen).

Both are measurements, not comparisons: no claim of the claims file rests on them. 8 instances × 10 data seeds per
setting; intervals resample instances, then seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from paper_repro.rates import fit_loglog_slope

from ..cells import data_seeds, instance_seeds, offline_cell
from ..common import finish_record, panels, readable_log_axes, save_figure
from ..figure import Figure, register
from ..grid import run_grid
from ..stats import family_interval

SETTINGS = [("tabular, rare response bad", "offline-poor-coverage", "poor"),
            ("tabular, rare response best", "offline-rare-optimal", "poor"),
            ("linear-d8, poor coverage", "linear-d8", "poor")]
ALPHA_SCALES = [0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]
C_GAMMA_GRID = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]  # same budget: 7 values each
CALIBRATIONS = ["behavior", "reference", "uniform", "chosen"]


def _cell(setting: str, algorithm: str, value, n: int, instance_seed: int, seed: int) -> dict:
    """One offline fit; ``value``: VPO's α scale, LCB's c_Γ, or (calibration) π_cal's name."""
    _, family, behavior = next(s for s in SETTINGS if s[0] == setting)
    option = {"vpo": "alpha_scale", "lcb": "c_gamma", "calibration": "calibration"}.get(algorithm)
    options = {} if option is None or value is None else {option: value}
    return offline_cell(family, instance_seed, behavior, "vpo" if algorithm == "calibration" else algorithm, n, seed,
                        options=options)


def _interval_text(values) -> str:
    mean, low, high = family_interval(values)
    return f"{mean:.4f} [{low:.4f}, {high:.4f}]"


# --------------------------------------------------------------------------- alpha-sweep
def compute_alpha(quick: bool) -> dict:
    n = 400 if quick else 1600
    instances, seeds = instance_seeds(quick), data_seeds(quick, full=10, small=2)
    labels = [label for label, _, _ in SETTINGS]
    results = {label: {} for label in labels}
    for algorithm, values in (("vpo", ALPHA_SCALES), ("lcb", C_GAMMA_GRID), ("mle", [None])):
        grid = run_grid("alpha-sweep", _cell, {"setting": labels, "algorithm": [algorithm], "value": values,
                                               "instance_seed": instances, "seed": seeds}, fixed={"n": n})
        for label in labels:
            results[label][algorithm] = grid.where(setting=label, algorithm=algorithm).take("subopt")  # (V, I, S)
    config = {"N": n, "instance_seeds": instances, "seeds": seeds,
              "alpha_scales": ALPHA_SCALES, "c_gamma_grid": C_GAMMA_GRID, "settings": SETTINGS,
              "options": "run_offline defaults (declared class, π_cal = behaviour) but α and c_Γ"}
    return finish_record(summarize_alpha, quick=quick, config=config, results=results)


def summarize_alpha(record: dict) -> dict:
    """Per setting: SubOpt of the MLE, of VPO and LCB at their in-sample best grid values, and of each method's value
    chosen on the first half of the instances, measured on the second half (family means, hierarchical intervals)."""
    return {label: _alpha_line(entry, record["config"]) for label, entry in record["results"].items()}


def _alpha_line(entry: dict, cfg: dict) -> str:
    vpo, lcb, mle = (np.asarray(entry[key], dtype=float) for key in ("vpo", "lcb", "mle"))  # (V, I, S)
    half = max(1, vpo.shape[1] // 2)
    parts = [f"N={cfg['N']}: MLE {_interval_text(mle[0])}"]
    for name, values, grid in (("VPO c", vpo, cfg["alpha_scales"]), ("LCB c_Γ", lcb, cfg["c_gamma_grid"])):
        best = int(np.argmin(values.mean(axis=(1, 2))))
        chosen = int(np.argmin(values[:, :half].mean(axis=(1, 2))))
        held_out = values[chosen, half:] if values.shape[1] > half else values[chosen]
        parts.append(f"{name} in-sample best {grid[best]:g}: {values[best].mean():.4f}; chosen on instances "
                     f"{cfg['instance_seeds'][:half]} {grid[chosen]:g}, held out {_interval_text(held_out)}")
    return "; ".join(parts)


def plot_alpha(record: dict, path: Path) -> None:
    cfg = record["config"]
    fig, (axes,) = panels(len(record["results"]), width=4.3, height=3.8)
    for ax, (label, entry) in zip(axes, record["results"].items()):
        for key, grid, name, color in (("vpo", cfg["alpha_scales"], "VPO: α = c·√N, x = c", "C0"),
                                       ("lcb", cfg["c_gamma_grid"], "LCB: x = c_Γ", "C2")):
            intervals = np.array([family_interval(values) for values in np.asarray(entry[key], dtype=float)])
            ax.errorbar(grid, intervals[:, 0], yerr=[intervals[:, 0] - intervals[:, 1], intervals[:, 2] -
                                                      intervals[:, 0]], marker="o", ms=3, capsize=2, color=color,
                        label=name)
        ax.axhline(np.mean(entry["mle"]), color="C1", ls="--", label="MLE plug-in (α = 0)")
        ax.set(xscale="log", yscale="log", xlabel="c (VPO) / c_Γ (LCB)", title=label)
        readable_log_axes(ax)
        ax.legend(fontsize=7)
    axes[0].set_ylabel(f"SubOpt at N = {cfg['N']}: family mean, 95% interval")
    fig.suptitle(f"{len(cfg['instance_seeds'])} instances × {len(cfg['seeds'])} data seeds per setting", fontsize=9)
    save_figure(fig, path)


# --------------------------------------------------------------------------- calibration
def compute_calibration(quick: bool) -> dict:
    sizes = [100, 400, 1600] if quick else [100, 200, 400, 800, 1600, 3200]
    instances, seeds = instance_seeds(quick), data_seeds(quick, full=10, small=2)
    labels = [label for label, _, _ in SETTINGS[:2]]
    grid = run_grid("calibration", _cell, {"setting": labels, "algorithm": ["calibration"], "value": CALIBRATIONS,
                                           "n": sizes, "instance_seed": instances, "seed": seeds})
    results = {}
    for label in labels:
        results[label] = {}
        for calibration in CALIBRATIONS:
            values = grid.where(setting=label, algorithm="calibration", value=calibration).take("subopt")  # (N, I, S)
            fit = fit_loglog_slope(sizes, values.mean(axis=2).T)  # instance means: the interval resamples instances
            intervals = np.array([family_interval(values[j]) for j in range(len(sizes))])
            results[label][calibration] = {"mean": intervals[:, 0], "low": intervals[:, 1], "high": intervals[:, 2],
                                           "slope": fit.slope, "slope_ci": [fit.low, fit.high]}
    config = {"sizes": sizes, "instance_seeds": instances, "seeds": seeds,
              "calibrations": CALIBRATIONS, "settings": SETTINGS[:2],
              "options": "run_offline defaults (the declared class, the tuned α scale); only π_cal varies"}
    return finish_record(summarize_calibration, quick=quick, config=config, results=results)


def summarize_calibration(record: dict) -> dict:
    """Per setting and π_cal: SubOpt at the largest N (family mean, hierarchical interval) and the fitted exponent."""
    n = record["config"]["sizes"][-1]
    return {label: f"SubOpt at N={n}: " + "; ".join(
        f"{cal} {v['mean'][-1]:.4f} [{v['low'][-1]:.4f}, {v['high'][-1]:.4f}] (exponent {v['slope']:+.2f} "
        f"[{v['slope_ci'][0]:+.2f}, {v['slope_ci'][1]:+.2f}])" for cal, v in entry.items())
        for label, entry in record["results"].items()}


def plot_calibration(record: dict, path: Path) -> None:
    cfg = record["config"]
    sizes = np.asarray(cfg["sizes"])
    fig, (axes,) = panels(len(record["results"]), width=5, height=3.8)
    for ax, (label, entry) in zip(axes, record["results"].items()):
        for k, (cal, values) in enumerate(entry.items()):
            ax.plot(sizes, values["mean"], "o-", ms=3, color=f"C{k}", label=f"π_cal = {cal}: N^{values['slope']:+.2f}")
            ax.fill_between(sizes, values["low"], values["high"], color=f"C{k}", alpha=0.15)
        ax.set(xscale="log", yscale="log", xlabel="N", title=f"pessimistic VPO — {label}")
        readable_log_axes(ax)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("SubOpt(π̂): family mean, 95% interval")
    fig.suptitle(f"{len(cfg['instance_seeds'])} instances × {len(cfg['seeds'])} data seeds per setting", fontsize=9)
    save_figure(fig, path)


register(
    Figure("alpha-sweep", "SubOpt at fixed N against α (VPO) and c_Γ (LCB) on grids of the same size",
           compute_alpha, plot_alpha, summarize_alpha),
    Figure("calibration", "SubOpt against N for pessimistic VPO with each π_cal (behaviour, reference, uniform, "
           "chosen)", compute_calibration, plot_calibration, summarize_calibration),
)
