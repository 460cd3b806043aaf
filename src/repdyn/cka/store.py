"""Zarr layout of the CKA results, tiles and assembled matrices, written and read in one place.

The Grams they are computed from are the extraction's store (repdyn.extract.grams_store).

Tile (`results/cka/<id>/tiles/<a>-<b>_<c>-<d>/tile.zarr`):
    cka                    float64 (L, b-a, d-c)       CKA of row grid positions [a, b) x columns [c, d)
    layer, row_epoch, col_epoch                        coordinates
Assembled (`results/cka/<id>/e<E>/cka.zarr`):
    cka                    float64 (L, E_rows, E_cols) the whole matrix per layer, symmetric for self-CKA;
                                                       chunks of one layer x 500 x 500 epochs
    layer, row_epoch, col_epoch                        coordinates: the layers and the epochs of each axis
    attrs: layers, layer_labels, estimator, experiment(s), ids

Every store is consolidated and labelled for xarray (repdyn.storage.zarr_labels):
`xarray.open_zarr(".../cka.zarr").cka.sel(layer="layer4", row_epoch=10)`. A store in the unlabelled
layout (one array `cka/<layer>` per layer) reads as well.

Every store is built in a temporary directory that is renamed into place when complete (its parent
directory is the job's declared output), so a killed job never leaves a store that looks finished.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import zarr

from repdyn.storage import zarr_labels, zarr_store
from repdyn.storage.integrity import require
from repdyn.storage.zarr_store import add_epoch_axes, add_matrices, create_group
from repdyn.tiling.assembly import assembled_store

TILE_STORE = "tile.zarr"
CKA_STORE = "cka.zarr"


def write_matrix_store(
    path: str | os.PathLike,
    matrices: Mapping[str, np.ndarray],
    row_epochs: Sequence[int],
    col_epochs: Sequence[int],
    attrs: Mapping[str, Any],
) -> None:
    group = create_group(path, attrs)
    add_epoch_axes(group, row_epochs, col_epochs, list(matrices))
    add_matrices(group, "cka", matrices, "float64", estimator=attrs.get("estimator"))
    zarr_store.consolidate(path)


def read_matrix_store(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, dict]:
    require(path)
    group = zarr.open_group(str(path), mode="r", use_consolidated=False)
    layers = list(group.attrs["layers"])
    matrices = {layer: zarr_labels.layer_matrix(group, "cka", layer) for layer in layers}
    return matrices, group["row_epoch"][...], group["col_epoch"][...], dict(group.attrs)


class CkaMatrices:
    """An assembled CKA store opened as numpy arrays with their coordinates."""

    def __init__(self, matrices: dict[str, np.ndarray], row_epochs: np.ndarray, col_epochs: np.ndarray, attrs: dict):
        self.matrices = matrices
        self.row_epochs = row_epochs
        self.col_epochs = col_epochs
        self.attrs = attrs

    @property
    def layers(self) -> list[str]:
        return list(self.matrices)

    def __getitem__(self, layer: str) -> np.ndarray:
        return self.matrices[layer]

    def __repr__(self) -> str:
        shape = next(iter(self.matrices.values())).shape if self.matrices else ()
        return f"CkaMatrices({self.attrs.get('estimator')}, layers={self.layers}, shape={shape})"


def open_cka(path: str | os.PathLike) -> CkaMatrices:
    """Open an assembled CKA result: the `results/cka/<id>/e<E>` directory or its cka.zarr store."""
    matrices, rows, cols, attrs = read_matrix_store(assembled_store(path, CKA_STORE, "cka"))
    return CkaMatrices(matrices, rows, cols, attrs)
