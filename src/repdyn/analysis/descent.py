"""Double descent on a test-error curve: a rise that noise cannot explain, followed by a second descent.

What it is for: the epoch-wise double-descent peak of a training run (events.py) and the probe test error
of a layer over an epoch grid. The rule holds its false-positive rate at any length and on any grid
(dense or log-spaced), because the margin a rise must clear is the null distribution of the largest
rise over that very grid, not one fixed number.

Rule (epochs strictly increasing; values fractions; the search region is the epochs <= fit_epoch, the whole
curve without one):
1. smoothed curve s: a running median over the points within NEAR_EPOCHS (2) epochs (a 5-epoch median on a
   dense grid), then a running mean over the points within LOG_WIDTH (0.05) of ln(1 + epoch), i.e. +-5 %
   of the epoch: long runs are smoothed in log time, short or sparse grids hardly at all.
2. noise sigma, estimated on the search region (before the fit): 1.4826 x the median of the scaled second
   differences |x_i - (w x_{i-1} + (1 - w) x_{i+1})| / sqrt(1 + w^2 + (1 - w)^2) (w the grid's interpolation
   weight; unit variance per unit noise). A linear trend does not enter it; quiet epochs after the fit do
   not lower it. A search region of fewer than MIN_NOISE_POINTS (12) points (a sparse grid, e.g. a probe's
   15 log-spaced epochs, where the curve's bends dominate most second differences) takes the whole curve's
   lower quartile instead, over 0.3186 (the lower quartile of |Z|): bends spoil it only where they dominate
   more than three quarters of the points.
3. largest rise R = max over i < j in the search region of s_j - s_i; the minimum is that i (the lowest s
   before the peak), the peak that j.
4. null: the same smoother and statistic on `draws` curves of independent normal noise on the search
   region's epochs, each divided by its own rule-2 sigma (studentised, so that the uncertainty of sigma on
   a short region is part of the null; seeded: equal inputs give equal answers). margin = max(MIN_RISE,
   sigma x the null's 1 - alpha quantile); p = (1 + #{sigma x null >= R}) / (1 + draws).
5. a rise is significant when R > margin. It is double descent when after the peak (anywhere later on
   the curve) s falls back by at least max(margin, DESCENT_SHARE x R); otherwise it is overfitting (a rise
   with no second descent), reported as such and never as double descent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from repdyn.config.integers import is_int

ALPHA = 0.05
MIN_RISE = 0.01
DESCENT_SHARE = 0.5
NEAR_EPOCHS = 2
LOG_WIDTH = 0.05
DRAWS = 1000
NULL_CHUNK = 100  # null draws smoothed at a time
TIE_DIGITS = 12  # smoothed values equal to this many decimals are ties (the earliest epoch counts)
MAD_TO_SIGMA = 1.4826  # median absolute deviation -> standard deviation of a normal distribution
ABS_NORMAL_QUANTILES = {0.5: 1 / MAD_TO_SIGMA, 0.25: 0.31864}  # quantiles of |Z|, Z standard normal
MIN_NOISE_POINTS = 12  # a shorter search region takes its noise from the whole curve's lower quartile


@dataclass(frozen=True)
class Rise:
    """The largest smoothed rise of a curve, its null margin and p-value, and what it is.

    kind: "double_descent", "overfitting" (significant rise, no second descent) or None (not significant).
    """

    kind: str | None
    minimum_epoch: int
    minimum_value: float
    peak_epoch: int
    peak_value: float
    rise: float
    margin: float
    p_value: float
    descent: float  # how far s falls after the peak (0 when nothing follows it)
    sigma: float

    def as_dict(self) -> dict[str, Any]:
        return {k: (float(v) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def double_descent(
    epochs: Sequence[int], values: Sequence[float], fit_epoch: int | None = None, **options: Any
) -> dict[str, Any] | None:
    """The double-descent peak as a dict (Rise.as_dict: minimum/peak epoch and value, rise, margin, p_value,
    descent, sigma, kind) or None when the curve shows none. `options` go to `read_rise`."""
    found = read_rise(epochs, values, fit_epoch, **options)
    return found.as_dict() if found is not None and found.kind == "double_descent" else None


def read_rise(
    epochs: Sequence[int],
    values: Sequence[float],
    fit_epoch: int | None = None,
    *,
    alpha: float = ALPHA,
    min_rise: float = MIN_RISE,
    descent_share: float = DESCENT_SHARE,
    draws: int = DRAWS,
    seed: int = 0,
) -> Rise | None:
    """Rules 1-5 of the module docstring; None when the search region has fewer than 3 points."""
    e, x = _checked(epochs, values)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    region = int(np.searchsorted(e, fit_epoch, side="right")) if fit_epoch is not None else e.size
    if region < 3:
        return None
    s = smooth(e, x)
    low, peak, rise = largest_rise(s[:region])
    noisy, quantile = (region, 0.5) if region >= MIN_NOISE_POINTS else (e.size, 0.25)
    sigma = noise_sigma(e[:noisy], x[:noisy], quantile)
    null = rise_null(e[:region], draws, seed, e[:noisy], quantile)
    margin = max(min_rise, sigma * float(np.quantile(null, 1 - alpha)))
    p_value = (1 + int(np.sum(sigma * null >= rise))) / (1 + draws)
    descent = float(s[peak] - s[peak + 1 :].min()) if peak + 1 < s.size else 0.0
    kind = None
    if rise > margin:
        kind = "double_descent" if descent >= max(margin, descent_share * rise) else "overfitting"
    return Rise(
        kind, int(e[low]), float(s[low]), int(e[peak]), float(s[peak]), float(rise), margin, p_value, descent, sigma
    )


def smooth(epochs: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Rule 1 along the last axis of `values` (one curve or a stack of null draws)."""
    near = _windows(epochs.astype(np.float64), NEAR_EPOCHS)
    median = _window_median(values, *near)
    low, high = _windows(np.log1p(epochs.astype(np.float64)), LOG_WIDTH)
    total = np.concatenate([np.zeros(median.shape[:-1] + (1,)), np.cumsum(median, axis=-1)], axis=-1)
    return (total[..., high] - total[..., low]) / (high - low)


def largest_rise(s: np.ndarray) -> tuple[int, int, float]:
    """(i, j, s_j - s_i) maximising the rise over i <= j; i is the first lowest point before j (values equal to
    TIE_DIGITS decimals are ties, so float rounding of a running mean never decides between them)."""
    gains = s - np.minimum.accumulate(s)
    peak = int(np.argmax(gains))
    low = int(np.argmin(np.round(s[: peak + 1], TIE_DIGITS)))
    return low, peak, float(gains[peak])


def largest_rises(s: np.ndarray) -> np.ndarray:
    """max over i <= j of s_j - s_i along the last axis (vectorised over null draws)."""
    return (s - np.minimum.accumulate(s, axis=-1)).max(axis=-1)


def noise_sigma(epochs: np.ndarray, values: np.ndarray, quantile: float = 0.5) -> float | np.ndarray:
    """Rule 2: robust noise of one point from grid-weighted second differences, along the last axis (0 with
    fewer than 3 points), from their median (quantile 0.5) or lower quartile (0.25)."""
    if values.shape[-1] < 3:
        return 0.0 if values.ndim == 1 else np.zeros(values.shape[:-1])
    t = epochs.astype(np.float64)
    w = (t[2:] - t[1:-1]) / (t[2:] - t[:-2])  # weight of the left neighbour in the linear interpolation
    residual = values[..., 1:-1] - (w * values[..., :-2] + (1 - w) * values[..., 2:])
    unit = np.sqrt(1 + w**2 + (1 - w) ** 2)
    sigma = np.quantile(np.abs(residual / unit), quantile, axis=-1) / ABS_NORMAL_QUANTILES[quantile]
    return float(sigma) if values.ndim == 1 else sigma


def rise_null(
    epochs: np.ndarray, draws: int, seed: int, noise_epochs: np.ndarray | None = None, quantile: float = 0.5
) -> np.ndarray:
    """Rule 4: the largest smoothed rise of `draws` pure-noise curves on `epochs`, each in units of its own
    rule-2 sigma read on `noise_epochs` (default `epochs`) with `quantile` (studentised: the null holds however
    few points the noise is estimated from). Cached per grid."""
    if not is_int(draws) or draws < 1:
        raise ValueError(f"draws must be a positive integer, got {draws!r}")
    noise_grid = epochs if noise_epochs is None else noise_epochs
    return _unit_null(
        tuple(int(e) for e in epochs), tuple(int(e) for e in noise_grid), int(draws), int(seed), float(quantile)
    )


@lru_cache(maxsize=16)
def _unit_null(
    epochs: tuple[int, ...], noise_epochs: tuple[int, ...], draws: int, seed: int, quantile: float
) -> np.ndarray:
    grid, noise_grid = np.asarray(epochs), np.asarray(noise_epochs)
    size = max(grid.size, noise_grid.size)  # one grid is the start of the other
    rng = np.random.default_rng(seed)
    parts = []
    for first in range(0, draws, NULL_CHUNK):  # bounded memory at E = 4001: the same stream as one call
        noise = rng.normal(0.0, 1.0, (min(NULL_CHUNK, draws - first), size))
        sigma = noise_sigma(noise_grid, noise[:, : noise_grid.size], quantile)
        parts.append(largest_rises(smooth(grid, noise[:, : grid.size])) / np.maximum(sigma, 1e-12))
    null = np.concatenate(parts)
    null.flags.writeable = False
    return null


def _windows(axis: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """[low, high) index ranges of the points within `width` of each point (axis increasing)."""
    return (
        np.searchsorted(axis, axis - width - 1e-12, side="left"),
        np.searchsorted(axis, axis + width + 1e-12, side="right"),
    )


def _window_median(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Median of values[..., low_i:high_i] for every i, vectorised (NaN padding sorts last)."""
    size = int((high - low).max())
    index = low[:, None] + np.arange(size)[None, :]
    valid = index < high[:, None]
    gathered = np.where(valid, values[..., np.minimum(index, values.shape[-1] - 1)], np.nan)
    ordered = np.sort(gathered, axis=-1)
    count = high - low
    a = np.take_along_axis(ordered, np.broadcast_to(((count - 1) // 2)[:, None], ordered.shape[:-1] + (1,)), -1)
    b = np.take_along_axis(ordered, np.broadcast_to((count // 2)[:, None], ordered.shape[:-1] + (1,)), -1)
    return (a[..., 0] + b[..., 0]) / 2


def _checked(epochs: Sequence[int], values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    e = np.asarray(epochs)
    x = np.asarray(values, dtype=np.float64)
    if e.ndim != 1 or x.shape != e.shape:
        raise ValueError(f"epochs and values must be 1-D of equal length, got shapes {e.shape} and {x.shape}")
    if e.size and (np.any(np.diff(e) <= 0) or np.any(e != np.round(e))):
        raise ValueError(f"epochs must be strictly increasing integers, got {list(e[:5])}...")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"values must be finite; epoch {int(e[~np.isfinite(x)][0])} is {x[~np.isfinite(x)][0]}")
    return e.astype(np.int64), x
