"""dimension-scaling: how online regret at fixed T and offline suboptimality at fixed N grow with d  (theory §6–§8).

The linear family ``linear-d<d>``, d ∈ {2, 4, 8, 16, 32}: 10 contexts × 8 responses, features N(0, I/d)
(‖φ‖ ≈ 1 whatever d), ‖θ*‖ = 2 in the declared class ‖θ‖ ≤ 4 — the feature scale and the class are held
fixed as d grows, the convention of the linear-bandit bounds (‖φ‖ ≤ L, ‖θ*‖ ≤ S). Offline data come from
the uniform behaviour ('good' coverage at every d); online pairs are drawn policy-ref. The d-exponent of
each method is fitted on the seed-mean values over d (log–log, bootstrap 95 % interval over seeds), and set
beside the standard dependences: regret ∝ d·√T up to logs for optimistic methods (exponent 1), offline
suboptimality ∝ √(d/N) (exponent 0.5). VPO's optimistic step in the linear class is certified only when the
whole-class test closes (docs/theory.md, "Certified optimism"); the record counts the rounds that were.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpo_theory import make_instance, run_offline, run_online
from vpo_theory.instances import LINEAR_DIMENSIONS
from paper_repro.rates import fit_loglog_slope

from ..common import (finish_record, cache_dir, certificate_summary, mean_errorbar, paired_difference, pyplot,
                      readable_log_axes, reference_slope, save_figure)
from ..figure import Figure, register
from ..sweep import run_cells

OFFLINE_ALGORITHMS = ["vpo", "mle", "lcb"]
ONLINE_ALGORITHMS = ["vpo", "greedy", "ucb"]
REFERENCE_EXPONENTS = {"online": 1.0, "offline": 0.5}  # d·√T (optimistic regret), √(d/N) (offline)


def _sizes(quick: bool) -> dict:
    if quick:
        return {"dimensions": [2, 8, 32], "N": 400, "offline_seeds": list(range(5)), "T": 60,
                "online_seeds": list(range(2))}
    return {"dimensions": list(LINEAR_DIMENSIONS), "N": 1600, "offline_seeds": list(range(20)), "T": 150,
            "online_seeds": list(range(4))}


def _offline_cell(d: int, algorithm: str, n: int, seed: int) -> float:
    return run_offline(make_instance(f"linear-d{d}", 0), algorithm, n, seed, behavior="good").suboptimality


def _online_cell(d: int, algorithm: str, horizon: int, seed: int) -> dict:
    result = run_online(make_instance(f"linear-d{d}", 0), algorithm, horizon, seed)
    return {"regret": float(result.regret[-1]), "certificate": result.certificate,
            "seconds_per_round": float(np.mean(result.round_seconds))}


def compute(quick: bool) -> dict:
    size = _sizes(quick)
    dims, n, horizon = size["dimensions"], size["N"], size["T"]
    cells = [(d, alg, n, s) for alg in OFFLINE_ALGORITHMS for d in dims for s in size["offline_seeds"]]
    offline = np.array(run_cells(_offline_cell, cells, desc="dimension-scaling (offline)",
                                 cache_dir=cache_dir("dimension-scaling")))
    offline = offline.reshape(len(OFFLINE_ALGORITHMS), len(dims), len(size["offline_seeds"]))
    cells = [(d, alg, horizon, s) for alg in ONLINE_ALGORITHMS for d in dims for s in size["online_seeds"]]
    outputs = run_cells(_online_cell, cells, desc="dimension-scaling (online)", cache_dir=cache_dir("dimension-scaling"))
    online = np.array([out["regret"] for out in outputs]).reshape(len(ONLINE_ALGORITHMS), len(dims),
                                                                   len(size["online_seeds"]))
    per_dimension = len(size["online_seeds"])
    vpo_cells = outputs[:len(dims) * per_dimension]  # VPO comes first
    certificates = [certificate_summary(vpo_cells[k * per_dimension:(k + 1) * per_dimension]) for k in range(len(dims))]
    results = {"offline": {}, "online": {}}
    for half, values, algorithms in (("offline", offline, OFFLINE_ALGORITHMS), ("online", online, ONLINE_ALGORITHMS)):
        for alg, per_dim in zip(algorithms, values):
            per_seed = per_dim.T  # (seeds, dims)
            fit = fit_loglog_slope(dims, per_seed)
            results[half][alg] = {"values": per_seed, "d_exponent": fit.slope, "d_exponent_ci": [fit.low, fit.high]}
    results["online"]["vpo"]["certificates"] = certificates
    record = {"config": {"quick": quick, "dimensions": dims, "N": n, "T": horizon, "seeds": size["offline_seeds"],
                         "online_seeds": size["online_seeds"], "instance": "linear-d<d>, instance seed 0",
                         "offline": "run_offline defaults, behaviour 'good' (uniform)",
                         "online": "run_online defaults (policy-ref, declared class ‖θ‖ ≤ 4)",
                         "reference_exponents": REFERENCE_EXPONENTS},
              "results": results}
    return finish_record(record, summarize)


def summarize(record: dict) -> dict:
    """Each method's value at every d with its fitted d-exponent; VPO − each other method paired at the largest d."""
    cfg, summary = record["config"], {}
    dims = cfg["dimensions"]
    for half, what in (("offline", f"SubOpt at N = {cfg['N']}"), ("online", f"Regret({cfg['T']})")):
        entries = record["results"][half]
        parts = []
        for alg, entry in entries.items():
            means = np.mean(entry["values"], axis=0)
            low, high = entry["d_exponent_ci"]
            parts.append(f"{alg} " + ", ".join(f"{v:.3g}" for v in means) + f" (d-exponent {entry['d_exponent']:+.2f} "
                         f"[{low:+.2f}, {high:+.2f}])")
        line = f"{what} at d = {', '.join(map(str, dims))}: " + "; ".join(parts)
        line += f" — reference exponent {cfg['reference_exponents'][half]:g}"
        if half == "online":
            certified = entries["vpo"]["certificates"]
            line += " — VPO rounds certified " + ", ".join(
                f"{c['rounds_certified']}/{c['rounds']}" for c in certified)
        summary[half] = line
        for other in entries:
            if other != "vpo":
                summary[f"{half}: vpo − {other} at d = {dims[-1]}"] = paired_difference(
                    np.asarray(entries["vpo"]["values"])[:, -1], np.asarray(entries[other]["values"])[:, -1])["text"]
    return summary


def plot(record: dict, path: Path) -> None:
    plt = pyplot()
    cfg = record["config"]
    dims = np.asarray(cfg["dimensions"], dtype=float)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    names = {"vpo": "VPO", "mle": "MLE plug-in", "lcb": "LCB", "greedy": "greedy (MLE)", "ucb": "UCB"}
    for ax, half, label in ((axes[0], "online", f"Regret(T = {cfg['T']})"),
                            (axes[1], "offline", f"SubOpt at N = {cfg['N']}")):
        entries = record["results"][half]
        for k, (alg, entry) in enumerate(entries.items()):
            mean_errorbar(ax, dims, entry["values"], f"C{k}", f"{names[alg]}: d^{entry['d_exponent']:+.2f}",
                          nonnegative=True)
        start = float(np.mean(np.asarray(entries["vpo"]["values"])[:, 0]))
        exponent = cfg["reference_exponents"][half]
        reference_slope(ax, dims, start, exponent, f"∝ d^{exponent:g} (standard bound)")
        ax.set(xscale="log", yscale="log", xlabel="dimension d", ylabel=label,
               title=f"{half}: linear-d<d>, class ‖θ‖ ≤ 4, ‖θ*‖ = 2")
        readable_log_axes(ax)
        ax.legend(fontsize=7)
    save_figure(fig, path)


register(Figure("dimension-scaling", "online regret at fixed T and offline SubOpt at fixed N against the dimension d",
                compute, plot, summarize))
