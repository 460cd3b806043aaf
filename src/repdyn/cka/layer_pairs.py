"""Layer x layer CKA at one epoch, from the Grams an extraction stored (the comparison torch-cka users know,
here between the analysed layers of one network at one grid epoch).

Every estimator reduces a layer's stored Grams to one vector g (repdyn.cka.transforms) whose length depends
on the probe set only, not on the layer's width; so the layers' vectors at one epoch form one block, and the
block's self-CKA is the layers x layers matrix, computed by the same tile kernel as the epoch x epoch
matrices.

Store (`results/cka/<id>/layers/e<epoch>/layer_pairs.zarr`), labelled for xarray:
    cka          float64 (row_layer, col_layer)   symmetric, ones on the diagonal
    row_layer, col_layer                          coordinates: the layers, in panel order
    attrs: epoch, estimator, accumulate, layer_labels, cka (the artifact's id)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from repdyn.extract.grams_store import GramParts
from repdyn.storage import atomic, zarr_labels, zarr_store

LAYER_PAIRS_STORE = "layer_pairs.zarr"
LAYER_PAIRS_FIGURE = "layer_pairs.png"


def layer_pairs(parts: GramParts, epoch: int, estimator: str, accumulate: str) -> np.ndarray:
    """(L, L) float64 CKA between the layers of `parts.layers` at `epoch`."""
    import torch  # here, not above: the report pages read layer pairs without torch

    from repdyn.cka.tile_job import epoch_vectors, tile_cka

    block = torch.cat([epoch_vectors(parts, layer, [epoch], estimator) for layer in parts.layers])
    first = parts.parts[0]
    return tile_cka(block, None, estimator, accumulate, [first.batch_size] * first.batches).numpy()


def write_layer_pairs(
    path: str | os.PathLike, matrix: np.ndarray, layers: Sequence[str], attrs: Mapping[str, Any]
) -> None:
    """The store described in the module docstring, atomically."""
    with atomic.atomic_path(path) as tmp:
        group = zarr_store.create_group(tmp, attrs)
        for axis in ("row_layer", "col_layer"):
            zarr_labels.add_names(group, axis, layers)
        zarr_store.add_array(
            group,
            "cka",
            np.asarray(matrix, dtype=np.float64),
            dims=("row_layer", "col_layer"),
            attrs={
                "long_name": "linear CKA between two layers' representations at one epoch",
                "units": "1",
                "estimator": attrs.get("estimator"),
            },
        )
        zarr_store.consolidate(tmp)


def read_layer_pairs(path: str | os.PathLike) -> tuple[np.ndarray, list[str], dict[str, Any]]:
    """(matrix, layers, attrs) of a layer-pairs store."""
    import zarr

    group = zarr.open_group(str(Path(path)), mode="r")
    return np.asarray(group["cka"][...]), [str(n) for n in group["row_layer"][...]], dict(group.attrs)


def layer_pairs_figure(path: str | os.PathLike, matrix: np.ndarray, labels: Sequence[str], title: str) -> None:
    """Heatmap of the layers x layers matrix with every value written in its cell."""
    from repdyn.figures.canvas import FONT_SIZE, TITLE_SIZE, new_figure, save_figure

    size = 1.2 + 0.45 * len(labels)
    fig = new_figure(size + 1.0, size)
    ax = fig.add_subplot()
    image = ax.imshow(matrix, vmin=0.0, vmax=1.0, cmap="viridis")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=FONT_SIZE)
    ax.set_yticks(range(len(labels)), labels, fontsize=FONT_SIZE)
    for i, j in np.ndindex(matrix.shape):
        ax.text(
            j,
            i,
            f"{matrix[i, j]:.2f}",
            ha="center",
            va="center",
            fontsize=FONT_SIZE - 2,
            color="black" if matrix[i, j] > 0.6 else "white",
        )
    fig.colorbar(image, ax=ax).set_label("CKA", fontsize=FONT_SIZE)
    ax.set_title(title, fontsize=TITLE_SIZE)
    save_figure(fig, path)


def run_layer_pairs(cka_dir: Path, epoch: int, part_dirs: Sequence[str], out: str | os.PathLike) -> None:
    """The layer-pairs job: store and figure of one grid epoch inside the fresh directory `out`."""
    from repdyn.storage import spec_files as artifacts

    spec = artifacts.read_spec(cka_dir, "cka")
    settings = spec["settings"]
    parts = GramParts(part_dirs)
    matrix = layer_pairs(parts, epoch, settings["estimator"], settings["accumulate"])
    labels = dict(parts.parts[0].group.attrs["layer_labels"])
    with atomic.atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        write_layer_pairs(
            tmp / LAYER_PAIRS_STORE,
            matrix,
            parts.layers,
            {
                "epoch": epoch,
                "estimator": settings["estimator"],
                "accumulate": settings["accumulate"],
                "layer_labels": labels,
                "cka": cka_dir.name,
            },
        )
        layer_pairs_figure(
            tmp / LAYER_PAIRS_FIGURE,
            matrix,
            [labels.get(n, n) for n in parts.layers],
            f"layer x layer CKA at epoch {epoch} ({settings['estimator']})",
        )
