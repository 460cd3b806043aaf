"""repdyn.figures.compare and .blocks: one layer across experiments, similarity curves, width study, block
boundaries."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.image import imread
from support.figures import (
    PDF_MAGIC,
    PNG_MAGIC,
    colour_of,
    irregular_grid,
    pixel,
    quadrant_matrix,
    rendered_heatmap_axes,
)

from repdyn.figures import (
    NAN_COLOUR,
    EpochAxis,
    blocks_panel_figure,
    curves_figure,
    layer_comparison_figure,
    plot_blocks_panel,
    plot_curves,
    plot_layer_comparison,
    plot_width_study,
    width_study_figure,
)


def experiments() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Three runs of one layer on different grids and value ranges, one with an undefined epoch 0."""
    short, paper, sparse = np.arange(30), irregular_grid(200), np.array([0, 10, 100, 1000])
    runs = {
        "noise 0%": (quadrant_matrix(short, 10, values=(0.3, 0.4, 0.5, 0.6)), short),
        "noise 20%": (quadrant_matrix(paper, 60, values=(0.15, 0.5, 0.6, 0.95)), paper),
        "width 8": (quadrant_matrix(sparse, 100, values=(0.2, 0.3, 0.4, 0.9)), sparse),
    }
    runs["width 8"][0][0, :] = runs["width 8"][0][:, 0] = np.nan
    return runs


def canvas_image(fig) -> np.ndarray:
    """The rendered canvas (RGBA, uint8), drawn once for several `pixel` look-ups."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())


def colour_bar(fig):
    (bar,) = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    return bar


def lines_at(ax, epoch: float, axis: str = "x") -> list:
    data = (lambda ln: ln.get_xdata()) if axis == "x" else (lambda ln: ln.get_ydata())
    return [ln for ln in ax.lines if len(data(ln)) and np.all(np.asarray(data(ln)) == epoch)]


# ---------------------------------------------------------------- one layer across experiments


def test_layer_comparison_one_panel_per_experiment_on_one_scale():
    runs = experiments()
    fig = layer_comparison_figure(runs, layer="layer1")
    maps = rendered_heatmap_axes(fig)
    assert len(maps) == len(runs)
    assert [ax.get_title(loc="left") for ax in maps] == [f"({c}) {name}" for c, name in zip("abc", runs)]
    finite = np.concatenate([m[np.isfinite(m)] for m, _ in runs.values()])
    for ax, (_matrix, epochs) in zip(maps, runs.values()):
        norm = ax.collections[0].norm
        assert (norm.vmin, norm.vmax) == pytest.approx((finite.min(), finite.max()))
        assert ax.get_xlim() == pytest.approx(EpochAxis(epochs).limits)  # each panel keeps its own grid
    assert colour_bar(fig).get_ylabel() == f"CKA (min {finite.min():.2f}, max {finite.max():.2f})"
    # one scale: the same value has the same colour in different panels, whatever each panel's own range
    image, late = canvas_image(fig), runs["noise 0%"][0][-1, -1]
    assert np.abs(pixel(fig, maps[0], 25, 25, image) - colour_of(late, finite.min(), finite.max())).max() <= 2
    assert np.abs(pixel(fig, maps[1], 0, 0, image) - colour_of(0.15, finite.min(), finite.max())).max() <= 2
    grey = np.array(to_rgba(NAN_COLOUR)) * 255
    assert np.abs(pixel(fig, maps[2], 0, 0, image) - grey).max() <= 2
    assert "layer1" in fig.get_suptitle() and "panel c" in fig.get_suptitle()


def test_layer_comparison_given_range_and_label():
    fig = layer_comparison_figure(experiments(), layer="layer4", label="DRS", vmin=0.0, vmax=1.0)
    for ax in rendered_heatmap_axes(fig):
        assert (ax.collections[0].norm.vmin, ax.collections[0].norm.vmax) == (0.0, 1.0)
    bar = colour_bar(fig)
    assert bar.get_ylim() == pytest.approx((0.0, 1.0))
    assert bar.get_ylabel() == "DRS (min 0.15, max 0.95)"  # the label still tells the data's own range


def test_layer_comparison_marks_keep_one_style_per_label():
    runs = experiments()
    marks = {
        "noise 0%": {"perfect fit": 18, "test-error peak": 25},
        "noise 20%": {"perfect fit": None, "test-error peak": 12},
    }
    fig = layer_comparison_figure(runs, layer="layer1", marks=marks)
    first, second, third = rendered_heatmap_axes(fig)
    assert len(lines_at(first, 18)) == 1 and len(lines_at(first, 18, "y")) == 1
    assert not lines_at(second, 18) and not third.lines  # never-fitted and unmarked runs draw nothing
    peak_first, peak_second = lines_at(first, 25)[0], lines_at(second, 12)[0]
    assert peak_first.get_color() == peak_second.get_color()
    assert peak_first.get_linestyle() == peak_second.get_linestyle()
    assert peak_first.get_color() != lines_at(first, 18)[0].get_color()
    legends = fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert [[t.get_text() for t in legend.get_texts()] for legend in legends] == [["perfect fit", "test-error peak"]]


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda runs, marks: runs.update({"noise 20%": runs["noise 20%"][0]}), r"matrices\['noise 20%'\] must be a"),
        (
            lambda runs, marks: runs.update({"width 8": (np.eye(3), [0, 10, 100, 1000])}),
            r"matrices\['width 8'\] must have shape",
        ),
        (lambda runs, marks: runs.update({"width 8": (np.eye(2), [0, 0])}), r"matrices\['width 8'\] epochs"),
        (lambda runs, marks: marks.update({"noise 50%": {"fit": 3}}), r"marks\['noise 50%'\]: no experiment"),
        (lambda runs, marks: marks.update({"noise 0%": {"fit": 500}}), r"marks\['noise 0%'\].*'fit'.*outside"),
    ],
)
def test_layer_comparison_errors_name_the_experiment(change, fragment):
    runs, marks = experiments(), {}
    change(runs, marks)
    with pytest.raises(ValueError, match=fragment):
        layer_comparison_figure(runs, layer="layer1", marks=marks)


# ---------------------------------------------------------------- similarity curves


def to_init_curves() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Similarity to initialisation: one curve per layer on different grids, one with an undefined point."""
    paper, sparse = irregular_grid(300), np.array([0, 1, 5, 50, 500])
    curves = {
        "layer1": (paper, 0.4 + 0.6 * np.exp(-paper / 30.0)),
        "layer4": (paper, np.clip(1 - paper / 100.0, 0, 1) + np.clip((paper - 150) / 500.0, 0, 1)),
        "logits": (sparse, np.array([np.nan, 0.9, 0.5, 0.2, 0.25])),
    }
    return curves


def test_curves_draw_the_inputs_on_one_epoch_axis():
    curves = to_init_curves()
    turn = int(curves["layer4"][0][np.argmin(curves["layer4"][1])])
    points = {"layer4": [(turn, "minimum")], "logits": [(50, "min"), (500, "turn-up")]}
    marks = {"perfect fit": 41, "test-error peak": None}
    fig = curves_figure(
        curves, title="similarity to initialisation", ylabel="CKA to epoch 0", marks=marks, points=points
    )
    (ax,) = fig.axes
    drawn = {ln.get_label(): ln for ln in ax.lines}
    for name, (epochs, values) in curves.items():
        finite = np.isfinite(values)
        np.testing.assert_array_equal(drawn[name].get_xdata(), epochs[finite])
        np.testing.assert_array_equal(drawn[name].get_ydata(), values[finite])
    assert ax.get_xscale() == "symlog"
    union = np.union1d(curves["layer1"][0], curves["logits"][0])
    assert ax.get_xlim() == pytest.approx(EpochAxis(union).limits)
    low, high = ax.get_ylim()
    assert low <= 0 and high >= 1 and high - low < 1.1
    assert ax.get_ylabel() == "CKA to epoch 0"
    assert len(lines_at(ax, 41)) == 1
    notes = {t.get_text(): t.xy for t in ax.texts}
    assert notes == {"minimum": (turn, curves["layer4"][1].min()), "min": (50, 0.2), "turn-up": (500, 0.25)}
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["layer1", "layer4", "logits", "perfect fit"]


def test_curves_axis_reaches_below_zero_only_for_negative_values():
    epochs = np.arange(5)
    positive = curves_figure({"a": (epochs, [1.0, 0.5, 0.2, 0.1, 0.3])}, title="t", ylabel="CKA").axes[0]
    negative = curves_figure({"a": (epochs, [1.0, 0.5, -0.04, 0.1, 0.3])}, title="t", ylabel="CKA").axes[0]
    assert -0.05 < positive.get_ylim()[0] < 0  # the margin only
    assert negative.get_ylim()[0] < -0.04  # unbiased CKA may dip below 0: drawn, not clipped
    assert positive.get_ylim()[1] == negative.get_ylim()[1] > 1


def test_curves_thirteen_layers_stay_apart():
    epochs = np.arange(10)
    curves = {f"block {i}": (epochs, np.linspace(1, i / 13, 10)) for i in range(13)}
    (ax,) = curves_figure(curves, title="ViT", ylabel="CKA").axes
    styles = {(ln.get_color(), ln.get_linestyle()) for ln in ax.lines}
    assert len(styles) == 13


@pytest.mark.parametrize(
    "change, fragment",
    [
        (
            lambda curves, points: curves.update(logits=([0, 1], [0.5, 1.5])),
            r"curves\['logits'\] values: value 1.5 is not a similarity",
        ),
        (lambda curves, points: curves.update(logits=([0, 1, 2], [0.5, 0.4])), r"curves\['logits'\] values must be"),
        (lambda curves, points: curves.update(logits=([0, 2, 1], [0.5, 0.4, 0.3])), r"curves\['logits'\] epochs"),
        (lambda curves, points: curves.update(logits=[0.5, 0.4, 0.3]), r"curves\['logits'\] must be a"),
        (lambda curves, points: points.update(pool=[(5, "min")]), r"points\['pool'\]: no curve"),
        (lambda curves, points: points.update(logits=[(7, "min")]), r"points\['logits'\]: epoch 7"),
        (lambda curves, points: points.update(logits=[(0, "start")]), r"points\['logits'\]: epoch 0 .*finite"),
    ],
)
def test_curves_errors_name_the_curve(change, fragment):
    curves, points = to_init_curves(), {}
    change(curves, points)
    with pytest.raises(ValueError, match=fragment):
        curves_figure(curves, title="t", ylabel="CKA", points=points)


# ---------------------------------------------------------------- width study


def test_width_study_sorts_each_group_by_width():
    points = [
        ("noise 20%", 64, 0.9),
        ("noise 0%", 8, 0.5),
        ("noise 20%", 4, 0.3),
        ("noise 20%", 16, 0.7),
        ("noise 0%", 2, 0.2),
    ]
    fig = width_study_figure(points, title="width study")
    (ax,) = fig.axes
    lines = {ln.get_label(): ln for ln in ax.lines}
    assert list(lines) == ["noise 20%", "noise 0%"]  # order of first appearance
    np.testing.assert_array_equal(lines["noise 20%"].get_xdata(), [4, 16, 64])
    np.testing.assert_array_equal(lines["noise 20%"].get_ydata(), [0.3, 0.7, 0.9])
    np.testing.assert_array_equal(lines["noise 0%"].get_xdata(), [2, 8])
    assert lines["noise 0%"].get_marker() == "o"
    assert list(ax.get_xticks()) == [2, 4, 8, 16, 64]
    assert ax.get_xscale() == "log"  # widths over a factor of 32: small widths must not crowd
    (narrow,) = width_study_figure([("a", 10, 0.5), ("a", 40, 0.6)], title="narrow").axes
    assert narrow.get_xscale() == "linear"
    assert ax.get_xlabel() == "width k" and ax.get_ylim()[0] <= 0 and ax.get_ylim()[1] >= 1


@pytest.mark.parametrize(
    "points, fragment",
    [
        ([], "non-empty"),
        ([("a", 4, 0.5), ("a", float("inf"), 0.5)], r"points\[1\] \(group 'a'\): width inf"),
        ([("a", None, 0.5)], r"points\[0\] \(group 'a'\): width None"),
        ([("a", 4, 0.5), ("a", 4.0, 0.6)], r"points\[1\].*width 4 appears twice"),
        ([("a", 4, 1.7)], r"points\[0\] \(group 'a'\) value: value 1.7 is not"),
        ([("a", 4)], r"points\[0\] must be a \(group, width, value\) triple"),
    ],
)
def test_width_study_rejects_bad_points(points, fragment):
    with pytest.raises(ValueError, match=fragment):
        width_study_figure(points, title="t")


# ---------------------------------------------------------------- block boundaries


def test_block_boundaries_are_white_lines_on_cell_edges():
    epochs = irregular_grid(200)
    axis = EpochAxis(epochs)
    matrices = {
        "layer1": np.zeros((epochs.size, epochs.size)),
        "layer2": quadrant_matrix(epochs, 60),
        "pool": np.eye(epochs.size),
    }
    transitions = {"layer1": [12, 60], "layer2": [60]}
    fig = blocks_panel_figure(matrices, epochs, transitions, title="blocks", marks={"perfect fit": 18}, label="CKA")
    maps = rendered_heatmap_axes(fig)
    assert len(maps) == 3
    for ax, name in zip(maps, matrices):
        white = [ln for ln in ax.lines if to_rgba(ln.get_color()) == to_rgba("white")]
        expected = sorted(axis.edges[np.searchsorted(epochs, transitions.get(name, []))].tolist())
        assert sorted(ln.get_xdata()[0] for ln in white if ln.get_xdata()[0] == ln.get_xdata()[1]) == expected
        assert sorted(ln.get_ydata()[0] for ln in white if ln.get_ydata()[0] == ln.get_ydata()[1]) == expected
        assert len(white) == 2 * len(expected)
        assert len(lines_at(ax, 18)) == 1  # the marks too
    assert axis.edges[np.searchsorted(epochs, 60)] == 58.5  # between the cells of 57 and 60 (step 3)
    # the line shows in the rendered canvas: a bright column at edge 58.5 on layer1's dark (value 0) heatmap
    image, ax, row = canvas_image(fig), maps[0], 3.0
    x_edge, y_row = ax.transData.transform((58.5, row))
    x_far = ax.transData.transform((100, row))[0]
    around = [image[int(image.shape[0] - y_row), int(x_edge) + dx, :3].min() for dx in (-1, 0, 1)]
    assert max(around) > 150
    assert np.abs(pixel(fig, ax, 100, row, image) - colour_of(0.0, 0.0, 1.0)).max() <= 2 and x_far - x_edge > 5
    assert "block boundaries" in fig.get_suptitle()


@pytest.mark.parametrize(
    "transitions, fragment",
    [
        ({"layer2": [61]}, r"transitions\['layer2'\]: epoch 61 is not an epoch of the heatmap's grid"),
        ({"layer2": [0, 30]}, r"transitions\['layer2'\]: epoch 0 is the grid's first epoch"),
        ({"layer2": [30, 12]}, r"transitions\['layer2'\] must increase"),
        ({"fc": [30]}, r"layer\(s\) 'fc'"),
    ],
)
def test_block_transitions_errors_name_the_layer(transitions, fragment):
    epochs = irregular_grid(100)
    matrices = {"layer2": np.eye(epochs.size)}
    with pytest.raises(ValueError, match=fragment):
        blocks_panel_figure(matrices, epochs, transitions, title="t")


# ---------------------------------------------------------------- files


def test_every_comparison_figure_writes_png_and_pdf(tmp_path):
    epochs = np.arange(20)
    runs = {"a": (quadrant_matrix(epochs, 5), epochs), "b": (quadrant_matrix(epochs[:12], 4), epochs[:12])}
    writers = {
        "comparison": lambda path: plot_layer_comparison(runs, path, layer="layer1"),
        "curves": lambda path: plot_curves({"a": (epochs, np.linspace(1, 0, 20))}, path, title="t", ylabel="CKA"),
        "width": lambda path: plot_width_study([("a", 1, 0.5), ("a", 2, 0.4)], path, title="t"),
        "blocks": lambda path: plot_blocks_panel(
            {"a": quadrant_matrix(epochs, 5)}, epochs, {"a": [5]}, path, title="t"
        ),
    }
    for name, write in writers.items():
        for suffix, magic in ((".png", PNG_MAGIC), (".pdf", PDF_MAGIC)):
            write(tmp_path / f"{name}{suffix}")
            assert (tmp_path / f"{name}{suffix}").read_bytes().startswith(magic), name
        with pytest.raises(ValueError, match="suffix"):
            write(tmp_path / f"{name}.svg")
    assert imread(tmp_path / "comparison.png").shape[2] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{n}{s}{c}" for n in writers for s in (".pdf", ".png") for c in ("", ".checksums.json")
    )
