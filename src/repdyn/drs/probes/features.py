"""Training-set features of every analysed layer, computed once and kept within a memory budget.

A probe epoch needs every training example's representation at every layer;
recomputing them per probe epoch would cost 10 forwards of the training set
(docs/cost-model.md, "DRS at paper scale"), so one forward fills a cache that serves all layers and
all probe epochs. At paper scale the cache is 37.7 GB of float32, so when it
does not fit the budget it lives in scratch files instead of RAM.

The scratch files are read and written with positional I/O (os.preadv /
os.pwrite), not through np.memmap: pages of a memory map count towards the
process's resident set (ru_maxrss) for as long as they stay mapped, so a
memmap read over a whole epoch would grow RSS to the full file size. Each file
is nevertheless a plain row-major little-endian float32 (N, p) array that
`np.memmap(path, np.float32, "r", shape=(N, p))` can open for inspection.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from repdyn.config.integers import require_int
from repdyn.models.taps import LayerTap

__all__ = ["POOLINGS", "FeatureCache", "check_pooling", "model_device", "pool_output"]

POOLINGS: tuple[str, ...] = ("none", "avg", "cls_token")
_ITEMSIZE = 4  # float32


def check_pooling(pooling: str) -> None:
    if pooling not in POOLINGS:
        raise ValueError(f"pooling {pooling!r} is unknown; allowed values: {', '.join(POOLINGS)}")


def pool_output(output: torch.Tensor, pooling: str) -> torch.Tensor:
    """A module output (n, ...) as the probe's (n, p) representation (docs/algorithms.md §3, `probe.pooling`).

    - "none": flattened row-major, p = C·H·W for conv maps (n, C, H, W), T·D for tokens (n, T, D).
    - "avg": global average over spatial positions (n, C, H, W) -> (n, C) or over tokens (n, T, D) -> (n, D).
    - "cls_token": token 0 of (n, T, D) -> (n, D) (torchvision ViT puts the class token first);
      a conv map has no class token (ViT's `conv_proj` runs before it is prepended) and is averaged over space.
    Outputs that are already (n, p) (logits) are unchanged by every pooling.
    """
    check_pooling(pooling)
    if pooling == "none" or output.dim() == 2:
        return output.reshape(output.shape[0], -1)
    if output.dim() == 4:
        return output.mean(dim=(2, 3))
    if output.dim() == 3:
        return output[:, 0, :] if pooling == "cls_token" else output.mean(dim=1)
    raise ValueError(
        f"pooling {pooling!r} needs (n, p), (n, T, D) or (n, C, H, W) outputs; got shape {tuple(output.shape)}"
    )


def model_device(model: nn.Module, device: torch.device | str) -> torch.device:
    """`device` as torch.device, after checking that the model's parameters live there."""
    device = torch.device(device)
    for param in model.parameters():
        if param.device.type != device.type or (device.index is not None and param.device != device):
            raise ValueError(f"model parameters are on {param.device} but device is {device}; move the model first")
        break
    return device


class _RamStore:
    """Features as in-memory float32 arrays."""

    mode = "ram"

    def __init__(self, num_examples: int, dims: dict[str, int]) -> None:
        self.arrays = {name: np.empty((num_examples, p), dtype=np.float32) for name, p in dims.items()}

    def write_rows(self, name: str, start: int, rows: np.ndarray) -> None:
        self.arrays[name][start : start + rows.shape[0]] = rows

    def read_rows(self, name: str, indices: np.ndarray) -> np.ndarray:
        return self.arrays[name][indices]

    def close(self) -> None:
        self.arrays = {}


class _DiskStore:
    """Features as one raw float32 (N, p) file per layer in a private scratch directory."""

    mode = "disk"

    def __init__(self, num_examples: int, dims: dict[str, int], scratch_dir: str | os.PathLike | None) -> None:
        if scratch_dir is not None:
            os.makedirs(scratch_dir, exist_ok=True)
        self.directory = tempfile.mkdtemp(prefix="repdyn-features-", dir=scratch_dir)
        self.dims = dict(dims)
        self.paths = {name: os.path.join(self.directory, f"layer{i}.f32") for i, name in enumerate(dims)}
        self.fds: dict[str, int] = {}
        self._cleanup = weakref.finalize(self, _remove_scratch, self.directory, self.fds)
        for name, p in dims.items():
            self.fds[name] = os.open(self.paths[name], os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            os.ftruncate(self.fds[name], num_examples * p * _ITEMSIZE)

    def write_rows(self, name: str, start: int, rows: np.ndarray) -> None:
        data = memoryview(np.ascontiguousarray(rows, dtype=np.float32)).cast("B")
        offset = start * self.dims[name] * _ITEMSIZE
        while len(data):
            written = os.pwrite(self.fds[name], data, offset)
            data, offset = data[written:], offset + written

    def read_rows(self, name: str, indices: np.ndarray) -> np.ndarray:
        """Rows in the order of `indices`; consecutive runs of the sorted indices are read with one syscall each."""
        p, fd = self.dims[name], self.fds[name]
        order = np.argsort(indices, kind="stable")
        sorted_idx = indices[order]
        out_sorted = np.empty((indices.size, p), dtype=np.float32)
        breaks = np.flatnonzero(np.diff(sorted_idx) != 1) + 1
        for lo, hi in zip(np.r_[0, breaks], np.r_[breaks, indices.size]):
            if hi > lo:
                self._read_into(fd, out_sorted[lo:hi], int(sorted_idx[lo]) * p * _ITEMSIZE)
        out = np.empty_like(out_sorted)
        out[order] = out_sorted
        return out

    @staticmethod
    def _read_into(fd: int, target: np.ndarray, offset: int) -> None:
        view = memoryview(target).cast("B")
        while len(view):
            got = os.preadv(fd, [view], offset)
            if got == 0:
                raise OSError(f"feature scratch file ended early at byte {offset}")
            view, offset = view[got:], offset + got

    def close(self) -> None:
        self._cleanup()


def _remove_scratch(directory: str, fds: dict[str, int]) -> None:
    for fd in fds.values():
        try:
            os.close(fd)
        except OSError:
            pass
    fds.clear()
    shutil.rmtree(directory, ignore_errors=True)


class FeatureCache:
    """Per-layer float32 (N, p) features of one set of examples, in RAM or in scratch files.

    Use as a context manager (or call `close`) so scratch files are deleted.
    `mode` is "ram" or "disk"; `dims` maps layer -> p; `nbytes` is the total size.
    """

    def __init__(self, store: _RamStore | _DiskStore, num_examples: int, dims: dict[str, int], pooling: str) -> None:
        self._store = store
        self.num_examples = int(num_examples)
        self.dims = dict(dims)
        self.pooling = pooling

    @property
    def layers(self) -> list[str]:
        return list(self.dims)

    @property
    def mode(self) -> str:
        return self._store.mode

    @property
    def nbytes(self) -> int:
        return self.num_examples * sum(self.dims.values()) * _ITEMSIZE

    @staticmethod
    def _make_store(
        num_examples: int, dims: dict[str, int], memory_budget_bytes: int | None, scratch_dir: str | os.PathLike | None
    ) -> _RamStore | _DiskStore:
        total = num_examples * sum(dims.values()) * _ITEMSIZE
        if memory_budget_bytes is None or total <= memory_budget_bytes:
            return _RamStore(num_examples, dims)
        return _DiskStore(num_examples, dims, scratch_dir)

    @classmethod
    def build(
        cls,
        model: nn.Module,
        layers: list[str],
        images_uint8: Any,
        normalize: Callable[[torch.Tensor], torch.Tensor],
        batch_size: int,
        memory_budget_bytes: int | None,
        device: torch.device | str,
        pooling: str = "none",
        scratch_dir: str | os.PathLike | None = None,
    ) -> FeatureCache:
        """One eval-mode forward of `images_uint8` (N, C, H, W), normalised batch by batch, captured at `layers`.

        Features go to RAM when N·Σp·4 bytes <= `memory_budget_bytes` (None =
        no limit), else to scratch files under `scratch_dir` (system temp dir
        if None); peak memory is then the model and one batch of activations
        and features, never the whole cache. The model must already be on
        `device`; its train/eval mode is restored afterwards.
        """
        check_pooling(pooling)
        require_int("batch_size", batch_size)
        if memory_budget_bytes is not None:
            require_int("memory_budget_bytes", memory_budget_bytes)
        device = model_device(model, device)
        images = torch.as_tensor(images_uint8)
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[0] == 0:
            raise ValueError(
                f"images_uint8 must be non-empty uint8 (N, C, H, W); got {images.dtype} {tuple(images.shape)}"
            )
        n = images.shape[0]
        store: _RamStore | _DiskStore | None = None
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode(), LayerTap(model, list(layers), flatten=False) as tap:
                for start in range(0, n, batch_size):
                    x = normalize(images[start : start + batch_size].to(device))
                    model(x)
                    feats = {name: pool_output(out, pooling).float().cpu().numpy() for name, out in tap.outputs.items()}
                    if store is None:
                        _check_captured(feats, layers)
                        dims = {name: int(feats[name].shape[1]) for name in layers}
                        store = cls._make_store(n, dims, memory_budget_bytes, scratch_dir)
                    for name in layers:
                        store.write_rows(name, start, feats[name])
                    del feats, x
        except BaseException:
            if store is not None:
                store.close()
            raise
        finally:
            model.train(was_training)
        return cls(store, n, dims, pooling)

    @classmethod
    def from_arrays(
        cls,
        features: dict[str, Any],
        memory_budget_bytes: int | None = None,
        scratch_dir: str | os.PathLike | None = None,
    ) -> FeatureCache:
        """A cache of given (N, p) feature arrays (tests, or features computed elsewhere), same RAM/disk rule."""
        if not features:
            raise ValueError("features must map at least one layer name to an (N, p) array")
        arrays = {
            name: np.asarray(a.cpu() if isinstance(a, torch.Tensor) else a, dtype=np.float32)
            for name, a in features.items()
        }
        sizes = {name: a.shape[0] for name, a in arrays.items()}
        bad = [name for name, a in arrays.items() if a.ndim != 2]
        if bad or len(set(sizes.values())) != 1:
            raise ValueError(
                f"features must all be 2-D with the same number of rows; got shapes "
                f"{ {name: a.shape for name, a in arrays.items()} }"
            )
        n = next(iter(sizes.values()))
        dims = {name: int(a.shape[1]) for name, a in arrays.items()}
        store = cls._make_store(n, dims, memory_budget_bytes, scratch_dir)
        for name, a in arrays.items():
            store.write_rows(name, 0, a)
        return cls(store, n, dims, pooling="none")

    def read(self, indices: Any) -> dict[str, np.ndarray]:
        """float32 rows (k, p) of every layer for the given example indices, in that order."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= self.num_examples)):
            raise ValueError(f"indices must be 1-D and lie in [0, {self.num_examples}); got shape {idx.shape}")
        return {name: self._store.read_rows(name, idx) for name in self.dims}

    def batches(self, order: Any, batch_size: int) -> Iterator[tuple[np.ndarray, dict[str, torch.Tensor]]]:
        """Yield (example indices, {layer: float32 CPU tensor (k, p)}) for consecutive slices of `order`.

        The last batch may be smaller; pass `np.arange(N)` for the stored order.
        """
        require_int("batch_size", batch_size)
        order = np.asarray(order, dtype=np.int64)
        for start in range(0, order.size, batch_size):
            idx = order[start : start + batch_size]
            yield idx, {name: torch.from_numpy(rows) for name, rows in self.read(idx).items()}

    def close(self) -> None:
        """Free the RAM arrays or delete the scratch files (idempotent)."""
        self._store.close()

    def __enter__(self) -> FeatureCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_captured(feats: dict[str, np.ndarray], layers: list[str]) -> None:
    missing = [name for name in layers if name not in feats]
    if missing:
        raise ValueError(f"layers {missing} produced no output in the model's forward")
