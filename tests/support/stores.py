"""Opening the workflow's stores in xarray, failing on any warning."""

from __future__ import annotations

import warnings
from pathlib import Path

import xarray as xr


def open_quietly(path: Path, **kwargs):
    """xarray.open_zarr, failing on any warning (an unconsolidated store warns on every open)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return xr.open_zarr(path, **kwargs)


def tree_quietly(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return xr.open_datatree(path, engine="zarr")
