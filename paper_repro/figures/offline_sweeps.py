"""alpha-sweep and calibration, offline and online halves  (theory §3, §6, §7, §8).

alpha-sweep: offline, SubOpt at fixed N against α = c·√N for pessimistic VPO, and against c_Γ
for LCB on a grid of the same size, with the MLE plug-in (α = 0) as the reference line; online,
Regret(T) at fixed T against α = c·√T for optimistic VPO and against c_Γ for UCB (same grid
size), with greedy (the MLE plug-in) as the reference line.
calibration: offline, SubOpt vs N for pessimistic VPO with each π_cal (behaviour, ref, uniform,
chosen); online, Regret(t) of optimistic VPO with π_cal = ref and uniform.
Every cell is cached as it finishes (OUT/.cache/<figure>), so an interrupted run resumes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpo_theory import make_instance, run_offline, run_online
from vpo_theory.online import OnlineOptions
from paper_repro.rates import fit_loglog_slope

from ..common import cache_dir, certificate_summary, mean_band, mean_errorbar, pyplot, readable_log_axes, save_figure
from ..figure import Figure, register
from ..sweep import run_cells

SETTINGS = [("tabular, rare response bad", "offline-poor-coverage", "poor"),
            ("tabular, rare response best", "offline-rare-optimal", "poor"),
            ("linear-d8, poor coverage", "linear-d8", "poor")]
ALPHA_SCALES = [0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]
C_GAMMA_GRID = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]  # same budget: 7 values each
CALIBRATIONS = ["behavior", "ref", "uniform", "chosen"]
ONLINE_INSTANCES = ["tabular-small", "tabular-trap", "linear-d8"]
ONLINE_ALPHA_SCALES = [0.03, 0.1, 0.3, 1.0, 3.0]
ONLINE_C_GAMMA_GRID = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1]  # same budget: 5 values each
ONLINE_CALIBRATIONS = ["ref", "uniform"]


def _online_cell(instance_name, algorithm, horizon, seed, options):
    result = run_online(make_instance(instance_name, 0), algorithm, horizon, seed, **options)
    return {"regret": result.regret.tolist(), "certificate": result.certificate,
            "seconds_per_round": float(np.mean(result.round_seconds))}


def _online_size(quick: bool) -> tuple[int, list[int]]:
    return (100, list(range(2))) if quick else (400, list(range(8)))  # quick: certified steps cost ~0.1–0.3 s a round


def _online_grids(quick: bool) -> tuple[list[float], list[float]]:
    """The online sweep's grids, the same budget for VPO's c and UCB's c_Γ; fewer values at quick size (the certified
    optimistic step makes each online cell cost ~10 s on 2 cores)."""
    if quick:  # three of each, the default c = 0.1 among them
        return [0.03, 0.1, 1.0], [1e-3, 1e-2, 1e-1]
    return ONLINE_ALPHA_SCALES, ONLINE_C_GAMMA_GRID


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
    values = np.array(run_cells(_cell, cells, desc="alpha-sweep (offline)", cache_dir=cache_dir("alpha-sweep")))
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
    online, online_summary = _compute_alpha_online(quick)
    summary.update(online_summary)
    horizon, online_seeds = _online_size(quick)
    online_alpha_scales, online_c_gamma_grid = _online_grids(quick)
    return {"config": {"quick": quick, "N": n, "seeds": seeds, "alpha_scales": ALPHA_SCALES, "c_gamma_grid": C_GAMMA_GRID,
                       "settings": SETTINGS, "online": {"T": horizon, "seeds": online_seeds, "instances": ONLINE_INSTANCES,
                                                        "alpha_scales": online_alpha_scales,
                                                        "c_gamma_grid": online_c_gamma_grid}},
            "results": results, "online": online, "summary": summary}


def _compute_alpha_online(quick: bool) -> tuple[dict, dict]:
    """Regret(T) of VPO against c (α = c·√T) and of UCB against c_Γ; greedy as the reference line."""
    horizon, seeds = _online_size(quick)
    alpha_scales, c_gamma_grid = _online_grids(quick)
    configs = ([("vpo", {"alpha_scale": c}) for c in alpha_scales]
               + [("ucb", {"c_gamma": c}) for c in c_gamma_grid] + [("greedy", {})])
    cells = [(inst, alg, horizon, s, opts) for inst in ONLINE_INSTANCES for alg, opts in configs for s in seeds]
    outputs = run_cells(_online_cell, cells, desc="alpha-sweep (online)", cache_dir=cache_dir("alpha-sweep"))
    regrets = np.array([out["regret"] for out in outputs])[:, -1]
    regrets = regrets.reshape(len(ONLINE_INSTANCES), len(configs), len(seeds))
    results, summary = {}, {}
    k = len(alpha_scales)
    for i, inst in enumerate(ONLINE_INSTANCES):
        vpo, ucb, greedy = regrets[i, :k], regrets[i, k:2 * k], regrets[i, -1]
        block = outputs[i * len(configs) * len(seeds):(i + 1) * len(configs) * len(seeds)]
        results[inst] = {"vpo": vpo, "ucb": ucb, "greedy": greedy, "vpo_certificate": certificate_summary(block)}
        best_c = alpha_scales[int(np.argmin(vpo.mean(axis=1)))]
        best_gamma = c_gamma_grid[int(np.argmin(ucb.mean(axis=1)))]
        default = OnlineOptions().alpha_scale
        summary[f"online {inst}"] = (f"Regret({horizon}): greedy {greedy.mean():.1f}; VPO best c={best_c:g} "
                                     f"{vpo.mean(axis=1).min():.1f}, at the default c={default:g} "
                                     f"{vpo[alpha_scales.index(default)].mean():.1f}; UCB best c_Γ={best_gamma:g} "
                                     f"{ucb.mean(axis=1).min():.1f}")
    return results, summary


def _sweep_panel(ax, entry: dict, series, baseline) -> None:
    """Each swept method (key, grid, label) as mean ± 95 % CI over seeds in C0, C2; the baseline (key, label) as a
    dashed line in C1; log x axis."""
    for (key, grid, name), color in zip(series, ("C0", "C2")):
        mean_errorbar(ax, grid, np.asarray(entry[key]).T, color, name, nonnegative=True)  # SubOpt, regret ≥ 0
    ax.axhline(np.mean(entry[baseline[0]]), color="C1", ls="--", label=baseline[1])
    ax.set(xscale="log")
    readable_log_axes(ax)
    ax.legend(fontsize=7)


def plot_alpha(record: dict, path: Path) -> None:
    plt = pyplot()
    cfg = record["config"]
    columns = max(len(record["results"]), len(record.get("online", {})))
    rows = 2 if "online" in record else 1
    fig, panels = plt.subplots(rows, columns, figsize=(4.3 * columns, 3.8 * rows), squeeze=False, layout="constrained")
    axes = panels[0]
    for ax, (label, entry) in zip(axes, record["results"].items()):
        _sweep_panel(ax, entry, [("vpo", cfg["alpha_scales"], "VPO: α = c·√N, x = c"),
                                 ("lcb", cfg["c_gamma_grid"], "LCB: x = c_Γ")], ("mle", "MLE plug-in (α = 0)"))
        ax.set(yscale="log", xlabel="c (VPO) / c_Γ (LCB)", title=label)
        readable_log_axes(ax)
    axes[0].set_ylabel(f"offline: SubOpt at N = {cfg['N']}")
    if rows == 2:
        online_cfg = cfg["online"]
        for ax, (inst, entry) in zip(panels[1], record["online"].items()):
            _sweep_panel(ax, entry, [("vpo", online_cfg["alpha_scales"], "VPO s=+1: α = c·√T, x = c"),
                                     ("ucb", online_cfg["c_gamma_grid"], "UCB: x = c_Γ")], ("greedy", "greedy (MLE plug-in)"))
            ax.set(xlabel="c (VPO) / c_Γ (UCB)", title=f"online: {inst}")
        panels[1][0].set_ylabel(f"online: Regret(T = {online_cfg['T']})")
    save_figure(fig, path)


# --------------------------------------------------------------------------- calibration
def compute_calibration(quick: bool) -> dict:
    sizes = [100, 400, 1600] if quick else [100, 200, 400, 800, 1600, 3200]
    seeds = list(range(5 if quick else 20))
    cells = [(inst, beh, "vpo", n, s, {"calibration": cal}) for _, inst, beh in SETTINGS[:2]
             for cal in CALIBRATIONS for n in sizes for s in seeds]
    values = np.array(run_cells(_cell, cells, desc="calibration (offline)", cache_dir=cache_dir("calibration")))
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
    horizon, online_seeds = _online_size(quick)
    online_instances = ONLINE_INSTANCES[:2]
    configs = [("vpo", {"calibration": cal}) for cal in ONLINE_CALIBRATIONS] + [("greedy", {})]
    cells = [(inst, alg, horizon, s, opts) for inst in online_instances for alg, opts in configs for s in online_seeds]
    outputs = run_cells(_online_cell, cells, desc="calibration (online)", cache_dir=cache_dir("calibration"))
    curves = np.array([out["regret"] for out in outputs]).reshape(len(online_instances), len(configs),
                                                                   len(online_seeds), horizon)
    stride = max(1, horizon // 50)
    online = {}
    for i, inst in enumerate(online_instances):
        online[inst] = {}
        for j, (alg, opts) in enumerate(configs):
            name = f"VPO, π_cal = {opts['calibration']}" if alg == "vpo" else "greedy (MLE)"
            online[inst][name] = curves[i, j][:, stride - 1::stride]
        block = certificate_summary(outputs[i * len(configs) * len(online_seeds):(i + 1) * len(configs) * len(online_seeds)])
        summary[f"online {inst}"] = f"Regret({horizon}): " + "; ".join(
            f"{name} {np.asarray(c)[:, -1].mean():.1f}" for name, c in online[inst].items()) + (
            f" — VPO rounds certified {block['rounds_certified']}/{block['rounds']}" if block else "")
    return {"config": {"quick": quick, "sizes": sizes, "seeds": seeds, "calibrations": CALIBRATIONS,
                       "settings": SETTINGS[:2], "online": {"T": horizon, "seeds": online_seeds, "stride": stride,
                                                            "instances": online_instances}},
            "results": results, "online": online, "summary": summary}


def plot_calibration(record: dict, path: Path) -> None:
    plt = pyplot()
    sizes = np.asarray(record["config"]["sizes"])
    rows = 2 if "online" in record else 1
    fig, grid = plt.subplots(rows, len(record["results"]), figsize=(5 * len(record["results"]), 3.8 * rows), layout="constrained",
                             squeeze=False)
    axes = grid[0]
    for ax, (label, entry) in zip(axes, record["results"].items()):
        for k, (cal, values) in enumerate(entry.items()):
            mean_errorbar(ax, sizes, values["suboptimality"], f"C{k}", f"π_cal = {cal}: N^{values['slope']:+.2f}",
                          nonnegative=True)
        ax.set(xscale="log", yscale="log", xlabel="N", title=f"pessimistic VPO — {label}")
        readable_log_axes(ax)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("offline: SubOpt(π̂)")
    if rows == 2:
        cfg = record["config"]["online"]
        steps = np.arange(1, cfg["T"] + 1)[cfg["stride"] - 1::cfg["stride"]]
        for ax, (inst, entry) in zip(grid[1], record["online"].items()):
            for k, (name, curve) in enumerate(entry.items()):
                mean_band(ax, steps, curve, f"C{k}", name, nonnegative=True)
            ax.set(xlabel="round t", title=f"optimistic VPO online — {inst}")
            ax.legend(fontsize=7)
        grid[1][0].set_ylabel("online: Regret(t)")
    save_figure(fig, path)


register(
    Figure("alpha-sweep", "SubOpt at fixed N vs α (VPO) and c_Γ (LCB) on the same grid budget", compute_alpha,
           plot_alpha),
    Figure("calibration", "effect of π_cal (behavior, ref, uniform, chosen) on pessimistic VPO", compute_calibration,
           plot_calibration),
)
