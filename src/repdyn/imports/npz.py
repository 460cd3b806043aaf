"""Image arrays from an .npz file: the `dataset: npz` source, checked array by array.

The file holds `train_images`, `test_images` (uint8, (N, H, W) or (N, C, H, W), square) and
`train_labels`, `test_labels` (integers 0..C-1, C = the largest label + 1). Images keep their native
size; the network sees pixel / 255, then the per-channel normalisation. `facts` reads only the array
headers and the labels (cheap enough for parse time); `load` reads everything. npz files are read with
allow_pickle=False: an object array is an error, never unpickled.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    from repdyn.data.source_data import SourceData

IMAGE_ARRAYS = ("train_images", "test_images")
LABEL_ARRAYS = ("train_labels", "test_labels")


class NpzError(ValueError):
    """An npz dataset file is unusable; the message is one line naming the file and the array."""


def _header(archive: zipfile.ZipFile, path: Path, name: str) -> tuple[tuple[int, ...], np.dtype]:
    try:
        with archive.open(f"{name}.npy") as handle:
            version = np.lib.format.read_magic(handle)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = reader(handle)  # the header only, not the data
    except KeyError:
        raise NpzError(f"{path}: array {name} is missing (needed: {', '.join(IMAGE_ARRAYS + LABEL_ARRAYS)})") from None
    except ValueError as exc:
        raise NpzError(f"{path}: array {name} is not a readable .npy array ({exc})") from None
    return tuple(shape), dtype


def _labels(data: Any, path: Path, name: str, count: int) -> np.ndarray:
    if name not in data.files:
        raise NpzError(f"{path}: array {name} is missing (needed: {', '.join(IMAGE_ARRAYS + LABEL_ARRAYS)})")
    try:
        labels = data[name]
    except ValueError:
        raise NpzError(f"{path}: array {name} holds Python objects (not allowed; save integer labels)") from None
    if labels.dtype.kind not in "iu" or labels.shape != (count,):
        raise NpzError(f"{path}: array {name} must be integers of shape ({count},), got {labels.dtype} {labels.shape}")
    if labels.size and labels.min() < 0:
        raise NpzError(f"{path}: array {name} has negative labels (min {labels.min()})")
    return labels.astype(np.int64)


def _geometry(path: Path, name: str, shape: tuple[int, ...], dtype: np.dtype) -> tuple[int, int]:
    """(channels, side) of an image array."""
    if dtype != np.uint8:
        raise NpzError(f"{path}: array {name} must be uint8, got {dtype}")
    if len(shape) not in (3, 4):
        raise NpzError(f"{path}: array {name} must be (N, H, W) or (N, C, H, W), got shape {shape}")
    channels, height, width = (1, *shape[1:]) if len(shape) == 3 else shape[1:]
    if height != width:
        raise NpzError(f"{path}: array {name} has non-square images {height} x {width}")
    return channels, height


def facts(path: str | os.PathLike) -> dict[str, int]:
    """classes, channels, native_size, train_size, test_size of the file, after checking every array."""
    path = Path(os.path.expanduser(os.fspath(path)))
    if not path.is_file():
        raise NpzError(f"data.path: {path} does not exist")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise NpzError(f"data.path: {path} is not an .npz file") from None
    with archive:
        shapes = {name: _header(archive, path, name) for name in IMAGE_ARRAYS}
    geometry = {name: _geometry(path, name, *shapes[name]) for name in IMAGE_ARRAYS}
    if geometry["train_images"] != geometry["test_images"]:
        raise NpzError(
            f"{path}: array test_images has (channels, side) {geometry['test_images']}, "
            f"train_images {geometry['train_images']}"
        )
    with np.load(path, allow_pickle=False) as data:
        labels = {
            name: _labels(data, path, name, shapes[name.replace("labels", "images")][0][0]) for name in LABEL_ARRAYS
        }
    classes = int(labels["train_labels"].max()) + 1 if labels["train_labels"].size else 0
    if classes < 2:
        raise NpzError(f"{path}: array train_labels must hold at least two classes")
    if labels["test_labels"].size and labels["test_labels"].max() >= classes:
        raise NpzError(
            f"{path}: array test_labels has label {int(labels['test_labels'].max())}, "
            f"outside the {classes} classes of train_labels"
        )
    channels, side = geometry["train_images"]
    return {
        "classes": classes,
        "channels": channels,
        "native_size": side,
        "train_size": int(labels["train_labels"].size),
        "test_size": int(labels["test_labels"].size),
    }


def load(path: str | os.PathLike) -> SourceData:
    """Both splits as uint8 (N, C, H, W) images and int64 labels, after the checks of `facts`."""
    path = Path(os.path.expanduser(os.fspath(path)))
    classes = facts(path)["classes"]
    with np.load(path, allow_pickle=False) as data:
        out = {name: np.asarray(data[name]) for name in IMAGE_ARRAYS + LABEL_ARRAYS}
    for name in IMAGE_ARRAYS:
        if out[name].ndim == 3:
            out[name] = out[name][:, None]
        out[name] = np.ascontiguousarray(out[name])
    for name in LABEL_ARRAYS:
        out[name] = out[name].astype(np.int64)
    from repdyn.data.source_data import SourceData

    return SourceData(name="npz", root=path, class_names=tuple(str(c) for c in range(classes)), **out)
