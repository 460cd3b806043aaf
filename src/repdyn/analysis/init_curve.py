"""Similarity to initialisation: row 0 of an epoch x epoch matrix, summarised.

Representations move away from their initial state as training starts; the
question this module answers from S[0, :] is whether, where and how far the
similarity to initialisation stops falling and turns back up.

Definitions (grid epochs, NaN values skipped throughout):
- minimum: the smallest value over epochs after the reference epoch epochs[0]
  (the reference itself is 1 by construction); first such epoch on ties.
- turn-up epoch: the first grid epoch after the minimum at which the curve has
  risen above min_value + tolerance — the earliest point at which the rebound
  is distinguishable from noise of size `tolerance`. None if it never rises that
  far (the curve stays down or keeps falling).
- end value: the value at the last grid epoch whose value is not NaN;
  rebound = end_value − min_value (0 when the minimum is at the end).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from repdyn.analysis.matrix_checks import similarity_matrix
from repdyn.config.integers import is_number


@dataclass(frozen=True)
class InitCurve:
    """Similarity of every grid epoch to the first one, with its minimum and rebound."""

    epochs: tuple[int, ...]
    values: tuple[float, ...]
    reference_epoch: int
    min_epoch: int
    min_value: float
    turn_up_epoch: int | None
    end_value: float
    rebound: float
    tolerance: float

    def as_dict(self) -> dict:
        """JSON-ready mapping (lists instead of tuples, NaN -> None)."""
        raw = asdict(self)
        raw["epochs"] = list(self.epochs)
        raw["values"] = [None if math.isnan(v) else v for v in self.values]
        return raw


def init_curve(matrix: np.ndarray, epochs: Sequence[int], *, tolerance: float = 0.02) -> InitCurve:
    """Summarise S[0, :] (see the module docstring for the definitions).

    ValueError for a grid of one epoch, a row 0 that is NaN at every later
    epoch, or a negative / non-finite `tolerance` (TypeError for a non-number).
    """
    values, grid = similarity_matrix(matrix, epochs)
    if not is_number(tolerance):
        raise TypeError(f"tolerance must be a number, got {tolerance!r}")
    if not math.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance!r}")
    if len(grid) < 2:
        raise ValueError(f"init_curve needs at least two epochs, got epochs {list(grid)}")
    row = values[0]
    later = row[1:]
    if np.isnan(later).all():
        raise ValueError(
            f"row 0 of the matrix (similarity to epoch {grid[0]}) is NaN at every later epoch "
            f"{grid[1]}..{grid[-1]}: nothing to summarise"
        )
    low = 1 + int(np.nanargmin(later))  # first minimum
    min_value = float(row[low])
    risen = np.flatnonzero(row[low + 1 :] > min_value + tolerance)  # NaN compares False: skipped
    turn_up = grid[low + 1 + int(risen[0])] if risen.size else None
    end_value = float(later[np.flatnonzero(~np.isnan(later))[-1]])
    return InitCurve(
        epochs=grid,
        values=tuple(float(v) for v in row),
        reference_epoch=grid[0],
        min_epoch=grid[low],
        min_value=min_value,
        turn_up_epoch=turn_up,
        end_value=end_value,
        rebound=end_value - min_value,
        tolerance=float(tolerance),
    )
