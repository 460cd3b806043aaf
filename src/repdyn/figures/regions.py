"""Decision regions on one dbViz plane: each grid point coloured by the class a layer's probe predicts.

dbViz's own picture, per layer and epoch: the plane through three training images (the anchors x0, x1,
x2), sampled on an R x R grid (repdyn.drs.planes.grid_coefs: flat point k = i·R + j, coordinates
(axis1[i], axis2[j])), every point's predicted class as a colour, the anchors marked in the colour of
their label. Rows are layers, columns the chosen epochs (start, perfect fit, test-error peak, end), so
a region that stops changing, or a noisy anchor captured by its own region, reads off directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .canvas import FONT_SIZE, TITLE_SIZE, new_figure, save_figure

ANCHOR_MARKERS = ("o", "s", "^")  # x0, x1, x2
PHASES = (
    ("start", None),
    ("perfect fit", "perfect_fit_epoch"),
    ("test-error peak", "test_error_peak_epoch"),
    ("end", None),
)
_CELL_INCHES = 1.45


def region_epochs(epochs: Sequence[int], phases: Mapping[str, int | None]) -> dict[int, str]:
    """{grid epoch: label} for the first epoch, the perfect-fit epoch, the test-error peak and the last epoch.

    A phase epoch off the grid is shown at the nearest grid epoch (the earlier one on a tie); a phase that
    did not happen (None) is left out; phases that fall on one grid epoch share its column.
    """
    grid = np.asarray(sorted(int(e) for e in epochs))
    if grid.size == 0:
        raise ValueError("region_epochs needs at least one grid epoch")
    out: dict[int, str] = {}
    for label, key in PHASES:
        if key is None:
            epoch = int(grid[0] if label == "start" else grid[-1])
        elif phases.get(key) is None:
            continue
        else:
            epoch = int(grid[np.argmin(np.abs(grid - int(phases[key])))])
        out[epoch] = f"{out[epoch]} / {label}" if epoch in out else label
    return dict(sorted(out.items()))


def class_colours(num_classes: int) -> ListedColormap:
    """One distinct colour per class (tab10, then tab20 for up to 20 classes, then a sampled hsv)."""
    from matplotlib import colormaps

    if num_classes <= 10:
        colours = colormaps["tab10"].colors[:num_classes]
    elif num_classes <= 20:
        colours = colormaps["tab20"].colors[:num_classes]
    else:
        colours = colormaps["hsv"](np.linspace(0, 1, num_classes, endpoint=False))
    return ListedColormap(colours, name=f"classes{num_classes}")


def class_grid(preds: np.ndarray, resolution: int) -> np.ndarray:
    """(R²,) predictions -> (R, R) image with axis1 along x and axis2 along y (row = axis2 index)."""
    preds = np.asarray(preds)
    if preds.shape != (resolution * resolution,):
        raise ValueError(f"predictions of one plane must have shape ({resolution * resolution},), got {preds.shape}")
    return preds.reshape(resolution, resolution).T


def _extent(coefs: np.ndarray, resolution: int) -> tuple[float, float, float, float]:
    """Image extent whose pixel centres are the grid points."""
    edges = []
    for dim in range(2):
        axis = np.unique(coefs[:, dim])
        step = (axis[-1] - axis[0]) / max(resolution - 1, 1)
        edges += [float(axis[0] - step / 2), float(axis[-1] + step / 2)]
    return edges[0], edges[1], edges[2], edges[3]


def regions_figure(
    regions: Mapping[str, Mapping[int, np.ndarray]],
    coefs: np.ndarray,
    anchor_coords: np.ndarray,
    anchor_labels: Sequence[int],
    num_classes: int,
    epoch_labels: Mapping[int, str],
    title: str = "",
    layer_labels: Mapping[str, str] | None = None,
) -> Figure:
    """Rows: layers (keys of `regions`); columns: the epochs of `epoch_labels`; `regions[layer][epoch]` is
    the plane's (R²,) predicted classes, `coefs` its (R², 2) grid coordinates, `anchor_coords` (3, 2)."""
    coefs, anchor_coords = np.asarray(coefs, dtype=np.float64), np.asarray(anchor_coords, dtype=np.float64)
    resolution = int(round(np.sqrt(coefs.shape[0])))
    if coefs.shape != (resolution * resolution, 2) or anchor_coords.shape != (3, 2) or len(anchor_labels) != 3:
        raise ValueError(
            f"expected coefs (R², 2), anchor_coords (3, 2) and 3 anchor labels; got {coefs.shape}, "
            f"{anchor_coords.shape}, {len(anchor_labels)}"
        )
    layers, epochs = list(regions), list(epoch_labels)
    cmap = class_colours(num_classes)
    norm = BoundaryNorm(np.arange(num_classes + 1) - 0.5, num_classes)
    fig = new_figure(_CELL_INCHES * len(epochs) + 1.4, _CELL_INCHES * len(layers) + 0.6)
    axes = fig.subplots(len(layers), len(epochs), squeeze=False, sharex=True, sharey=True)
    extent = _extent(coefs, resolution)
    for row, layer in enumerate(layers):
        for col, epoch in enumerate(epochs):
            ax = axes[row][col]
            ax.imshow(
                class_grid(regions[layer][epoch], resolution),
                origin="lower",
                extent=extent,
                cmap=cmap,
                norm=norm,
                interpolation="nearest",
                aspect="auto",
            )
            for (u, v), label, marker in zip(anchor_coords, anchor_labels, ANCHOR_MARKERS):
                ax.plot(
                    u,
                    v,
                    marker=marker,
                    markersize=6,
                    markerfacecolor=cmap(norm(int(label))),
                    markeredgecolor="black",
                    markeredgewidth=1.0,
                    linestyle="none",
                )
            ax.set_xticks([]), ax.set_yticks([])
            if row == 0:
                ax.set_title(f"{epoch_labels[epoch]}\nepoch {epoch}", fontsize=FONT_SIZE)
            if col == 0:
                ax.set_ylabel((layer_labels or {}).get(layer, layer), fontsize=FONT_SIZE)
    fig.legend(
        handles=_legend(cmap, norm, num_classes, anchor_labels),
        loc="outside right center",
        fontsize=FONT_SIZE - 1,
        frameon=False,
    )
    if title:
        fig.suptitle(title, fontsize=TITLE_SIZE)
    return fig


def _legend(cmap, norm, num_classes: int, anchor_labels: Sequence[int]) -> list:
    handles = [Patch(facecolor=cmap(norm(c)), edgecolor="none", label=f"class {c}") for c in range(num_classes)]
    handles += [
        Line2D(
            [],
            [],
            marker=m,
            linestyle="none",
            markerfacecolor="white",
            markeredgecolor="black",
            label=f"x{i} (label {int(label)})",
        )
        for i, (m, label) in enumerate(zip(ANCHOR_MARKERS, anchor_labels))
    ]
    return handles


def plot_regions(
    path: str | os.PathLike,
    regions: Mapping[str, Mapping[int, np.ndarray]],
    coefs: np.ndarray,
    anchor_coords: np.ndarray,
    anchor_labels: Sequence[int],
    num_classes: int,
    epoch_labels: Mapping[int, str],
    title: str = "",
    layer_labels: Mapping[str, str] | None = None,
) -> None:
    """`regions_figure`, saved (format from the suffix)."""
    save_figure(
        regions_figure(regions, coefs, anchor_coords, anchor_labels, num_classes, epoch_labels, title, layer_labels),
        path,
    )
