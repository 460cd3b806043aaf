"""Synthetic inputs with known answers, on which the readouts are calibrated (bench/readout_calibration.py)
and tested (tests/unit/analysis/test_surrogates.py).

Test-error curves: a first descent (0.9, 0.6, 0.4 at epochs 0-2), then a shape, with normal noise whose
scale may differ before and after the fit. Similarity matrices: points moving along a line at a pace set in
log time, S_ij = exp(-|x_i - x_j| / length) (a PSD kernel, as CKA is), plus symmetric normal noise.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FIRST_DESCENT = (0.9, 0.6, 0.4)
LEVEL = 0.30


def error_curve(
    memorisation: int,
    *,
    shape: str = "flat",
    rise: float = 0.05,
    after: int | None = None,
    noise_before: float = 0.012,
    noise_after: float | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, int]:
    """(epochs, test error, fit epoch): the minimum at 3, perfect fitting at 3 + `memorisation`.

    shape: "flat" (no peak), "peak" (rises by `rise` to the middle of memorisation, back down at the fit),
    "overfit" (rises by `rise` until the fit and stays up). `after`: epochs after the fit (default
    max(30, memorisation)); noise_after defaults to noise_before.
    """
    fit = 3 + memorisation
    epochs = np.arange(fit + 1 + (max(30, memorisation) if after is None else after))
    curve = np.full(epochs.size, LEVEL)
    curve[:3] = FIRST_DESCENT
    inside = (epochs >= 3) & (epochs <= fit)
    if shape == "peak":
        middle = 3 + memorisation / 2
        curve[inside] += rise * (1 - np.abs(epochs[inside] - middle) / (memorisation / 2))
    elif shape == "overfit":
        curve[inside] += rise * (epochs[inside] - 3) / memorisation
        curve[epochs > fit] += rise
    elif shape != "flat":
        raise ValueError(f"shape must be flat, peak or overfit, got {shape!r}")
    rng = np.random.default_rng(seed)
    scale = np.where(epochs <= fit, noise_before, noise_before if noise_after is None else noise_after)
    noisy = curve + rng.normal(0.0, 1.0, epochs.size) * scale
    noisy[:3] = FIRST_DESCENT
    return epochs, noisy, fit


def log_grid(last: int, points: int) -> np.ndarray:
    """About `points` distinct integer epochs 0..last, evenly spaced in ln(1 + epoch)."""
    return np.unique(np.round(np.expm1(np.linspace(0.0, np.log1p(last), points))).astype(np.int64))


def log_drift_positions(
    epochs: Sequence[int],
    speed: float,
    *,
    drop_at: int | None = None,
    drop: float = 10.0,
    plateaus: Sequence[tuple[int, int]] = (),
) -> np.ndarray:
    """Positions x(epoch) moving at `speed` per unit of ln(1 + epoch); after `drop_at` the pace is divided by
    `drop`; inside each plateau (first, last) epoch the position does not move (a plateau on drift)."""
    u = np.log1p(np.asarray(epochs, dtype=np.float64))
    pace = np.full(u.size - 1, float(speed))
    mids = np.expm1((u[1:] + u[:-1]) / 2)
    if drop_at is not None:
        pace[mids >= drop_at] /= drop
    for first, last in plateaus:
        pace[(mids >= first) & (mids <= last)] = 0.0
    return np.concatenate([[0.0], np.cumsum(pace * np.diff(u))])


def drift_matrix(positions: np.ndarray, *, length: float = 1.0, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """exp(-|x_i - x_j| / length) with symmetric normal noise of scale `noise`, diagonal 1."""
    x = np.asarray(positions, dtype=np.float64)
    matrix = np.exp(-np.abs(x[:, None] - x[None, :]) / length)
    if noise:
        jitter = np.random.default_rng(seed).normal(0.0, noise, matrix.shape)
        matrix += (jitter + jitter.T) / 2
    np.fill_diagonal(matrix, 1.0)
    return matrix
