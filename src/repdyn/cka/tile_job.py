"""cka_tile and cka_assemble: blocks of the epoch x epoch matrix from stored Grams, then the whole matrix.

A tile holds rows [a, b) x columns [c, d) of the grid, for all layers at once. Its epoch vectors are streamed
from the store one probe batch's columns at a time (repdyn.cka.panels), read, decompressed and transformed on
a thread while the GEMMs run on the previous panel; the column chunks and their order are those of the
in-memory kernels (repdyn.cka.tiles), so the tile is the same numbers. Peak memory: per block at most three
panels of its epochs' vectors, 3 x (b-a) x D/B x 4 bytes (D = B n(n-1)/2 for the unbiased estimators, n the
probe batch size, B batches: 4 x 512 examples -> D/B = 130,816 -> 0.5 MB per epoch and panel, so 1.6 GB for
a block of 1001 epochs), plus the float64 tile and one column chunk per side (see repdyn.cka.tiles).
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch

from repdyn.storage import atomic
from repdyn.cka.estimators import check_estimator
from repdyn.cka.store import CKA_STORE, TILE_STORE, GramParts, read_matrix_store, write_matrix_store
from repdyn.cka.panels import batch_panels, keep_freed_memory, read_ahead, working_chunks
from repdyn.cka.tiles import (
    block_products,
    cka_from_products,
    cka_mean_from_products,
    diagonal_tile_cka,
    diagonal_tile_cka_mean,
    row_sq_norms,
    segment_products,
    streamed_products,
    streamed_symmetric_products,
    symmetric_products,
    tile_products,
)
from repdyn.cka.transforms import batch_columns
from repdyn.tiling.assembly import place_tiles

log = logging.getLogger(__name__)


def epoch_vectors(parts: GramParts, layer: str, epochs: Sequence[int], estimator: str) -> torch.Tensor:
    """Stack of the epochs' vectors g (len(epochs), D), float32, built from the stored Grams, in memory."""
    return torch.cat(list(batch_panels(parts, layer, epochs, estimator)), dim=1)


def tile_cka(rows: torch.Tensor, cols: torch.Tensor | None, estimator: str, accumulate: str,
             sizes: Sequence[int]) -> torch.Tensor:
    """CKA of an in-memory row block against a column block (cols None: the diagonal tile, exactly symmetric)."""
    if estimator == "minibatch_unbiased_cka_mean":
        columns = batch_columns(sizes, estimator)
        if cols is None:
            return diagonal_tile_cka_mean(rows, columns, accumulate)
        return cka_mean_from_products(*segment_products(rows, cols, columns, accumulate))
    if cols is None:
        return diagonal_tile_cka(rows, accumulate)
    return cka_from_products(tile_products(rows, cols, accumulate), row_sq_norms(rows, accumulate),
                             row_sq_norms(cols, accumulate))


def _products(rows: Iterator[torch.Tensor], cols: Iterator[torch.Tensor] | None, estimator: str,
              accumulate: str) -> torch.Tensor:
    """`tile_cka` from the blocks' per-batch panels (`panels.batch_panels`) streamed in: the same chunks in the
    same order, so the same numbers."""
    if estimator == "minibatch_unbiased_cka_mean":  # per batch: the panel's own column chunks, as segment_products
        if cols is None:
            products = torch.stack([symmetric_products(panel, accumulate) for panel in rows])
            diag = products.diagonal(dim1=1, dim2=2).clone()
            return cka_mean_from_products(products, diag, diag)
        parts = [block_products(left, right, accumulate) for left, right in zip(rows, cols, strict=True)]
        return cka_mean_from_products(*(torch.stack(field) for field in zip(*parts)))
    if cols is None:
        products = streamed_symmetric_products(working_chunks(rows, accumulate), accumulate)
        return cka_from_products(products, products.diagonal().clone(), products.diagonal().clone())
    return cka_from_products(*streamed_products(working_chunks(rows, accumulate), working_chunks(cols, accumulate),
                                                accumulate))


def _layer_panels(parts: GramParts, epochs: Sequence[int], estimator: str) -> Iterator[Iterator[torch.Tensor]]:
    """Per layer, the batch panels of the block, read ahead on a thread across layer boundaries."""
    flat = read_ahead((panel for layer in parts.layers for panel in batch_panels(parts, layer, epochs, estimator)))
    per_layer = 1 if estimator == "full_biased" else parts.parts[0].batches
    for _ in parts.layers:
        yield itertools.islice(flat, per_layer)


def compute_tile(row_parts: GramParts, col_parts: GramParts, row_epochs: Sequence[int], col_epochs: Sequence[int],
                 estimator: str, accumulate: str, diagonal: bool) -> dict[str, np.ndarray]:
    """{layer: CKA block (len(row_epochs), len(col_epochs)) float64}."""
    check_estimator(estimator)
    keep_freed_memory()
    rows = _layer_panels(row_parts, row_epochs, estimator)
    cols = None if diagonal else _layer_panels(col_parts, col_epochs, estimator)
    out = {}
    for layer in row_parts.layers:
        started = time.perf_counter()
        out[layer] = _products(next(rows), None if cols is None else next(cols), estimator, accumulate).numpy()
        log.info("layer %s: %d x %d tile, %.2f s", layer, len(row_epochs), len(col_epochs),
                 time.perf_counter() - started)
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
