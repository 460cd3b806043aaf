"""Epoch x epoch similarity heatmaps (CKA, DRS) in the paper's layout.

matrix[i, j] is drawn at x = epochs[j], y = epochs[i] with the origin lower left
(epoch 0 at the bottom), both axes on the symmetric-log epoch scale of
`repdyn.figures.axes`. Cells are quads on their epoch intervals (pcolormesh on the
cell edges), so irregular grids show each epoch's true extent. NaN entries
(degenerate layers, docs/algorithms.md §1.6) are masked in light grey and announced.

Large grids (E > MAX_DRAWN_CELLS, e.g. 4000 epochs) are first averaged onto
MAX_DRAWN_CELLS bins spaced evenly on the log scale: 16 M quads would take minutes
and gigabytes to draw yet land on a few hundred pixels. A bin spans whole cells
(the cells that overlap it), takes their mean, and is NaN if any of them is, so a
masked epoch never disappears. Cells at least one bin wide (the early epochs) are
drawn exactly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import QuadMesh
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure

from .axes import EpochAxis, check_marks, draw_marks
from .canvas import FONT_SIZE, TITLE_SIZE, figure_format, new_figure, save_figure

NAN_COLOUR = "lightgrey"
MAX_DRAWN_CELLS = 1024


def check_matrix(matrix: np.ndarray, size: int, name: str = "matrix") -> np.ndarray:
    """`matrix` as float64 (size, size), or ValueError naming it."""
    arr = np.asarray(matrix)
    if arr.shape != (size, size):
        raise ValueError(f"{name} must have shape ({size}, {size}) to match the epochs; got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers; got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if np.any(np.isinf(arr)):
        raise ValueError(f"{name} holds infinite values (first at {tuple(np.argwhere(np.isinf(arr))[0])})")
    return arr


def colour_range(
    matrices: Sequence[np.ndarray], vmin: float | None, vmax: float | None
) -> tuple[Normalize, float | None, float | None]:
    """The colour normalisation (vmin/vmax default to the finite data's range) and that data range."""
    finite = [m[np.isfinite(m)] for m in matrices]
    finite = np.concatenate(finite) if finite else np.empty(0)
    data_min = float(finite.min()) if finite.size else None
    data_max = float(finite.max()) if finite.size else None
    low = vmin if vmin is not None else (data_min if data_min is not None else 0.0)
    high = vmax if vmax is not None else (data_max if data_max is not None else 1.0)
    if not (np.isfinite(low) and np.isfinite(high)) or low > high:
        raise ValueError(f"colour range vmin={low!r}, vmax={high!r} must be finite with vmin <= vmax")
    return Normalize(vmin=low, vmax=high), data_min, data_max


def colorbar_label(label: str, data_min: float | None, data_max: float | None) -> str:
    """E.g. 'CKA (min 0.12, max 1.00)': the colour bar says what range the data really covers."""
    if data_min is None:
        return f"{label} (all NaN)"
    return f"{label} (min {data_min:.2f}, max {data_max:.2f})"


def masked_colormap(cmap: str | Colormap) -> Colormap:
    """A copy of `cmap` that paints NaN (masked) cells in NAN_COLOUR."""
    if isinstance(cmap, str):
        if cmap not in matplotlib.colormaps:
            raise ValueError(f"unknown colormap {cmap!r}")
        cmap = matplotlib.colormaps[cmap]
    return cmap.with_extremes(bad=NAN_COLOUR)


def bin_cells(axis: EpochAxis, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bins evenly spaced on the log scale: their edges and the first/last cell each overlaps."""
    lo, hi = axis.to_scale(axis.limits)
    edges = axis.from_scale(np.linspace(lo, hi, bins + 1))
    edges[0], edges[-1] = axis.limits
    first = np.searchsorted(axis.edges, edges[:-1], side="right") - 1
    last = np.searchsorted(axis.edges, edges[1:], side="left") - 1
    first = np.clip(first, 0, len(axis) - 1)
    last = np.clip(np.maximum(last, first), 0, len(axis) - 1)
    # Merge bins that cover exactly the same cells (inside one wide cell): one quad per cell.
    keep = np.ones(bins, dtype=bool)
    keep[1:] = (first[1:] != first[:-1]) | (last[1:] != last[:-1])
    starts = np.flatnonzero(keep)
    merged_edges = np.append(edges[starts], edges[-1])
    return merged_edges, first[starts], last[starts]


def drawn_grid(matrix: np.ndarray, axis: EpochAxis, max_cells: int = MAX_DRAWN_CELLS) -> tuple[np.ndarray, np.ndarray]:
    """(edges, values) to draw: the cells themselves, or their block means for large grids (module doc)."""
    if len(axis) <= max_cells:
        return axis.edges, matrix
    edges, first, last = bin_cells(axis, max_cells)
    nan = np.isnan(matrix)
    sums = np.zeros((len(axis) + 1,) * 2)
    sums[1:, 1:] = np.where(nan, 0.0, matrix).cumsum(0).cumsum(1)
    nans = np.zeros_like(sums)
    nans[1:, 1:] = nan.cumsum(0).cumsum(1)

    def block(table: np.ndarray) -> np.ndarray:
        r0, r1 = first[:, None], last[:, None] + 1
        c0, c1 = first[None, :], last[None, :] + 1
        return table[r1, c1] - table[r0, c1] - table[r1, c0] + table[r0, c0]

    counts = (last - first + 1)[:, None] * (last - first + 1)[None, :]
    values = block(sums) / counts
    values[block(nans) > 0.5] = np.nan
    return edges, values


def draw_heatmap(ax: Axes, matrix: np.ndarray, axis: EpochAxis, norm: Normalize, cmap: Colormap) -> QuadMesh:
    """Draw `matrix` (already checked) on `ax` with origin lower left and epoch axes on both sides."""
    edges, values = drawn_grid(matrix, axis)
    mesh = ax.pcolormesh(
        edges, edges, np.ma.masked_invalid(values), cmap=cmap, norm=norm, shading="flat", rasterized=True
    )
    axis.apply(ax, "x")
    axis.apply(ax, "y")
    ax.set_box_aspect(1)
    ax.tick_params(labelsize=FONT_SIZE)
    ax.set_xlabel("epoch", fontsize=FONT_SIZE)
    return mesh


def nan_note(matrix: np.ndarray, epochs: np.ndarray, listed: int = 4) -> str:
    """'' or a note on the masked cells: the epochs whose whole row is NaN, else the count of NaN cells."""
    nan = np.isnan(matrix)
    if not nan.any():
        return ""
    undefined = epochs[nan.all(axis=1)].tolist()
    if not undefined:
        return f"grey: NaN in {int(nan.sum())} cells"
    shown = ", ".join(map(str, undefined[:listed])) + (
        f", … ({len(undefined)} epochs)" if len(undefined) > listed else ""
    )
    return f"grey: NaN at epoch{'s' if len(undefined) > 1 else ''} {shown}"


def heatmap_figure(
    matrix: np.ndarray,
    epochs: Sequence[int] | np.ndarray,
    *,
    title: str,
    label: str = "CKA",
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str | Colormap = "viridis",
    marks: Mapping[str, int | None] | None = None,
) -> Figure:
    """The figure `plot_heatmap` saves (for callers that want to add to it or inspect it)."""
    axis = EpochAxis(epochs)
    matrix = check_matrix(matrix, len(axis))
    marks = check_marks(marks, axis)
    norm, data_min, data_max = colour_range([matrix], vmin, vmax)

    fig = new_figure(4.2, 3.8 if marks else 3.5)
    ax = fig.add_subplot()
    mesh = draw_heatmap(ax, matrix, axis, norm, masked_colormap(cmap))
    ax.set_ylabel("epoch", fontsize=FONT_SIZE)
    note = nan_note(matrix, axis.epochs)
    ax.set_title(f"{title}\n{note}" if note else title, fontsize=TITLE_SIZE)
    bar = fig.colorbar(mesh, ax=ax)
    bar.set_label(colorbar_label(label, data_min, data_max), fontsize=FONT_SIZE)
    bar.ax.tick_params(labelsize=FONT_SIZE)
    handles = draw_marks(ax, marks, vertical=True, horizontal=True)
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=FONT_SIZE, frameon=False)
    return fig


def plot_heatmap(
    matrix: np.ndarray,
    epochs: Sequence[int] | np.ndarray,
    path: str | os.PathLike,
    *,
    title: str,
    label: str = "CKA",
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str | Colormap = "viridis",
    marks: Mapping[str, int | None] | None = None,
) -> None:
    """Save one layer's epoch x epoch heatmap to `path` (.png or .pdf), atomically.

    `marks` ({label: epoch}, None values skipped) draws dashed lines at those epochs
    on both axes; the colour bar label gives the data's min and max.
    """
    figure_format(path)  # fail on a bad suffix before drawing
    fig = heatmap_figure(matrix, epochs, title=title, label=label, vmin=vmin, vmax=vmax, cmap=cmap, marks=marks)
    save_figure(fig, path)
