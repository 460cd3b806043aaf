"""The prepare_data artifact: one HDF5 file with everything training and analysis read.

One self-contained file (not a pointer to the source files) so that a run's
inputs cannot change under it and a cluster job needs no dataset root.

HDF5 layout (FORMAT_VERSION 1):

    /train/images         uint8 (N, C, H, W)  lzf-compressed, chunked by images
    /train/labels         int64 (N,)          labels the network trains on (after noise)
    /train/clean_labels   int64 (N,)          labels of the source dataset
    /train/flipped        int64 (F,)          sorted indices (into /train) whose label was flipped
    /train/source_index   int64 (N,)          index of each example in the source training set (ascending)
    /test/images          uint8 (M, C, H, W)  the full source test split
    /test/labels          int64 (M,)
    /test/eval_index      int64 (K,)          test indices used for the per-epoch test metrics (data.test_subset)
    /probe/index          int64 (B, n)        test indices of the B fixed CKA probe batches
    root attributes: dataset (str), num_classes, in_channels, image_size (int),
        class_names (JSON list), mean, std (float64 per channel, [0, 1] pixel scale),
        normalization_method ('constants' | 'computed' | 'explicit'),
        source_root (str), source_train_size (int), noisy_per_class (int),
        format_version (int), settings (JSON: the resolved `data` settings)

To add something a later stage needs: write it in `write_artifact`, read it in
`DatasetArtifact.load`, and bump FORMAT_VERSION if the meaning of existing
entries changes. Dataset timestamps are off so equal inputs give equal bytes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np
import torch

from repdyn.data.source_data import ImageGeometry
from repdyn.storage.atomic import atomic_path
from repdyn.storage.integrity import require

FORMAT_VERSION = 1
IMAGE_CHUNK = 1024  # images per HDF5 chunk: large enough for fast lzf reads, small for partial reads


@dataclass(frozen=True)
class ArtifactContent:
    """What `write_artifact` stores, as numpy arrays and plain values."""

    name: str
    class_names: tuple[str, ...]
    train_images: np.ndarray
    train_labels: np.ndarray
    clean_labels: np.ndarray
    flipped: np.ndarray
    source_index: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    probe_index: np.ndarray
    mean: tuple[float, ...]
    std: tuple[float, ...]
    settings: dict[str, Any]
    eval_index: np.ndarray | None = None  # None: the whole test split
    extra_attrs: dict[str, Any] = field(default_factory=dict)


def write_artifact(content: ArtifactContent, out_path: str | os.PathLike) -> None:
    """Write the HDF5 file to a temporary name and rename it into place when complete."""
    with atomic_path(out_path, suffix=".h5") as tmp, h5py.File(tmp, "w") as f:
        train, test, probe = f.create_group("train"), f.create_group("test"), f.create_group("probe")
        _images(train, "images", content.train_images)
        _array(train, "labels", content.train_labels)
        _array(train, "clean_labels", content.clean_labels)
        _array(train, "flipped", content.flipped)
        _array(train, "source_index", content.source_index)
        _images(test, "images", content.test_images)
        _array(test, "labels", content.test_labels)
        eval_index = np.arange(len(content.test_labels)) if content.eval_index is None else content.eval_index
        _array(test, "eval_index", eval_index)
        _array(probe, "index", content.probe_index)
        attrs = {
            "dataset": content.name,
            "num_classes": len(content.class_names),
            "class_names": json.dumps(list(content.class_names)),
            "in_channels": int(content.train_images.shape[1]),
            "image_size": int(content.train_images.shape[-1]),
            "mean": np.asarray(content.mean, dtype=np.float64),
            "std": np.asarray(content.std, dtype=np.float64),
            "format_version": FORMAT_VERSION,
            "settings": json.dumps(content.settings, sort_keys=True),
            **content.extra_attrs,
        }
        for key, value in attrs.items():
            f.attrs[key] = value


def _images(group: h5py.Group, name: str, images: np.ndarray) -> None:
    chunks = (max(1, min(IMAGE_CHUNK, images.shape[0])),) + images.shape[1:]
    data = np.ascontiguousarray(images, dtype=np.uint8)
    group.create_dataset(name, data=data, chunks=chunks, compression="lzf", track_times=False)


def _array(group: h5py.Group, name: str, values: np.ndarray) -> None:
    group.create_dataset(name, data=np.asarray(values, dtype=np.int64), track_times=False)


@dataclass(frozen=True)
class DatasetArtifact(ImageGeometry):
    """A prepared dataset held in memory as torch tensors (CPU; move batches to any device)."""

    name: str
    class_names: tuple[str, ...]
    train_images: torch.Tensor  # uint8 (N, C, H, W)
    train_labels: torch.Tensor  # int64 (N,), noisy
    clean_labels: torch.Tensor  # int64 (N,)
    flipped: torch.Tensor  # int64 sorted indices
    source_index: torch.Tensor  # int64 (N,)
    test_images: torch.Tensor
    test_labels: torch.Tensor
    probe_index: torch.Tensor  # int64 (B, n)
    eval_index: torch.Tensor  # int64 (K,) test examples of the per-epoch test metrics
    mean: tuple[float, ...]
    std: tuple[float, ...]
    settings: dict[str, Any]
    attrs: dict[str, Any]  # every root attribute, as stored

    @classmethod
    def load(cls, path: str | os.PathLike) -> DatasetArtifact:
        """Read the whole file into memory."""
        require(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"dataset artifact {os.fspath(path)!r} does not exist (run prepare_data first)")
        with h5py.File(path, "r") as f:
            version = int(f.attrs.get("format_version", -1))
            if version != FORMAT_VERSION:
                raise ValueError(
                    f"{os.fspath(path)}: dataset artifact format {version}, this repdyn reads {FORMAT_VERSION}"
                )
            attrs = {key: _plain(value) for key, value in f.attrs.items()}
            read = lambda key: torch.from_numpy(f[key][()])  # noqa: E731
            return cls(
                name=attrs["dataset"],
                class_names=tuple(json.loads(attrs["class_names"])),
                train_images=read("train/images"),
                train_labels=read("train/labels"),
                clean_labels=read("train/clean_labels"),
                flipped=read("train/flipped"),
                source_index=read("train/source_index"),
                test_images=read("test/images"),
                test_labels=read("test/labels"),
                probe_index=read("probe/index"),
                eval_index=read("test/eval_index"),
                mean=tuple(float(v) for v in attrs["mean"]),
                std=tuple(float(v) for v in attrs["std"]),
                settings=json.loads(attrs["settings"]),
                attrs=attrs,
            )

    @property
    def noisy_mask(self) -> torch.Tensor:
        """bool (N,): True where the training label differs from the clean one."""
        return self.train_labels != self.clean_labels

    def eval_images(self) -> torch.Tensor:
        """uint8 (K, C, H, W): the test examples of the per-epoch test metrics."""
        return self.test_images[self.eval_index]

    def eval_labels(self) -> torch.Tensor:
        return self.test_labels[self.eval_index]

    def probe_images(self) -> torch.Tensor:
        """uint8 (B, n, C, H, W): the probe batches' test images."""
        return self.test_images[self.probe_index]

    def probe_labels(self) -> torch.Tensor:
        """int64 (B, n): the probe batches' test labels."""
        return self.test_labels[self.probe_index]

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """float32 (x / 255 - mean) / std per channel (channel axis -3), on x's device."""
        if x.dim() < 3 or x.shape[-3] != self.in_channels:
            raise ValueError(f"normalize expects (..., {self.in_channels}, H, W) images; got shape {tuple(x.shape)}")
        mean = torch.tensor(self.mean, dtype=torch.float32, device=x.device).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32, device=x.device).view(-1, 1, 1)
        return (x.to(torch.float32) / 255.0 - mean) / std


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
