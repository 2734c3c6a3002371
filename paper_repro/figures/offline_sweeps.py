"""alpha-sweep (offline) and calibration (offline and online halves)  (theory §3, §6, §7, §8).

alpha-sweep: SubOpt at fixed N against α = c·√N for pessimistic VPO, and against c_Γ for LCB on a
grid of the same size, with the MLE plug-in (α = 0) as the reference line; best-of-grid choices
compared on held-out seeds. (The online α is swept where it is chosen, on seeds no figure uses: the
``tuning`` figure.)
calibration: offline, SubOpt vs N for pessimistic VPO with each π_cal (behaviour, ref, uniform,
chosen); online, Regret(t) of optimistic VPO with π_cal = ref and uniform.
Every cell is cached as it finishes (OUT/.cache/<figure>), so an interrupted run resumes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpo_theory import make_instance, run_offline, run_online
from vpo_theory.offline import OfflineOptions
from paper_repro.rates import fit_loglog_slope

from ..common import (finish_record, cache_dir, certificate_summary, mean_band, mean_errorbar, paired_difference, pyplot,
                      readable_log_axes, save_figure)
from ..figure import Figure, register
from ..sweep import run_cells

SETTINGS = [("tabular, rare response bad", "offline-poor-coverage", "poor"),
            ("tabular, rare response best", "offline-rare-optimal", "poor"),
            ("linear-d8, poor coverage", "linear-d8", "poor")]
ALPHA_SCALES = [0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]
C_GAMMA_GRID = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]  # same budget: 7 values each
CALIBRATIONS = ["behavior", "reference", "uniform", "chosen"]
ONLINE_INSTANCES = ["tabular-small", "tabular-trap"]
ONLINE_CALIBRATIONS = ["reference", "uniform"]


def _online_cell(instance_name, algorithm, horizon, seed, options):
    result = run_online(make_instance(instance_name, 0), algorithm, horizon, seed, **options)
    return {"regret": result.regret.tolist(), "certificate": result.certificate,
            "seconds_per_round": float(np.mean(result.round_seconds))}


def _online_size(quick: bool) -> tuple[int, list[int]]:
    return (100, list(range(2))) if quick else (400, list(range(8)))  # quick: certified steps cost ~0.1–0.3 s a round


CALIBRATION_OPTIONS_TEXT = ("offline: run_offline defaults (the declared class B = 2, α = 0.3·√N); online: run_online "
                            "defaults (the declared class, α = 0.1·√T); only π_cal varies")


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
    results = {}
    for i, (label, _, _) in enumerate(SETTINGS):
        chunk = values[i * per_setting:(i + 1) * per_setting]
        vpo = chunk[:len(ALPHA_SCALES) * len(seeds)].reshape(len(ALPHA_SCALES), len(seeds))
        lcb = chunk[len(ALPHA_SCALES) * len(seeds):-len(seeds)].reshape(len(C_GAMMA_GRID), len(seeds))
        mle = chunk[-len(seeds):]
        results[label] = {"vpo": vpo, "lcb": lcb, "mle": mle}
    record = {"config": {"quick": quick, "N": n, "seeds": seeds, "alpha_scales": ALPHA_SCALES,
                         "c_gamma_grid": C_GAMMA_GRID, "settings": SETTINGS,
                         "options": "run_offline defaults (declared class, π_cal = behaviour) but α and c_Γ"},
              "results": results}
    return finish_record(record, summarize_alpha)


def _held_out(swept: np.ndarray, grid: list[float]) -> tuple[float, np.ndarray, np.ndarray]:
    """Best-of-grid on held-out seeds: the grid value with the least mean over the first half of the seeds, and that
    value's results on the second half (the seeds it was not chosen on) — (value, its held-out results, their seed
    indices). ``swept``: (grid, seeds)."""
    half = swept.shape[1] // 2
    pick = int(np.argmin(swept[:, :half].mean(axis=1)))
    return grid[pick], swept[pick, half:], np.arange(half, swept.shape[1])


def summarize_alpha(record: dict) -> dict:
    """Each setting: the sweep's means, and the best-of-grid comparisons on held-out seeds — VPO's c and LCB's c_Γ
    chosen on the first half of the seeds, compared (paired) on the second half, against each other and against
    the MLE plug-in. The in-sample best (chosen and measured on the same seeds) is printed too, marked as such: it
    flatters whichever method has the larger grid effect."""
    cfg, summary = record["config"], {}
    n = cfg["N"]
    default = OfflineOptions().alpha_scale  # the tuned default (on seeds no figure uses)
    for label, entry in record["results"].items():
        vpo, lcb, mle = (np.asarray(entry[key]) for key in ("vpo", "lcb", "mle"))
        c, vpo_held, held = _held_out(vpo, cfg["alpha_scales"])
        gamma, lcb_held, _ = _held_out(lcb, cfg["c_gamma_grid"])
        summary[label] = (f"N={n}: MLE {mle.mean():.4f}; VPO in-sample best c={cfg['alpha_scales'][int(np.argmin(vpo.mean(axis=1)))]:g} "
                          f"{vpo.mean(axis=1).min():.4f}, at the default c={default:g} {vpo[cfg['alpha_scales'].index(default)].mean():.4f}; "
                          f"LCB in-sample best c_Γ={cfg['c_gamma_grid'][int(np.argmin(lcb.mean(axis=1)))]:g} "
                          f"{lcb.mean(axis=1).min():.4f}")
        summary[f"{label}: held-out VPO (c={c:g}) − LCB (c_Γ={gamma:g})"] = paired_difference(vpo_held, lcb_held)["text"]
        summary[f"{label}: held-out VPO (c={c:g}) − MLE"] = paired_difference(vpo_held, mle[held])["text"]
    return summary


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
    columns = len(record["results"])
    fig, panels = plt.subplots(1, columns, figsize=(4.3 * columns, 3.8), squeeze=False, layout="constrained")
    axes = panels[0]
    for ax, (label, entry) in zip(axes, record["results"].items()):
        _sweep_panel(ax, entry, [("vpo", cfg["alpha_scales"], "VPO: α = c·√N, x = c"),
                                 ("lcb", cfg["c_gamma_grid"], "LCB: x = c_Γ")], ("mle", "MLE plug-in (α = 0)"))
        ax.set(yscale="log", xlabel="c (VPO) / c_Γ (LCB)", title=label)
        readable_log_axes(ax)
    axes[0].set_ylabel(f"offline: SubOpt at N = {cfg['N']}")
    save_figure(fig, path)


# --------------------------------------------------------------------------- calibration
def compute_calibration(quick: bool) -> dict:
    sizes = [100, 400, 1600] if quick else [100, 200, 400, 800, 1600, 3200]
    seeds = list(range(5 if quick else 20))
    cells = [(inst, beh, "vpo", n, s, {"calibration": cal}) for _, inst, beh in SETTINGS[:2]
             for cal in CALIBRATIONS for n in sizes for s in seeds]
    values = np.array(run_cells(_cell, cells, desc="calibration (offline)", cache_dir=cache_dir("calibration")))
    values = values.reshape(2, len(CALIBRATIONS), len(sizes), len(seeds))
    results = {}
    for i, (label, _, _) in enumerate(SETTINGS[:2]):
        results[label] = {}
        for j, cal in enumerate(CALIBRATIONS):
            per_seed = values[i, j].T
            fit = fit_loglog_slope(sizes, per_seed)
            results[label][cal] = {"suboptimality": per_seed, "slope": fit.slope, "slope_ci": [fit.low, fit.high]}
    horizon, online_seeds = _online_size(quick)
    online_instances = ONLINE_INSTANCES
    configs = [("vpo", {"calibration": cal}) for cal in ONLINE_CALIBRATIONS] + [("greedy", {})]
    cells = [(inst, alg, horizon, s, opts) for inst in online_instances for alg, opts in configs for s in online_seeds]
    outputs = run_cells(_online_cell, cells, desc="calibration (online)", cache_dir=cache_dir("calibration"))
    curves = np.array([out["regret"] for out in outputs]).reshape(len(online_instances), len(configs),
                                                                   len(online_seeds), horizon)
    stride = max(1, horizon // 50)
    online, certificates = {}, {}
    for i, inst in enumerate(online_instances):
        online[inst] = {}
        for j, (alg, opts) in enumerate(configs):
            name = f"VPO, π_cal = {opts['calibration']}" if alg == "vpo" else "greedy (MLE)"
            online[inst][name] = curves[i, j][:, stride - 1::stride]
        certificates[inst] = certificate_summary(
            outputs[i * len(configs) * len(online_seeds):(i + 1) * len(configs) * len(online_seeds)])
    record = {"config": {"quick": quick, "sizes": sizes, "seeds": seeds, "calibrations": CALIBRATIONS,
                         "settings": SETTINGS[:2], "online": {"T": horizon, "seeds": online_seeds, "stride": stride,
                                                              "instances": online_instances},
                         "options": CALIBRATION_OPTIONS_TEXT},
              "results": results, "online": online, "online_certificates": certificates}
    return finish_record(record, summarize_calibration)


def summarize_calibration(record: dict) -> dict:
    """Offline: SubOpt at the largest N per π_cal with its exponent, and each π_cal − behaviour paired over the seeds.
    Online: Regret(T) per π_cal and greedy, and each VPO − greedy and ref − uniform paired over the seeds."""
    cfg, summary = record["config"], {}
    n = cfg["sizes"][-1]
    for label, entry in record["results"].items():
        last = {cal: np.asarray(v["suboptimality"])[:, -1] for cal, v in entry.items()}
        summary[label] = f"SubOpt at N={n}: " + "; ".join(
            f"{cal} {last[cal].mean():.4f} (exponent {v['slope']:+.2f} [{v['slope_ci'][0]:+.2f}, {v['slope_ci'][1]:+.2f}])"
            for cal, v in entry.items())
        for cal in entry:
            if cal != "behavior":
                summary[f"{label}: {cal} − behavior, SubOpt@N={n}"] = paired_difference(last[cal], last["behavior"])["text"]
    horizon = cfg["online"]["T"]
    for inst, entry in record.get("online", {}).items():
        final = {name: np.asarray(curve)[:, -1] for name, curve in entry.items()}
        line = f"Regret({horizon}): " + "; ".join(f"{name} {value.mean():.1f}" for name, value in final.items())
        certificate = record.get("online_certificates", {}).get(inst)
        if certificate:
            line += f" — VPO rounds certified {certificate['rounds_certified']}/{certificate['rounds']}"
        summary[f"online {inst}"] = line
        for name in final:
            if name != "greedy (MLE)":
                summary[f"online {inst}: {name} − greedy, Regret({horizon})"] = paired_difference(
                    final[name], final["greedy (MLE)"])["text"]
        if {"VPO, π_cal = ref", "VPO, π_cal = uniform"} <= set(final):
            summary[f"online {inst}: π_cal = ref − uniform, Regret({horizon})"] = paired_difference(
                final["VPO, π_cal = ref"], final["VPO, π_cal = uniform"])["text"]
    return summary


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
           plot_alpha, summarize_alpha),
    Figure("calibration", "effect of π_cal (behavior, ref, uniform, chosen) on pessimistic VPO", compute_calibration,
           plot_calibration, summarize_calibration),
)
