"""How much a layer's representation changes over a run, read on the log-epoch axis the paper's figures use.

Why log time: a long run spends most of its epochs after perfect fitting, where representations barely
move; on a dense grid a plain mean over epoch pairs is dominated by that frozen tail, and the same run
on a log-spaced grid would give another number. Each grid epoch e_i therefore stands for the stretch of
log(1 + e) around it (half the distance to each neighbour), and averages are weighted by those widths:
the value approximates an integral over log time and is nearly the same on a dense and a log-spaced grid
of one run.

Definitions (S an epoch x epoch similarity matrix on `epochs`, NaN cells left out):
- log_weights:      w_i = (u_{i+1} - u_{i-1}) / 2 with u = log(1 + e), one-sided at the ends.
- weighted_change:  1 - sum_{i != j} w_i w_j S_ij / sum_{i != j} w_i w_j  (0 = never changed).
- return_to_init:   after perfect fitting at F, with the early-stopping epoch B (the test-error minimum):
                    rise = S[end, 0] - S[F, 0]   (similarity to initialisation gained after the fit)
                    drift = S[end, B] - S[F, B]  (similarity to the early-stopping representation)
                    F, B and end are snapped to the nearest grid epoch on the log axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from repdyn.analysis.matrix_checks import similarity_matrix


def log_weights(epochs: Sequence[int]) -> np.ndarray:
    """Each grid epoch's share of the log(1 + e) axis (sums to the axis' length; ones for a one-point grid)."""
    u = np.log1p(np.asarray(epochs, dtype=np.float64))
    if u.size < 2:
        return np.ones_like(u)
    edges = np.concatenate([[u[0]], (u[1:] + u[:-1]) / 2, [u[-1]]])
    return np.diff(edges)


def weighted_change(matrix: np.ndarray, epochs: Sequence[int]) -> float:
    """1 - the log-time weighted mean similarity between different grid epochs; NaN without a finite pair."""
    values, grid = similarity_matrix(matrix, epochs)
    w = log_weights(grid)
    pair = np.outer(w, w)
    keep = ~np.eye(len(grid), dtype=bool) & np.isfinite(values) & (pair > 0)
    if not keep.any():
        return math.nan
    return float(1.0 - (pair[keep] * values[keep]).sum() / pair[keep].sum())


def nearest_grid_epoch(epochs: Sequence[int], epoch: int) -> int:
    """The grid epoch closest to `epoch` on the log(1 + e) axis (the earlier one on ties)."""
    grid = np.asarray(epochs, dtype=np.float64)
    return int(grid[int(np.argmin(np.abs(np.log1p(grid) - math.log1p(epoch))))])


@dataclass(frozen=True)
class ReturnToInit:
    """Similarity to initialisation and to the early-stopping epoch, at perfect fitting and at the end."""

    fit_epoch: int  # the grid epoch standing for perfect fitting
    best_epoch: int  # the grid epoch standing for the early-stopping (test-error minimum) epoch
    end_epoch: int
    init_at_fit: float
    init_at_end: float
    best_at_fit: float
    best_at_end: float

    @property
    def rise(self) -> float:
        """Similarity to initialisation gained after the fit (positive: the layer moved back toward it)."""
        return self.init_at_end - self.init_at_fit

    @property
    def drift(self) -> float:
        """Change of similarity to the early-stopping representation after the fit (negative: moved away)."""
        return self.best_at_end - self.best_at_fit

    def as_dict(self) -> dict:
        return {**asdict(self), "rise": self.rise, "drift": self.drift}


def return_to_init(matrix: np.ndarray, epochs: Sequence[int], fit_epoch: int, best_epoch: int) -> ReturnToInit | None:
    """The post-fit return toward initialisation (module docstring); None when the grid has no epoch after the fit."""
    values, grid = similarity_matrix(matrix, epochs)
    grid_list = [int(e) for e in grid]
    fit = nearest_grid_epoch(grid_list, fit_epoch)
    end = grid_list[-1]
    if end <= fit:
        return None
    best = nearest_grid_epoch(grid_list, best_epoch)
    i = {e: k for k, e in enumerate(grid_list)}
    return ReturnToInit(
        fit,
        best,
        end,
        float(values[i[fit], 0]),
        float(values[i[end], 0]),
        float(values[i[fit], i[best]]),
        float(values[i[end], i[best]]),
    )
