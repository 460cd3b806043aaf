"""drs_assemble: the whole epoch x epoch agreement counts of all layers, placed from their upper tiles.

Every cell must be covered; the upper tiles are mirrored and every tile must agree on the layers and the
number of points (the divisor that turns counts into similarities).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from repdyn.drs.store import DRS_STORE, TILE_STORE, read_tile, write_drs_store
from repdyn.storage import atomic
from repdyn.tiling.assembly import place_tiles


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


def write_assembled(
    out_dir: str | os.PathLike,
    counts: Mapping[str, np.ndarray],
    points: int,
    epochs: Sequence[int],
    probe_train_err: np.ndarray,
    probe_test_err: np.ndarray,
    attrs: Mapping[str, Any],
) -> Path:
    """The assembled store (consolidated: final and immutable) inside an output directory."""
    store = Path(out_dir) / DRS_STORE
    with atomic.atomic_path(store) as tmp:
        write_drs_store(tmp, counts, points, epochs, probe_train_err, probe_test_err, attrs)
    return store
