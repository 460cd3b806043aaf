"""Figures that compare: one layer across experiments, similarity curves, the width study.

* `layer_comparison_figure`: the same layer's heatmap in every experiment, each on
  its own epoch grid, all on ONE colour scale, so a colour means the same similarity
  in every panel (separate scales would make unlike runs look alike).
* `curves_figure`: similarity curves over epochs on one symmetric-log epoch axis
  (the union of their grids), y fixed to [0, 1] so figures compare at a glance:
  each layer's similarity to initialisation, one layer's across experiments, or
  cross-run CKA at equal epochs (a cross-run matrix's diagonal).
* `width_study_figure`: a final similarity value against network width k, one line
  per group (e.g. label-noise level); widths spanning a factor of LOG_WIDTH_SPAN or
  more (k = 1 ... 64) are drawn on a log2 axis so the small widths do not crowd.

Similarity values must lie in [-1, 1] up to UNIT_SLACK (float32 CKA can exceed 1 by
rounding; the unbiased CKA estimator may dip slightly below 0, docs/algorithms.md §1.1–1.3);
NaN values (undefined similarity) are left out of the lines. The y axis shows
[0, 1] and reaches below 0 only as far as the data do.
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import NullFormatter

from .axes import MARK_STYLES, MARK_WIDTH, EpochAxis, check_epochs, check_marks, draw_marks, draw_span
from .canvas import FONT_SIZE, TITLE_SIZE, figure_format, new_figure, save_figure
from .heatmap import check_matrix
from .panels import heatmap_panels, panel_legend

UNIT_SLACK = 1e-6
Y_MARGIN = 0.03  # a curve at exactly 0 or 1 (similarity to itself) stays visible
CURVE_WIDTH = 1.2
LINE_STYLES = ("-", "--", ":")  # after the ten tab10 colours: a ViT has 13 layers
MARKER_MAX_POINTS = 30  # short curves get point markers; long ones would be all marker
TICKED_WIDTHS = 12  # at most this many distinct widths are ticked one by one
LOG_WIDTH_SPAN = 16  # widths spanning this factor or more (k = 1 ... 64) get a log2 axis: small k stay apart


# ---------------------------------------------------------------- shared pieces


def curve_style(index: int) -> dict:
    """The `index`-th curve's colour, dash and width: tab10 colours, then again dashed, then dotted."""
    colours = matplotlib.colormaps["tab10"].colors
    dash = LINE_STYLES[index // len(colours) % len(LINE_STYLES)]
    return {"color": colours[index % len(colours)], "linestyle": dash, "linewidth": CURVE_WIDTH}


def similarity_values(values: Sequence[float] | np.ndarray, name: str, size: int | None = None) -> np.ndarray:
    """`values` as float64 in [-1, 1] or NaN, or ValueError naming `name` and the first bad value."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must hold numbers; got {values!r}") from None
    if arr.ndim != 1 or (size is not None and arr.size != size):
        wanted = f"{size} values to match the epochs" if size is not None else "values"
        raise ValueError(f"{name} must be a 1-D sequence of {wanted}; got shape {arr.shape}")
    bad = ~np.isnan(arr) & (np.abs(arr) > 1 + UNIT_SLACK)
    if bad.any():
        raise ValueError(f"{name}: value {float(arr[bad][0])!r} is not a similarity in [-1, 1]")
    return arr


def similarity_axis(ax: Axes, xlabel: str, ylabel: str, values: Sequence[np.ndarray]) -> None:
    """y fixed to [0, 1] (a small margin; lower only for negative `values`), labels and a light grid."""
    finite = np.concatenate([v[np.isfinite(v)] for v in values])
    low = min(0.0, float(finite.min())) if finite.size else 0.0
    ax.set_ylim(low - Y_MARGIN, 1 + Y_MARGIN)
    ax.set_xlabel(xlabel, fontsize=FONT_SIZE)
    ax.set_ylabel(ylabel, fontsize=FONT_SIZE)
    ax.tick_params(labelsize=FONT_SIZE)
    ax.grid(True, which="major", linewidth=0.4, alpha=0.5)


def _pair(value: object, name: str, what: str) -> tuple:
    """`value` as a 2-tuple, or ValueError naming it (`what` names the two parts)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f"{name} must be a ({what}) pair; got {type(value).__name__}")
    return tuple(value)


def keyed_entries(
    mapping: Mapping | None, name: str, known: Collection[str], what: str, kind: str
) -> list[tuple[str, object]]:
    """(key, value) pairs of an optional mapping whose keys must be `known` names of a `kind`.

    ValueError if `mapping` is not a mapping of `what`, or names the stray key.
    """
    if mapping is None:
        return []
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{name} must be a mapping of {what}; got {type(mapping).__name__}")
    for key in mapping:
        if str(key) not in known:
            raise ValueError(f"{name}[{key!r}]: no {kind} of that name")
    return [(str(key), value) for key, value in mapping.items()]


def _non_empty_mapping(value: object, name: str, what: str) -> None:
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f"{name} must be a non-empty mapping of {what}")


# ---------------------------------------------------------------- one layer across experiments


def check_experiments(
    matrices: Mapping[str, tuple[np.ndarray, Sequence[int]]],
) -> dict[str, tuple[np.ndarray, EpochAxis]]:
    """{experiment: (float64 matrix, its epoch axis)}; ValueError names the experiment at fault."""
    _non_empty_mapping(matrices, "matrices", "experiment -> (matrix, epochs)")
    checked = {}
    for name, pair in matrices.items():
        matrix, epochs = _pair(pair, f"matrices[{name!r}]", "matrix, epochs")
        axis = EpochAxis(epochs, name=f"matrices[{name!r}] epochs")
        checked[str(name)] = (check_matrix(matrix, len(axis), name=f"matrices[{name!r}]"), axis)
    return checked


def check_experiment_marks(
    marks: Mapping[str, Mapping[str, int | None]] | None, axes: Mapping[str, EpochAxis]
) -> dict[str, dict[str, int]]:
    """{experiment: {label: epoch}} checked against each experiment's own grid."""
    checked = {}
    for name, own in keyed_entries(marks, "marks", axes, "experiment -> {label: epoch}", "experiment"):
        try:
            checked[name] = check_marks(own, axes[name])
        except ValueError as err:
            raise ValueError(f"marks[{name!r}]: {err}") from None
    return checked


def mark_styles(labels: Sequence[str]) -> dict[str, dict]:
    """One line style per mark label, fixed across panels (`draw_marks` numbers styles per call,
    so a mark missing in one experiment would shift the others' colours)."""
    return {label: {**MARK_STYLES[pos % len(MARK_STYLES)], "linewidth": MARK_WIDTH} for pos, label in enumerate(labels)}


def layer_comparison_figure(
    matrices: Mapping[str, tuple[np.ndarray, Sequence[int]]],
    *,
    layer: str,
    label: str = "CKA",
    marks: Mapping[str, Mapping[str, int | None]] | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
) -> Figure:
    """The figure `plot_layer_comparison` saves."""
    checked = check_experiments(matrices)
    own_marks = check_experiment_marks(marks, {name: axis for name, (_, axis) in checked.items()})
    fig, grid, axes = heatmap_panels(
        [(name, matrix, axis) for name, (matrix, axis) in checked.items()],
        title=f"{label}: {layer} across experiments",
        label=label,
        vmin=vmin,
        vmax=vmax,
    )
    lines = dict.fromkeys(
        mark for marked in own_marks.values() for mark, e in marked.items() if not isinstance(e, tuple)
    )
    styles = mark_styles(list(lines))
    spans: dict[str, Patch] = {}
    for ax, name in zip(axes, checked):
        for mark, epoch in own_marks.get(name, {}).items():
            if isinstance(epoch, tuple):
                handle = draw_span(ax, mark, epoch, vertical=True, horizontal=True)
                if not mark.startswith("_"):
                    spans.setdefault(mark, handle)
                continue
            ax.axvline(epoch, label=mark, **styles[mark])
            ax.axhline(epoch, label=f"_{mark} (horizontal)", **styles[mark])
    panel_legend(
        fig,
        grid,
        len(axes),
        [Line2D([], [], label=mark, **style) for mark, style in styles.items()] + list(spans.values()),
    )
    return fig


def plot_layer_comparison(
    matrices: Mapping[str, tuple[np.ndarray, Sequence[int]]],
    path: str | os.PathLike,
    *,
    layer: str,
    label: str = "CKA",
    marks: Mapping[str, Mapping[str, int | None]] | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
) -> None:
    """Save one layer's heatmap per experiment ({name: (matrix, epochs)}, grids may differ), atomically.

    One colour scale for all panels (vmin/vmax default to the range over all of them,
    which the colour bar's label states); `marks` is {experiment: {label: epoch}}.
    """
    figure_format(path)
    save_figure(layer_comparison_figure(matrices, layer=layer, label=label, marks=marks, vmin=vmin, vmax=vmax), path)


# ---------------------------------------------------------------- similarity curves


def check_curves(
    curves: Mapping[str, tuple[Sequence[int], Sequence[float]]],
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{name: (epochs, values in [-1, 1] or NaN)}; ValueError names the curve at fault."""
    _non_empty_mapping(curves, "curves", "name -> (epochs, values)")
    checked = {}
    for name, pair in curves.items():
        epochs, values = _pair(pair, f"curves[{name!r}]", "epochs, values")
        epochs = check_epochs(epochs, name=f"curves[{name!r}] epochs")
        checked[str(name)] = (epochs, similarity_values(values, f"curves[{name!r}] values", epochs.size))
    return checked


def check_points(
    points: Mapping[str, Sequence[tuple[int, str]]] | None, curves: Mapping[str, tuple[np.ndarray, np.ndarray]]
) -> dict[str, list[tuple[int, float, str]]]:
    """{curve: [(epoch, value, text)]}: each annotated epoch must be a finite point of its curve."""
    checked = {}
    for name, items in keyed_entries(points, "points", curves, "curve -> [(epoch, text)]", "curve"):
        epochs, values = curves[name]
        checked[name] = []
        for item in items:
            epoch, text = _pair(item, f"points[{name!r}] item {item!r}", "epoch, text")
            where = np.flatnonzero(epochs == epoch)
            if where.size == 0 or not np.isfinite(values[where[0]]):
                raise ValueError(f"points[{name!r}]: epoch {epoch!r} is not a (finite) point of the curve")
            checked[name].append((int(epoch), float(values[where[0]]), str(text)))
    return checked


def curves_figure(
    curves: Mapping[str, tuple[Sequence[int], Sequence[float]]],
    *,
    title: str,
    ylabel: str,
    marks: Mapping[str, int | None] | None = None,
    points: Mapping[str, Sequence[tuple[int, str]]] | None = None,
) -> Figure:
    """The figure `plot_curves` saves."""
    checked = check_curves(curves)
    axis = EpochAxis(np.unique(np.concatenate([epochs for epochs, _ in checked.values()])), name="curves' epochs")
    marks = check_marks(marks, axis)
    notes = check_points(points, checked)

    fig = new_figure(6.0, 3.2)
    ax = fig.add_subplot()
    handles = []
    for index, (name, (epochs, values)) in enumerate(checked.items()):
        finite = np.isfinite(values)
        style = curve_style(index)
        marker = "." if finite.sum() <= MARKER_MAX_POINTS else None
        (line,) = ax.plot(epochs[finite], values[finite], label=name, marker=marker, markersize=3, **style)
        handles.append(line)
        for epoch, value, text in notes.get(name, []):
            circle = {"marker": "o", "markersize": 4, "fillstyle": "none", "color": style["color"]}
            ax.plot([epoch], [value], label=f"_{text}", **circle)
            ax.annotate(text, (epoch, value), xytext=(3, 4), textcoords="offset points", fontsize=FONT_SIZE - 1)
    axis.apply(ax, "x")
    similarity_axis(ax, "epoch", ylabel, [values for _, values in checked.values()])
    handles += draw_marks(ax, marks, vertical=True)
    fig.legend(handles=handles, fontsize=FONT_SIZE - 1, loc="outside right upper", frameon=False)
    ax.set_title(title, fontsize=TITLE_SIZE)
    return fig


def plot_curves(
    curves: Mapping[str, tuple[Sequence[int], Sequence[float]]],
    path: str | os.PathLike,
    *,
    title: str,
    ylabel: str,
    marks: Mapping[str, int | None] | None = None,
    points: Mapping[str, Sequence[tuple[int, str]]] | None = None,
) -> None:
    """Save similarity curves ({name: (epochs, values)}) on one symmetric-log epoch axis, atomically.

    `marks` ({label: epoch}) are vertical dashed lines; `points` ({curve: [(epoch, text)]})
    circles and labels points of a curve, e.g. its minimum and the epoch it turns up.
    """
    figure_format(path)
    save_figure(curves_figure(curves, title=title, ylabel=ylabel, marks=marks, points=points), path)


# ---------------------------------------------------------------- width study


def check_width_points(points: Sequence[tuple[str, float, float]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{group: (widths ascending, values)} in the groups' order of first appearance.

    ValueError for no points, a point that is not a triple, a non-finite width, a value
    outside [-1, 1] or a width given twice in one group (each names the point).
    """
    if isinstance(points, (str, bytes, Mapping)) or not isinstance(points, Sequence) or len(points) == 0:
        raise ValueError("points must be a non-empty list of (group, width, value) triples")
    groups: dict[str, dict[float, float]] = {}
    for index, item in enumerate(points):
        if isinstance(item, (str, bytes)) or not isinstance(item, Sequence) or len(item) != 3:
            raise ValueError(f"points[{index}] must be a (group, width, value) triple; got {item!r}")
        group, width, value = item
        where = f"points[{index}] (group {group!r})"
        try:
            width = float(width)
        except (TypeError, ValueError):
            width = math.nan
        if not math.isfinite(width):
            raise ValueError(f"{where}: width {item[1]!r} is not a finite number")
        widths = groups.setdefault(str(group), {})
        if width in widths:
            raise ValueError(f"{where}: width {width:g} appears twice in the group")
        widths[width] = float(similarity_values([value], f"{where} value")[0])
    ordered = {}
    for group, widths in groups.items():
        ascending = sorted(widths)
        ordered[group] = (np.array(ascending), np.array([widths[w] for w in ascending]))
    return ordered


def width_study_figure(
    points: Sequence[tuple[str, float, float]],
    *,
    title: str,
    xlabel: str = "width k",
    ylabel: str = "first-layer CKA to initialisation at the end",
) -> Figure:
    """The figure `plot_width_study` saves."""
    groups = check_width_points(points)
    fig = new_figure(5.0, 3.2)
    ax = fig.add_subplot()
    for index, (group, (widths, values)) in enumerate(groups.items()):
        ax.plot(widths, values, label=group, marker="o", markersize=3, **curve_style(index))
    distinct = np.unique(np.concatenate([widths for widths, _ in groups.values()]))
    if distinct[0] > 0 and distinct[-1] / distinct[0] >= LOG_WIDTH_SPAN:
        ax.set_xscale("log", base=2)
        ax.xaxis.set_minor_formatter(NullFormatter())
    if distinct.size <= TICKED_WIDTHS:
        ax.set_xticks(distinct, [f"{w:g}" for w in distinct])
    similarity_axis(ax, xlabel, ylabel, [values for _, values in groups.values()])
    fig.legend(fontsize=FONT_SIZE - 1, loc="outside right upper", frameon=False)
    ax.set_title(title, fontsize=TITLE_SIZE)
    return fig


def plot_width_study(
    points: Sequence[tuple[str, float, float]],
    path: str | os.PathLike,
    *,
    title: str,
    xlabel: str = "width k",
    ylabel: str = "first-layer CKA to initialisation at the end",
) -> None:
    """Save the width study ((group, width, value) triples: one line per group, x = width ascending), atomically."""
    figure_format(path)
    save_figure(width_study_figure(points, title=title, xlabel=xlabel, ylabel=ylabel), path)
