"""repdyn.figures: epoch axis, heatmap orientation and masking, marks, curves, panels, atomic files."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.image import imread
from support.figures import (
    colour_of,
    heatmap_axes,
    irregular_grid,
    pixel,
    quadrant_matrix,
    rendered_heatmap_axes,
)

from repdyn.figures import (
    NAN_COLOUR,
    EpochAxis,
    heatmap_figure,
    plot_heatmap,
)
from repdyn.figures.heatmap import bin_cells, drawn_grid

# ---------------------------------------------------------------- heatmap


def test_heatmap_origin_is_lower_left_in_the_written_png(tmp_path):
    epochs = irregular_grid()
    m = quadrant_matrix(epochs, split=60)
    kwargs = dict(title="orientation", vmin=0.0, vmax=1.0)
    path = tmp_path / "heat.png"
    plot_heatmap(m, epochs, path, **kwargs)
    twin = heatmap_figure(m, epochs, **kwargs)  # same layout: gives the data -> pixel transform
    (ax,) = rendered_heatmap_axes(twin)
    image = imread(path)
    late = 200  # well inside the late block (the last cell is only a pixel or two wide)
    # epoch (x=0, y=0) is matrix[0, 0]; were the origin upper left it would show matrix[-1, 0]
    assert np.abs(pixel(twin, ax, 0, 0, image) - colour_of(m[0, 0])).max() <= 2
    assert np.abs(pixel(twin, ax, late, late, image) - colour_of(m[-1, -1])).max() <= 2
    # x is the column index, y the row index
    assert np.abs(pixel(twin, ax, late, 0, image) - colour_of(m[0, -1])).max() <= 2
    assert np.abs(pixel(twin, ax, 0, late, image) - colour_of(m[-1, 0])).max() <= 2
    assert np.abs(colour_of(m[0, 0]) - colour_of(m[-1, 0])).max() > 20  # the check can tell them apart


def test_each_cell_spans_its_epoch_interval():
    epochs = np.array([0, 1, 2, 10, 100])
    m = np.diag([0.0, 0.25, 0.5, 0.75, 1.0])
    fig = heatmap_figure(m, epochs, title="cells", vmin=0, vmax=1)
    (ax,) = rendered_heatmap_axes(fig)
    # epoch 40 lies in the cell of epoch 10 ([6, 55]); epoch 60 in that of epoch 100 ([55, 145])
    assert np.abs(pixel(fig, ax, 40, 40) - colour_of(0.75)).max() <= 2
    assert np.abs(pixel(fig, ax, 60, 60) - colour_of(1.0)).max() <= 2
    assert np.abs(pixel(fig, ax, 40, 60) - colour_of(0.0)).max() <= 2


def test_nan_cells_are_masked_grey_and_announced():
    epochs = irregular_grid(200)
    m = quadrant_matrix(epochs, split=60)
    m[0, :] = m[:, 0] = np.nan  # degenerate layer at epoch 0 (docs/algorithms.md §1.6)
    fig = heatmap_figure(m, epochs, title="degenerate", vmin=0, vmax=1)
    (ax,) = rendered_heatmap_axes(fig)
    grey = np.array(to_rgba(NAN_COLOUR)) * 255
    assert np.abs(pixel(fig, ax, 0, 0) - grey).max() <= 2
    assert np.abs(pixel(fig, ax, 0, 150) - grey).max() <= 2
    assert np.abs(pixel(fig, ax, 150, 150) - colour_of(m[-1, -1])).max() <= 2
    assert "NaN" in ax.get_title() and "epoch 0" in ax.get_title()
    clean = heatmap_figure(np.nan_to_num(m), epochs, title="clean")
    assert "NaN" not in clean.axes[0].get_title()


def test_colour_bar_label_states_the_value_range():
    epochs = np.arange(12)
    m = quadrant_matrix(epochs, split=6, values=(0.12, 0.5, 0.6, 0.97))
    fig = heatmap_figure(m, epochs, title="range", label="DRS")
    bar_ax = next(ax for ax in fig.axes if ax.get_label() == "<colorbar>")
    assert bar_ax.get_ylabel() == "DRS (min 0.12, max 0.97)"
    assert bar_ax.get_ylim() == pytest.approx((0.12, 0.97))
    with pytest.raises(ValueError, match="vmin"):
        heatmap_figure(m, epochs, title="bad", vmin=1.0, vmax=0.0)


def test_heatmap_rejects_a_matrix_that_does_not_match_the_epochs(tmp_path):
    with pytest.raises(ValueError, match=r"shape \(5, 5\)"):
        plot_heatmap(np.zeros((4, 4)), np.arange(5), tmp_path / "x.png", title="t")
    with pytest.raises(ValueError, match="colormap"):
        plot_heatmap(np.zeros((5, 5)), np.arange(5), tmp_path / "x.png", title="t", cmap="no-such-map")
    assert not list(tmp_path.iterdir())


def test_marks_are_dashed_lines_on_both_axes():
    epochs = irregular_grid(200)
    marks = {"perfect fit": 41, "test-error peak": 12}
    fig = heatmap_figure(quadrant_matrix(epochs, 60), epochs, title="marks", marks=marks)
    (ax,) = heatmap_axes(fig)
    for epoch in marks.values():
        vertical = [ln for ln in ax.lines if np.all(np.asarray(ln.get_xdata()) == epoch)]
        horizontal = [ln for ln in ax.lines if np.all(np.asarray(ln.get_ydata()) == epoch)]
        assert len(vertical) == 1 and len(horizontal) == 1
        assert vertical[0].get_linestyle() not in ("-", "None")
    assert [t.get_text() for t in fig.legends[0].get_texts()] == list(marks)
    skipped = heatmap_figure(quadrant_matrix(epochs, 60), epochs, title="t", marks={"perfect fit": None})
    assert not skipped.axes[0].lines  # an event that never happened draws nothing


def test_instability_spans_are_shaded_on_both_axes_and_named_once():
    epochs = irregular_grid(200)
    marks = {"perfect fit": 30, "instability": (37, 43), "_instability 2": (60, 61)}
    fig = heatmap_figure(quadrant_matrix(epochs, 60), epochs, title="spans", marks=marks)
    (ax,) = heatmap_axes(fig)
    vertical = [b for b in ax.patches if "instability" in b.get_label() and "horizontal" not in b.get_label()]
    horizontal = [b for b in ax.patches if b.get_label().endswith("(horizontal)")]
    # each band covers its epochs' whole cells, in data coordinates along its own axis
    assert sorted((b.get_x(), b.get_x() + b.get_width()) for b in vertical) == [(36.5, 43.5), (59.5, 61.5)]
    assert sorted((b.get_y(), b.get_y() + b.get_height()) for b in horizontal) == [(36.5, 43.5), (59.5, 61.5)]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["instability", "perfect fit"]
    # the line marks keep their styles whether or not spans come first
    line = next(ln for ln in ax.lines if np.all(np.asarray(ln.get_xdata()) == 30))
    assert line.get_color() == "#d62728"


def test_visible_marks_clip_spans_and_drop_those_outside():
    from repdyn.figures.axes import visible_marks

    marks = {"fit": 30, "instability": (37, 43), "_instability 2": (70, 80)}
    assert visible_marks(marks, range(0, 41)) == {"fit": 30, "instability": (37, 40)}
    assert visible_marks({"instability": (70, 80)}, range(0, 41)) is None


@pytest.mark.parametrize(
    "marks, fragment",
    [({"bad": (5, 2)}, "after its end"), ({"bad": (1, 2, 3)}, "two integer"), ({"bad": (0, 5000)}, "outside")],
)
def test_bad_spans_name_the_mark(marks, fragment):
    epochs = irregular_grid(200)
    with pytest.raises(ValueError, match=fragment):
        heatmap_figure(quadrant_matrix(epochs, 60), epochs, title="t", marks=marks)


@pytest.mark.parametrize(
    "marks, fragment", [({"late": 5000}, "'late'"), ({"odd": 2.5}, "'odd'"), ({"neg": -3}, "'neg'")]
)
def test_bad_marks_name_the_mark(marks, fragment):
    epochs = irregular_grid(200)
    with pytest.raises(ValueError, match=fragment):
        heatmap_figure(quadrant_matrix(epochs, 60), epochs, title="t", marks=marks)


def test_large_grids_are_block_averaged_without_losing_nan():
    epochs = np.arange(300)
    axis = EpochAxis(epochs)
    rng = np.random.default_rng(0)
    m = rng.random((300, 300))
    m[250, :] = m[:, 250] = np.nan
    edges, values = drawn_grid(m, axis, max_cells=40)
    bins, first, last = bin_cells(axis, 40)
    np.testing.assert_array_equal(edges, bins)
    assert values.shape == (edges.size - 1,) * 2 <= (40, 40)
    assert np.all(np.diff(edges) > 0) and edges[0] == axis.limits[0] and edges[-1] == axis.limits[1]
    for i in (0, 5, len(first) - 1):
        for j in (0, 7, len(first) - 1):
            block = m[first[i] : last[i] + 1, first[j] : last[j] + 1]
            expected = np.nan if np.isnan(block).any() else block.mean()
            np.testing.assert_allclose(values[i, j], expected, rtol=1e-9)
    assert first[0] == last[0] == 0  # early epochs are wider than a bin: drawn exactly
    assert np.isnan(values[np.searchsorted(first, 250, side="right") - 1]).all()
    same_edges, same = drawn_grid(m, axis, max_cells=300)
    assert same is m and same_edges is axis.edges
