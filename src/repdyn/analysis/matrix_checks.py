"""Validation of the (similarity matrix, epoch grid) pair every analysis takes.

Shared by blocks.py and init_curve.py so both reject bad input with the same
messages: a non-square matrix, a grid whose length differs from the matrix, a
grid that is not strictly increasing integers, or infinite cells (NaN cells are
legal: a layer whose representation is constant at an epoch, docs/algorithms.md §1.6).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def similarity_matrix(matrix: object, epochs: Sequence[int]) -> tuple[np.ndarray, tuple[int, ...]]:
    """Return (matrix as float64 E x E, epochs as a tuple of ints) or raise ValueError."""
    grid = epoch_grid(epochs)
    values = np.asarray(matrix)
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise ValueError(f"matrix must be square (E x E), got shape {values.shape}")
    if not (np.issubdtype(values.dtype, np.floating) or np.issubdtype(values.dtype, np.integer)):
        raise ValueError(f"matrix must hold numbers, got dtype {values.dtype}")
    if values.shape[0] != len(grid):
        raise ValueError(f"matrix is {values.shape[0]} x {values.shape[1]} but epochs has {len(grid)} entries")
    values = values.astype(np.float64, copy=False)
    if np.isinf(values).any():
        i, j = np.argwhere(np.isinf(values))[0]
        raise ValueError(f"matrix holds an infinite value at ({i}, {j}) (epochs {grid[i]}, {grid[j]})")
    return values, grid


def epoch_grid(epochs: Sequence[int]) -> tuple[int, ...]:
    """Epochs as a tuple of ints; ValueError unless non-empty, integral and strictly increasing."""
    values = np.asarray(epochs)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"epochs must be a non-empty 1-D sequence, got shape {values.shape}")
    if values.dtype == bool or not np.issubdtype(values.dtype, np.number) or np.any(values != np.round(values)):
        raise ValueError(f"epochs must be integers, got {list(epochs)[:5]}...")
    grid = tuple(int(e) for e in values)
    steps = np.diff(values)
    if (steps <= 0).any():
        k = int(np.argmax(steps <= 0)) + 1
        raise ValueError(f"epochs must be strictly increasing: epochs[{k}] = {grid[k]} follows {grid[k - 1]}")
    return grid
