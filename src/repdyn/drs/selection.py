"""Which training images span the planes: triplets with pairwise different labels, non-degenerate planes.

The draw is the record of the experiment: one numpy generator per plane set, dbViz's rejection rule
(docs/algorithms.md §2.2–2.4), so the same seed and labels give the same triplets on every machine.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from repdyn.config.integers import require_int
from repdyn.drs.planes import DEFAULT_RANGE, DEFAULT_RESOLUTION, Plane, PlaneSet, as_float64_numpy, check_grid_settings

_MAX_REDRAW_FACTOR = 100  # select_planes gives up after count * this many degenerate triplets


def _labels_array(labels: Any) -> np.ndarray:
    arr = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D integer array, got dtype {arr.dtype} shape {arr.shape}")
    if np.unique(arr).size < 3:
        found = np.unique(arr).tolist()
        raise ValueError(f"labels must contain at least 3 distinct classes to form triplets; found {found}")
    return arr


def _draw_triplet(rng: np.random.Generator, labels: np.ndarray) -> list[int]:
    """Draw uniform indices, keeping each one whose label differs from those kept, until three are kept."""
    chosen: list[int] = []
    while len(chosen) < 3:
        i = int(rng.integers(labels.size))
        if all(labels[i] != labels[j] for j in chosen):
            chosen.append(i)
    return chosen


def select_triplets(labels: Any, count: int, seed: int) -> np.ndarray:
    """(count, 3) int64 training indices whose three labels are pairwise different.

    Algorithm (the record of how triplets were drawn): one
    `numpy.random.default_rng(seed)` stream; for each triplet in turn, draw
    `rng.integers(N)` repeatedly and keep an index if its label differs from
    the labels already kept for this triplet, until three are kept (dbViz's
    rejection rule, with numpy's generator instead of Python's `random`).
    Triplets may repeat across planes, as in dbViz.
    """
    require_int("count", count)
    arr = _labels_array(labels)
    rng = np.random.default_rng(seed)
    return np.array([_draw_triplet(rng, arr) for _ in range(count)], dtype=np.int64).reshape(count, 3)


def select_planes(
    images_normalised: Any,
    labels: Any,
    count: int,
    seed: int,
    resolution: int = DEFAULT_RESOLUTION,
    range_l: float = DEFAULT_RANGE,
    range_r: float = DEFAULT_RANGE,
) -> PlaneSet:
    """Draw `count` non-degenerate planes from the training set (docs/algorithms.md §2.4).

    Triplets come from the same stream as `select_triplets(labels, count,
    seed)`; a degenerate triplet (e.g. duplicate images) is dropped and the
    next triplet of the stream is drawn instead, so without degenerate
    triplets the indices equal `select_triplets`'s. `images_normalised` is
    (N, *image_shape) (numpy or torch, any float dtype), indexed by `labels`' positions.
    """
    check_grid_settings(resolution, range_l, range_r)
    require_int("count", count)
    arr_labels = _labels_array(labels)
    if len(images_normalised) != arr_labels.size:
        raise ValueError(f"images_normalised has {len(images_normalised)} images but labels has {arr_labels.size}")
    rng = np.random.default_rng(seed)
    planes: list[tuple[list[int], Plane]] = []
    rejected = 0
    while len(planes) < count:
        triplet = _draw_triplet(rng, arr_labels)
        imgs = [as_float64_numpy(images_normalised[i], f"image {i}") for i in triplet]
        try:
            plane = Plane.from_triplet(*imgs, resolution=resolution, range_l=range_l, range_r=range_r)
        except ValueError:
            rejected += 1
            if rejected > _MAX_REDRAW_FACTOR * count:
                raise ValueError(
                    f"more than {rejected - 1} degenerate triplets drawn; are the images mostly identical?"
                ) from None
            continue
        planes.append((triplet, plane))
    return PlaneSet(
        indices=np.array([t for t, _ in planes], dtype=np.int64),
        anchors=np.stack([p.x0 for _, p in planes]),
        direction1=np.stack([p.d1 for _, p in planes]),
        direction2=np.stack([p.d2 for _, p in planes]),
        anchor_coords=np.stack([p.anchor_coords for _, p in planes]),
        coefs=np.stack([p.coefs for _, p in planes]),
        resolution=int(resolution),
        range_l=float(range_l),
        range_r=float(range_r),
        seed=int(seed),
    )
