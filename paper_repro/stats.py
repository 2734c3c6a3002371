"""Statistics over instance families: every measurement is (instances, data seeds) — I instances drawn from a family
(``make_instance(name, seed)``), S data seeds on each.

- ``family_interval``: the mean with a hierarchical bootstrap interval (resample instances, then each resampled
  instance's seeds): the variation between instances counts, not only the data's;
- ``paired_test``: A − B on the same instances and seeds (common random numbers): the mean difference, its hierarchical
  interval, and a two-sided p-value from the t-test on the per-instance mean differences (the instance is the unit of
  replication; df = I − 1; with one instance, the seeds are);
- ``holm``: Holm's step-down adjustment of a family of p-values (it controls the family-wise error at any level).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["family_interval", "paired_test", "holm", "BOOTSTRAP_RESAMPLES"]

#: Resamples of the hierarchical bootstrap; its seed is fixed so a summary is the same every time it is computed.
BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED = 4000, 0


def _as_family(values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[None, :]  # one instance
    if values.ndim != 2 or values.shape[1] < 1:
        raise ValueError(f"family values must be (instances, seeds), got shape {values.shape}")
    return values


def _hierarchical_means(values: np.ndarray, resamples: int) -> np.ndarray:
    """(resamples,) means of hierarchical bootstrap samples: instances with replacement, then seeds within each."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    I, S = values.shape
    instances = rng.integers(0, I, size=(resamples, I))  # (R, I)
    seeds = rng.integers(0, S, size=(resamples, I, S))  # (R, I, S)
    return values[instances[..., None], seeds].mean(axis=(1, 2))


def family_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of (instances, seeds) values: the percentile interval of the hierarchical bootstrap."""
    values = _as_family(values)
    means = _hierarchical_means(values, BOOTSTRAP_RESAMPLES)
    low, high = np.percentile(means, [50 * (1 - level), 50 * (1 + level)])
    return float(values.mean()), float(low), float(high)


def paired_test(first, second, level: float = 0.95) -> dict:
    """A − B paired on the same instances and data seeds: {"mean", "low", "high", "p_value", "instances", "seeds",
    "text"}; see the module docstring."""
    differences = _as_family(first) - _as_family(second)
    I, S = differences.shape
    mean, low, high = family_interval(differences, level)
    units = differences.mean(axis=1) if I > 1 else differences[0]  # the units of replication
    if len(units) < 2:
        raise ValueError("a paired test needs two instances or, with one instance, two data seeds")
    spread = units.std(ddof=1)
    if spread == 0:
        p_value = 1.0 if units.mean() == 0 else 0.0
    else:
        p_value = float(2 * stats.t.sf(abs(units.mean()) / (spread / np.sqrt(len(units))), len(units) - 1))
    return {"mean": mean, "low": low, "high": high, "p_value": p_value, "instances": I, "seeds": S,
            "text": f"{mean:+.3g} [{low:+.3g}, {high:+.3g}] ({I} instances × {S} seeds, p = {p_value:.2g})"}


def holm(p_values) -> list[float]:
    """Holm's adjusted p-values, in the order given: p_(k) adjusted = max_{j ≤ k} min(1, (m − j + 1)·p_(j))."""
    p_values = np.asarray(p_values, dtype=np.float64)
    m = len(p_values)
    order = np.argsort(p_values, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted.tolist()
