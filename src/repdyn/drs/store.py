"""Zarr layout of the DRS stages, written and read in one place.

Plane set (`results/planes/<id>/planes.zarr`, consolidated: it never changes), one per dataset artifact:
    indices                 int64 (P, 3)              training indices of the anchors x0, x1, x2
    triplet_labels          int64 (P, 3)              their labels under `drs.triplet_labels` (pairwise different)
    anchors                 float64 (P, C, H, W)      x0 (normalised input space)
    direction1, direction2  float64 (P, C, H, W)      orthonormal plane directions
    anchor_coords           float64 (P, 3, 2)         plane coordinates of x0, x1, x2
    coefs                   float64 (P, R², 2)        grid coordinates, flat point index = i·R + j
    resolution, range_l, range_r, seed, format_version   0-d scalars (repdyn.drs.planes.PlaneSet.to_arrays)
    attrs: data, planes (ids), settings, num_classes
Probe part (`results/probe/<id>/<start>-<end>/probes.zarr`), one per training segment:
    epoch                   int64 (E_p,)              grid epochs in this part
    layer                   str (L,)                  analysed layers, paper order
    weight/<layer>          float32 (E_p, C, p)       probe weights, chunk = one epoch; dims (epoch, class,
                                                      <layer>_feature): layers differ in width
    bias/<layer>            float32 (E_p, C)
    train_err, test_err     float64 (E_p, L)          probe error on the training set (the probe's own
                                                      labels) and on the eval test subset
    seed                    int64 (E_p,)              the seed each epoch's probes were trained with
    attrs: layers, layer_labels, num_classes, feature_dims, pooling, labels, settings, cache_modes, ids
Predictions part (`results/preds/<id>/<start>-<end>/preds.zarr`):
    preds                   uint8 (E_p, L, P, R²)     predicted classes, chunk = one (epoch, layer)
    epoch, layer, plane, point, anchor                coordinates (plane/point are 0..P-1 / 0..R²-1)
    triplet                 int64 (P, 3)              the planes' anchor indices
DRS tile (`results/drs/<id>/tiles/<a>-<b>_<c>-<d>/tile.zarr`):
    agreement               int64 (L, rows, cols)     points where the two epochs' probes agree
    layer, row_epoch, col_epoch                       coordinates
Assembled (`results/drs/<id>/e<E>/drs.zarr`):
    drs                     float64 (L, E, E)         agreement / points (symmetric, unit diagonal)
    agreement               int64 (L, E, E)           the exact counts; both chunked one layer x 500 x 500
    row_epoch, col_epoch, epoch   int64 (E,)          grid coordinates
    layer                   str (L,)
    probe_train_err, probe_test_err   float64 (E, L)  probe errors at the grid epochs
    attrs: layers, layer_labels, points, num_classes, experiments, ids

Every store is built under a temporary name and renamed into place when complete, so a killed job
never leaves a store that looks finished. Every finished store is consolidated and labelled for xarray
(repdyn.storage.zarr_labels): `xarray.open_zarr(".../drs.zarr").drs.sel(layer="layer4", row_epoch=10)`. A store
in the unlabelled layout (one array `drs/<layer>` per layer) reads as well.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import zarr

from repdyn.drs.planes import PlaneSet
from repdyn.storage import zarr_labels
from repdyn.storage.integrity import require
from repdyn.storage.zarr_store import add_array, add_epoch_axes, add_matrices, consolidate, create_group
from repdyn.tiling.assembly import assembled_store
from repdyn.tiling.parts import EpochParts

if TYPE_CHECKING:  # only `probes` makes tensors: the tile and assembly jobs start without torch
    import torch

PROBES_STORE = "probes.zarr"
PREDS_STORE = "preds.zarr"
TILE_STORE = "tile.zarr"
DRS_STORE = "drs.zarr"

_IMAGE_DIMS = ("channel", "height", "width")


def _open(path: Path, what: str, hint: str, consolidated: bool = False) -> zarr.Group:
    require(path)
    if not (path / "zarr.json").is_file():
        raise FileNotFoundError(f"{path}: no {what} store ({hint})")
    return zarr.open_group(str(path), mode="r", use_consolidated=consolidated)


def _image_dims(ndim: int) -> tuple[str, ...]:
    return _IMAGE_DIMS[-ndim:] if ndim <= 3 else tuple(f"dim{i}" for i in range(ndim))


# ------------------------------------------------------------------ planes


def write_planes(
    path: str | os.PathLike, plane_set: PlaneSet, triplet_labels: np.ndarray, attrs: Mapping[str, Any]
) -> None:
    """The plane set's arrays (PlaneSet.to_arrays) with dimension names, plus the triplets' labels."""
    group = create_group(path, attrs)
    image = _image_dims(len(plane_set.image_shape))
    dims = {
        "indices": ("plane", "anchor"),
        "anchors": ("plane", *image),
        "direction1": ("plane", *image),
        "direction2": ("plane", *image),
        "anchor_coords": ("plane", "anchor", "axis"),
        "coefs": ("plane", "point", "axis"),
    }
    for key, value in plane_set.to_arrays().items():
        add_array(group, key, np.asarray(value), dims=dims.get(key, ()), attrs=zarr_labels.attrs(key))
    add_array(
        group,
        "triplet_labels",
        np.asarray(triplet_labels, dtype=np.int64),
        dims=("plane", "anchor"),
        attrs=zarr_labels.attrs("triplet_labels"),
    )
    _add_plane_axes(group, plane_set)
    zarr_labels.add_names(group, "axis", zarr_labels.AXES)
    consolidate(path)


def _add_plane_axes(group: zarr.Group, plane_set: PlaneSet) -> None:
    """Coordinates of the plane, point and anchor dimensions."""
    zarr_labels.add_index(group, "plane", range(plane_set.num_planes))
    zarr_labels.add_index(group, "point", range(plane_set.points_per_plane))
    zarr_labels.add_names(group, "anchor", zarr_labels.ANCHORS)


def read_planes(path: str | os.PathLike) -> PlaneSet:
    return PlaneSet.from_arrays(_open(Path(path), "plane set", "did make_planes finish?", consolidated=True))


# ------------------------------------------------------------------ probes


def create_probe_store(
    path: str | os.PathLike, epochs: Sequence[int], dims: Mapping[str, int], num_classes: int, attrs: Mapping[str, Any]
) -> zarr.Group:
    """An empty probe part for the given epochs and layer feature sizes; errors and seeds start as NaN / 0."""
    layers = list(dims)
    group = create_group(path, {**attrs, "layers": layers, "feature_dims": dict(dims), "num_classes": num_classes})
    e = len(epochs)
    add_array(group, "epoch", np.asarray(epochs, dtype=np.int64), dims=("epoch",), attrs=zarr_labels.attrs("epoch"))
    zarr_labels.add_names(group, "layer", layers)
    zarr_labels.add_index(group, "class", range(num_classes))
    for layer, p in dims.items():
        add_array(
            group,
            f"weight/{layer}",
            shape=(e, num_classes, p),
            dtype="float32",
            chunks=(1, num_classes, p),
            dims=("epoch", "class", zarr_labels.feature_dim(layer)),
            attrs=zarr_labels.attrs("weight", layer=layer),
        )
        add_array(
            group,
            f"bias/{layer}",
            shape=(e, num_classes),
            dtype="float32",
            chunks=(1, num_classes),
            dims=("epoch", "class"),
            attrs=zarr_labels.attrs("bias", layer=layer),
        )
    for name in ("train_err", "test_err"):
        add_array(
            group, name, shape=(e, len(layers)), dtype="float64", dims=("epoch", "layer"), attrs=zarr_labels.attrs(name)
        )
    add_array(group, "seed", shape=(e,), dtype="int64", dims=("epoch",), attrs=zarr_labels.attrs("seed"))
    return group


class ProbePart:
    """Read access to one probe part."""

    def __init__(self, part_dir: str | os.PathLike):
        self.path = Path(part_dir) / PROBES_STORE
        self.group = _open(self.path, "probe", "did probe_segment finish?")
        self.epochs = [int(e) for e in self.group["epoch"][:]]
        self.layers: list[str] = list(self.group.attrs["layers"])
        self.pooling: str = self.group.attrs["pooling"]
        self.num_classes = int(self.group.attrs["num_classes"])

    def probes(self, epoch: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """{layer: (weight (C, p), bias (C,))} float32 CPU tensors of one epoch."""
        import torch

        i = self.epochs.index(epoch)
        return {
            layer: (
                torch.from_numpy(self.group[f"weight/{layer}"][i]),
                torch.from_numpy(self.group[f"bias/{layer}"][i]),
            )
            for layer in self.layers
        }

    def errors(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(train error, test error), each (L,) in layer order."""
        i = self.epochs.index(epoch)
        return self.group["train_err"][i], self.group["test_err"][i]


class ProbeParts(EpochParts):
    def __init__(self, part_dirs: Sequence[str | os.PathLike]):
        super().__init__([ProbePart(d) for d in part_dirs], "probe")

    def errors(self, epochs: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(train error, test error), each (len(epochs), L)."""
        pairs = [self.part_of(e).errors(e) for e in epochs]
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


# ------------------------------------------------------------------ predictions


def create_preds_store(
    path: str | os.PathLike, epochs: Sequence[int], layers: Sequence[str], plane_set: PlaneSet, attrs: Mapping[str, Any]
) -> zarr.Group:
    group = create_group(path, {**attrs, "layers": list(layers), "resolution": plane_set.resolution})
    planes, points = plane_set.num_planes, plane_set.points_per_plane
    add_array(
        group,
        "preds",
        shape=(len(epochs), len(layers), planes, points),
        dtype="uint8",
        chunks=(1, 1, planes, points),
        dims=("epoch", "layer", "plane", "point"),
        attrs=zarr_labels.attrs("preds"),
    )
    add_array(group, "epoch", np.asarray(epochs, dtype=np.int64), dims=("epoch",), attrs=zarr_labels.attrs("epoch"))
    zarr_labels.add_names(group, "layer", list(layers))
    _add_plane_axes(group, plane_set)
    add_array(group, "triplet", plane_set.indices, dims=("plane", "anchor"), attrs=zarr_labels.attrs("triplet"))
    return group


class PredsPart:
    """Read access to one predictions part."""

    def __init__(self, part_dir: str | os.PathLike):
        self.path = Path(part_dir) / PREDS_STORE
        self.group = _open(self.path, "predictions", "did planes_eval finish?")
        self.epochs = [int(e) for e in self.group["epoch"][:]]
        self.layers: list[str] = list(self.group.attrs["layers"])
        self.num_classes = int(self.group.attrs["num_classes"])
        _, _, planes, per_plane = self.group["preds"].shape
        self.points = int(planes * per_plane)

    def preds(self, layer: str, epoch: int) -> np.ndarray:
        """uint8 (P, R²) predictions of one layer at one epoch."""
        return self.group["preds"][self.epochs.index(epoch), self.layers.index(layer)]


class PredsParts(EpochParts):
    def __init__(self, part_dirs: Sequence[str | os.PathLike]):
        super().__init__([PredsPart(d) for d in part_dirs], "predictions")
        shapes = {(p.num_classes, p.points) for p in self.parts}
        if len(shapes) > 1:
            raise ValueError(f"predictions parts disagree about (classes, points): {sorted(shapes)}")
        self.num_classes, self.points = shapes.pop()

    def stack(self, layer: str, epochs: Sequence[int]) -> np.ndarray:
        """uint8 (len(epochs), P·R²): one row of flat predictions per epoch."""
        return np.stack([self.part_of(e).preds(layer, e).reshape(-1) for e in epochs])


# ------------------------------------------------------------------ tiles and assembled matrices


def write_tile(
    path: str | os.PathLike,
    counts: Mapping[str, np.ndarray],
    row_epochs: Sequence[int],
    col_epochs: Sequence[int],
    attrs: Mapping[str, Any],
) -> None:
    group = create_group(path, {**attrs, "layers": list(counts)})
    add_epoch_axes(group, row_epochs, col_epochs, list(counts))
    add_matrices(group, "agreement", counts, "int64")
    consolidate(path)


def read_tile(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, dict[str, Any]]:
    group = _open(Path(path), "DRS tile", "did drs_tile finish?")
    layers = list(group.attrs["layers"])
    counts = {layer: zarr_labels.layer_matrix(group, "agreement", layer) for layer in layers}
    return counts, group["row_epoch"][...], group["col_epoch"][...], dict(group.attrs)


def write_drs_store(
    path: str | os.PathLike,
    counts: Mapping[str, np.ndarray],
    points: int,
    epochs: Sequence[int],
    probe_train_err: np.ndarray,
    probe_test_err: np.ndarray,
    attrs: Mapping[str, Any],
) -> None:
    """The assembled matrices (DRS and exact counts) with the probe errors; consolidated (final, immutable)."""
    layers = list(counts)
    group = create_group(path, {**attrs, "layers": layers, "points": int(points)})
    epochs = np.asarray(epochs, dtype=np.int64)
    add_epoch_axes(group, epochs, epochs, layers)
    add_array(group, "epoch", epochs, dims=("epoch",), attrs=zarr_labels.attrs("epoch"))
    add_matrices(group, "agreement", counts, "int64")
    add_matrices(group, "drs", counts, "float64", convert=lambda c: np.asarray(c, dtype=np.float64) / points)
    add_array(
        group,
        "probe_train_err",
        np.asarray(probe_train_err, dtype=np.float64),
        dims=("epoch", "layer"),
        attrs=zarr_labels.attrs("probe_train_err"),
    )
    add_array(
        group,
        "probe_test_err",
        np.asarray(probe_test_err, dtype=np.float64),
        dims=("epoch", "layer"),
        attrs=zarr_labels.attrs("probe_test_err"),
    )
    consolidate(path)


class DrsMatrices:
    """An assembled DRS store opened as numpy arrays with their coordinates."""

    def __init__(self, group: zarr.Group):
        self.attrs = dict(group.attrs)
        self.layers: list[str] = list(self.attrs["layers"])
        self.epochs = group["epoch"][...]
        self.matrices = {layer: zarr_labels.layer_matrix(group, "drs", layer) for layer in self.layers}
        self.counts = {layer: zarr_labels.layer_matrix(group, "agreement", layer) for layer in self.layers}
        self.points = int(self.attrs["points"])
        self.probe_train_err = group["probe_train_err"][...]
        self.probe_test_err = group["probe_test_err"][...]

    def __getitem__(self, layer: str) -> np.ndarray:
        return self.matrices[layer]

    def __repr__(self) -> str:
        return f"DrsMatrices(layers={self.layers}, epochs={len(self.epochs)}, points={self.points})"


def open_drs(path: str | os.PathLike) -> DrsMatrices:
    """Open an assembled DRS result: the `results/drs/<id>/e<E>` directory or its drs.zarr store."""
    path = assembled_store(path, DRS_STORE, "drs")
    require(path)
    return DrsMatrices(zarr.open_group(str(path), mode="r"))
