"""cka_tile and cka_assemble: blocks of the epoch x epoch matrix from stored Grams, then the whole matrix.

A tile holds rows [a, b) x columns [c, d) of the grid, for all layers at once. Peak memory of a tile job:
the float32 epoch vectors of its two blocks, (b-a + d-c) x D x 4 bytes per layer processed (one layer at a
time), plus the float64 tile and one column chunk (see repdyn.cka.tiles). D = B n(n-1)/2 for the unbiased
estimators (n = probe batch size, B batches): 4 x 512 examples -> D = 523,264 -> 2.1 MB per epoch, so a
250 x 250 tile needs about 1.05 GB plus a constant.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from repdyn import atomic
from repdyn.cka.estimators import check_estimator
from repdyn.cka.store import CKA_STORE, TILE_STORE, GramParts, read_matrix_store, write_matrix_store
from repdyn.cka.tiles import (
    cka_from_products,
    cka_mean_from_products,
    diagonal_tile_cka,
    diagonal_tile_cka_mean,
    row_sq_norms,
    segment_products,
    tile_products,
)
from repdyn.cka.transforms import batch_columns, transform
from repdyn.tiling.assembly import place_tiles

log = logging.getLogger(__name__)


def epoch_vectors(parts: GramParts, layer: str, epochs: Sequence[int], estimator: str) -> torch.Tensor:
    """Stack of the epochs' vectors g (len(epochs), D), float32, built from the stored Grams."""
    full = estimator == "full_biased"
    block = None  # filled row by row: a list of rows plus a stacked copy would hold the block twice
    for row, epoch in enumerate(epochs):
        part = parts.part_of(epoch)
        packed = torch.from_numpy(part.packed(layer, epoch, full=full))
        n = part.batch_size * part.batches if full else part.batch_size
        vector = transform(list(packed), [n] * packed.shape[0], estimator, dtype=torch.float32)
        if block is None:
            block = torch.empty((len(epochs), vector.shape[0]), dtype=torch.float32)
        block[row] = vector
    return block


def tile_cka(rows: torch.Tensor, cols: torch.Tensor | None, estimator: str, accumulate: str,
             sizes: Sequence[int]) -> torch.Tensor:
    """CKA of the row block against the column block (cols None: the diagonal tile, exactly symmetric)."""
    if estimator == "minibatch_unbiased_cka_mean":
        columns = batch_columns(sizes, estimator)
        if cols is None:
            return diagonal_tile_cka_mean(rows, columns, accumulate)
        products, norms_i, norms_j = segment_products(rows, cols, columns, accumulate)
        return cka_mean_from_products(products, norms_i, norms_j)
    if cols is None:
        return diagonal_tile_cka(rows, accumulate)
    return cka_from_products(tile_products(rows, cols, accumulate), row_sq_norms(rows, accumulate),
                             row_sq_norms(cols, accumulate))


def compute_tile(row_parts: GramParts, col_parts: GramParts, row_epochs: Sequence[int], col_epochs: Sequence[int],
                 estimator: str, accumulate: str, diagonal: bool) -> dict[str, np.ndarray]:
    """{layer: CKA block (len(row_epochs), len(col_epochs)) float64}."""
    check_estimator(estimator)
    out = {}
    for layer in row_parts.layers:
        started = time.perf_counter()
        rows = epoch_vectors(row_parts, layer, row_epochs, estimator)
        cols = None if diagonal else epoch_vectors(col_parts, layer, col_epochs, estimator)
        sizes = [row_parts.parts[0].batch_size] * row_parts.parts[0].batches
        out[layer] = tile_cka(rows, cols, estimator, accumulate, sizes).numpy()
        log.info("layer %s: %d x %d tile, D = %d, %.2f s", layer, len(row_epochs), len(col_epochs), rows.shape[1],
                 time.perf_counter() - started)
        del rows, cols  # the next layer's blocks must not coexist with these
    return out


def run_tile(out_dir: str | os.PathLike, row_parts: Sequence[str], col_parts: Sequence[str], row_epochs: Sequence[int],
             col_epochs: Sequence[int], settings: Mapping[str, Any], diagonal: bool, attrs: Mapping[str, Any]) -> None:
    rows, cols = GramParts(row_parts), GramParts(col_parts)
    blocks = compute_tile(rows, cols, row_epochs, col_epochs, settings["estimator"], settings["accumulate"], diagonal)
    with atomic.atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        write_matrix_store(tmp / TILE_STORE, blocks, row_epochs, col_epochs, {**attrs, "layers": rows.layers})


def assemble(tile_dirs: Sequence[str | os.PathLike], row_epochs: Sequence[int], col_epochs: Sequence[int],
             symmetric: bool) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Place every tile into the full matrices (mirroring for symmetric CKA); every cell must be covered."""
    attrs: dict[str, Any] = {}

    def tiles():
        nonlocal attrs
        for tile_dir in tile_dirs:
            blocks, t_rows, t_cols, attrs = read_matrix_store(Path(tile_dir) / TILE_STORE)
            yield blocks, t_rows, t_cols

    matrices = place_tiles(tiles(), row_epochs, col_epochs, symmetric, fill=np.nan, dtype=np.float64)
    return {layer: matrices[layer] for layer in attrs.get("layers", matrices)}, attrs


def write_assembled(out_dir: str | os.PathLike, matrices: Mapping[str, np.ndarray], row_epochs: Sequence[int],
                    col_epochs: Sequence[int], attrs: Mapping[str, Any]) -> Path:
    """The assembled store inside a fresh output directory."""
    out_dir = Path(out_dir)
    store = out_dir / CKA_STORE
    with atomic.atomic_path(store) as tmp:
        write_matrix_store(tmp, matrices, row_epochs, col_epochs, attrs)
    return store
