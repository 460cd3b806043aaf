"""repdyn.figures: epoch axis, heatmap orientation and masking, marks, curves, panels, atomic files."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.image import imread
from support.figures import (
    PDF_MAGIC,
    PNG_MAGIC,
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
    cell_edges,
    error_curves_figure,
    heatmap_figure,
    layer_panel_figure,
    plot_error_curves,
    plot_heatmap,
    plot_layer_panel,
)
from repdyn.figures.canvas import clipped_texts, new_figure, save_figure
from repdyn.figures.heatmap import bin_cells, drawn_grid


def training_rows(epochs, noise: bool = True) -> list[dict]:
    rows = []
    for e in epochs:
        rows.append(
            {
                "epoch": int(e),
                "train_loss": 1.0,
                "train_err": max(0.0, 0.9 - 0.05 * e),
                "train_err_clean": max(0.02, 0.8 - 0.05 * e),
                "test_err": 0.2 + 0.1 * math.exp(-((e - 25) ** 2) / 50),
                "noisy_fit": min(1.0, e / 18) if noise else math.nan,
            }
        )
    return rows


# ---------------------------------------------------------------- epoch axis


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
    [([0, 2, 2, 3], "position 2"), ([0, 3, 1], "1 after 3"), ([-1, 0], "-1"), ([0, 1.5], "1.5"), ([], "non-empty"), ([[0, 1]], "shape")],
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
    assert [ax.xaxis.get_major_formatter()(t, 0) for t in axis.major_ticks()] == ["0", "1", "10", "100", "1000",
                                                                                  "3990"]
    short = EpochAxis([0, 1, 2, 3, 4])
    assert len(short.major_ticks()) >= 3 and short.major_ticks()[:3] == [0, 1, 2]


@pytest.mark.parametrize("epochs, ticks", [
    (range(41), [0, 1, 10, 40]),                       # a short run: its last epoch is labelled
    (range(0, 41, 10), [0, 1, 10, 40]),                # a coarse grid
    (range(0, 1121, 10), [0, 1, 10, 100, 1120]),       # 1000 would print over 1120: left out
    (range(5, 31), [5, 10, 20, 30]),                   # a grid that starts late: its first epoch is labelled
    ([0, 1, 2], [0, 1, 2]),
])
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


@pytest.mark.parametrize("marks, fragment", [({"bad": (5, 2)}, "after its end"), ({"bad": (1, 2, 3)}, "two integer"),
                                             ({"bad": (0, 5000)}, "outside")])
def test_bad_spans_name_the_mark(marks, fragment):
    epochs = irregular_grid(200)
    with pytest.raises(ValueError, match=fragment):
        heatmap_figure(quadrant_matrix(epochs, 60), epochs, title="t", marks=marks)


@pytest.mark.parametrize("marks, fragment", [({"late": 5000}, "'late'"), ({"odd": 2.5}, "'odd'"), ({"neg": -3}, "'neg'")])
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


# ---------------------------------------------------------------- files


def test_png_and_pdf_files_are_valid(tmp_path):
    epochs = irregular_grid(200)
    m = quadrant_matrix(epochs, 60)
    for suffix, magic in ((".png", PNG_MAGIC), (".pdf", PDF_MAGIC)):
        path = tmp_path / f"heat{suffix}"
        plot_heatmap(m, epochs, path, title="file")
        assert path.read_bytes().startswith(magic)
    height, width = imread(tmp_path / "heat.png").shape[:2]
    fig = heatmap_figure(m, epochs, title="file")
    assert (width, height) == tuple(int(round(s * fig.dpi)) for s in fig.get_size_inches())
    assert 300 <= width <= 3000 and 300 <= height <= 3000
    assert [p.name for p in sorted(tmp_path.iterdir())] == [  # no temporary leftovers; each file's checksums
        "heat.pdf", "heat.pdf.checksums.json", "heat.png", "heat.png.checksums.json"]


def test_same_input_writes_identical_png(tmp_path):
    epochs = irregular_grid(100)
    m = quadrant_matrix(epochs, 60)
    plot_heatmap(m, epochs, tmp_path / "a.png", title="t")
    plot_heatmap(m, epochs, tmp_path / "b.png", title="t")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_bad_suffix_leaves_no_file(tmp_path):
    with pytest.raises(ValueError, match=r"heat\.jpeg.*'\.jpeg'"):
        plot_heatmap(np.eye(3), [0, 1, 2], tmp_path / "heat.jpeg", title="t")
    with pytest.raises(ValueError, match="suffix"):
        plot_error_curves(training_rows(range(3)), tmp_path / "curves", title="t")
    assert not list(tmp_path.iterdir())


def test_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "heat.png"
    path.write_bytes(b"old")

    def broken_savefig(self, fname, **kwargs):
        Path(fname).write_bytes(PNG_MAGIC + b"half")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        plot_heatmap(np.eye(3), [0, 1, 2], path, title="t")
    with pytest.raises(OSError, match="disk full"):
        plot_layer_panel({"a": np.eye(3)}, [0, 1, 2], tmp_path / "new.pdf", title="t")
    assert [p.name for p in tmp_path.iterdir()] == ["heat.png"]
    assert path.read_bytes() == b"old"


def test_figures_render_in_parallel_threads(tmp_path):
    epochs = irregular_grid(100)
    errors = []

    def work(name, split):
        try:
            plot_heatmap(quadrant_matrix(epochs, split), epochs, tmp_path / f"{name}.png", title=name)
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(f"t{i}", 20 + 20 * i)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all((tmp_path / f"t{i}.png").read_bytes().startswith(PNG_MAGIC) for i in range(2))


# ---------------------------------------------------------------- error curves


def test_error_curves_plot_percent_on_the_epoch_scale(tmp_path):
    rows = training_rows(range(0, 40))
    rows[0]["train_err"] = math.nan  # no eval pass at epoch 0: the point is left out
    for row in rows[::5]:
        row["probe_test_err/layer4"] = 0.3
    path = tmp_path / "curves.pdf"
    plot_error_curves(rows, path, title="errors", marks={"perfect fit": 18, "test-error peak": 25})
    assert path.read_bytes().startswith(PDF_MAGIC)
    fig = error_curves_figure(rows, title="errors", marks={"perfect fit": 18, "test-error peak": 25})
    (ax,) = fig.axes
    lines = {ln.get_label(): ln for ln in ax.lines}
    np.testing.assert_allclose(lines["test"].get_ydata(), [100 * r["test_err"] for r in rows])
    assert list(lines["train (noisy labels)"].get_xdata()) == list(range(1, 40))
    assert list(lines["probe test_err/layer4"].get_xdata()) == list(range(0, 40, 5))
    assert np.all(np.asarray(lines["perfect fit"].get_xdata()) == 18)
    assert np.all(np.asarray(lines["test-error peak"].get_xdata()) == 25)
    assert ax.get_xscale() == "symlog" and ax.get_ylabel() == "error (%)"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "test" in legend and "perfect fit" in legend
    smooth = error_curves_figure(rows, title="errors", smoothed_test=([0, 1, 2], [0.5, 0.4, 0.45]))
    lines = {ln.get_label(): ln for ln in smooth.axes[0].lines}
    np.testing.assert_allclose(lines["test, smoothed (events read from it)"].get_ydata(), [50, 40, 45])


def test_error_curves_skip_an_all_nan_curve():
    fig = error_curves_figure(training_rows(range(10), noise=False), title="clean run")
    labels = [ln.get_label() for ln in fig.axes[0].lines]
    assert "test" in labels and "fitted noisy labels" not in labels


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda rows: rows[3].pop("test_err"), "epoch 3 lacks key.*test_err"),
        (lambda rows: rows[2].update(train_err=12.0), "epoch 2: train_err = 12.0 is not a fraction"),
        (lambda rows: rows[4].update(epoch=1), "increase strictly"),
    ],
)
def test_error_curves_reject_bad_rows(change, fragment, tmp_path):
    rows = training_rows(range(6))
    change(rows)
    with pytest.raises(ValueError, match=fragment):
        plot_error_curves(rows, tmp_path / "c.png", title="t")
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------- panels


def test_layer_panel_six_layers_and_curves(tmp_path):
    epochs = irregular_grid(200)
    names = ["layer1", "layer2", "layer3", "layer4", "pool", "logits"]
    matrices = {name: quadrant_matrix(epochs, 20 + 10 * i, values=(0.2 + 0.1 * i, 0.1, 0.1, 0.9)) for i, name in enumerate(names)}
    matrices["logits"][0, :] = matrices["logits"][:, 0] = np.nan
    rows = training_rows(range(0, 201))
    marks = {"perfect fit": 18, "test-error peak": 25}
    path = tmp_path / "panel.png"
    plot_layer_panel(matrices, epochs, path, title="CKA", metrics_rows=rows, marks=marks)
    assert path.read_bytes().startswith(PNG_MAGIC)

    fig = layer_panel_figure(matrices, epochs, title="CKA", metrics_rows=rows, marks=marks)
    maps = rendered_heatmap_axes(fig)
    assert [ax.get_title(loc="left") for ax in maps] == [f"({c}) {n}" for c, n in zip("abcdef", names)]
    curves = next(ax for ax in fig.axes if ax.get_title(loc="left") == "(g) error")
    assert {"test", "perfect fit"} <= {ln.get_label() for ln in curves.lines}
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 1  # one shared scale
    finite = np.concatenate([m[np.isfinite(m)] for m in matrices.values()])
    assert bars[0].get_ylabel() == f"CKA (min {finite.min():.2f}, max {finite.max():.2f})"
    for ax in maps:  # shared colour scale: the lower-left cells of different layers differ in colour as in value
        norm = ax.collections[0].norm
        assert (norm.vmin, norm.vmax) == pytest.approx((finite.min(), finite.max()))
        assert sum(np.all(np.asarray(ln.get_xdata()) == 18) for ln in ax.lines) == 1
    assert np.abs(pixel(fig, maps[-1], 0, 0) - np.array(to_rgba(NAN_COLOUR)) * 255).max() <= 2
    layer4 = matrices["layer4"][0, 0]
    assert np.abs(pixel(fig, maps[3], 0, 0) - colour_of(layer4, finite.min(), finite.max())).max() <= 2
    assert "NaN" in fig.get_suptitle() and "panel f" in fig.get_suptitle()


def test_layer_panel_own_scales_pdf_and_bad_input(tmp_path):
    epochs = np.arange(20)
    matrices = {"a": quadrant_matrix(epochs, 5, values=(0.1, 0.2, 0.3, 0.4)), "b": quadrant_matrix(epochs, 5)}
    plot_layer_panel(matrices, epochs, tmp_path / "panel.pdf", title="own", shared_scale=False, marks={"fit": 7})
    assert (tmp_path / "panel.pdf").read_bytes().startswith(PDF_MAGIC)
    fig = layer_panel_figure(matrices, epochs, title="own", shared_scale=False)
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert [bar.get_ylabel() for bar in bars] == ["CKA (min 0.10, max 0.40)", "CKA (min 0.10, max 1.00)"]
    with pytest.raises(ValueError, match=r"matrices\['b'\]"):
        layer_panel_figure({**matrices, "b": np.zeros((19, 19))}, epochs, title="t")
    with pytest.raises(ValueError, match="non-empty"):
        layer_panel_figure({}, epochs, title="t")
