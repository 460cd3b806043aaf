"""Fashion-MNIST from its four idx files, parsed with gzip + numpy.

No torchvision: the Debian package `dataset-fashion-mnist` ships exactly these
files, so a machine without internet can still build the dataset.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from .source_data import SourceData

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
NATIVE_SIZE = 28
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
_UBYTE = 0x08


def load_fashion_mnist(root: Path, image_size: int) -> SourceData:
    """Both splits as uint8 (N, 1, S, S); S = 28 keeps the images, S > 28 zero-pads them evenly (32: 2 px a side)."""
    pad = _padding(image_size)
    paths = {key: _find(root, name) for key, name in FILES.items()}
    missing = [FILES[key] for key, path in paths.items() if path is None]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST not found under data.root {str(root)!r}: missing {', '.join(missing)} "
            f"(expected {', '.join(FILES.values())}). Install the Debian package dataset-fashion-mnist "
            "(it puts them in the default data.root) or download them from "
            "https://github.com/zalandoresearch/fashion-mnist (data/fashion/) into data.root."
        )
    arrays = {key: read_idx(path) for key, path in paths.items()}  # type: ignore[arg-type]
    splits = {}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"Fashion-MNIST {split} files under {root} disagree: images {images.shape}, labels {labels.shape}"
            )
        images = images[:, None]
        if pad:
            images = np.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        splits[split] = (np.ascontiguousarray(images), labels.astype(np.int64))
    return SourceData(
        name="fashion_mnist",
        root=root,
        train_images=splits["train"][0],
        train_labels=splits["train"][1],
        test_images=splits["test"][0],
        test_labels=splits["test"][1],
        class_names=CLASS_NAMES,
    )


def read_idx(path: Path) -> np.ndarray:
    """An unsigned-byte idx array (LeCun's MNIST format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != _UBYTE:
        raise ValueError(f"{path} is not an unsigned-byte idx file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(data) - header != int(np.prod(dims)):
        raise ValueError(
            f"{path} is truncated or corrupt: header says {dims}, found {len(data) - header} bytes of data"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _padding(image_size: int) -> int:
    extra = image_size - NATIVE_SIZE
    if extra < 0 or extra % 2:
        raise ValueError(
            "data.image_size for fashion_mnist must be 28 (native) or 28 + an even number of padding pixels "
            f"(e.g. 32); got {image_size}"
        )
    return extra // 2


def _find(root: Path, gz_name: str) -> Path | None:
    for candidate in (root / gz_name, root / gz_name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None
