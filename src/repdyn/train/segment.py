"""The `init` and `train_segment` jobs: each writes one complete directory or none.

A segment directory is built under a temporary sibling name and renamed into
place only after its last file is written, so a job killed at any moment (a
SLURM time limit, a node failure) leaves either nothing or a finished
segment, and Snakemake reruns exactly the missing ones.

    out_dir/state.pt             resume state at the segment's last epoch
    out_dir/checkpoints/e%06d.pt model weights of the requested epochs
    out_dir/metrics.tsv          one row per epoch of the segment (see metrics.py)
    out_dir/segment.json         start, end, checkpoint epochs, timing, device (train_segment only)
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch

from repdyn.config.integers import is_int
from repdyn.machine.devices import deterministic_kernels, resolve_device
from repdyn.storage.atomic import atomic_path, write_json
from repdyn.train import loop
from repdyn.train.checkpoints import (
    CHECKPOINT_DIR,
    METRICS_FILE,
    SEGMENT_FILE,
    STATE_FILE,
    build_model,
    checkpoint_name,
    load_state,
    save_checkpoint,
    save_state,
)
from repdyn.train.metrics import write_metrics
from repdyn.train.optim import build_optimizer

log = logging.getLogger(__name__)


def _load_dataset(dataset_path: str | os.PathLike) -> Any:
    from repdyn.data import DatasetArtifact

    return DatasetArtifact.load(dataset_path)


@contextlib.contextmanager
def _isolated(device: torch.device) -> Iterator[None]:
    """Deterministic kernels, and torch's global RNG state restored afterwards.

    Training reseeds the global RNG every epoch; callers (tests, notebooks)
    should not see that side effect.
    """
    rng_devices = [device.index or 0] if device.type == "cuda" else []
    with deterministic_kernels(device), torch.random.fork_rng(devices=rng_devices):
        yield


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _prepare(run: Mapping[str, Any], device: str) -> tuple[loop.TrainSettings, torch.device]:
    settings = loop.TrainSettings.from_run(run)
    resolved = resolve_device(device)
    loop.check_precision(settings.precision, resolved)
    return settings, resolved


def init_run(
    run: Mapping[str, Any], dataset_path: str | os.PathLike, out_dir: str | os.PathLike, device: str = "cpu"
) -> None:
    """Write epoch 0 of a run: the initial network, its resume state and its metrics row.

    The network is built on the CPU right after torch.manual_seed(train.seed),
    then moved to `device`, so epoch 0 is the same on every device.
    """
    settings, dev = _prepare(run, device)
    dataset = _load_dataset(dataset_path)
    with _isolated(dev), atomic_path(out_dir) as tmp:
        tmp.mkdir()
        started = time.perf_counter()
        torch.manual_seed(settings.seed)
        model = build_model(run, dataset).to(dev)
        optimizer = build_optimizer(model.parameters(), settings.optimizer)
        scaler = loop.make_grad_scaler(settings.precision, dev)
        data = loop.DeviceData.from_artifact(dataset, dev)
        row = {"epoch": 0, **loop.epoch_metrics(model, data, settings, running=None)}
        _synchronize(dev)
        row["wall_s"] = time.perf_counter() - started
        save_state(tmp / STATE_FILE, 0, model, optimizer, scaler)
        save_checkpoint(tmp / CHECKPOINT_DIR / checkpoint_name(0), model, 0)
        write_metrics(tmp / METRICS_FILE, [row])


def _check_epochs(start: int, end: Any, checkpoint_epochs: Sequence[Any]) -> tuple[int, list[int]]:
    """Validate the segment bounds; numpy integers (e.g. from a grid array) are accepted."""
    if not is_int(end) or end <= start:
        raise ValueError(f"segment end must be an integer > the resume state's epoch {start}, got {end!r}")
    epochs = []
    for epoch in checkpoint_epochs:
        if not is_int(epoch) or not start < epoch <= end:
            raise ValueError(f"checkpoint epoch {epoch!r} lies outside the segment ({start}, {end}]")
        epochs.append(int(epoch))
    return int(end), sorted(set(epochs))


def _restore(
    run: Mapping[str, Any], dataset: Any, state: Mapping[str, Any], settings: loop.TrainSettings, dev: torch.device
) -> tuple[torch.nn.Module, torch.optim.Optimizer, torch.amp.GradScaler | None]:
    """Model, optimizer and scaler exactly as they were when `state` was saved."""
    model = build_model(run, dataset)
    model.load_state_dict(state["model"])
    model.to(dev)
    optimizer = build_optimizer(model.parameters(), settings.optimizer)
    optimizer.load_state_dict(state["optimizer"])
    scaler = loop.make_grad_scaler(settings.precision, dev)
    if (scaler is None) != (state["scaler"] is None):
        raise ValueError(
            f"resume state and train.precision {settings.precision!r} disagree about loss scaling "
            "(the state was written with a different precision)"
        )
    if scaler is not None:
        scaler.load_state_dict(state["scaler"])
    return model, optimizer, scaler


def train_segment(
    run: Mapping[str, Any],
    dataset_path: str | os.PathLike,
    state_path: str | os.PathLike,
    end: int,
    checkpoint_epochs: Sequence[int],
    out_dir: str | os.PathLike,
    device: str = "cpu",
    expected_start: int | None = None,
) -> None:
    """Resume from `state_path` (epoch s) and train epochs s+1..end into `out_dir`.

    Every epoch of `checkpoint_epochs` must lie in (s, end]. Epoch e's
    randomness depends only on (train.seed, e), so chaining segments gives the
    same bits as one long segment on the same device.
    """
    settings, dev = _prepare(run, device)
    state = load_state(state_path)
    start = int(state["epoch"])
    if expected_start is not None and start != expected_start:
        raise ValueError(f"{os.fspath(state_path)} is the resume state of epoch {start}, not of epoch {expected_start}")
    end, checkpoints = _check_epochs(start, end, checkpoint_epochs)
    dataset = _load_dataset(dataset_path)
    began = time.perf_counter()
    with _isolated(dev), atomic_path(out_dir) as tmp:
        (tmp / CHECKPOINT_DIR).mkdir(parents=True)
        model, optimizer, scaler = _restore(run, dataset, state, settings, dev)
        del state
        data = loop.DeviceData.from_artifact(dataset, dev)
        rows = []
        for epoch in range(start + 1, end + 1):
            started = time.perf_counter()
            loop.seed_global_rng(settings.seed, epoch)
            running = loop.train_one_epoch(model, optimizer, scaler, data, epoch, settings)
            row = {"epoch": epoch, **loop.epoch_metrics(model, data, settings, running)}
            _synchronize(dev)
            row["wall_s"] = time.perf_counter() - started
            rows.append(row)
            log.info(
                "epoch %d/%d  train_err %.4f  train_err_clean %.4f  noisy_fit %.3f  test_err %.4f  (%.1f s)",
                epoch,
                end,
                row["train_err"],
                row["train_err_clean"],
                row["noisy_fit"],
                row["test_err"],
                row["wall_s"],
            )
            if epoch in checkpoints:
                save_checkpoint(tmp / CHECKPOINT_DIR / checkpoint_name(epoch), model, epoch)
        save_state(tmp / STATE_FILE, end, model, optimizer, scaler)
        write_metrics(tmp / METRICS_FILE, rows)
        write_json(
            tmp / SEGMENT_FILE,
            {
                "start": start,
                "end": end,
                "checkpoint_epochs": checkpoints,
                "wall_seconds": time.perf_counter() - began,
                "device": str(dev) if dev.type == "cpu" else f"{dev} ({torch.cuda.get_device_name(dev)})",
                "torch_version": torch.__version__,
                "host": platform.node(),
                "precision": settings.precision,
            },
        )


__all__ = ["init_run", "train_segment"]
