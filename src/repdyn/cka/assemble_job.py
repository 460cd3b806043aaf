"""cka_assemble: the whole epoch x epoch CKA matrices of all layers, placed from their tiles.

Every cell must be covered by a tile; a self-CKA matrix is assembled from its upper tiles and mirrored
(repdyn.tiling.assembly.place_tiles).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from repdyn.cka.store import CKA_STORE, TILE_STORE, read_matrix_store, write_matrix_store
from repdyn.storage import atomic
from repdyn.tiling.assembly import place_tiles


def assemble(
    tile_dirs: Sequence[str | os.PathLike], row_epochs: Sequence[int], col_epochs: Sequence[int], symmetric: bool
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Place every tile into the full matrices (mirroring for symmetric CKA); every cell must be covered."""
    attrs: dict[str, Any] = {}

    def tiles():
        nonlocal attrs
        for tile_dir in tile_dirs:
            blocks, t_rows, t_cols, attrs = read_matrix_store(Path(tile_dir) / TILE_STORE)
            yield blocks, t_rows, t_cols

    matrices = place_tiles(tiles(), row_epochs, col_epochs, symmetric, fill=np.nan, dtype=np.float64)
    return {layer: matrices[layer] for layer in attrs.get("layers", matrices)}, attrs


def write_assembled(
    out_dir: str | os.PathLike,
    matrices: Mapping[str, np.ndarray],
    row_epochs: Sequence[int],
    col_epochs: Sequence[int],
    attrs: Mapping[str, Any],
) -> Path:
    """The assembled store inside a fresh output directory."""
    out_dir = Path(out_dir)
    store = out_dir / CKA_STORE
    with atomic.atomic_path(store) as tmp:
        write_matrix_store(tmp, matrices, row_epochs, col_epochs, attrs)
    return store
