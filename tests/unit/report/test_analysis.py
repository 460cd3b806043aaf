"""repdyn.report.analysis: the numbers a report reads off a similarity matrix."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from repdyn.report.analysis import cross_run_diagonal, mean_offdiag
from repdyn.report.readers import SimilarityResult


def test_mean_offdiag_ignores_the_diagonal_and_nan():
    m = np.array([[1.0, 0.2, np.nan], [0.2, 1.0, 0.6], [np.nan, 0.6, 1.0]])
    assert mean_offdiag(m) == pytest.approx(0.4)
    assert math.isnan(mean_offdiag(np.ones((1, 1))))


def test_cross_run_diagonal_pairs_equal_epochs_of_two_grids():
    m = np.arange(12, dtype=float).reshape(3, 4)  # rows: epochs 0, 2, 4; columns: 0, 1, 2, 4
    result = SimilarityResult("CKA", ["l"], {"l": m}, np.array([0, 2, 4]), np.array([0, 1, 2, 4]), Path("s"), Path("d"))
    assert cross_run_diagonal(result) == {"l": ([0, 2, 4], [0.0, 6.0, 11.0])}
