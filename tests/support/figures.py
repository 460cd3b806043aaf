"""Figure builders and pixel readers shared by the figure tests: known matrices, grids and metrics rows, colours
read back from a canvas."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
from matplotlib.collections import QuadMesh
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


PDF_MAGIC = b"%PDF-"


def irregular_grid(stop: int = 400) -> np.ndarray:
    """The paper's grid shape, shortened: step 1 to 30, step 3 to 90, step 10 beyond."""
    return np.array(sorted(set(range(0, 31)) | set(range(30, 91, 3)) | set(range(90, stop + 1, 10))))


def quadrant_matrix(epochs: np.ndarray, split: int, values=(0.1, 0.4, 0.7, 1.0)) -> np.ndarray:
    """Asymmetric 2x2 block matrix: rows (y) before/after `split` x columns (x) before/after."""
    late = epochs >= split
    low_low, low_high, high_low, high_high = values
    m = np.empty((epochs.size, epochs.size))
    m[np.ix_(~late, ~late)] = low_low  # row early, column early: lower left
    m[np.ix_(~late, late)] = low_high  # row early, column late: lower right
    m[np.ix_(late, ~late)] = high_low  # row late, column early: upper left
    m[np.ix_(late, late)] = high_high  # upper right
    return m


def pixel(fig: Figure, ax, x: float, y: float, image: np.ndarray | None = None) -> np.ndarray:
    """RGBA (0-255) at data point (x, y) of `ax`, from the canvas or from an image read back from a file."""
    if image is None:
        fig.canvas.draw()
        image = np.asarray(fig.canvas.buffer_rgba()).astype(float)
    elif image.dtype != np.uint8:
        image = image * 255.0
    px, py = ax.transData.transform((x, y))
    return np.asarray(image[int(image.shape[0] - py), int(px)], dtype=float)


def colour_of(value: float, vmin: float = 0.0, vmax: float = 1.0, cmap: str = "viridis") -> np.ndarray:
    return np.array(matplotlib.colormaps[cmap](Normalize(vmin, vmax)(value))) * 255.0


def heatmap_axes(fig: Figure) -> list:
    return [
        ax for ax in fig.axes if any(isinstance(c, QuadMesh) for c in ax.collections) and ax.get_label() != "<colorbar>"
    ]


def rendered_heatmap_axes(fig):
    fig.canvas.draw()
    return heatmap_axes(fig)


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
