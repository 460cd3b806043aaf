"""Tile names and the grid epochs of a block.

Tiles cover blocks of consecutive grid positions and are named by the first and last epoch of each
block. With the grid definition (part of the artifact's id) that determines the block's epochs exactly,
even for a grid whose last point is the run's final epoch (`include_last`), which moves when training
is extended. So a longer run adds tiles, recomputes only a block whose content changed, and keeps every
finished tile.
"""

from __future__ import annotations

from typing import Any

from repdyn.config import grids

Tile = tuple[int, int, int, int]  # first and last epoch of the row block, then of the column block


def tile_name(tile: Tile) -> str:
    a, b, c, d = tile
    return f"{a:06d}-{b:06d}_{c:06d}-{d:06d}"


def parse_tile(name: str) -> Tile:
    """Inverse of tile_name."""
    rows, cols = name.split("_")
    a, b = rows.split("-")
    c, d = cols.split("-")
    return int(a), int(b), int(c), int(d)


def block_epochs(grid: Any, first: int, last: int) -> list[int]:
    """The grid's epochs of the block [first, last] (see the module docstring for why this is exact)."""
    epochs = [e for e in grids.epochs(grid, last) if first <= e <= last]
    if not epochs or epochs[0] != first or epochs[-1] != last:
        raise ValueError(f"{first}-{last} is not a block of the grid {grid}")
    return epochs


def tile_epochs(grid_rows: Any, grid_cols: Any, name: str) -> tuple[list[int], list[int], bool]:
    """Row epochs, column epochs of a named tile, and whether its two blocks are the same block."""
    a, b, c, d = parse_tile(name)
    return block_epochs(grid_rows, a, b), block_epochs(grid_cols, c, d), (a, b) == (c, d)


def safe_name(layer: str) -> str:
    """A layer name as a file name (ViT layers are module paths with '/')."""
    return layer.replace("/", "_")
