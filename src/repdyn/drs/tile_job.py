"""drs_tile: exact agreement counts between two blocks of grid epochs, for all layers at once.

A tile holds the counts of row block x column block as integers (repdyn.drs.agreement.agreement_counts:
one-hot products, exact). Peak memory of a tile job, one layer at a time: the uint8 predictions of both
blocks, (rows + cols) x P·R² bytes (2 x 250 x 1.25 M = 625 MB at the paper's scale), plus the one-hot chunks
(repdyn.drs.agreement.DEFAULT_CHUNK_BYTES).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from repdyn.drs.agreement import agreement_counts
from repdyn.drs.store import TILE_STORE, PredsParts, write_tile
from repdyn.storage import atomic

log = logging.getLogger(__name__)


def compute_tile(
    row_parts: PredsParts,
    col_parts: PredsParts,
    row_epochs: Sequence[int],
    col_epochs: Sequence[int],
    diagonal: bool,
    device: str = "cpu",
) -> dict[str, np.ndarray]:
    """{layer: int64 agreement counts (len(row_epochs), len(col_epochs))}; a diagonal tile reads its block once."""
    if (row_parts.layers, row_parts.num_classes, row_parts.points) != (
        col_parts.layers,
        col_parts.num_classes,
        col_parts.points,
    ):
        raise ValueError("row and column predictions differ in layers, classes or points")
    out = {}
    for layer in row_parts.layers:
        started = time.perf_counter()
        rows = row_parts.stack(layer, row_epochs)
        cols = rows if diagonal else col_parts.stack(layer, col_epochs)
        out[layer] = agreement_counts(rows, cols, row_parts.num_classes, device=device)
        log.info(
            "layer %s: %d x %d tile over %d points, %.2f s",
            layer,
            len(row_epochs),
            len(col_epochs),
            rows.shape[1],
            time.perf_counter() - started,
        )
    return out


def run_tile(
    out_dir: str | os.PathLike,
    row_parts: Sequence[str],
    col_parts: Sequence[str],
    row_epochs: Sequence[int],
    col_epochs: Sequence[int],
    diagonal: bool,
    attrs: Mapping[str, Any],
    device: str = "cpu",
) -> None:
    """Compute one tile from predictions parts and write `out_dir/tile.zarr` atomically (whole directory)."""
    rows = PredsParts(row_parts)
    cols = rows if diagonal else PredsParts(col_parts)
    counts = compute_tile(rows, cols, row_epochs, col_epochs, diagonal, device)
    with atomic.atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        write_tile(
            tmp / TILE_STORE,
            counts,
            row_epochs,
            col_epochs,
            {**attrs, "points": rows.points, "num_classes": rows.num_classes},
        )
