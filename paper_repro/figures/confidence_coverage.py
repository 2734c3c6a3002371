"""confidence-coverage: ‖θ̂ − θ⋆‖_{Σ_D+λI} against the bound's shape, and the coverage of C per c_Γ  (theory §8).

Shape(N) = sqrt((d + log(1/δ))/(κ²N) + λB²) is the confidence radius with c_Γ = 1. If the
bound's N-dependence holds, the ratio distance/shape stays bounded as N grows; the smallest
c_Γ whose set covers θ⋆ in ≥ 1 − δ of the draws is measured here, on the figures' instance families (8 instances ×
20 data seeds per setting and N), beside the coverage that the tuned c_Γ (chosen by the ``tuning`` figure on other
instances and data) achieves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpo_theory.offline import mle_confidence

from ..cells import data_seeds, family_instance, instance_seeds
from ..common import finish_record, pyplot, readable_log_axes, save_figure
from ..figure import Figure, register
from ..sweep import run_cells

SETTINGS = [("tabular-small", None), ("offline-poor-coverage", "poor"), ("linear-d8", "good"), ("linear-d8", "poor")]
DELTA = 0.05


def _cell(instance_name, instance_seed, behavior, n, seed):
    confidence, theta_star = mle_confidence(family_instance(instance_name, instance_seed), n, seed, behavior=behavior,
                                            delta=DELTA)
    return confidence.distance(theta_star), confidence.radius


def compute(quick: bool) -> dict:
    sizes = [100, 400, 1600] if quick else [100, 200, 400, 800, 1600, 3200, 6400]
    instances, seeds = instance_seeds(quick), data_seeds(quick, full=20, small=10)
    cells = [(inst, i, beh, n, s) for inst, beh in SETTINGS for n in sizes for i in instances for s in seeds]
    out = np.array(run_cells(_cell, cells, desc="confidence-coverage"))
    out = out.reshape(len(SETTINGS), len(sizes), len(instances) * len(seeds), 2)  # draws: instances × data seeds
    results = {}
    for i, (inst, beh) in enumerate(SETTINGS):
        label = f"{inst} ({beh or 'default'} behaviour)"
        distance, shape = out[i, :, :, 0], out[i, :, :, 1]  # (sizes, seeds)
        ratio = distance / shape
        results[label] = {"distance": distance, "shape": shape[:, 0], "ratio": ratio,
                          "c_gamma_for_coverage": float(np.quantile(ratio, 1 - DELTA)),
                          "class": "linear" if inst.startswith("linear") else "tabular"}
    config = {"sizes": sizes, "instance_seeds": instances, "seeds": seeds, "delta": DELTA,
              "settings": [list(s) for s in SETTINGS]}
    return finish_record(summarize, quick=quick, config=config, results=results)


def summarize(record: dict) -> dict:
    """Per setting: the 95 % quantile of distance/shape per N, the smallest c_Γ that covers θ⋆ in ≥ 1 − δ of these
    draws, and the coverage that the default c_Γ of its class (chosen by the tuning figure on other instances and
    data) achieves here."""
    return {label: _coverage_line(entry, record["config"]) for label, entry in record["results"].items()}


def _coverage_line(entry: dict, cfg: dict) -> str:
    delta = cfg["delta"]
    ratio = np.asarray(entry["ratio"])  # (sizes, seeds)
    default = cfg["tuned"]["coverage_c_gamma"][entry["class"]]
    quantiles = np.quantile(ratio, 1 - delta, axis=1)
    per_size = (ratio <= default).mean(axis=1)
    return (f"ratio distance/shape, {1 - delta:.0%} quantile per N: "
            f"{', '.join(f'{v:.3g}' for v in quantiles)}; smallest c_Γ with coverage ≥ {1 - delta:.2f} "
            f"here: {entry['c_gamma_for_coverage']:.3g}; coverage at the default c_Γ = {default:.3g}: "
            f"{(ratio <= default).mean():.3f} (per N {', '.join(f'{v:.2f}' for v in per_size)})")


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
    for cls, c_gamma in record["config"]["tuned"]["coverage_c_gamma"].items():  # chosen by the tuning figure
        right.axvline(c_gamma, color="0.5", lw=0.8, ls="--")
        right.annotate(f"default ({cls})", (c_gamma, 0.05), rotation=90, fontsize=6, color="0.4")
    right.set(xscale="log", xlabel="c_Γ", ylabel="coverage of C", title="coverage per c_Γ")
    for ax in (left, middle, right):
        readable_log_axes(ax)
    left.legend(fontsize=7)
    save_figure(fig, path)


register(Figure("confidence-coverage",
                "measured ‖θ̂ − θ*‖ vs the concentration bound's shape; coverage of the confidence set per c_Γ",
                compute, plot, summarize))
