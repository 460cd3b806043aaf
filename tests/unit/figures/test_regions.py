"""Decision-region figures: which epochs are shown, how a plane's flat predictions become an image, and
that the drawn images and anchor markers are exactly the given predictions and coordinates."""

from __future__ import annotations

import numpy as np
import pytest

from repdyn.drs.planes import grid_coefs
from repdyn.figures.regions import (
    class_grid,
    plot_regions,
    region_epochs,
    regions_figure,
)


def test_region_epochs_are_start_perfect_fit_peak_and_end_on_the_grid():
    grid = list(range(0, 61, 2))
    phases = {"perfect_fit_epoch": 23, "test_error_peak_epoch": 37}
    assert region_epochs(grid, phases) == {0: "start", 22: "perfect fit", 36: "test-error peak", 60: "end"}


def test_region_epochs_merge_phases_on_one_epoch_and_skip_missing_ones():
    assert region_epochs([0, 10, 20], {"perfect_fit_epoch": None, "test_error_peak_epoch": 19}) == {
        0: "start",
        20: "test-error peak / end",
    }
    assert region_epochs([5], {"perfect_fit_epoch": 1}) == {5: "start / perfect fit / end"}
    with pytest.raises(ValueError, match="at least one grid epoch"):
        region_epochs([], {})


def test_class_grid_puts_the_first_plane_axis_along_x():
    resolution = 4
    flat = np.repeat(np.arange(resolution), resolution)  # point k = i*R + j has class i (first axis index)
    image = class_grid(flat, resolution)
    assert np.array_equal(image, np.tile(np.arange(resolution), (resolution, 1)))  # columns are constant
    with pytest.raises(ValueError, match=r"shape \(16,\)"):
        class_grid(flat[:-1], resolution)


def test_regions_figure_draws_the_given_predictions_and_anchors(tmp_path):
    anchors = np.array([[0.0, 0.0], [1.0, 0.0], [0.3, 0.8]])
    resolution = 5
    coefs = grid_coefs(anchors, resolution, 0.1, 0.1)
    left = (coefs[:, 0] > 0.5).astype(np.uint8)  # class 1 right of u = 0.5, else 0
    regions = {"conv1": {0: left, 4: 1 - left}, "linear": {0: left * 2, 4: left}}
    fig = regions_figure(
        regions, coefs, anchors, [0, 1, 2], 3, {0: "start", 4: "end"}, title="t", layer_labels={"conv1": "first layer"}
    )
    axes = [ax for ax in fig.axes if ax.images]
    assert len(axes) == 4
    assert np.array_equal(axes[1].images[0].get_array(), class_grid(1 - left, resolution))
    assert np.array_equal(axes[2].images[0].get_array(), class_grid(left * 2, resolution))
    markers = [(line.get_xdata()[0], line.get_ydata()[0]) for line in axes[0].lines]
    assert np.allclose(markers, anchors)
    assert axes[0].get_ylabel() == "first layer" and axes[1].get_title() == "end\nepoch 4"
    extent = axes[0].images[0].get_extent()
    step = (coefs[:, 0].max() - coefs[:, 0].min()) / (resolution - 1)
    assert extent[0] == pytest.approx(coefs[:, 0].min() - step / 2)
    plot_regions(tmp_path / "r.png", regions, coefs, anchors, [0, 1, 2], 3, {0: "start", 4: "end"})
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_regions_figure_rejects_inconsistent_geometry():
    with pytest.raises(ValueError, match="anchor_coords"):
        regions_figure({"a": {0: np.zeros(4)}}, np.zeros((4, 2)), np.zeros((2, 2)), [0, 1, 2], 3, {0: "start"})
