"""Mean similarity between different epochs: the one-number stability of a layer (summary.json, reports)."""

from __future__ import annotations

import math

import numpy as np


def mean_offdiag(matrix: np.ndarray) -> float:
    """Mean over cells i != j, NaN cells left out; NaN if no such cell is finite (e.g. a one-epoch grid)."""
    m = np.asarray(matrix, dtype=np.float64)
    off = m[~np.eye(m.shape[0], dtype=bool)]
    off = off[np.isfinite(off)]
    return float(off.mean()) if off.size else math.nan
