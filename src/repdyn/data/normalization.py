"""Per-channel input normalisation constants (docs/algorithms.md §2.1).

CIFAR-10 and SVHN use the constants of the double-descent / dbViz code so that
results compare with theirs; Fashion-MNIST and Tiny ImageNet have no such
convention, so "auto" computes the mean and std of the full source training set
at the artifact's resolution (Fashion-MNIST's zero padding included).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

KNOWN_CONSTANTS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "svhn": ((0.4376821, 0.4437697, 0.47280442), (0.19803012, 0.20101562, 0.19703614)),
}
_CHUNK = 4096  # images per bincount call: bounded memory on 100k-image sets


def resolve_normalization(
    spec: Any, dataset: str, train_images: np.ndarray
) -> tuple[tuple[float, ...], tuple[float, ...], str]:
    """(mean, std, method) for `data.normalization`; method is 'constants', 'computed' or 'explicit'."""
    channels = int(train_images.shape[1])
    if spec == "auto":
        if dataset in KNOWN_CONSTANTS:
            mean, std = KNOWN_CONSTANTS[dataset]
            return mean, std, "constants"
        mean, std = channel_stats(train_images)
        return mean, std, "computed"
    if isinstance(spec, dict) and set(spec) == {"mean", "std"}:
        mean, std = _floats(spec["mean"], "mean", channels), _floats(spec["std"], "std", channels)
        if any(s <= 0 for s in std):
            raise ValueError(f"data.normalization.std must be positive; got {list(std)}")
        return mean, std, "explicit"
    raise ValueError(f"data.normalization must be 'auto' or {{'mean': [...], 'std': [...]}}; got {spec!r}")


def channel_stats(images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and (population) std per channel of uint8 images (N, C, H, W), on the [0, 1] scale.

    Exact: a 256-bin histogram per channel, then the moments in float64.
    """
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(f"channel_stats needs non-empty uint8 (N, C, H, W) images; got {images.dtype} {images.shape}")
    channels = images.shape[1]
    counts = np.zeros((channels, 256), dtype=np.int64)
    for start in range(0, images.shape[0], _CHUNK):
        chunk = images[start : start + _CHUNK]
        for c in range(channels):
            counts[c] += np.bincount(chunk[:, c].ravel(), minlength=256)
    values = np.arange(256, dtype=np.float64) / 255.0
    total = counts.sum(axis=1).astype(np.float64)
    mean = counts @ values / total
    var = counts @ (values**2) / total - mean**2
    return tuple(float(m) for m in mean), tuple(math.sqrt(max(float(v), 0.0)) for v in var)


def _floats(values: Any, key: str, channels: int) -> tuple[float, ...]:
    if not isinstance(values, (list, tuple)) or len(values) != channels:
        raise ValueError(f"data.normalization.{key} must list {channels} values (one per channel); got {values!r}")
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"data.normalization.{key} must be numbers; got {values!r}") from None
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"data.normalization.{key} must be finite; got {values!r}")
    return out
