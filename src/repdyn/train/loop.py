"""One training epoch and the per-epoch evaluation, on tensors already on the device.

Training settings are parsed once into `TrainSettings` (errors name the
`train.*` key). The whole dataset lives on the device for a segment, so there
are no DataLoader workers: a batch is an index into device tensors.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from repdyn.config.integers import require_int
from repdyn.train.augment import augment_batch, draw_epoch, epoch_seeds
from repdyn.train.optim import validate_optimizer_settings

PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}

# Inference batch for the per-epoch train/test evaluation: metrics only, it
# does not touch the training trajectory, so it can differ from batch_size.
EVAL_BATCH_SIZE = 512


def _section(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = parent.get(key) if isinstance(parent, Mapping) else None
    if not isinstance(value, Mapping):
        raise ValueError(f"{path} must be a mapping, got {value!r}")
    return value


def _int(section: Mapping[str, Any], key: str, path: str, minimum: int) -> int:
    return require_int(path, section.get(key), minimum)


def _bool(section: Mapping[str, Any], key: str, path: str) -> bool:
    value = section.get(key)
    if not isinstance(value, bool):
        raise ValueError(f"{path} must be true or false, got {value!r}")
    return value


@dataclass(frozen=True)
class TrainSettings:
    """The validated `train` section of a run."""

    seed: int
    batch_size: int
    optimizer: Mapping[str, Any]
    crop_padding: int
    hflip: bool
    precision: str
    eval_train: bool

    @classmethod
    def from_run(cls, run: Mapping[str, Any]) -> TrainSettings:
        train = _section(run, "train", "train")
        optimizer = _section(train, "optimizer", "train.optimizer")
        validate_optimizer_settings(optimizer)
        augment = _section(train, "augment", "train.augment")
        precision = train.get("precision")
        if precision not in PRECISIONS:
            raise ValueError(f"train.precision {precision!r} is unknown; allowed values: {', '.join(PRECISIONS)}")
        return cls(
            seed=_int(train, "seed", "train.seed", 0),
            batch_size=_int(train, "batch_size", "train.batch_size", 2),
            optimizer=dict(optimizer),
            crop_padding=_int(augment, "crop_padding", "train.augment.crop_padding", 0),
            hflip=_bool(augment, "hflip", "train.augment.hflip"),
            precision=precision,
            eval_train=_bool(train, "eval_train", "train.eval_train"),
        )


def check_precision(precision: str, device: torch.device) -> None:
    """Mixed precision is a CUDA feature here; on the CPU it would be slow and change numbers silently."""
    if precision not in PRECISIONS:
        raise ValueError(f"train.precision {precision!r} is unknown; allowed values: {', '.join(PRECISIONS)}")
    if device.type != "cuda" and precision != "fp32":
        raise ValueError(f"train.precision {precision!r} needs a CUDA device; on {device.type} only 'fp32' is allowed")


def autocast(precision: str, device: torch.device) -> AbstractContextManager[Any]:
    """The autocast context for `precision` (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_AUTOCAST_DTYPES[precision])


def make_grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    """fp16 gradients underflow without loss scaling; bf16 and fp32 need none."""
    return torch.amp.GradScaler(device.type) if precision == "fp16" else None


@dataclass(frozen=True)
class DeviceData:
    """A dataset's tensors moved to the device once per segment."""

    train_images: torch.Tensor  # uint8 (N, C, H, W)
    train_labels: torch.Tensor  # the (possibly noisy) labels the network is trained on
    clean_labels: torch.Tensor
    noisy_mask: torch.Tensor  # bool (N,)
    test_images: torch.Tensor
    test_labels: torch.Tensor
    normalize: Callable[[torch.Tensor], torch.Tensor]

    @classmethod
    def from_artifact(cls, dataset: Any, device: torch.device) -> DeviceData:
        return cls(
            train_images=dataset.train_images.to(device),
            train_labels=dataset.train_labels.to(device),
            clean_labels=dataset.clean_labels.to(device),
            noisy_mask=dataset.noisy_mask.to(device),
            test_images=dataset.eval_images().to(device),
            test_labels=dataset.eval_labels().to(device),
            normalize=dataset.normalize,
        )


def _batch_bounds(num_examples: int, batch_size: int) -> list[tuple[int, int]]:
    """Consecutive [start, stop) slices; a final batch of one example is dropped.

    BatchNorm in train mode cannot normalise a single example (PyTorch raises),
    so when N = k * batch_size + 1 the last position of the epoch's order is
    skipped. It is a different example each epoch because the order changes.
    """
    bounds = [(start, min(start + batch_size, num_examples)) for start in range(0, num_examples, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds.pop()
    return bounds


@dataclass(frozen=True)
class RunningStats:
    """Averages over the augmented train-mode minibatches of one epoch."""

    loss: float
    err: float  # vs the training labels
    err_clean: float  # vs the clean labels
    noisy_fit: float  # fraction of noisy examples predicted as their noisy label (NaN if none seen)


def train_one_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    data: DeviceData,
    epoch: int,
    settings: TrainSettings,
) -> RunningStats:
    """Train epoch `epoch` (1-based: the network after it is "epoch `epoch`").

    The caller must have seeded torch's global RNG with epoch_seeds(seed, epoch)[1]
    (train_segment does) for layers that draw from it.
    """
    device = data.train_images.device
    num_examples = data.train_images.shape[0]
    draw = draw_epoch(num_examples, settings.seed, epoch, settings.crop_padding, settings.hflip).to(device)
    model.train()
    totals = torch.zeros(5, dtype=torch.float64, device=device)  # loss, err, err_clean, noisy seen, noisy fit
    seen = 0
    for start, stop in _batch_bounds(num_examples, settings.batch_size):
        batch = draw.slice(start, stop)
        index = batch.order
        inputs = data.normalize(augment_batch(data.train_images[index], batch, settings.crop_padding))
        labels = data.train_labels[index]
        with autocast(settings.precision, device):
            logits = model(inputs)
        loss = F.cross_entropy(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        with torch.no_grad():
            predicted = logits.argmax(dim=1)
            noisy = data.noisy_mask[index]
            totals += torch.stack(
                [
                    loss.detach().double() * (stop - start),
                    (predicted != labels).sum().double(),
                    (predicted != data.clean_labels[index]).sum().double(),
                    noisy.sum().double(),
                    ((predicted == labels) & noisy).sum().double(),
                ]
            )
        seen += stop - start
    loss_sum, err, err_clean, noisy_seen, noisy_fit = totals.tolist()
    return RunningStats(
        loss=loss_sum / seen,
        err=err / seen,
        err_clean=err_clean / seen,
        noisy_fit=noisy_fit / noisy_seen if noisy_seen else math.nan,
    )


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module,
    images: torch.Tensor,
    normalize: Callable[[torch.Tensor], torch.Tensor],
    precision: str,
    batch_size: int = EVAL_BATCH_SIZE,
) -> torch.Tensor:
    """float32 logits of un-augmented uint8 images, model in eval mode (restores train/eval state)."""
    was_training = model.training
    model.eval()
    try:
        chunks = []
        for start in range(0, images.shape[0], batch_size):
            with autocast(precision, images.device):
                chunks.append(model(normalize(images[start : start + batch_size])).float())
        return torch.cat(chunks)
    finally:
        model.train(was_training)


def epoch_metrics(
    model: torch.nn.Module,
    data: DeviceData,
    settings: TrainSettings,
    running: RunningStats | None,
) -> dict[str, float]:
    """The metric columns of one epoch (all but `epoch` and `wall_s`).

    `running` is None for epoch 0 (nothing trained yet): run_loss/run_err are
    NaN, and so are the train_* columns when eval_train is off, because those
    then repeat the running values instead of an eval-mode pass.
    """
    nan = math.nan
    row: dict[str, float] = {}
    if settings.eval_train:
        logits = predict_logits(model, data.train_images, data.normalize, settings.precision)
        predicted = logits.argmax(dim=1)
        noisy = data.noisy_mask
        row["train_loss"] = F.cross_entropy(logits, data.train_labels).item()
        row["train_err"] = (predicted != data.train_labels).double().mean().item()
        row["train_err_clean"] = (predicted != data.clean_labels).double().mean().item()
        row["noisy_fit"] = (predicted[noisy] == data.train_labels[noisy]).double().mean().item() if noisy.any() else nan
    else:
        row["train_loss"] = running.loss if running else nan
        row["train_err"] = running.err if running else nan
        row["train_err_clean"] = running.err_clean if running else nan
        row["noisy_fit"] = running.noisy_fit if running else nan
    logits = predict_logits(model, data.test_images, data.normalize, settings.precision)
    row["test_loss"] = F.cross_entropy(logits, data.test_labels).item()
    row["test_err"] = (logits.argmax(dim=1) != data.test_labels).double().mean().item()
    row["run_loss"] = running.loss if running else nan
    row["run_err"] = running.err if running else nan
    return row


def seed_global_rng(seed: int, epoch: int) -> None:
    """Seed torch's global RNGs (CPU and CUDA) for epoch `epoch` (dropout and the like)."""
    torch.manual_seed(epoch_seeds(seed, epoch)[1])
