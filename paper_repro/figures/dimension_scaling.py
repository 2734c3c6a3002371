"""dimension-scaling: how online regret at fixed T and offline suboptimality at fixed N grow with d  (theory §6–§8).

The linear family ``linear-d<d>``, d ∈ {2, 4, 8, 16, 32}: 10 contexts × 8 responses, features N(0, I/d)
(‖φ‖ ≈ 1 whatever d), ‖θ⋆‖ = 2 in the declared class ‖θ‖ ≤ 4 — the feature scale and the class are held
fixed as d grows, the convention of the linear-bandit bounds (‖φ‖ ≤ L, ‖θ⋆‖ ≤ S). Offline data come from
the uniform behaviour ('good' coverage at every d); online pairs are drawn policy-ref. At each d, 4 instances of the
family × the data seeds; the d-exponent of each method is fitted on the instance-mean values over d (log–log; the
bootstrap interval resamples the instance seeds, so the variation between instances counts), and set
beside the standard dependences: regret ∝ d·√T up to logs for optimistic methods (exponent 1), offline
suboptimality ∝ √(d/N) (exponent 0.5). VPO's optimistic step in the linear class is certified only when the
whole-class test closes (docs/theory.md, "Certified optimism"); the record counts the rounds that were.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpo_theory.instances import LINEAR_DIMENSIONS
from paper_repro.rates import fit_loglog_slope

from ..cells import instance_seeds, offline_cell, online_cell
from ..common import (finish_record, certificate_summary, mean_errorbar, panels, readable_log_axes,
                      reference_slope, save_figure)
from ..figure import Figure, register
from ..grid import run_grid

OFFLINE_ALGORITHMS = ["vpo", "mle", "lcb"]
ONLINE_ALGORITHMS = ["vpo", "greedy", "ucb"]
REFERENCE_EXPONENTS = {"online": 1.0, "offline": 0.5}  # d·√T (optimistic regret), √(d/N) (offline)


def _sizes(quick: bool) -> dict:
    if quick:
        return {"dimensions": [2, 8, 32], "N": 400, "instances": instance_seeds(True), "offline_seeds": list(range(3)),
                "T": 60, "online_seeds": list(range(1))}
    return {"dimensions": list(LINEAR_DIMENSIONS), "N": 1600, "instances": instance_seeds(False, full=4),
            "offline_seeds": list(range(10)), "T": 150, "online_seeds": list(range(2))}


def _offline_cell(d: int, instance_seed: int, algorithm: str, n: int, seed: int) -> dict:
    return offline_cell(f"linear-d{d}", instance_seed, "good", algorithm, n, seed)


def _online_cell(d: int, instance_seed: int, algorithm: str, horizon: int, seed: int) -> dict:
    return online_cell(f"linear-d{d}", instance_seed, algorithm, horizon, seed, [horizon])


def compute(quick: bool) -> dict:
    size = _sizes(quick)
    dims, n, horizon, instances = size["dimensions"], size["N"], size["T"], size["instances"]
    offline = run_grid("dimension-scaling", _offline_cell, {"algorithm": OFFLINE_ALGORITHMS, "d": dims,
                                                            "instance_seed": instances, "seed": size["offline_seeds"]},
                       fixed={"n": n})
    online = run_grid("dimension-scaling", _online_cell, {"algorithm": ONLINE_ALGORITHMS, "d": dims,
                                                          "instance_seed": instances, "seed": size["online_seeds"]},
                      fixed={"horizon": horizon})
    results = {"offline": {}, "online": {}}
    for half, grid, what in (("offline", offline, "subopt"), ("online", online, "regret_T")):
        for alg in grid.axes["algorithm"]:
            per_dim = grid.where(algorithm=alg).take(what)  # (dims, instances, seeds)
            per_instance = per_dim.mean(axis=2).T  # (instances, dims): instance i of every d shares its seed
            fit = fit_loglog_slope(dims, per_instance)
            results[half][alg] = {"values": per_instance, "draws": per_dim, "d_exponent": fit.slope,
                                  "d_exponent_ci": [fit.low, fit.high]}
    results["online"]["vpo"]["certificates"] = [
        certificate_summary(list(online.where(algorithm="vpo", d=d).outputs.ravel())) for d in dims]
    config = {"dimensions": dims, "N": n, "T": horizon, "instance_seeds": instances,
              "seeds": size["offline_seeds"], "online_seeds": size["online_seeds"],
              "instance": "linear-d<d>",
              "offline": "the tuned hyperparameters, behaviour 'good' (uniform)",
              "online": "the tuned hyperparameters (policy-ref, declared class ‖θ‖ ≤ 4)",
              "reference_exponents": REFERENCE_EXPONENTS}
    return finish_record(summarize, quick=quick, config=config, results=results)


def summarize(record: dict) -> dict:
    """Each method's family mean at every d with its fitted d-exponent (interval over instances)."""
    return {half: _half_line(half, record["results"][half], record["config"]) for half in ("offline", "online")}


def _half_line(half: str, entries: dict, cfg: dict) -> str:
    what = f"SubOpt at N = {cfg['N']}" if half == "offline" else f"Regret({cfg['T']})"
    parts = []
    for alg, entry in entries.items():
        means = np.mean(entry["values"], axis=0)
        low, high = entry["d_exponent_ci"]
        parts.append(f"{alg} " + ", ".join(f"{v:.3g}" for v in means) + f" (d-exponent {entry['d_exponent']:+.2f} "
                     f"[{low:+.2f}, {high:+.2f}])")
    line = f"{what} at d = {', '.join(map(str, cfg['dimensions']))}: " + "; ".join(parts)
    line += f" — reference exponent {cfg['reference_exponents'][half]:g}"
    if half == "online":
        line += " — VPO rounds certified " + ", ".join(
            f"{c['rounds_certified']}/{c['rounds']}" for c in entries["vpo"]["certificates"])
    return line


def plot(record: dict, path: Path) -> None:
    cfg = record["config"]
    dims = np.asarray(cfg["dimensions"], dtype=float)
    fig, (axes,) = panels(2, width=5, height=3.8)
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
