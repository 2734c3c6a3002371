"""Small statistics and plotting helpers shared by the figure scripts; provenance and atomic writes come from
``vpo_theory.records`` (re-exported here for the figure scripts)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vpo_theory.records import atomic_write, atomic_write_json, atomic_write_text, git_commit, provenance, to_json
from .tuned import tuned_values

__all__ = ["CACHE_ROOT", "cache_dir", "atomic_write_json", "atomic_write_text", "git_commit", "provenance",
           "mean_and_ci", "bootstrap_mean_interval", "mean_band", "mean_errorbar", "reference_slope",
           "readable_log_axes", "finish_panels", "save_figure", "pyplot", "certificate_summary", "json_ready", "finish_record",
           "paired_difference"]


#: Where figure modules cache finished cells; ``registry.run_figures`` points it at OUT/.cache.
CACHE_ROOT = Path("figures/.cache")


def json_ready(value):
    """``value`` as it will read back from its JSON record (arrays → lists): a figure's ``summarize`` then sees the
    same thing whether it runs right after ``compute`` or on a cached record."""
    return json.loads(json.dumps(value, default=to_json, allow_nan=True))


def finish_record(summarize, *, quick: bool, config: dict, tuned: bool = True, **parts) -> dict:
    """The record {"config": {"quick", **config, "tuned"}, **parts} as it reads back from JSON, with the summary its
    figure's ``summarize`` computes from it — the one path by which every summary is made, fresh or cached. ``tuned``:
    the config keeps the tuned hyperparameters the figure ran (False: the record makes them or runs none)."""
    config = {"quick": quick, **config} | ({"tuned": tuned_values()} if tuned else {})
    record = json_ready({"config": config, **parts})
    record["summary"] = summarize(record)
    return record


def cache_dir(name: str) -> Path:
    return CACHE_ROOT / name


def mean_and_ci(values, axis: int = 0, level: float = 0.95):
    """Mean and the half-width of a Student-t confidence interval over ``axis`` (seeds)."""
    from scipy import stats

    values = np.asarray(values, dtype=np.float64)
    n = values.shape[axis]
    mean = values.mean(axis=axis)
    if n < 2:
        return mean, np.zeros_like(mean)
    sem = values.std(axis=axis, ddof=1) / np.sqrt(n)
    return mean, sem * stats.t.ppf(0.5 + level / 2, n - 1)


def paired_difference(first, second, level: float = 0.95) -> dict:
    """The paired comparison of two methods over the same seeds: d_i = first_i − second_i.

    Returns {"mean", "low", "high" (the Student-t interval of the mean difference), "p_value" (two-sided, paired
    t-test of mean 0), "seeds", "text"}; a difference is a claim only where the interval excludes 0.
    """
    from scipy import stats

    differences = np.asarray(first, dtype=np.float64) - np.asarray(second, dtype=np.float64)
    if differences.ndim != 1 or len(differences) < 2:
        raise ValueError(f"paired_difference needs two equal-length lists of ≥ 2 per-seed values, got shape "
                         f"{differences.shape}")
    mean, half = mean_and_ci(differences, level=level)
    spread = differences.std(ddof=1)
    if spread == 0:  # every seed gives the same difference: certain, or no difference at all
        p_value = 1.0 if mean == 0 else 0.0
    else:
        p_value = float(2 * stats.t.sf(abs(mean) / (spread / np.sqrt(len(differences))), len(differences) - 1))
    low, high = float(mean - half), float(mean + half)
    return {"mean": float(mean), "low": low, "high": high, "p_value": p_value, "seeds": len(differences),
            "text": f"{mean:+.3g} [{low:+.3g}, {high:+.3g}] (paired over {len(differences)} seeds, p = {p_value:.2g})"}


#: Resamples of the percentile bootstrap; its seed is fixed so a replot draws the same intervals.
BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED = 4000, 0


def bootstrap_mean_interval(values, level: float = 0.95):
    """(mean, low, high) over the first axis (seeds): the percentile bootstrap interval of the mean.

    Unlike mean ± t·sem it stays inside the range of the data — a non-negative quantity (SubOpt, regret) gets a
    non-negative interval, and a skewed one an asymmetric interval.
    """
    values = np.asarray(values, dtype=np.float64)
    mean = values.mean(axis=0)
    if len(values) < 2:
        return mean, mean, mean
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    draws = values[rng.integers(0, len(values), size=(BOOTSTRAP_RESAMPLES, len(values)))].mean(axis=1)
    low, high = np.percentile(draws, [50 * (1 - level), 50 * (1 + level)], axis=0)
    return mean, low, high


def _interval(values, nonnegative: bool):
    """(mean, low, high): bootstrap percentile for quantities that cannot be negative, Student-t otherwise."""
    if nonnegative:
        return bootstrap_mean_interval(values)
    mean, ci = mean_and_ci(np.asarray(values))
    return mean, mean - ci, mean + ci


#: Below this many seeds an interval says little (Student-t with one degree of freedom multiplies the spread by
#: 12.7): the figures draw each seed instead.
MIN_SEEDS_FOR_INTERVAL = 3


def mean_band(ax, x, curves, color: str, label: str, *, nonnegative: bool = False) -> None:
    """The seed mean of ``curves`` (seeds, len(x)) as a line with its 95 % interval as a band (each seed as a thin
    line when there are too few seeds for an interval)."""
    mean, low, high = _interval(curves, nonnegative)
    ax.plot(x, mean, color=color, label=label)
    if not _each_seed(ax, x, curves, color, {"lw": 0.6}):
        ax.fill_between(x, low, high, color=color, alpha=0.2)


def mean_errorbar(ax, x, values, color: str, label: str, *, nonnegative: bool = False) -> None:
    """The seed mean of ``values`` (seeds, len(x)) as points with 95 % interval error bars (each seed as a small
    point when there are too few seeds for an interval)."""
    mean, low, high = _interval(values, nonnegative)
    if _each_seed(ax, x, values, color, {"ls": "none", "marker": ".", "ms": 2}):
        ax.plot(x, mean, marker="o", ms=3, color=color, label=label)
    else:
        ax.errorbar(x, mean, yerr=[mean - low, high - mean], marker="o", ms=3, capsize=2, color=color, label=label)


def _each_seed(ax, x, per_seed, color: str, style: dict) -> bool:
    """With fewer seeds than an interval needs, draw each seed faintly and say so (True); else draw nothing."""
    per_seed = np.asarray(per_seed, dtype=np.float64)
    if len(per_seed) >= MIN_SEEDS_FOR_INTERVAL:
        return False
    for row in per_seed:
        ax.plot(x, row, color=color, alpha=0.5, **style)
    return True


def reference_slope(ax, x, start: float, exponent: float, label: str) -> None:
    """A dotted grey power law ∝ x^exponent through (x[0], start): the rate a claim is compared with."""
    x = np.asarray(x, dtype=np.float64)
    ax.plot(x, start * (x / x[0]) ** exponent, color="0.45", ls=":", lw=1.2, label=label)


def readable_log_axes(ax) -> None:
    """Log axes labelled at 1, 2, 5 × 10^k where the axis spans up to three decades, at 10^k only beyond (no crowded
    or overlapping labels)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for axis, scale, limits in ((ax.xaxis, ax.get_xscale(), ax.get_xlim()), (ax.yaxis, ax.get_yscale(), ax.get_ylim())):
        if scale == "log":
            low, high = (max(min(limits), 1e-300), max(limits))
            subs = (1.0, 2.0, 5.0) if np.log10(high / low) <= 3 else (1.0,)
            axis.set_major_locator(LogLocator(base=10, subs=subs))
            axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            axis.set_minor_formatter(NullFormatter())


def panels(count: int, *, width: float, height: float, rows: int = 1):
    """A new figure of ``rows`` × ``count`` panels, each about width × height inches: (figure, axes (rows, count))."""
    return pyplot().subplots(rows, count, figsize=(width * count, height * rows), squeeze=False, layout="constrained")


def finish_panels(fig, axes, path: Path, *, xlabel: str, ylabel: str, title: str, loglog: bool = True) -> None:
    """Label a row of panels (log–log by default; each panel keeps its own title), the first one's y axis and the
    figure, and save it."""
    for ax in np.atleast_1d(axes):
        ax.set(xlabel=xlabel, **({"xscale": "log", "yscale": "log"} if loglog else {}))
        readable_log_axes(ax)
        ax.legend(fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel(ylabel)
    fig.suptitle(title)
    save_figure(fig, path)


def save_figure(figure, path: Path) -> None:
    """Save a matplotlib figure through a temporary file and a rename."""
    import matplotlib.pyplot as plt

    path = Path(path)
    atomic_write(path, lambda temporary: figure.savefig(temporary, format=path.suffix.lstrip("."), dpi=130,
                                                        bbox_inches="tight"))
    plt.close(figure)


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def certificate_summary(cells: list[dict]) -> dict:
    """Over the online cells ({"certificate", "seconds_per_round", ...}) whose VPO step was certified: rounds
    certified, rounds, the largest gap / tolerance and the mean time per round; {} when there are none."""
    runs = [cell for cell in cells if cell["certificate"].get("method") == "certified"]
    if not runs:
        return {}
    return {"rounds_certified": int(sum(cell["certificate"]["rounds_certified"] for cell in runs)),
            "rounds": int(sum(cell["certificate"]["rounds"] for cell in runs)),
            "max_gap_over_tolerance": float(max(cell["certificate"]["max_gap_over_tolerance"] for cell in runs)),
            "seconds_per_round": float(sum(cell["seconds_per_round"] for cell in runs) / len(runs))}
