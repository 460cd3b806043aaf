"""Place tiles into the whole epoch x epoch matrices, and check that every cell is covered.

A symmetric matrix (self-CKA, DRS) is built from the tiles on and above the diagonal: each tile is also
written mirrored. A missing cell is an error, never a silent fill value in a finished result.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from repdyn.storage import atomic

TileBlocks = tuple[Mapping[str, np.ndarray], Sequence[int], Sequence[int]]  # {layer: block}, row and column epochs


def place_tiles(
    tiles: Iterable[TileBlocks],
    row_epochs: Sequence[int],
    col_epochs: Sequence[int],
    symmetric: bool,
    fill: float | int,
    dtype: type,
) -> dict[str, np.ndarray]:
    """{layer: (len(row_epochs), len(col_epochs)) matrix} with every tile's blocks in place."""
    row_pos = {e: i for i, e in enumerate(row_epochs)}
    col_pos = {e: i for i, e in enumerate(col_epochs)}
    shape = (len(row_epochs), len(col_epochs))
    matrices: dict[str, np.ndarray] = {}
    covered = np.zeros(shape, dtype=bool)
    for blocks, t_rows, t_cols in tiles:
        r = [row_pos[int(e)] for e in t_rows]
        c = [col_pos[int(e)] for e in t_cols]
        for layer, block in blocks.items():
            m = matrices.setdefault(layer, np.full(shape, fill, dtype=dtype))
            m[np.ix_(r, c)] = block
            if symmetric:
                m[np.ix_(c, r)] = block.T
        covered[np.ix_(r, c)] = True
        if symmetric:
            covered[np.ix_(c, r)] = True
    if not covered.all():
        missing = np.argwhere(~covered)[0]
        raise ValueError(
            f"tiles do not cover the matrix: cell ({row_epochs[missing[0]]}, {col_epochs[missing[1]]}) is missing"
        )
    return matrices


def write_result(out_dir: str | os.PathLike, write: Callable[[Path], None], summary: Mapping[str, Any]) -> None:
    """An assembled directory, whole or not at all: `write(tmp)` puts the store and figures, then summary.json."""
    with atomic.atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        write(tmp)
        atomic.write_json(tmp / "summary.json", summary)


def assembled_store(path: str | os.PathLike, store: str, stage: str) -> Path:
    """The store of an assembled result, given its directory `results/<stage>/<id>/e<E>` or the store itself."""
    path = Path(path)
    if (path / store).is_dir():
        path = path / store
    if not (path / "zarr.json").is_file():
        raise FileNotFoundError(
            f"{path}: not an assembled {stage.upper()} store (expected results/{stage}/<id>/e<E>/{store})"
        )
    return path
