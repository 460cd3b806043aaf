"""make_planes: the P fixed dbViz planes of one dataset artifact (docs/algorithms.md §2.2–2.4).

Drawn once per dataset (and noise realisation) and shared by every run and epoch on it: DRS compares
two epochs' predictions at the same points. Only bases and grid coefficients are stored; the points
are generated batch by batch when planes_eval needs them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import torch

from repdyn.drs.selection import select_planes
from repdyn.drs.store import write_planes
from repdyn.storage import atomic

log = logging.getLogger(__name__)

TRIPLET_LABELS = ("noisy", "clean")


class NormalisedImages:
    """The training images in the network's input space, normalised one at a time when indexed.

    select_planes reads only the 3·P anchor images; normalising the whole training set up front would
    hold N x D float32 for nothing (600 MB for CIFAR-10).
    """

    def __init__(self, dataset: Any):
        self.dataset = dataset

    def __len__(self) -> int:
        return int(self.dataset.train_images.shape[0])

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.dataset.normalize(self.dataset.train_images[index])


def triplet_label_source(dataset: Any, which: str) -> torch.Tensor:
    """The labels that must be pairwise different within a triplet: the training (noisy) or clean ones."""
    if which not in TRIPLET_LABELS:
        raise ValueError(f"drs.triplet_labels {which!r} is unknown; allowed values: {', '.join(TRIPLET_LABELS)}")
    return dataset.train_labels if which == "noisy" else dataset.clean_labels


def make_planes(
    dataset_path: str | os.PathLike, out_store: str | os.PathLike, settings: Mapping[str, Any], ids: Mapping[str, str]
) -> None:
    """Write the plane store `out_store` (planes.zarr) atomically from the `drs` plane settings."""
    from repdyn.data import DatasetArtifact

    dataset = DatasetArtifact.load(dataset_path)
    labels = triplet_label_source(dataset, settings["triplet_labels"])
    plane_set = select_planes(
        NormalisedImages(dataset),
        labels,
        settings["planes"],
        settings["seed"],
        resolution=settings["resolution"],
        range_l=settings["range_l"],
        range_r=settings["range_r"],
    )
    triplet_labels = labels.numpy()[plane_set.indices]
    with atomic.atomic_path(out_store) as tmp:
        write_planes(
            tmp,
            plane_set,
            triplet_labels,
            {
                **dict(ids),
                "settings": dict(settings),
                "num_classes": dataset.num_classes,
                "image_shape": list(plane_set.image_shape),
                "triplet_rule": "repdyn.drs.planes.select_planes: numpy default_rng(seed), degenerate triplets redrawn",
            },
        )
    log.info(
        "%d planes x %d points, image shape %s", plane_set.num_planes, plane_set.points_per_plane, plane_set.image_shape
    )
