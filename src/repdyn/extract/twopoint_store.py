"""twopoint.zarr, the pair observables an extraction part records: forwarding the pairs, the layout, its reader.

Each extraction part forwards the recorded pairs' examples once per checkpoint it has loaded (one small batch,
eval mode, no augmentation, the normalised training images) and stores, labelled for xarray:
H (pair, layer, epoch) = ‖h_j − h_i‖² of the flattened layer output, Y (pair, epoch) = ‖z_j − z_i‖² of the
logits, W_ce (pair, epoch) = ⟨dz, g_j − g_i⟩ with g = softmax(z) − onehot(label trained on), dx2 (pair) =
‖x_j − x_i‖² of the normalised inputs; with each pair's type, training-set indices and labels (pair, member).
All in float64 from float32 activations.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import zarr

from repdyn.storage import integrity, zarr_labels, zarr_store
from repdyn.twopoint.observables import squared_distance
from repdyn.twopoint.pairs import PAIR_TYPES
from repdyn.twopoint.record import PairRecord
from repdyn.twopoint.series import PairSeries, concat_epochs, epoch_observables, pair_batch

if TYPE_CHECKING:  # the reader (twopoint_fit) runs without torch; the writers import it when called
    import torch

TWOPOINT_STORE = "twopoint.zarr"
MEMBERS = ("first", "second")


def pair_inputs(dataset: Any, record: PairRecord) -> tuple[torch.Tensor, np.ndarray, np.ndarray, np.ndarray]:
    """(normalised images of the distinct examples, their trained-on labels, local pairs, dx2 (P,))."""
    import torch

    rows, local = pair_batch(record.pairs.index)
    images = dataset.normalize(dataset.train_images[torch.as_tensor(rows)])
    labels = dataset.train_labels[torch.as_tensor(rows)].numpy()
    return images, labels, local, squared_distance(images, local)


def forward_pairs(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: np.ndarray,
    local: np.ndarray,
    layers: Sequence[str],
    device: torch.device,
    chunk: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One checkpoint's (H (P, L), Y (P,), W_CE (P,)) from a forward pass of the pair batch, `chunk` images at a
    time (the probe batch size: the network's activation memory stays that of the Gram extraction)."""
    import torch

    from repdyn.models import LayerTap

    model.eval()
    features: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    logits = []
    with torch.no_grad(), LayerTap(model, list(layers)) as tap:
        for part in images.split(chunk):
            logits.append(model(part.to(device)).float().cpu())
            for layer in layers:
                features[layer].append(tap.outputs[layer].float().cpu())
    return epoch_observables({k: torch.cat(v) for k, v in features.items()}, torch.cat(logits), labels, local)


def write_store(path: str | os.PathLike, series: PairSeries, record: PairRecord, attrs: Mapping[str, Any]) -> None:
    """A consolidated twopoint.zarr of one part (written inside the part's temporary directory)."""
    group = zarr_store.create_group(path, {"layers": list(series.layers), **dict(attrs)})
    add = zarr_store.add_array
    add(group, "epoch", series.epochs, dims=("epoch",), attrs=zarr_labels.attrs("epoch"))
    zarr_labels.add_names(group, "layer", series.layers)
    zarr_labels.add_names(group, "member", MEMBERS)
    zarr_labels.add_index(group, "pair", range(series.pairs.shape[0]))
    types = group.create_array(
        "pair_type",
        shape=(len(record.type_names),),
        dtype=str,
        dimension_names=("pair",),
        attributes=zarr_labels.attrs("pair_type"),
    )
    types[:] = np.asarray(record.type_names, dtype=object)
    for name, values in (
        ("index", series.pairs),
        ("clean_label", record.clean_labels),
        ("train_label", record.train_labels),
    ):
        add(group, name, np.asarray(values, dtype=np.int64), dims=("pair", "member"), attrs=zarr_labels.attrs(name))
    add(group, "H", series.H, dims=("pair", "layer", "epoch"), attrs=zarr_labels.attrs("H"))
    add(group, "Y", series.Y, dims=("pair", "epoch"), attrs=zarr_labels.attrs("Y"))
    add(group, "W_ce", series.W_ce, dims=("pair", "epoch"), attrs=zarr_labels.attrs("W_ce"))
    add(group, "dx2", series.dx2, dims=("pair",), attrs=zarr_labels.attrs("dx2"))
    zarr_store.consolidate(path)


def read_part(part: str | os.PathLike) -> PairSeries:
    """The PairSeries of one extraction part's twopoint.zarr, checked against the part's manifest first."""
    path = Path(part) / TWOPOINT_STORE
    integrity.require(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no two-point store (its extraction spec names no pairs?)")
    g = zarr.open_group(str(path), mode="r")
    kind = np.asarray([PAIR_TYPES.index(t) for t in g["pair_type"][...]], dtype=np.int8)
    return PairSeries(
        epochs=g["epoch"][...],
        layers=tuple(g.attrs["layers"]),
        pairs=g["index"][...],
        kind=kind,
        H=g["H"][...],
        Y=g["Y"][...],
        W_ce=g["W_ce"][...],
        dx2=g["dx2"][...],
    )


def read_series(parts: Sequence[str | os.PathLike], epochs: Sequence[int]) -> PairSeries:
    """A run's series over `epochs` (each in exactly one part), from its extraction parts in any order."""
    series = sorted((read_part(p) for p in parts), key=lambda s: int(s.epochs[0]))
    whole = concat_epochs(series)
    position = {int(e): k for k, e in enumerate(whole.epochs)}
    missing = [e for e in epochs if int(e) not in position]
    if missing:
        raise KeyError(f"epochs {missing} are in none of the two-point stores of {[str(p) for p in parts]}")
    take = [position[int(e)] for e in epochs]
    return PairSeries(
        np.asarray(epochs, dtype=np.int64),
        whole.layers,
        whole.pairs,
        whole.kind,
        whole.H[..., take],
        whole.Y[:, take],
        whole.W_ce[:, take],
        whole.dx2,
    )
