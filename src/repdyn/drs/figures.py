"""Figures of an assembled DRS result: a heatmap per layer, the layer panel with the error curves, and the
probe error curves (the paper's Fig. 6: each layer's probe test error against the epoch, beside the
network's own test error, with the perfect-fitting epoch marked).

Probe errors enter the error-curve figures as extra metrics-row keys `probe_(<panel letter>) <layer label>`,
which repdyn.figures.curves draws as dotted curves (sorted by key, so in panel order); they exist only at
DRS-grid epochs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from repdyn.figures import plot_error_curves, plot_heatmap, plot_layer_panel
from repdyn.figures.axes import visible_marks
from repdyn.figures.curves import CURVES, PROBE_PREFIX
from repdyn.figures.panels import panel_letter
from repdyn.tiling.names import safe_name

LABEL = "DRS"
PROBE_FIGURE = "probe_errors"


def with_probe_errors(
    metrics_rows: Sequence[Mapping[str, float]],
    epochs: Sequence[int],
    errors: np.ndarray,
    layers: Sequence[str],
    labels: Mapping[str, str],
) -> list[dict[str, float]]:
    """Copies of the metrics rows with `probe_(<letter>) <label>` = errors[grid position, layer] at the grid epochs."""
    errors = np.asarray(errors, dtype=np.float64)
    if errors.shape != (len(epochs), len(layers)):
        raise ValueError(f"probe errors have shape {errors.shape}, expected ({len(epochs)}, {len(layers)})")
    position = {int(e): i for i, e in enumerate(epochs)}
    out = []
    for row in metrics_rows:
        row = dict(row)
        i = position.get(int(row["epoch"]))
        if i is not None:
            row.update(
                {
                    f"{PROBE_PREFIX}({panel_letter(j)}) {labels.get(layer, layer)}": float(errors[i, j])
                    for j, layer in enumerate(layers)
                }
            )
        out.append(row)
    return out


def network_test_error_only(rows: Sequence[Mapping[str, float]]) -> list[dict[str, float]]:
    """Rows whose network curves other than test_err are NaN (undrawn): Fig. 6 compares test errors."""
    return [{**row, **{k: math.nan for k in CURVES if k != "test_err"}} for row in rows]


def drs_figures(
    out_dir: str | os.PathLike,
    matrices: Mapping[str, np.ndarray],
    epochs: Sequence[int],
    *,
    title: str,
    metrics_rows: Sequence[Mapping[str, float]],
    probe_test_err: np.ndarray,
    layer_labels: Mapping[str, str],
    marks: Mapping[str, int | None] | None = None,
) -> None:
    """heatmaps/<layer>.png, panel.{png,pdf} and probe_errors.{png,pdf} inside `out_dir`."""
    out = Path(out_dir)
    (out / "heatmaps").mkdir(parents=True, exist_ok=True)
    shown = visible_marks(marks, epochs)
    for layer, matrix in matrices.items():
        plot_heatmap(
            matrix,
            epochs,
            out / "heatmaps" / f"{safe_name(layer)}.png",
            title=f"{title}: {layer}",
            label=LABEL,
            vmin=0.0,
            vmax=1.0,
            marks=shown,
        )
    rows = with_probe_errors(metrics_rows, epochs, probe_test_err, list(matrices), layer_labels)
    for suffix in ("png", "pdf"):
        plot_layer_panel(
            matrices,
            epochs,
            out / f"panel.{suffix}",
            title=f"{title}: {LABEL}",
            label=LABEL,
            metrics_rows=rows,
            marks=shown,
            vmin=0.0,
            vmax=1.0,
        )
        plot_error_curves(
            network_test_error_only(rows),
            out / f"{PROBE_FIGURE}.{suffix}",
            title=f"{title}: probe test error per layer (dotted) and network test error",
            marks=visible_marks(marks, [int(r["epoch"]) for r in rows]),
        )
