"""Which dataset to read, and from where: one dispatch over the real loaders.

Every loader hands back the same `SourceData` (uint8 images N x C x H x W at
the requested resolution, int64 labels 0..C-1), so nothing downstream knows
which file format a dataset came in.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from repdyn.config.integers import require_int
from repdyn.data.source_data import SourceData

DATASETS = ("fashion_mnist", "cifar10", "svhn", "tiny_imagenet", "npz")
# Where the Debian package dataset-fashion-mnist puts the files.
FASHION_MNIST_DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"


def default_root(dataset: str) -> Path:
    """Where a dataset is looked for when `data.root` is None."""
    if dataset == "fashion_mnist":
        return Path(FASHION_MNIST_DEFAULT_ROOT)
    return Path(os.path.expanduser(f"~/.cache/repdyn/datasets/{dataset}"))


def resolve_root(settings: dict[str, Any]) -> Path:
    """`data.root` with `~` expanded, or the dataset's default root."""
    root = settings.get("root")
    if root is None:
        return default_root(settings["dataset"])
    return Path(os.path.expanduser(str(root)))


def load_source(settings: dict[str, Any]) -> SourceData:
    """Read the full train/test splits of `settings["dataset"]` at `settings["image_size"]`."""
    dataset = settings.get("dataset")
    if dataset == "npz":
        from repdyn.imports.npz import load

        return load(settings["path"])
    loader = _loaders().get(dataset)  # type: ignore[arg-type]
    if loader is None:
        raise ValueError(f"data.dataset must be one of {', '.join(DATASETS)}; got {dataset!r}")
    image_size = settings.get("image_size")
    require_int("data.image_size", image_size)
    return loader(resolve_root(settings), image_size, bool(settings.get("download", False)))


def _loaders() -> dict[str, Callable[[Path, int, bool], SourceData]]:
    # Imported here so that `import repdyn.data` does not pull in torchvision/PIL.
    from .fashion_mnist import load_fashion_mnist
    from .tiny_imagenet import load_tiny_imagenet
    from .torchvision_sources import load_cifar10, load_svhn

    return {
        "fashion_mnist": lambda root, size, download: load_fashion_mnist(root, size),
        "cifar10": load_cifar10,
        "svhn": load_svhn,
        "tiny_imagenet": lambda root, size, download: load_tiny_imagenet(root, size),
    }
