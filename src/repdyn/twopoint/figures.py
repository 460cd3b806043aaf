"""The two figures of a run's two-point result: H/H(0) per pair type and layer, and measured vs theory curves.

Both use the heatmaps' symmetric-log epoch axis and mark the training events (perfect fit and test-error
peak as dashed lines, instabilities shaded), so they read beside the CKA and DRS panels.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.ticker import FuncFormatter, NullFormatter

from repdyn.figures.axes import EpochAxis, draw_marks
from repdyn.figures.canvas import FONT_SIZE, TITLE_SIZE, new_figure, save_figure

from .pairs import PAIR_TYPES

COLOURS = dict(zip(PAIR_TYPES, ("#1f77b4", "#2ca02c", "#d62728", "#9467bd")))


def plot_ratios(
    curves: Mapping[str, np.ndarray],
    epochs: Sequence[int],
    layers: Sequence[str],
    labels: Mapping[str, str],
    marks: Mapping[str, Any] | None,
    path: str | os.PathLike,
    title: str,
) -> None:
    """One panel per layer: median H/H(0) of each pair type over epochs (log y)."""
    axis = EpochAxis(epochs)
    columns = min(3, len(layers))
    rows = -(-len(layers) // columns)
    fig = new_figure(3.2 * columns, 2.4 * rows + 0.4)
    axes = fig.subplots(rows, columns, squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        if k >= len(layers):
            ax.set_visible(False)
            continue
        for name, ratio in curves.items():
            ax.plot(epochs, ratio[k], color=COLOURS[name], linewidth=1.2, label=name.replace("_", " "))
        handles = draw_marks(ax, marks or {})
        axis.apply(ax, "x")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))  # 2, not 2 × 10⁰
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_title(labels.get(layers[k], layers[k]), fontsize=TITLE_SIZE)
        ax.set_xlabel("epoch", fontsize=FONT_SIZE)
        ax.set_ylabel("median H / H(0)", fontsize=FONT_SIZE)
        ax.tick_params(labelsize=FONT_SIZE)
        if k == 0:
            ax.legend(handles=ax.get_lines()[: len(curves)] + handles, fontsize=FONT_SIZE - 1, loc="best")
    fig.suptitle(title, fontsize=TITLE_SIZE)
    save_figure(fig, path)


def plot_theory(
    examples: Mapping[str, Mapping[str, Any]],
    epochs: Sequence[int],
    layer_label: str,
    marks: Mapping[str, Any] | None,
    path: str | os.PathLike,
    title: str,
) -> None:
    """Per pair type (columns): H and Y (rows) of its representative pair, measured (solid) and driven theory
    (dashed)."""
    axis = EpochAxis(epochs)
    fig = new_figure(2.8 * len(examples), 4.6)
    axes = fig.subplots(2, len(examples), squeeze=False)
    for column, (name, ex) in enumerate(examples.items()):
        for row, key in enumerate(("H", "Y")):
            ax = axes[row, column]
            ax.plot(epochs, ex[key], color=COLOURS[name], linewidth=1.3, label="measured")
            ax.plot(epochs, ex[f"{key}_theory"], color="black", linewidth=1.0, linestyle="--", label="theory")
            draw_marks(ax, marks or {})
            axis.apply(ax, "x")
            ax.tick_params(labelsize=FONT_SIZE)
            ax.set_ylabel(f"{key} ({layer_label})" if key == "H" else "Y (logits)", fontsize=FONT_SIZE)
            if row == 0:
                ax.set_title(
                    f"{name.replace('_', ' ')}: pair {ex['index'][0]}-{ex['index'][1]}\n"
                    f"driven-fit error {ex['driven_error']:.2g}",
                    fontsize=TITLE_SIZE,
                )
            else:
                ax.set_xlabel("epoch", fontsize=FONT_SIZE)
            if row == column == 0:
                ax.legend(fontsize=FONT_SIZE - 1)
    fig.suptitle(title, fontsize=TITLE_SIZE)
    save_figure(fig, path)
