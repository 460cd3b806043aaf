"""What every dataset loader returns: the full train and test splits as uint8 images and int64 labels.

Kept apart from repdyn.data.sources (the dispatch over the loaders), so the loaders import it without
importing the dispatch that imports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


class ImageGeometry:
    """Class count, channels and side of a dataset holding `class_names` and `train_images` (N, C, H, W)."""

    class_names: tuple[str, ...]
    train_images: Any

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def in_channels(self) -> int:
        return int(self.train_images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train_images.shape[-1])


@dataclass(frozen=True)
class SourceData(ImageGeometry):
    """A dataset's full train and test splits, as read from its source files."""

    name: str
    root: Path
    train_images: np.ndarray  # uint8 (N, C, H, W)
    train_labels: np.ndarray  # int64 (N,)
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        for split, images, labels in (
            ("train", self.train_images, self.train_labels),
            ("test", self.test_images, self.test_labels),
        ):
            if images.dtype != np.uint8 or images.ndim != 4:
                raise ValueError(
                    f"{self.name} {split} images must be uint8 (N, C, H, W), got {images.dtype} {images.shape}"
                )
            if labels.dtype != np.int64 or labels.shape != (images.shape[0],):
                raise ValueError(
                    f"{self.name} {split} labels must be int64 ({images.shape[0]},), got {labels.dtype} {labels.shape}"
                )
            if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
                raise ValueError(f"{self.name} {split} labels outside 0..{self.num_classes - 1}")
