"""drs_tile and drs_assemble: exact agreement counts between blocks of grid epochs, then the whole matrix.

A tile holds the counts of row block x column block for all layers at once, as integers (repdyn.drs.agreement.
agreement_counts: one-hot products, exact). Peak memory of a tile job, one layer at a time: the uint8
predictions of both blocks, (rows + cols) x P·R² bytes (2 x 250 x 1.25 M = 625 MB at the paper's
scale), plus the one-hot chunks (repdyn.drs.agreement.DEFAULT_CHUNK_BYTES). Assembly divides by the number of
points, mirrors the upper tiles and checks that every cell is covered.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from repdyn.storage import atomic
from repdyn.drs.agreement import agreement_counts
from repdyn.drs.store import (
    DRS_STORE,
    TILE_STORE,
    PredsParts,
    read_tile,
    write_drs_store,
    write_tile,
)
from repdyn.tiling.assembly import place_tiles

log = logging.getLogger(__name__)


def compute_tile(row_parts: PredsParts, col_parts: PredsParts, row_epochs: Sequence[int], col_epochs: Sequence[int],
                 diagonal: bool, device: str = "cpu") -> dict[str, np.ndarray]:
    """{layer: int64 agreement counts (len(row_epochs), len(col_epochs))}; a diagonal tile reads its block once."""
    if (row_parts.layers, row_parts.num_classes, row_parts.points) != (col_parts.layers, col_parts.num_classes,
                                                                      col_parts.points):
        raise ValueError("row and column predictions differ in layers, classes or points")
    out = {}
    for layer in row_parts.layers:
        started = time.perf_counter()
        rows = row_parts.stack(layer, row_epochs)
        cols = rows if diagonal else col_parts.stack(layer, col_epochs)
        out[layer] = agreement_counts(rows, cols, row_parts.num_classes, device=device)
        log.info("layer %s: %d x %d tile over %d points, %.2f s", layer, len(row_epochs), len(col_epochs),
                 rows.shape[1], time.perf_counter() - started)
    return out


def run_tile(out_dir: str | os.PathLike, row_parts: Sequence[str], col_parts: Sequence[str], row_epochs: Sequence[int],
             col_epochs: Sequence[int], diagonal: bool, attrs: Mapping[str, Any], device: str = "cpu") -> None:
    """Compute one tile from predictions parts and write `out_dir/tile.zarr` atomically (whole directory)."""
    rows = PredsParts(row_parts)
    cols = rows if diagonal else PredsParts(col_parts)
    counts = compute_tile(rows, cols, row_epochs, col_epochs, diagonal, device)
    with atomic.atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        write_tile(tmp / TILE_STORE, counts, row_epochs, col_epochs,
                   {**attrs, "points": rows.points, "num_classes": rows.num_classes})


def assemble(tile_dirs: Sequence[str | os.PathLike], epochs: Sequence[int]) -> tuple[dict[str, np.ndarray], int]:
    """({layer: int64 (E, E) symmetric counts}, points per epoch) from the upper tiles; every cell must be covered."""
    points, layers = None, None

    def tiles():
        nonlocal points, layers
        for tile_dir in tile_dirs:
            blocks, t_rows, t_cols, attrs = read_tile(Path(tile_dir) / TILE_STORE)
            if points is not None and (attrs["points"] != points or attrs["layers"] != layers):
                raise ValueError(f"{tile_dir}: its points or layers differ from the other tiles'")
            points, layers = attrs["points"], attrs["layers"]
            yield blocks, t_rows, t_cols

    counts = place_tiles(tiles(), epochs, epochs, symmetric=True, fill=0, dtype=np.int64)
    return {layer: counts[layer] for layer in layers}, int(points)


def write_assembled(out_dir: str | os.PathLike, counts: Mapping[str, np.ndarray], points: int, epochs: Sequence[int],
                    probe_train_err: np.ndarray, probe_test_err: np.ndarray, attrs: Mapping[str, Any]) -> Path:
    """The assembled store (consolidated: final and immutable) inside an output directory."""
    store = Path(out_dir) / DRS_STORE
    with atomic.atomic_path(store) as tmp:
        write_drs_store(tmp, counts, points, epochs, probe_train_err, probe_test_err, attrs)
    return store
