"""Detected representation blocks drawn on the per-layer heatmaps.

A block is a run of epochs whose representations stay alike; the block detector
reports, per layer, the first epoch of every block after the first (a transition).
Each transition becomes a thin white line across and up the layer's heatmap, on
the cell edge between the epoch before it and the transition epoch itself (not at
the epoch): the line then separates the two blocks' cells exactly on any grid
spacing, and the squares it cuts along the diagonal are the blocks. White reads on
viridis and differs from the coloured dashed epoch marks drawn on top of it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .axes import EpochAxis, check_epochs, check_marks, draw_marks
from .canvas import figure_format, save_figure
from .panels import check_layer_matrices, heatmap_panels, panel_legend

BOUNDARY_STYLE = {"color": "white", "linewidth": 0.7, "linestyle": "-"}
BOUNDARY_NOTE = "white lines: detected block boundaries"


def boundary_edges(transitions: Sequence[int], axis: EpochAxis, name: str = "transitions") -> np.ndarray:
    """The cell edge in front of each transition epoch.

    ValueError naming `name` for transitions that are not increasing grid epochs, or
    that include the grid's first epoch (no block ends before it).
    """
    if len(transitions) == 0:
        return np.empty(0)
    epochs = check_epochs(transitions, name=name)
    cells = np.searchsorted(axis.epochs, epochs)
    for epoch, cell in zip(epochs.tolist(), cells.tolist()):
        if cell == len(axis) or axis.epochs[cell] != epoch:
            raise ValueError(f"{name}: epoch {epoch} is not an epoch of the heatmap's grid")
        if cell == 0:
            raise ValueError(f"{name}: epoch {epoch} is the grid's first epoch; no block ends before it")
    return axis.edges[cells]


def draw_boundaries(ax: Axes, edges: np.ndarray) -> None:
    """Thin white lines at `edges` on both epoch axes (left out of legends)."""
    for edge in edges:
        ax.axvline(edge, label="_block boundary", **BOUNDARY_STYLE)
        ax.axhline(edge, label="_block boundary (horizontal)", **BOUNDARY_STYLE)


def blocks_panel_figure(
    matrices: Mapping[str, np.ndarray],
    epochs: Sequence[int] | np.ndarray,
    transitions: Mapping[str, Sequence[int]],
    *,
    title: str,
    label: str = "CKA",
    marks: Mapping[str, int | None] | None = None,
) -> Figure:
    """The figure `plot_blocks_panel` saves."""
    axis = EpochAxis(epochs)
    checked = check_layer_matrices(matrices, axis)
    marks = check_marks(marks, axis)
    if not isinstance(transitions, Mapping):
        raise ValueError(f"transitions must be a mapping of layer name -> epochs; got {type(transitions).__name__}")
    by_layer = {str(name): epochs for name, epochs in transitions.items()}
    unknown = [name for name in by_layer if name not in checked]
    if unknown:
        raise ValueError(f"transitions for layer(s) {', '.join(map(repr, unknown))} that are not in matrices")
    edges = {name: boundary_edges(by_layer.get(name, ()), axis, f"transitions[{name!r}]") for name in checked}

    fig, grid, axes = heatmap_panels(
        [(name, matrix, axis) for name, matrix in checked.items()], title=f"{title}\n{BOUNDARY_NOTE}", label=label
    )
    handles = []
    for ax, name in zip(axes, checked):
        draw_boundaries(ax, edges[name])
        handles = draw_marks(ax, marks, vertical=True, horizontal=True)
    panel_legend(fig, grid, len(axes), handles)
    return fig


def plot_blocks_panel(
    matrices: Mapping[str, np.ndarray],
    epochs: Sequence[int] | np.ndarray,
    transitions: Mapping[str, Sequence[int]],
    path: str | os.PathLike,
    *,
    title: str,
    label: str = "CKA",
    marks: Mapping[str, int | None] | None = None,
) -> None:
    """Save the per-layer heatmaps with each layer's block boundaries (white lines) and the marks, atomically.

    `transitions` maps a layer to the first epochs of its blocks after the first (grid
    epochs, increasing); a layer without an entry gets no lines, an unknown layer is an error.
    """
    figure_format(path)
    save_figure(blocks_panel_figure(matrices, epochs, transitions, title=title, label=label, marks=marks), path)
