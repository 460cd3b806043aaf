"""Exact, fast linear CKA (docs/algorithms.md §1): estimators, Gram transforms, tiles and a public API.

    from repdyn.cka import cka, cka_matrix, ESTIMATORS, open_cka

Layers: `grams` (batch-centred Grams, packed storage form), `transforms` (Grams -> an epoch's vector g
whose inner products are HSIC sums), `tiles` (blocks of G Gᵀ and their normalisation), `api` (in-memory
convenience on top). No I/O here: storage and workflow rules build on these functions.

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
