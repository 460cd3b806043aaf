"""cka_tile: one block of the epoch x epoch CKA matrices of all layers, from the stored Grams.

A tile holds rows [a, b) x columns [c, d) of the grid, for all layers at once. Its epoch vectors are streamed
from the store in pieces of one column chunk (repdyn.cka.panels), read and transformed on a thread while the
GEMMs run on the previous pieces; the column chunks and their order are those of the in-memory kernels
(repdyn.cka.tiles), so the tile is the same numbers. Peak memory per block: one batch's packed Grams,
(b-a) x n(n+1)/2 x 4 bytes (n the probe batch size: 0.5 MB per epoch at n = 512, so 0.5 GB for a block of
1001 epochs), and PIECES_AHEAD + 2 pieces of (b-a) x 8192 x 4 bytes (33 MB each at 1001 epochs); the
cka_mean reduction streams whole batch panels instead (at most three, 3 x (b-a) x n(n-1)/2 x 4 bytes); plus
the float64 tile and one column chunk per side (see repdyn.cka.tiles).
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from repdyn.cka.estimators import check_estimator
from repdyn.cka.panels import (
    batch_panels,
    batch_pieces,
    keep_freed_memory,
    pieces_per_layer,
    read_ahead,
    working_chunks,
)
from repdyn.cka.store import TILE_STORE, write_matrix_store
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
from repdyn.extract.grams_store import GramParts
from repdyn.storage import atomic

log = logging.getLogger(__name__)
PIECES_AHEAD = 8


def epoch_vectors(parts: GramParts, layer: str, epochs: Sequence[int], estimator: str) -> torch.Tensor:
    """Stack of the epochs' vectors g (len(epochs), D), float32, built from the stored Grams, in memory."""
    return torch.cat(list(batch_panels(parts, layer, epochs, estimator)), dim=1)


def tile_cka(
    rows: torch.Tensor, cols: torch.Tensor | None, estimator: str, accumulate: str, sizes: Sequence[int]
) -> torch.Tensor:
    """CKA of an in-memory row block against a column block (cols None: the diagonal tile, exactly symmetric)."""
    if estimator == "minibatch_unbiased_cka_mean":
        columns = batch_columns(sizes, estimator)
        if cols is None:
            return diagonal_tile_cka_mean(rows, columns, accumulate)
        return cka_mean_from_products(*segment_products(rows, cols, columns, accumulate))
    if cols is None:
        return diagonal_tile_cka(rows, accumulate)
    return cka_from_products(
        tile_products(rows, cols, accumulate), row_sq_norms(rows, accumulate), row_sq_norms(cols, accumulate)
    )


def _products(
    rows: Iterator[torch.Tensor], cols: Iterator[torch.Tensor] | None, estimator: str, accumulate: str
) -> torch.Tensor:
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
    return cka_from_products(
        *streamed_products(working_chunks(rows, accumulate), working_chunks(cols, accumulate), accumulate)
    )


def _layer_panels(parts: GramParts, epochs: Sequence[int], estimator: str) -> Iterator[Iterator[torch.Tensor]]:
    """Per layer, the block's columns read ahead on a thread across layer boundaries: whole batch panels for
    the cka_mean reduction (its products are per batch), else pieces of one column chunk (`batch_pieces`),
    up to PIECES_AHEAD of them queued: enough to keep the GEMMs fed while the thread reads and sums the next
    batch's Grams."""
    if estimator == "minibatch_unbiased_cka_mean":
        per_layer, depth = parts.parts[0].batches, 1
        stream = (panel for layer in parts.layers for panel in batch_panels(parts, layer, epochs, estimator))
    else:
        per_layer, depth = pieces_per_layer(parts, estimator), PIECES_AHEAD
        stream = batch_pieces(parts, parts.layers, epochs, estimator)
    flat = read_ahead(stream, depth)
    for _ in parts.layers:
        yield itertools.islice(flat, per_layer)


def compute_tile(
    row_parts: GramParts,
    col_parts: GramParts,
    row_epochs: Sequence[int],
    col_epochs: Sequence[int],
    estimator: str,
    accumulate: str,
    diagonal: bool,
) -> dict[str, np.ndarray]:
    """{layer: CKA block (len(row_epochs), len(col_epochs)) float64}."""
    check_estimator(estimator)
    keep_freed_memory()
    rows = _layer_panels(row_parts, row_epochs, estimator)
    cols = None if diagonal else _layer_panels(col_parts, col_epochs, estimator)
    out = {}
    for layer in row_parts.layers:
        started = time.perf_counter()
        out[layer] = _products(next(rows), None if cols is None else next(cols), estimator, accumulate).numpy()
        log.info(
            "layer %s: %d x %d tile, %.2f s", layer, len(row_epochs), len(col_epochs), time.perf_counter() - started
        )
    return out


def run_tile(
    out_dir: str | os.PathLike,
    row_parts: Sequence[str],
    col_parts: Sequence[str],
    row_epochs: Sequence[int],
    col_epochs: Sequence[int],
    settings: Mapping[str, Any],
    diagonal: bool,
    attrs: Mapping[str, Any],
) -> None:
    rows, cols = GramParts(row_parts), GramParts(col_parts)
    blocks = compute_tile(rows, cols, row_epochs, col_epochs, settings["estimator"], settings["accumulate"], diagonal)
    with atomic.atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        write_matrix_store(tmp / TILE_STORE, blocks, row_epochs, col_epochs, {**attrs, "layers": rows.layers})
