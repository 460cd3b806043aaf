"""repdyn.figures.axes: the epoch axis of the heatmaps and curves (cell edges, ticks) and titles that fit."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from support.figures import (
    irregular_grid,
)

from repdyn.figures import (
    EpochAxis,
    cell_edges,
)
from repdyn.figures.canvas import clipped_texts, new_figure, save_figure


def test_cell_edges_regular_grid_are_half_epochs():
    edges = cell_edges(np.arange(10))
    np.testing.assert_array_equal(edges, np.arange(11) - 0.5)


@pytest.mark.parametrize(
    "epochs",
    [irregular_grid(), np.array([0, 10, 100, 1000]), np.array([5, 100, 103]), np.array([1, 2, 4, 8]), np.array([7])],
)
def test_cell_edges_irregular_grids_contain_their_epochs(epochs):
    axis = EpochAxis(epochs)
    edges = axis.edges
    assert edges.shape == (epochs.size + 1,)
    assert np.all(np.diff(edges) > 0)
    assert np.all(edges[:-1] < epochs) and np.all(epochs < edges[1:])
    np.testing.assert_allclose(edges[1:-1], (epochs[:-1] + epochs[1:]) / 2)
    assert edges[0] >= min(-0.5, epochs[0] / 2)  # never reaches far below the first epoch on the log scale
    assert [axis.cell_of(e) for e in epochs] == list(range(epochs.size))


def test_epoch_zero_cell_is_centred_on_zero():
    edges = cell_edges([0, 10, 20])
    assert edges[0] == -0.5 and edges[1] == 5.0
    axis = EpochAxis([0, 1, 2, 3])
    lo, hi = axis.to_scale([-0.5, 0.5])
    assert lo == pytest.approx(-hi)  # epoch 0 sits in the middle of its cell on screen
    widths = np.diff(axis.to_scale(axis.edges))
    assert 0.8 < widths[0] / widths[1] < 1.5  # epoch 0's cell about as wide as epoch 1's


@pytest.mark.parametrize(
    "epochs, fragment",
    [
        ([0, 2, 2, 3], "position 2"),
        ([0, 3, 1], "1 after 3"),
        ([-1, 0], "-1"),
        ([0, 1.5], "1.5"),
        ([], "non-empty"),
        ([[0, 1]], "shape"),
    ],
)
def test_epoch_axis_rejects_bad_grids(epochs, fragment):
    with pytest.raises(ValueError, match="epochs") as info:
        EpochAxis(epochs)
    assert fragment in str(info.value)


def test_ticks_are_powers_of_ten_as_plain_integers():
    axis = EpochAxis(irregular_grid(3990))
    assert axis.major_ticks() == [0, 1, 10, 100, 1000, 3990]
    assert set(axis.minor_ticks()) >= {2, 9, 20, 3000}
    assert not set(axis.minor_ticks()) & set(axis.major_ticks())
    fig = Figure()
    ax = fig.add_subplot()
    axis.apply(ax, "x")
    assert ax.get_xscale() == "symlog"
    assert ax.get_xlim() == pytest.approx(axis.limits)
    assert [ax.xaxis.get_major_formatter()(t, 0) for t in axis.major_ticks()] == ["0", "1", "10", "100", "1000", "3990"]
    short = EpochAxis([0, 1, 2, 3, 4])
    assert len(short.major_ticks()) >= 3 and short.major_ticks()[:3] == [0, 1, 2]


@pytest.mark.parametrize(
    "epochs, ticks",
    [
        (range(41), [0, 1, 10, 40]),  # a short run: its last epoch is labelled
        (range(0, 41, 10), [0, 1, 10, 40]),  # a coarse grid
        (range(0, 1121, 10), [0, 1, 10, 100, 1120]),  # 1000 would print over 1120: left out
        (range(5, 31), [5, 10, 20, 30]),  # a grid that starts late: its first epoch is labelled
        ([0, 1, 2], [0, 1, 2]),
    ],
)
def test_ticks_label_the_first_and_last_epochs(epochs, ticks):
    assert EpochAxis(list(epochs)).major_ticks() == ticks


def test_titles_wider_than_the_figure_are_wrapped_to_fit(tmp_path):
    fig = new_figure(3.0, 2.0)
    ax = fig.add_subplot()
    ax.plot([0, 1])
    fig.suptitle("decision regions on plane 0 (anchors: training images 170, 127, 1066) " * 2)
    ax.set_title("a long axes title that does not fit a narrow figure either")
    assert len(clipped_texts(fig)) == 2
    save_figure(fig, tmp_path / "wrapped.png", record=False)
    assert clipped_texts(fig) == []
    assert "\n" in fig._suptitle.get_text() and "\n" in ax.get_title()
