"""CIFAR-10 and SVHN through torchvision's readers (download only when asked).

We check for the files ourselves first so that a machine without internet gets
a FileNotFoundError that says what to put where, not torchvision's terse
"Dataset not found or corrupted".
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .source_data import SourceData

CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_FILES = (
    "data_batch_1",
    "data_batch_2",
    "data_batch_3",
    "data_batch_4",
    "data_batch_5",
    "test_batch",
    "batches.meta",
)
SVHN_FILES = ("train_32x32.mat", "test_32x32.mat")
NATIVE_SIZE = 32


def load_cifar10(root: Path, image_size: int, download: bool) -> SourceData:
    """CIFAR-10 train (50,000) and test (10,000) as uint8 (N, 3, 32, 32)."""
    from torchvision.datasets import CIFAR10

    _check_size("cifar10", image_size)
    expected = [f"{CIFAR10_FOLDER}/{name}" for name in CIFAR10_FILES]
    how = (
        f"download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and unpack it into {root} "
        f"(it creates {CIFAR10_FOLDER}/)"
    )
    train, test = _open_both(
        "CIFAR-10",
        root,
        expected,
        how,
        download,
        lambda split, dl: CIFAR10(str(root), train=(split == "train"), download=dl),
    )
    return SourceData(
        name="cifar10",
        root=root,
        train_images=np.ascontiguousarray(train.data.transpose(0, 3, 1, 2)),
        train_labels=np.asarray(train.targets, dtype=np.int64),
        test_images=np.ascontiguousarray(test.data.transpose(0, 3, 1, 2)),
        test_labels=np.asarray(test.targets, dtype=np.int64),
        class_names=tuple(train.classes),
    )


def load_svhn(root: Path, image_size: int, download: bool) -> SourceData:
    """SVHN train (73,257) and test (26,032) as uint8 (N, 3, 32, 32); labels 0..9 (torchvision maps digit 0's 10 to
    0)."""
    from torchvision.datasets import SVHN

    _check_size("svhn", image_size)
    how = f"download http://ufldl.stanford.edu/housenumbers/train_32x32.mat and test_32x32.mat into {root}"
    train, test = _open_both(
        "SVHN",
        root,
        list(SVHN_FILES),
        how,
        download,
        lambda split, dl: SVHN(str(root), split=split, download=dl),
    )
    return SourceData(
        name="svhn",
        root=root,
        train_images=np.ascontiguousarray(train.data),
        train_labels=np.asarray(train.labels, dtype=np.int64),
        test_images=np.ascontiguousarray(test.data),
        test_labels=np.asarray(test.labels, dtype=np.int64),
        class_names=tuple(str(d) for d in range(10)),
    )


def _open_both(
    title: str, root: Path, expected: list[str], how: str, download: bool, open_split: Callable[[str, bool], Any]
) -> tuple[Any, Any]:
    """Open train and test, downloading first if files are missing and download is on.

    Every failure becomes a FileNotFoundError that names data.root, the files expected there and how to get them.
    """
    missing = [name for name in expected if not (root / name).is_file()]
    if missing and not download:
        raise FileNotFoundError(
            f"{title} not found under data.root {str(root)!r}: missing {', '.join(missing)}. "
            f"To get it: set data.download: true on a machine with internet, or {how}."
        )
    try:
        return open_split("train", bool(missing)), open_split("test", bool(missing))
    except Exception as exc:  # URLError without internet, RuntimeError on a checksum mismatch, tar errors
        action = "could not be downloaded to" if missing else "is corrupted (checksum mismatch) under"
        raise FileNotFoundError(
            f"{title} {action} data.root {str(root)!r} ({type(exc).__name__}: {exc}); expected {', '.join(expected)}. "
            f"To get it: {how}."
        ) from exc


def _check_size(dataset: str, image_size: int) -> None:
    if image_size != NATIVE_SIZE:
        raise ValueError(f"data.image_size must be {NATIVE_SIZE} for {dataset} (its native size); got {image_size}")
