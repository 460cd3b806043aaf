"""The paper's multi-panel figure (Sharon & Dar, Fig. 2 layout): one heatmap per layer, then the error curves.

Panels are lettered a, b, c, ... in the order of the `matrices` mapping (the network's
layer order), at most PANELS_PER_ROW per row. With `shared_scale` every heatmap uses
one colour normalisation and one colour bar whose label gives the range over all
layers; otherwise each heatmap gets its own. The error-curve panel uses the heatmaps'
epoch range so its epochs line up with theirs.

`heatmap_panels` is the layout itself, for any (name, matrix, epoch axis) panels:
the cross-experiment comparison (each panel its own grid) and the block-boundary
figure reuse it, so lettering, colour bars and NaN notes read the same everywhere.
"""

from __future__ import annotations

import math
import os
import string
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from matplotlib.gridspec import GridSpec

from .axes import EpochAxis, check_marks, draw_marks
from .canvas import FONT_SIZE, TITLE_SIZE, figure_format, new_figure, save_figure
from .curves import draw_error_curves
from .heatmap import check_matrix, colorbar_label, colour_range, draw_heatmap, masked_colormap

PANELS_PER_ROW = 4
PANEL_INCHES = 2.4


def panel_letter(index: int) -> str:
    """a … z, then aa, ab, … (spreadsheet style) for panel `index` (0-based)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = string.ascii_lowercase[rest] + letters
    return letters


def grid_shape(panels: int) -> tuple[int, int]:
    """(rows, columns): as few rows as PANELS_PER_ROW allows, columns balanced across them."""
    rows = math.ceil(panels / PANELS_PER_ROW)
    return rows, math.ceil(panels / rows)


def panel_legend(fig: Figure, grid: GridSpec, used: int, handles: list) -> None:
    """One legend for curves and marks: in the first free grid slot if there is one, else below the panels.

    No handles, no legend (and the free slot stays empty).
    """
    if not handles:
        return
    rows, cols = grid.get_geometry()
    if used < rows * cols:
        slot = fig.add_subplot(grid[used // cols, used % cols])
        slot.set_axis_off()
        slot.legend(handles=handles, loc="center", fontsize=FONT_SIZE, frameon=False)
    else:
        fig.legend(
            handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize=FONT_SIZE, frameon=False
        )


def heatmap_panels(
    panels: Sequence[tuple[str, np.ndarray, EpochAxis]],
    *,
    title: str,
    label: str,
    extra: int = 0,
    shared_scale: bool = True,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str | Colormap = "viridis",
) -> tuple[Figure, GridSpec, list[Axes]]:
    """Lettered heatmaps of checked (name, matrix, epoch axis) panels, their colour bar(s) and the title.

    The figure's grid holds `extra` more panel slots after the heatmaps (e.g. the error
    curves); all slots' axes are returned in order, the heatmaps first, so callers add
    marks, overlays and a legend (`panel_legend`) where the figure is theirs to finish.
    The title gains a note naming the panels with NaN (grey) cells.
    """
    colormap = masked_colormap(cmap)
    shared = colour_range([matrix for _, matrix, _ in panels], vmin, vmax)
    count = len(panels) + extra
    rows, cols = grid_shape(count)
    fig = new_figure(cols * PANEL_INCHES + (0.9 if shared_scale else 0.6 * cols), rows * PANEL_INCHES + 0.9)
    grid = fig.add_gridspec(rows, cols)
    axes = [fig.add_subplot(grid[i // cols, i % cols]) for i in range(count)]

    with_nan, mesh = [], None
    for index, (ax, (name, matrix, axis)) in enumerate(zip(axes, panels)):
        norm, data_min, data_max = shared if shared_scale else colour_range([matrix], vmin, vmax)
        mesh = draw_heatmap(ax, matrix, axis, norm, colormap)
        letter = panel_letter(index)
        ax.set_title(f"({letter}) {name}", fontsize=TITLE_SIZE, loc="left")
        if index % cols == 0:
            ax.set_ylabel("epoch", fontsize=FONT_SIZE)
        if np.isnan(matrix).any():
            with_nan.append(letter)
        if not shared_scale:
            bar = fig.colorbar(mesh, ax=ax, shrink=0.8)
            bar.set_label(colorbar_label(label, data_min, data_max), fontsize=FONT_SIZE - 1)
            bar.ax.tick_params(labelsize=FONT_SIZE - 1)
    if shared_scale:
        bar = fig.colorbar(mesh, ax=axes[: len(panels)], shrink=0.9 if rows > 1 else 0.8)
        bar.set_label(colorbar_label(label, shared[1], shared[2]), fontsize=FONT_SIZE)
        bar.ax.tick_params(labelsize=FONT_SIZE)

    note = f"\ngrey: NaN (undefined) cells in panel{'s' if len(with_nan) > 1 else ''} {', '.join(with_nan)}"
    fig.suptitle(title + (note if with_nan else ""), fontsize=TITLE_SIZE + 1)
    return fig, grid, axes


def check_layer_matrices(matrices: Mapping[str, np.ndarray], axis: EpochAxis) -> dict[str, np.ndarray]:
    """{layer name: float64 (E, E) matrix}; ValueError naming the layer whose matrix does not fit the epochs."""
    if not isinstance(matrices, Mapping) or not matrices:
        raise ValueError("matrices must be a non-empty mapping of layer name -> (E, E) matrix")
    return {str(name): check_matrix(m, len(axis), name=f"matrices[{name!r}]") for name, m in matrices.items()}


def layer_panel_figure(
    matrices: Mapping[str, np.ndarray],
    epochs: Sequence[int] | np.ndarray,
    *,
    title: str,
    label: str = "CKA",
    metrics_rows: Sequence[Mapping[str, float]] | None = None,
    marks: Mapping[str, int | None] | None = None,
    shared_scale: bool = True,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str | Colormap = "viridis",
) -> Figure:
    """The figure `plot_layer_panel` saves."""
    axis = EpochAxis(epochs)
    checked = check_layer_matrices(matrices, axis)
    marks = check_marks(marks, axis)
    fig, grid, axes = heatmap_panels(
        [(name, matrix, axis) for name, matrix in checked.items()],
        title=title,
        label=label,
        extra=int(metrics_rows is not None),
        shared_scale=shared_scale,
        vmin=vmin,
        vmax=vmax,
        cmap=cmap,
    )
    legend_handles = []
    for ax in axes[: len(checked)]:
        legend_handles = draw_marks(ax, marks, vertical=True, horizontal=True)
    if metrics_rows is not None:
        ax = axes[-1]
        legend_handles = draw_error_curves(ax, metrics_rows, axis, marks)
        ax.set_box_aspect(1)
        ax.set_title(f"({panel_letter(len(axes) - 1)}) error", fontsize=TITLE_SIZE, loc="left")
    panel_legend(fig, grid, len(axes), legend_handles)
    return fig


def plot_layer_panel(
    matrices: Mapping[str, np.ndarray],
    epochs: Sequence[int] | np.ndarray,
    path: str | os.PathLike,
    *,
    title: str,
    label: str = "CKA",
    metrics_rows: Sequence[Mapping[str, float]] | None = None,
    marks: Mapping[str, int | None] | None = None,
    shared_scale: bool = True,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str | Colormap = "viridis",
) -> None:
    """Save the per-layer heatmaps (+ error curves if `metrics_rows`) as one figure, .png or .pdf, atomically."""
    figure_format(path)
    fig = layer_panel_figure(
        matrices,
        epochs,
        title=title,
        label=label,
        metrics_rows=metrics_rows,
        marks=marks,
        shared_scale=shared_scale,
        vmin=vmin,
        vmax=vmax,
        cmap=cmap,
    )
    save_figure(fig, path)
