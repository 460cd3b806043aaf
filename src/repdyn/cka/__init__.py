"""Exact, fast linear CKA (docs/algorithms.md §1): estimators, Gram transforms, tiles and a public API.

    from repdyn.cka import cka, cka_matrix, ESTIMATORS, open_cka

Same shape as repdyn.drs:
    maths     estimators (names, batch rules), grams (batch-centred Grams, packed storage form),
              transforms (Grams -> an epoch's vector g whose inner products are HSIC sums), tiles (blocks
              of G Gᵀ and their normalisation), api (in-memory convenience on top; no I/O)
    store     the Zarr layout of the CKA tiles and matrices; `open_cka` reads an assembled result
    jobs      tile_job (cka_tile), assemble_job (cka_assemble), layer_pairs (cka_layer_pairs), entry_points
              (each job as `python -m repdyn` runs it, reading spec.json)
    figures   heatmaps and the layer panel
The Grams come from the extraction stage (repdyn.extract: the job and grams.zarr's layout). What CKA and DRS
share (tile names, epoch parts, Zarr helpers, assembly) is repdyn.tiling.

`ESTIMATORS` is importable without torch (config validation needs it at Snakefile parse time); the
torch-based names are loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from .estimators import ESTIMATORS, MIN_BATCH_SIZE, check_estimator

_LAZY = {
    "cka": "api",
    "cka_matrix": "api",
    "centred_gram": "grams",
    "pack_upper": "grams",
    "unpack_upper": "grams",
    "transform": "transforms",
    "batch_columns": "transforms",
    "tile_products": "tiles",
    "streamed_products": "tiles",
    "cka_from_products": "tiles",
    "cka_mean_from_products": "tiles",
    "ACCUMULATIONS": "tiles",
    "open_cka": "store",
    "CkaMatrices": "store",
}

__all__ = ["ESTIMATORS", "MIN_BATCH_SIZE", "check_estimator", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
