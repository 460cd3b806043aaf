"""The CKA jobs' entry points: read the artifact's spec.json, then compute a tile or assemble the matrices.

Each function is one command of `python -m repdyn` (repdyn.cli.cka parses the arguments); settings come
from the spec, so a rule's shell text holds only paths and epochs, and a job can be rerun by hand.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from repdyn import plan
from repdyn.analysis import mean_offdiag
from repdyn.config import grids
from repdyn.storage import spec_files as artifacts
from repdyn.tiling.assembly import write_result
from repdyn.tiling.names import tile_epochs


def _cka_spec(cka_dir: Path) -> tuple[dict[str, Any], str, Any, Any]:
    """The spec, the stage (cka or cka_cross) and the row and column grid definitions."""
    spec = artifacts.read_spec(cka_dir, None)
    if spec["stage"] not in ("cka", "cka_cross"):
        raise ValueError(f"{cka_dir} is a {spec['stage']!r} artifact, not a CKA one")
    settings = spec["settings"]
    return spec, spec["stage"], settings["grid_rows"], settings.get("grid_cols", settings["grid_rows"])


def tile(cka_dir: Path, name: str, rows: Sequence[str], cols: Sequence[str], out: str) -> None:
    """cka_tile: one block of the CKA matrices of all layers."""
    from repdyn.cka.tile_job import run_tile

    spec, stage, grid_rows, grid_cols = _cka_spec(cka_dir)
    row_epochs, col_epochs, same_block = tile_epochs(grid_rows, grid_cols, name)
    run_tile(
        out,
        rows,
        cols,
        row_epochs,
        col_epochs,
        spec["settings"],
        stage == "cka" and same_block,
        {"cka": cka_dir.name, "tile": name, "estimator": spec["settings"]["estimator"]},
    )


def _nanmin(m: np.ndarray) -> float:
    return np.nanmin(m) if np.isfinite(m).any() else float("nan")


def assemble(cka_dir: Path, tiles: Sequence[str], shape: str, metrics: str | None, title: str, out: str) -> None:
    """cka_assemble: the whole matrices (Zarr), heatmaps, the panel with the error curves, summary.json."""
    from repdyn.cka.assemble_job import assemble as assemble_tiles
    from repdyn.cka.assemble_job import write_assembled
    from repdyn.cka.figures import cka_figures
    from repdyn.train import phase_marks, read_metrics, training_phases

    spec, stage, grid_rows, grid_cols = _cka_spec(cka_dir)
    rows_length, cols_length = plan.CkaArtifact.lengths_of(shape)
    row_epochs, col_epochs = grids.epochs(grid_rows, rows_length), grids.epochs(grid_cols, cols_length)
    matrices, _ = assemble_tiles(tiles, row_epochs, col_epochs, symmetric=stage == "cka")
    rows = read_metrics([metrics]) if metrics else None
    attrs = {
        "stage": stage,
        "id": cka_dir.name,
        "estimator": spec["settings"]["estimator"],
        "accumulate": spec["settings"]["accumulate"],
        "experiments": title,
        "layers": list(matrices),
        "inputs": spec["inputs"],
    }
    marks = phase_marks(training_phases(rows)) if rows is not None and stage == "cka" else None

    def write(tmp: Path) -> None:
        write_assembled(tmp, matrices, row_epochs, col_epochs, attrs)
        cka_figures(
            tmp,
            matrices,
            row_epochs,
            col_epochs,
            title=title,
            estimator=spec["settings"]["estimator"],
            metrics_rows=rows if stage == "cka" else None,
            marks=marks,
        )

    write_result(
        out,
        write,
        {
            layer: {
                "min": float(_nanmin(m)),
                "mean_offdiag": mean_offdiag(m) if stage == "cka" else float(np.nanmean(m)),
            }
            for layer, m in matrices.items()
        },
    )
    print(json.dumps({"assembled": out, "layers": list(matrices)}))
