"""confidence-coverage: ‖θ̂ − θ*‖_{Σ_D+λI} against the bound's shape, and the coverage of C per c_Γ  (theory §8).

Shape(N) = sqrt((d + log(1/δ))/(κ²N) + λB²) is the confidence radius with c_Γ = 1. If the
bound's N-dependence holds, the ratio distance/shape stays bounded as N grows; the smallest
c_Γ whose set covers θ* in ≥ 1 − δ of the draws is what LCB uses by default.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpo_theory import make_instance
from vpo_theory.offline import mle_confidence

from ..common import pyplot, readable_log_axes, save_figure
from ..figure import Figure, register
from ..sweep import run_cells

SETTINGS = [("tabular-small", None), ("offline-poor-coverage", "poor"), ("linear-d8", "good"), ("linear-d8", "poor")]
DELTA = 0.05


def _cell(instance_name, behavior, n, seed):
    confidence, theta_star = mle_confidence(make_instance(instance_name, 0), n, seed, behavior=behavior, delta=DELTA)
    return confidence.distance(theta_star), confidence.radius


def compute(quick: bool) -> dict:
    sizes = [100, 400, 1600] if quick else [100, 200, 400, 800, 1600, 3200, 6400]
    seeds = list(range(20 if quick else 100))
    cells = [(inst, beh, n, s) for inst, beh in SETTINGS for n in sizes for s in seeds]
    out = np.array(run_cells(_cell, cells, desc="confidence-coverage")).reshape(len(SETTINGS), len(sizes), len(seeds), 2)
    results, summary = {}, {}
    for i, (inst, beh) in enumerate(SETTINGS):
        label = f"{inst} ({beh or 'default'} behaviour)"
        distance, shape = out[i, :, :, 0], out[i, :, :, 1]  # (sizes, seeds)
        ratio = distance / shape
        c_needed = float(np.quantile(ratio, 1 - DELTA))
        results[label] = {"distance": distance, "shape": shape[:, 0], "ratio": ratio, "c_gamma_for_coverage": c_needed,
                          "class": "linear" if inst.startswith("linear") else "tabular"}
        q = np.quantile(ratio, 1 - DELTA, axis=1)
        summary[label] = (f"ratio distance/shape, 95% quantile per N: {', '.join(f'{v:.3g}' for v in q)}; "
                          f"smallest c_Γ with coverage ≥ {1 - DELTA:.2f}: {c_needed:.3g}")
    for cls in ("tabular", "linear"):
        values = [r["c_gamma_for_coverage"] for r in results.values() if r["class"] == cls]
        summary[f"default c_Γ ({cls})"] = f"{max(values):.3g} (largest over this class's settings)"
    return {"config": {"quick": quick, "sizes": sizes, "seeds": seeds, "delta": DELTA,
                       "settings": [list(s) for s in SETTINGS]},
            "results": results, "summary": summary}


def plot(record: dict, path: Path) -> None:
    plt = pyplot()
    sizes = np.array(record["config"]["sizes"])
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(14, 4))
    grid = np.logspace(-4, 1, 200)
    for k, (label, entry) in enumerate(record["results"].items()):
        distance = np.asarray(entry["distance"])
        ratio = np.asarray(entry["ratio"])
        color = f"C{k}"
        left.plot(sizes, distance.mean(axis=1), "o-", color=color, ms=3, label=label)
        left.plot(sizes, np.asarray(entry["shape"]) * entry["c_gamma_for_coverage"], "--", color=color, lw=1)
        middle.plot(sizes, np.quantile(ratio, 0.95, axis=1), "o-", color=color, ms=3, label=label)
        right.plot(grid, [(ratio <= c).mean() for c in grid], color=color, label=label)
    left.set(xscale="log", yscale="log", xlabel="N", title="‖θ̂ − θ*‖ (mean; dashed: c_Γ·shape)")
    middle.set(xscale="log", yscale="log", xlabel="N", title="distance / shape, 95% quantile over seeds")
    right.axhline(1 - record["config"]["delta"], color="k", lw=0.8, ls=":")
    right.set(xscale="log", xlabel="c_Γ", ylabel="coverage of C", title="coverage per c_Γ")
    for ax in (left, middle, right):
        readable_log_axes(ax)
    left.legend(fontsize=7)
    save_figure(fig, path)


register(Figure("confidence-coverage",
                "measured ‖θ̂ − θ*‖ vs the concentration bound's shape; coverage of the confidence set per c_Γ",
                compute, plot))
