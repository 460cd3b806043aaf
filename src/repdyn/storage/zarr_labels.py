"""What makes a repdyn Zarr store open in xarray as labelled data, in one place.

xarray takes a Zarr v3 array's `dimension_names` as its dimensions, treats an array named like its only
dimension as that dimension's coordinate, and shows `long_name` / `units` in reprs and plots. The stores
follow four rules, so `xarray.open_zarr(store)` (or `xarray.open_datatree(store, engine="zarr")` for
stores with groups, whose children inherit the root's coordinates) gives labelled data:

- every dimension that indexes something nameable (epoch, layer, plane, point, class, anchor, ...) has
  a coordinate array of the same name in the root group;
- a per-layer axis whose length differs between layers is named per layer (`<layer>_feature`), so the
  arrays of all layers can share one group;
- the matrices of all layers are one array (layer, row_epoch, col_epoch) chunked (1, 500, 500): one
  layer, one row or one 500 x 500 block reads only its own chunks, never the whole matrix;
- a finished store is consolidated: opening it reads one zarr.json (and xarray does not warn).

A store that holds per-layer matrices in a group (`cka/<layer>`, the unlabelled layout) still reads through
`layer_matrix`; its id is that of a labelled store of the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import zarr

MATRIX_CHUNK = 500
MATRIX_DIMS = ("layer", "row_epoch", "col_epoch")

_FRACTION = {"units": "fraction"}
VARIABLES: dict[str, dict[str, str]] = {
    "epoch": {"long_name": "training epoch", "units": "epoch"},
    "row_epoch": {"long_name": "training epoch of the row", "units": "epoch"},
    "col_epoch": {"long_name": "training epoch of the column", "units": "epoch"},
    "layer": {"long_name": "analysed layer"},
    "row_layer": {"long_name": "analysed layer of the row"},
    "col_layer": {"long_name": "analysed layer of the column"},
    "cka": {"long_name": "linear CKA between the layer's representations at two epochs", "units": "1"},
    "drs": {
        "long_name": "decision-region similarity: fraction of plane points on which two epochs' probes agree",
        **_FRACTION,
    },
    "agreement": {"long_name": "plane points on which two epochs' probes predict the same class", "units": "points"},
    "probe_train_err": {"long_name": "linear-probe error on the training set (the probe's labels)", **_FRACTION},
    "probe_test_err": {"long_name": "linear-probe error on the evaluation test subset", **_FRACTION},
    "train_err": {"long_name": "linear-probe error on the training set (the probe's labels)", **_FRACTION},
    "test_err": {"long_name": "linear-probe error on the evaluation test subset", **_FRACTION},
    "seed": {"long_name": "seed the epoch's probes were trained with"},
    "weight": {"long_name": "linear-probe weight"},
    "bias": {"long_name": "linear-probe bias"},
    "grams": {"long_name": "packed Gram (upper triangle) of one probe batch's batch-centred features"},
    "full": {"long_name": "packed Gram (upper triangle) of all probe examples' centred features"},
    "raw": {"long_name": "raw activations of the probe examples"},
    "probe_index": {"long_name": "test-set index of each probe example, by batch"},
    "probe_example": {"long_name": "test-set index of the probe example"},
    "batch": {"long_name": "probe batch"},
    "example": {"long_name": "position in the probe batch"},
    "class": {"long_name": "class index"},
    "preds": {"long_name": "class predicted by the layer's linear probe", "units": "class index"},
    "plane": {"long_name": "plane"},
    "point": {"long_name": "grid point of the plane (flat index i*R + j)"},
    "anchor": {"long_name": "anchor image of the plane"},
    "axis": {"long_name": "plane coordinate axis"},
    "triplet": {"long_name": "training-set indices of the plane's anchors"},
    "indices": {"long_name": "training-set indices of the plane's anchors"},
    "triplet_labels": {"long_name": "labels of the plane's anchors"},
    "coefs": {"long_name": "plane coordinates of the grid points"},
    "anchor_coords": {"long_name": "plane coordinates of the anchors"},
    "pair": {"long_name": "recorded training-set pair"},
    "member": {"long_name": "member of the pair"},
    "pair_type": {"long_name": "pair type (clean_same, clean_different, clean_vs_flipped, both_flipped)"},
    "index": {"long_name": "training-set index of the pair's members"},
    "clean_label": {"long_name": "true class of the pair's members"},
    "train_label": {"long_name": "label the network was trained on (differs from the true one when flipped)"},
    "H": {"long_name": "squared representational distance ||h_j - h_i||^2 of the layer's flattened output"},
    "Y": {"long_name": "squared logit distance ||z_j - z_i||^2"},
    "W_ce": {"long_name": "cross-entropy alignment <dz, g_j - g_i>, g = softmax(z) - onehot(training label)"},
    "dx2": {"long_name": "squared input distance ||x_j - x_i||^2 of the normalised images"},
}
ANCHORS = ("x0", "x1", "x2")
AXES = ("d1", "d2")


def attrs(name: str, **extra: Any) -> dict[str, Any]:
    """The labelling attributes of a variable (long_name, units), plus `extra` (e.g. the estimator, the layer)."""
    return {**VARIABLES.get(name, {}), **{k: v for k, v in extra.items() if v is not None}}


def feature_dim(layer: str) -> str:
    """Name of a layer's feature axis: layers differ in width, so each has its own dimension."""
    return f"{layer}_feature"


def matrix_chunks(shape: Sequence[int]) -> tuple[int, ...]:
    """One layer per chunk and at most MATRIX_CHUNK x MATRIX_CHUNK epochs (2 MB of float64)."""
    return (1, *(max(1, min(int(n), MATRIX_CHUNK)) for n in shape[1:]))


def add_names(group: zarr.Group, name: str, names: Sequence[str]) -> None:
    """A coordinate of names as variable-length UTF-8 (Zarr v3's "string" type; fixed-width numpy
    unicode has no stable v3 encoding)."""
    array = group.create_array(name, shape=(len(names),), dtype=str, dimension_names=(name,), attributes=attrs(name))
    array[:] = np.asarray(list(names), dtype=object)


def add_index(group: zarr.Group, name: str, values: Sequence[int] | np.ndarray) -> None:
    """An integer coordinate (positions, or the indices an axis stands for)."""
    values = np.asarray(values, dtype=np.int64)
    array = group.create_array(
        name, shape=values.shape, dtype="int64", fill_value=0, dimension_names=(name,), attributes=attrs(name)
    )
    array[...] = values


def layer_matrix(group: zarr.Group, name: str, layer: str) -> np.ndarray:
    """One layer's matrix `name` (cka, drs, agreement) from a store of either layout."""
    layers = list(group.attrs["layers"])
    if name not in group or layer not in layers:
        raise KeyError(f"{group.store_path}: has no {name} matrix of layer {layer!r} (layers: {layers})")
    node = group[name]
    if isinstance(node, zarr.Array):
        return node[layers.index(layer)]
    return node[layer][...]  # the unlabelled layout: one array per layer
