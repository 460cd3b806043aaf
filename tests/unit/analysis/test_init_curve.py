"""repdyn.analysis.init_curve: the similarity-to-initialisation curve on curves of known shape."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from support.grids import IRREGULAR

from repdyn.analysis import Blocks, detect_blocks, init_curve


def with_first_row(row) -> np.ndarray:
    """A symmetric matrix whose row 0 is `row`; other cells are irrelevant to init_curve."""
    row = np.asarray(row, dtype=float)
    matrix = np.full((row.size, row.size), 0.5)
    matrix[0, :] = row
    matrix[:, 0] = row
    np.fill_diagonal(matrix, 1.0)
    matrix[0, 0] = row[0]
    return matrix


def test_v_shaped_curve():
    epochs = IRREGULAR[:40]
    down = np.linspace(1.0, 0.4, 21)  # minimum at grid position 20
    up = 0.4 + 0.01 * np.arange(1, 20)  # rises by 0.01 per grid point: exceeds 0.4 + 0.02 at the 3rd
    curve = init_curve(with_first_row(np.concatenate([down, up])), epochs)
    assert curve.reference_epoch == 0 and curve.epochs == tuple(epochs)
    assert curve.min_epoch == epochs[20] and curve.min_value == pytest.approx(0.4)
    assert curve.turn_up_epoch == epochs[23]
    assert curve.end_value == pytest.approx(0.59) and curve.rebound == pytest.approx(0.19)
    assert curve.values[0] == 1.0 and curve.values[20] == pytest.approx(0.4)
    assert init_curve(with_first_row(np.concatenate([down, up])), epochs, tolerance=0.0).turn_up_epoch == epochs[21]


def test_u_shaped_curve_with_flat_bottom_takes_the_first_minimum():
    row = [1.0, 0.8, 0.6, 0.5, 0.5, 0.5, 0.51, 0.5, 0.53, 0.7, 0.8]
    epochs = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    curve = init_curve(with_first_row(row), epochs, tolerance=0.02)
    assert curve.min_epoch == 4 and curve.min_value == 0.5
    assert curve.turn_up_epoch == 128  # 0.51 is within tolerance of the minimum, 0.53 is not
    assert curve.rebound == pytest.approx(0.3)


def test_monotone_decreasing_curve_never_turns_up():
    row = np.linspace(1.0, 0.2, 30)
    curve = init_curve(with_first_row(row), range(0, 300, 10))
    assert curve.turn_up_epoch is None
    assert curve.min_epoch == 290 and curve.end_value == curve.min_value and curve.rebound == 0.0
    wiggle = np.concatenate([np.linspace(1.0, 0.3, 10), [0.31, 0.315, 0.3, 0.32]])  # stays within tolerance
    assert init_curve(with_first_row(wiggle), range(14)).turn_up_epoch is None


def test_nan_values_are_skipped():
    row = np.array([1.0, 0.7, np.nan, 0.3, np.nan, 0.31, 0.6, 0.65, np.nan])
    curve = init_curve(with_first_row(row), range(0, 90, 10))
    assert curve.min_epoch == 30 and curve.turn_up_epoch == 60
    assert curve.end_value == pytest.approx(0.65) and curve.rebound == pytest.approx(0.35)
    assert math.isnan(curve.values[2])
    raw = curve.as_dict()
    assert raw["values"][2] is None and raw["turn_up_epoch"] == 60
    assert json.loads(json.dumps(raw, allow_nan=False)) == raw
    dead_start = init_curve(with_first_row([np.nan, 0.9, 0.5, 0.8]), [0, 1, 2, 3])  # NaN reference cell
    assert dead_start.min_epoch == 2 and dead_start.turn_up_epoch == 3


@pytest.mark.parametrize(
    "row, epochs, options, message",
    [
        ([1.0, np.nan, np.nan], [0, 1, 2], {}, r"row 0 .* NaN at every later epoch 1\.\.2"),
        ([1.0], [0], {}, "at least two epochs"),
        ([1.0, 0.5], [0, 1], {"tolerance": -0.1}, "tolerance must be a finite number >= 0, got -0.1"),
        ([1.0, 0.5], [1, 0], {}, "strictly increasing"),
    ],
)
def test_init_curve_bad_input(row, epochs, options, message):
    with pytest.raises(ValueError, match=message):
        init_curve(with_first_row(row), epochs, **options)


def test_init_curve_checks_the_matrix_shape():
    with pytest.raises(ValueError, match="square"):
        init_curve(np.ones((2, 3)), [0, 1])
    assert isinstance(detect_blocks(np.eye(2), [0, 1]), Blocks)
