"""grams.zarr, the store an extraction part writes: its layout, its writer and its reader (CKA tiles read it).

Layout (`results/extract/<id>/<start>-<end>/grams.zarr`), one per training segment:
    epoch                  int64 (E_p,)                grid epochs in this part
    grams/<layer>          float32 (E_p, B, n(n+1)/2)  packed upper triangle (with diagonal, row-major as
                                                       torch.triu_indices) of each probe batch's Gram of
                                                       batch-centred flattened features; chunk = 1 Gram,
                                                       uncompressed (GRAM_COMPRESS); zstd-compressed chunks
                                                       read as well
    full/<layer>           float32 (E_p, N(N+1)/2)     the N x N Gram of all probe examples (full_biased only),
                                                       uncompressed
    raw/<layer>            float32 (E_p, N, p)         raw activations of small layers (logits, pooled features)
    probe_index            int64 (B, n)                test-set indices of the probe batches
    attrs: layers (paper order), layer_labels, batches, batch_size, run, extract, device, torch, tf32
    coordinates: epoch, batch, example, probe_example (the test-set index of each raw row); raw/<layer> has
    the dimensions (epoch, probe_example, <layer>_feature)

The store is written inside the part's temporary directory (repdyn.extract.job), so a killed job never leaves
a part that looks finished.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from repdyn.storage import zarr_labels, zarr_store
from repdyn.storage.integrity import require
from repdyn.storage.zarr_store import add_array, create_group
from repdyn.tiling.parts import EpochParts

GRAMS_STORE = "grams.zarr"

# Gram chunks are written uncompressed: float32 Gram values barely compress (to 0.85-0.90 of their size with
# zstd or lz4 behind a shuffle), while zstd took 0.1 s per epoch to compress (paper-grid Grams, 12.6 MB an
# epoch) and a tile 3 ms per epoch and layer to decompress (bench/extract.py --codecs, docs/storage.md).
GRAM_COMPRESS = False


def create_grams_store(
    path: Path,
    epochs: Sequence[int],
    layers: Sequence[str],
    labels: Mapping[str, str],
    first: Mapping[str, Mapping[str, np.ndarray]],
    probe_index: np.ndarray,
    attrs: Mapping[str, Any],
) -> dict[str, zarr.Array]:
    """An empty extraction part for `epochs`, shaped like `first` (one epoch's `probe_grams` result) and
    described by `attrs`; returns its arrays by name ("grams/<layer>", ...) for `write_epoch`."""
    batches, batch_size = (int(s) for s in probe_index.shape)
    group = create_group(
        path,
        {
            "layers": list(layers),
            "layer_labels": dict(labels),
            "batches": batches,
            "batch_size": batch_size,
            "packing": "upper triangle with diagonal, row-major (torch.triu_indices order)",
            "gram": "X_c X_c^T of batch-centred flattened features (float32)",
            **dict(attrs),
        },
    )
    e = len(epochs)
    label = zarr_labels.attrs
    add_array(group, "epoch", np.asarray(epochs, dtype=np.int64), dims=("epoch",), attrs=label("epoch"))
    add_array(group, "probe_index", probe_index, dims=("batch", "example"), attrs=label("probe_index"))
    zarr_labels.add_index(group, "batch", range(batches))
    zarr_labels.add_index(group, "example", range(batch_size))
    zarr_labels.add_index(group, "probe_example", probe_index.reshape(-1))
    arrays = {}
    for layer, entry in first.items():
        length = entry["grams"].shape[1]
        arrays[f"grams/{layer}"] = add_array(
            group,
            f"grams/{layer}",
            shape=(e, batches, length),
            dtype="float32",
            chunks=(1, 1, length),
            dims=("epoch", "batch", "packed_gram"),
            attrs=label("grams", layer=layer, n=batch_size),
            compress=GRAM_COMPRESS,
        )
        if "full" in entry:
            length = entry["full"].shape[0]
            arrays[f"full/{layer}"] = add_array(
                group,
                f"full/{layer}",
                shape=(e, length),
                dtype="float32",
                chunks=(1, length),
                dims=("epoch", "packed_full_gram"),
                attrs=label("full", layer=layer, n=batches * batch_size),
                compress=GRAM_COMPRESS,
            )
        if "raw" in entry:
            n, p = entry["raw"].shape
            arrays[f"raw/{layer}"] = add_array(
                group,
                f"raw/{layer}",
                shape=(e, n, p),
                dtype="float32",
                chunks=(1, n, p),
                dims=("epoch", "probe_example", zarr_labels.feature_dim(layer)),
                attrs=label("raw", layer=layer),
            )
    return arrays


def write_epoch(
    arrays: Mapping[str, zarr.Array], position: int, result: Mapping[str, Mapping[str, np.ndarray]]
) -> None:
    """One epoch's `probe_grams` result at `position` of the part's epoch axis."""
    for layer, entry in result.items():
        for kind, values in entry.items():
            arrays[f"{kind}/{layer}"][position] = values


class GramPart:
    """Read access to one extraction part."""

    def __init__(self, part_dir: str | os.PathLike):
        require(part_dir)
        path = Path(part_dir) / GRAMS_STORE
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: no Gram store (did extract_segment finish?)")
        self.path = path
        self.group = zarr.open_group(str(path), mode="r", use_consolidated=False)
        self.epochs = [int(e) for e in self.group["epoch"][:]]
        self.layers: list[str] = list(self.group.attrs["layers"])
        self.batch_size = int(self.group.attrs["batch_size"])
        self.batches = int(self.group.attrs["batches"])
        self._positions = {epoch: i for i, epoch in enumerate(self.epochs)}
        self._arrays: dict[str, zarr.Array] = {}

    def index(self, epoch: int) -> int:
        """Position of `epoch` along the part's epoch axis."""
        return self._positions[epoch]

    def _array(self, name: str) -> zarr.Array:
        if name not in self._arrays:  # opening reads the array's metadata: once per part, not per epoch
            if name not in self.group:
                raise KeyError(
                    f"{self.path} has no {name} (extracted without full_gram? estimator full_biased needs it)"
                )
            self._arrays[name] = self.group[name]
        return self._arrays[name]

    def packed(self, layer: str, epoch: int, full: bool = False) -> np.ndarray:
        """(B, L) packed per-batch Grams, or (1, L_N) the full Gram."""
        index = self.index(epoch)
        if full:
            return self._array(f"full/{layer}")[index][None, :]
        return self._array(f"grams/{layer}")[index]

    def packed_range(
        self, layer: str, first: int, stop: int, batch: int | None, out: np.ndarray | None = None
    ) -> np.ndarray:
        """(stop - first, L) packed Grams of one probe batch (None: the full Gram) at positions [first, stop):
        one chunk per Gram, read straight from the chunk files where they are stored plain; into `out` if
        given (a reused buffer: fresh memory costs page faults)."""
        array = self._array(f"full/{layer}" if batch is None else f"grams/{layer}")
        chunks = [(e, 0) if batch is None else (e, batch, 0) for e in range(first, stop)]
        target = np.empty((stop - first, array.shape[-1]), dtype=array.dtype) if out is None else out
        if zarr_store.read_plain_chunks(array, chunks, target):
            return target
        values = array[first:stop] if batch is None else array[first:stop, batch]
        if out is None:
            return values
        out[...] = values
        return out


class GramParts(EpochParts):
    """Epoch -> part lookup over several extraction parts (the inputs of a tile)."""

    def __init__(self, part_dirs: Sequence[str | os.PathLike]):
        super().__init__([GramPart(d) for d in part_dirs], "extraction")
