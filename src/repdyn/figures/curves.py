"""Train/test error curves over epochs (epoch-wise double descent), on the heatmaps' epoch scale.

Rows are those of the training metrics table (`repdyn.train.metrics`): errors are
fractions in [0, 1] and are drawn in percent. NaN points (e.g. train errors at
epoch 0 without an eval pass, `noisy_fit` without label noise) are left out; a
curve with no finite point is not drawn at all. Extra keys starting with
PROBE_PREFIX (e.g. 'probe_test_err/layer4', present in only some rows) are
drawn as dotted probe-error curves labelled with the rest of the key.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .axes import EpochAxis, check_epochs, check_marks, draw_marks
from .canvas import FONT_SIZE, TITLE_SIZE, figure_format, new_figure, save_figure

# key -> (legend label, line style); the order is the legend's.
CURVES: dict[str, tuple[str, dict]] = {
    "train_err": ("train (noisy labels)", {"color": "#1f77b4", "linewidth": 1.3}),
    "train_err_clean": ("train (clean labels)", {"color": "#17becf", "linewidth": 1.0, "linestyle": "--"}),
    "test_err": ("test", {"color": "#2ca02c", "linewidth": 1.3}),
    "noisy_fit": ("fitted noisy labels", {"color": "#7f7f7f", "linewidth": 1.0}),
}
PROBE_PREFIX = "probe_"
PROBE_STYLE = {"linewidth": 1.0, "linestyle": ":", "marker": ".", "markersize": 2}
PROBE_COLOURS = ("#9467bd", "#8c564b", "#bcbd22", "#393b79", "#637939", "#843c39")


def curve_table(rows: Sequence[Mapping[str, float]]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(epochs, {key: values in [0, 1] or NaN}) sorted by epoch; ValueError names a bad row or key."""
    if isinstance(rows, Mapping) or not isinstance(rows, Sequence) or len(rows) == 0:
        raise ValueError("rows must be a non-empty list of metrics rows (dicts)")
    for row in rows:
        missing = [key for key in ("epoch", *CURVES) if key not in row]
        if missing:
            raise ValueError(f"metrics row for epoch {row.get('epoch')!r} lacks key(s) {', '.join(missing)}")
    ordered = sorted(rows, key=lambda row: row["epoch"])
    epochs = check_epochs([row["epoch"] for row in ordered], name="metrics rows' epochs")
    probe_keys = sorted({key for row in ordered for key in row if str(key).startswith(PROBE_PREFIX)})
    series = {}
    for key in (*CURVES, *probe_keys):
        values = np.array([_fraction(row, key) for row in ordered], dtype=np.float64)
        series[key] = values
    return epochs, series


def _fraction(row: Mapping[str, float], key: str) -> float:
    value = row.get(key, math.nan)
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"metrics row for epoch {row['epoch']!r}: {key} = {value!r} is not a number") from None
    if not math.isnan(value) and not 0.0 <= value <= 1.0:
        raise ValueError(f"metrics row for epoch {row['epoch']!r}: {key} = {value!r} is not a fraction in [0, 1]")
    return value


SMOOTHED_TEST = ("test, smoothed (events read from it)", {"color": "#0b5d0b", "linewidth": 2.2, "alpha": 0.55})


def draw_error_curves(
    ax: Axes,
    rows: Sequence[Mapping[str, float]],
    axis: EpochAxis | None = None,
    marks: Mapping[str, int] | None = None,
    smoothed_test: tuple[Sequence[int], Sequence[float]] | None = None,
) -> list[Artist]:
    """Draw the curves (in %) and vertical epoch marks on `ax`; returns the legend handles.

    `axis` fixes the epoch range (a panel passes its heatmaps' grid so columns line up);
    by default it is the rows' own epochs. `smoothed_test` ((epochs, fractions), e.g.
    repdyn.analysis.events.smoothed_test_error) is drawn as a broad line under the raw test error.
    """
    epochs, series = curve_table(rows)
    axis = axis or EpochAxis(epochs, name="metrics rows' epochs")
    handles: list[Artist] = []
    probes = 0
    for key, values in series.items():
        finite = np.isfinite(values)
        if not finite.any():
            continue
        if key in CURVES:
            label, style = CURVES[key]
        else:
            label = f"probe {key[len(PROBE_PREFIX) :]}"
            style = {**PROBE_STYLE, "color": PROBE_COLOURS[probes % len(PROBE_COLOURS)]}
            probes += 1
        (line,) = ax.plot(epochs[finite], 100 * values[finite], label=label, **style)
        handles.append(line)
    if smoothed_test is not None and len(smoothed_test[0]):
        label, style = SMOOTHED_TEST
        (line,) = ax.plot(
            np.asarray(smoothed_test[0]),
            100 * np.asarray(smoothed_test[1], dtype=np.float64),
            label=label,
            zorder=1.5,
            **style,
        )
        handles.append(line)
    axis.apply(ax, "x")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("epoch", fontsize=FONT_SIZE)
    ax.set_ylabel("error (%)", fontsize=FONT_SIZE)
    ax.tick_params(labelsize=FONT_SIZE)
    ax.grid(True, which="major", linewidth=0.4, alpha=0.5)
    handles += draw_marks(ax, marks or {}, vertical=True)
    return handles


def error_curves_figure(
    rows: Sequence[Mapping[str, float]],
    *,
    title: str,
    marks: Mapping[str, int | None] | None = None,
    smoothed_test: tuple[Sequence[int], Sequence[float]] | None = None,
) -> Figure:
    """The figure `plot_error_curves` saves."""
    epochs, _ = curve_table(rows)
    axis = EpochAxis(epochs, name="metrics rows' epochs")
    fig = new_figure(6.0, 3.2)
    ax = fig.add_subplot()
    handles = draw_error_curves(ax, rows, axis, check_marks(marks, axis), smoothed_test)
    fig.legend(handles=handles, fontsize=FONT_SIZE - 1, loc="outside right upper", frameon=False)
    ax.set_title(title, fontsize=TITLE_SIZE)
    return fig


def plot_error_curves(
    rows: Sequence[Mapping[str, float]],
    path: str | os.PathLike,
    *,
    title: str,
    marks: Mapping[str, int | None] | None = None,
    smoothed_test: tuple[Sequence[int], Sequence[float]] | None = None,
) -> None:
    """Save train/test error curves (in %, symmetric-log epoch axis, legend) to `path` atomically.

    `marks` ({label: epoch}, None values skipped) are drawn as vertical dashed lines; `smoothed_test` as in
    draw_error_curves.
    """
    figure_format(path)
    save_figure(error_curves_figure(rows, title=title, marks=marks, smoothed_test=smoothed_test), path)
