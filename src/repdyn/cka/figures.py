"""Heatmaps of assembled CKA matrices: one PNG per layer and a panel of all layers with the error curves."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from repdyn.figures import plot_heatmap, plot_layer_panel
from repdyn.figures.axes import visible_marks
from repdyn.tiling.names import safe_name

LABELS = {
    "minibatch_unbiased": "CKA",
    "minibatch_unbiased_cka_mean": "CKA (mean over batches)",
    "minibatch_biased": "CKA (biased)",
    "full_biased": "CKA (full batch, biased)",
}


def square(matrix: np.ndarray, row_epochs: Sequence[int], col_epochs: Sequence[int]) -> tuple[np.ndarray, list[int]]:
    """The matrix on the epochs both axes share (cross-run matrices may use two grids)."""
    if list(row_epochs) == list(col_epochs):
        return matrix, list(row_epochs)
    common = sorted(set(row_epochs) & set(col_epochs))
    if not common:
        raise ValueError("the two grids share no epoch: nothing to draw on a square epoch x epoch heatmap")
    r = [list(row_epochs).index(e) for e in common]
    c = [list(col_epochs).index(e) for e in common]
    return matrix[np.ix_(r, c)], common


def cka_figures(
    out_dir: str | os.PathLike,
    matrices: Mapping[str, np.ndarray],
    row_epochs: Sequence[int],
    col_epochs: Sequence[int],
    *,
    title: str,
    estimator: str,
    metrics_rows=None,
    marks=None,
) -> None:
    out = Path(out_dir) / "heatmaps"
    out.mkdir(parents=True, exist_ok=True)
    label = LABELS[estimator]
    squares = {}
    for layer, matrix in matrices.items():
        m, epochs = square(matrix, row_epochs, col_epochs)
        squares[layer] = m
        plot_heatmap(
            m,
            epochs,
            out / f"{safe_name(layer)}.png",
            title=f"{title}: {layer}",
            label=label,
            vmin=0.0,
            vmax=1.0,
            marks=visible_marks(marks, epochs),
        )
    _, epochs = square(next(iter(matrices.values())), row_epochs, col_epochs)
    for suffix in ("png", "pdf"):
        plot_layer_panel(
            squares,
            epochs,
            Path(out_dir) / f"panel.{suffix}",
            title=f"{title}: {label}",
            label=label,
            metrics_rows=metrics_rows,
            marks=visible_marks(marks, epochs),
            vmin=0.0,
            vmax=1.0,
        )
