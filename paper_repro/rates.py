"""Rates measured, not asserted: log–log slope fits with bootstrap confidence intervals over seeds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SlopeFit", "fit_loglog_slope", "CheckedFit", "check_power_law"]


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


#: A bend is reported only when the best two-segment fit has at least this many sizes on each side.
MIN_SEGMENT_SIZES = 3
#: A segment whose exponent's interval reaches above this is flat: a plateau, not a rate.
PLATEAU_SLOPE = -0.15


@dataclass(frozen=True)
class CheckedFit:
    """A log–log fit with its range and a check that one power law describes the curve (see ``check_power_law``)."""

    overall: SlopeFit  # one exponent over the whole range
    sizes: tuple[float, float]  # the fit range
    local_slopes: tuple[float, ...]  # exponents over successive windows of three sizes (seed means)
    shape: str  # "power law", "bends" or "plateau then decline"
    breakpoint: float | None = None  # the size where the two segments meet (shape ≠ "power law")
    before: SlopeFit | None = None  # the segment up to the breakpoint
    after: SlopeFit | None = None  # the segment from it on
    variable: str = "N"  # what the sizes are called in the text (N samples, T rounds, d dimensions)

    def __str__(self) -> str:
        span = f"{self.variable} = {self.sizes[0]:g}–{self.sizes[1]:g}"
        if self.shape == "power law":
            return f"{self.overall} over {span}, one power law (local slopes {min(self.local_slopes):+.2f} … " \
                   f"{max(self.local_slopes):+.2f})"
        return (f"{self.shape}: {self.before} up to {self.variable} = {self.breakpoint:g}, then {self.after} (one exponent over "
                f"{span} would read {self.overall}, and would not describe the curve)")


def check_power_law(sizes, values, *, level: float = 0.95, seed: int = 0, variable: str = "N") -> CheckedFit:
    """``fit_loglog_slope`` over the whole range, checked: the best two-segment fit (at least ``MIN_SEGMENT_SIZES``
    sizes each side, sharing the breakpoint) replaces the single exponent when the two segments' bootstrap
    intervals are disjoint — a *bend*; a *plateau then decline* when the first segment's interval reaches above
    ``PLATEAU_SLOPE``. Local slopes over successive windows of three sizes are kept for the record.

    Args:
      sizes: (S,) positive sizes; values: (seeds, S) non-negative measurements, as in ``fit_loglog_slope``.
    """
    sizes = np.asarray(sizes, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    overall = fit_loglog_slope(sizes, values, level=level, seed=seed)
    log_n, log_mean = np.log(sizes), np.log(np.maximum(values.mean(axis=0), 1e-300))
    local = tuple(_slope(log_n[i:i + 3], log_mean[i:i + 3])[0] for i in range(len(sizes) - 2))
    span = (float(sizes[0]), float(sizes[-1]))
    candidates = range(MIN_SEGMENT_SIZES - 1, len(sizes) - MIN_SEGMENT_SIZES + 1)
    if not len(candidates):
        return CheckedFit(overall, span, local, "power law", variable=variable)

    def residual(k: int) -> float:  # the two segments' summed squared residuals, meeting at index k
        return sum(float(np.sum((np.polyval(np.polyfit(log_n[part], log_mean[part], 1), log_n[part])
                                 - log_mean[part]) ** 2)) for part in (slice(0, k + 1), slice(k, None)))

    k = min(candidates, key=residual)
    before = fit_loglog_slope(sizes[:k + 1], values[:, :k + 1], level=level, seed=seed)
    after = fit_loglog_slope(sizes[k:], values[:, k:], level=level, seed=seed)
    if before.low > after.high or after.low > before.high:  # disjoint: the exponent changes along the curve
        shape = "plateau then decline" if before.high > PLATEAU_SLOPE and after.slope < before.slope else "bends"
        return CheckedFit(overall, span, local, shape, float(sizes[k]), before, after, variable=variable)
    return CheckedFit(overall, span, local, "power law", variable=variable)
