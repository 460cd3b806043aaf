"""Similarity blocks in log time: segments of steady drift on the paper's axis u = ln(1 + epoch).

What it is for: a representation that drifts at a steady pace in log time (similarity a function of
|u_i - u_j| only) has no phase, whatever the number of epochs and whether the grid is dense or log-spaced;
a change of pace (fast change, then frozen), a plateau or a jump is a transition.

1. resample: S is read at LOG_POINTS (200) points t_k evenly spaced in u from the first to the last grid
   epoch, by bilinear interpolation between the neighbouring grid epochs. Every stretch of log time then
   weighs the same (a plain dense grid gives the last decade of epochs 90 % of the weight), and steady
   log-time drift is a Toeplitz matrix in k.
2. cost of a block B of resampled points: the squared deviation of its cells from the block's own lag
   profile (the mean of each diagonal of S restricted to B): Σ_lags Σ_cells (S_ab - mean_lag)². A block of
   steady drift, at any pace, costs only its noise; a block that joins two paces, or a plateau and drift,
   costs their mismatch. The segmentation minimises Σ cost + penalty·(number of blocks) exactly (dynamic
   programming over block ends, O(K³) with prefix sums along the diagonals).
3. penalty: LOG_PENALTY_FACTOR (50) x sigma² x K, sigma the robust (MAD) scale of S minus its global lag
   profile (at least NOISE_FLOOR_SD, 0.01): a split adds about K fitted lag means, each worth sigma² of
   noise; the factor is calibrated on steady log-time drift (bench/readout_calibration.py).
4. strength of a transition: the cost of its two neighbouring blocks merged minus apart, over the penalty
   (at least 1 for a cut the optimum keeps).
Transitions are reported at the grid epoch nearest (in u) to the resampled point where a block starts.
"""

from __future__ import annotations

import numpy as np

LOG_POINTS = 200
LOG_PENALTY_FACTOR = 50.0
NOISE_FLOOR_SD = 0.01
MAD_TO_SIGMA = 1.4826


def log_axis(epochs: np.ndarray) -> np.ndarray:
    """u = ln(1 + epoch), the paper's log axis."""
    return np.log1p(np.asarray(epochs, dtype=np.float64))


def resample(kernel: np.ndarray, epochs: np.ndarray, points: int = LOG_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Rule 1: (S at `points` even steps t of u, t); bilinear between neighbouring grid epochs."""
    u = log_axis(epochs)
    t = np.linspace(u[0], u[-1], points)
    if u.size < 2:
        return np.full((points, points), kernel[0, 0]), t
    right = np.clip(np.searchsorted(u, t, side="right"), 1, u.size - 1)
    left = right - 1
    w = np.clip((t - u[left]) / (u[right] - u[left]), 0.0, 1.0)
    out = np.zeros((points, points))
    for rows, wr in ((left, 1 - w), (right, w)):
        for cols, wc in ((left, 1 - w), (right, w)):
            out += wr[:, None] * wc[None, :] * kernel[np.ix_(rows, cols)]
    return out, t


def lag_means(matrix: np.ndarray) -> np.ndarray:
    """The Toeplitz matrix of the mean of each diagonal (the global steady-drift profile)."""
    size = matrix.shape[0]
    means = np.array([np.diagonal(matrix, lag).mean() for lag in range(size)])
    positions = np.arange(size)
    return means[np.abs(positions[:, None] - positions[None, :])]


def log_penalty(resampled: np.ndarray) -> float:
    """Rule 3."""
    size = resampled.shape[0]
    off = (resampled - lag_means(resampled))[np.triu_indices(size, 1)]
    sigma = MAD_TO_SIGMA * float(np.median(np.abs(off - np.median(off)))) if off.size else 0.0
    return LOG_PENALTY_FACTOR * max(sigma, NOISE_FLOOR_SD) ** 2 * size


class DiagonalSums:
    """Prefix sums of every diagonal of S and of S² (upper triangle, lag 0 included)."""

    def __init__(self, matrix: np.ndarray):
        size = matrix.shape[0]
        self.first = np.zeros((size, size + 1))
        self.second = np.zeros((size, size + 1))
        for lag in range(size):
            d = np.diagonal(matrix, lag)
            self.first[lag, 1:size - lag + 1] = np.cumsum(d)
            self.second[lag, 1:size - lag + 1] = np.cumsum(d * d)
            self.first[lag, size - lag + 1:] = self.first[lag, size - lag]
            self.second[lag, size - lag + 1:] = self.second[lag, size - lag]

    def costs(self, starts: np.ndarray, stop: int) -> np.ndarray:
        """Rule 2's cost of the blocks [a, stop) for every a in `starts`."""
        a = starts[:, None]
        lag = np.arange(stop)[None, :]
        valid = a + lag < stop
        end = np.where(valid, stop - lag, 0)
        begin = np.minimum(np.broadcast_to(a, end.shape), end)
        lags = np.broadcast_to(lag, end.shape)
        total = self.first[lags, end] - self.first[lags, begin]
        squares = self.second[lags, end] - self.second[lags, begin]
        count = np.maximum(stop - a - lag, 1)
        return np.where(valid, squares - total * total / count, 0.0).sum(axis=1)


def segment(matrix: np.ndarray, penalty: float, min_block: int) -> list[int]:
    """Rule 2's exact optimum: the positions where blocks start (ties: the earliest start of the last block)."""
    size = matrix.shape[0]
    if size < 2 * min_block:
        return [0]
    sums = DiagonalSums(matrix)
    best = np.full(size + 1, np.inf)
    best[0] = 0.0
    previous = np.zeros(size + 1, dtype=np.int64)
    for stop in range(min_block, size + 1):
        starts = np.arange(stop - min_block + 1)
        totals = best[starts] + sums.costs(starts, stop) + penalty
        choice = int(np.argmin(totals))
        best[stop], previous[stop] = totals[choice], choice
    found, stop = [], size
    while stop > 0:
        stop = int(previous[stop])
        found.append(stop)
    return found[::-1]


def strengths(matrix: np.ndarray, starts: list[int], penalty: float) -> tuple[float, ...]:
    """Rule 4 for every transition (starts[1:])."""
    sums = DiagonalSums(matrix)
    bounds = starts + [matrix.shape[0]]
    out = []
    for a, b, c in zip(bounds, bounds[1:], bounds[2:]):
        saved = _block(sums, a, c) - _block(sums, a, b) - _block(sums, b, c)
        out.append(float(saved / penalty) if penalty > 0 else float("inf"))
    return tuple(out)


def _block(sums: DiagonalSums, first: int, stop: int) -> float:
    """Rule 2's cost of the block [first, stop)."""
    return float(sums.costs(np.array([first]), stop)[0])


def grid_starts(starts: list[int], t: np.ndarray, epochs: np.ndarray) -> tuple[list[int], list[int]]:
    """(grid positions, resampled starts kept): each block start at the grid epoch nearest to it in u; a start
    that lands on the grid position of an earlier one is dropped (its block has no grid epoch of its own)."""
    u = log_axis(epochs)
    positions, kept = [0], [0]
    for s in starts[1:]:
        nearest = int(np.argmin(np.abs(u - t[s])))
        if nearest > positions[-1]:
            positions.append(nearest)
            kept.append(s)
    return positions, kept
