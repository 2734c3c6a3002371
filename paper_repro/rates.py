"""Rates measured, not asserted: log–log slope fits with bootstrap confidence intervals over seeds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SlopeFit", "fit_loglog_slope"]


@dataclass(frozen=True)
class SlopeFit:
    slope: float  # exponent b in value ≈ a·N^b, fitted on the seed-mean curve
    low: float  # lower end of the confidence interval
    high: float  # upper end
    intercept: float  # log a

    def __str__(self) -> str:
        return f"{self.slope:+.2f} [{self.low:+.2f}, {self.high:+.2f}]"


def _slope(log_n: np.ndarray, log_values: np.ndarray) -> tuple[float, float]:
    slope, intercept = np.polyfit(log_n, log_values, 1)
    return float(slope), float(intercept)


def fit_loglog_slope(sizes, values, *, level: float = 0.95, num_bootstrap: int = 2000, seed: int = 0) -> SlopeFit:
    """Fit log(mean over seeds of ``values``) = log a + b·log(sizes).

    Args:
      sizes: (S,) positive sizes (N or T).
      values: (seeds, S) positive measurements (SubOpt or regret) per seed.
    The interval resamples seeds with replacement (a seed's whole curve at once, so the
    correlation across sizes within a seed is kept) and refits.
    """
    sizes = np.asarray(sizes, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != len(sizes):
        raise ValueError(f"`values` must have shape (seeds, {len(sizes)}), got {values.shape}")
    if np.any(sizes <= 0) or np.any(values < 0) or not np.all(np.isfinite(values)):
        raise ValueError("`sizes` must be > 0 and `values` finite and >= 0 for a log–log fit")
    floor = 1e-300
    log_n = np.log(sizes)
    slope, intercept = _slope(log_n, np.log(np.maximum(values.mean(axis=0), floor)))
    rng = np.random.default_rng(seed)
    num_seeds = values.shape[0]
    boots = np.empty(num_bootstrap)
    for b in range(num_bootstrap):
        sample = values[rng.integers(0, num_seeds, size=num_seeds)]
        boots[b] = _slope(log_n, np.log(np.maximum(sample.mean(axis=0), floor)))[0]
    tail = (1 - level) / 2
    return SlopeFit(slope, float(np.quantile(boots, tail)), float(np.quantile(boots, 1 - tail)), intercept)
