"""Zarr helpers shared by every store of the pipelines: groups, named arrays, consolidation.

Every array gets dimension names (xarray and zarr users see the axes) and the same compressor (unless
it asks for none); a float array's fill value is NaN, so a cell never written reads as missing rather
than as a number.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import zarr
from zarr.codecs import BloscCodec

from repdyn.storage import zarr_labels as labels

_COMPRESSOR = BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")


def create_group(path: str | os.PathLike, attrs: Mapping[str, Any]) -> zarr.Group:
    """A new Zarr v3 group (never overwrites an existing one)."""
    group = zarr.open_group(str(path), mode="w-", zarr_format=3)
    group.attrs.update(dict(attrs))
    return group


def add_array(group: zarr.Group, name: str, data: np.ndarray | None = None, *, shape=None, dtype=None,
              chunks=None, dims: Sequence[str], attrs: Mapping[str, Any] | None = None,
              compress: bool = True) -> zarr.Array:
    """Create an array (optionally filled), with dimension names so xarray/zarr users see the axes;
    `compress` False stores its chunks as plain bytes (for data that does not compress)."""
    if data is not None:
        shape, dtype = data.shape, data.dtype
    array = group.create_array(
        name, shape=shape, dtype=dtype, chunks=chunks or shape, compressors=_COMPRESSOR if compress else None,
        fill_value=np.nan if np.dtype(dtype).kind == "f" else 0, dimension_names=tuple(dims),
        attributes=dict(attrs or {}),
    )
    if data is not None:
        array[...] = data
    return array


def consolidate(path: str | os.PathLike) -> None:
    """Consolidate a final, immutable store: readers then never list its directory (where Snakemake may
    have put a .snakemake_timestamp that zarr would warn about)."""
    with warnings.catch_warnings():  # zarr notes that consolidation is not (yet) in the v3 spec; we know
        warnings.simplefilter("ignore", category=UserWarning)
        zarr.consolidate_metadata(str(path))


def add_epoch_axes(group: zarr.Group, row_epochs: Sequence[int], col_epochs: Sequence[int],
                   layers: Sequence[str]) -> None:
    """The coordinates of a matrix store: row and column epochs, layer names."""
    for name, epochs in (("row_epoch", row_epochs), ("col_epoch", col_epochs)):
        add_array(group, name, np.asarray(epochs, dtype=np.int64), dims=(name,), attrs=labels.attrs(name))
    labels.add_names(group, "layer", layers)


def add_matrices(group: zarr.Group, name: str, matrices: Mapping[str, np.ndarray], dtype: str,
                 convert: Callable[[np.ndarray], np.ndarray] | None = None, **extra: Any) -> None:
    """The matrices of all layers as one (layer, row_epoch, col_epoch) array, written layer by layer
    (`convert`, e.g. counts -> fractions, is applied to one layer at a time)."""
    shape = (len(matrices), *np.shape(next(iter(matrices.values()))))
    array = add_array(group, name, shape=shape, dtype=dtype, chunks=labels.matrix_chunks(shape),
                      dims=labels.MATRIX_DIMS, attrs=labels.attrs(name, **extra))
    for i, matrix in enumerate(matrices.values()):
        array[i] = np.asarray(convert(matrix) if convert else matrix, dtype=dtype)
