"""File layout of a training segment, and saving/loading of checkpoints and resume state.

A checkpoint (`checkpoints/e%06d.pt`) holds only what later stages need, the
model's state_dict; the resume state (`state.pt`) also holds the optimizer and
grad-scaler state. Tensors are stored on the CPU so a file written on a GPU
loads anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from repdyn.config.integers import is_int
from repdyn.machine.devices import resolve_device
from repdyn.storage.atomic import torch_save
from repdyn.storage.integrity import require

FORMAT_VERSION = 1
STATE_FILE = "state.pt"
CHECKPOINT_DIR = "checkpoints"
METRICS_FILE = "metrics.tsv"
SEGMENT_FILE = "segment.json"

_STATE_KEYS = ("format_version", "epoch", "model", "optimizer", "scaler")
_CHECKPOINT_KEYS = ("format_version", "epoch", "model")


def checkpoint_name(epoch: int) -> str:
    """File name of the checkpoint of `epoch` (zero-padded so names sort by epoch)."""
    if not is_int(epoch) or epoch < 0:
        raise ValueError(f"checkpoint epoch must be a non-negative integer, got {epoch!r}")
    return f"e{epoch:06d}.pt"


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {key: _to_cpu(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(item) for item in value)
    return value


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, epoch: int) -> None:
    """Write the model weights of `epoch` (atomically)."""
    torch_save({"format_version": FORMAT_VERSION, "epoch": epoch, "model": _to_cpu(model.state_dict())}, path)


def save_state(
    path: str | os.PathLike,
    epoch: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
) -> None:
    """Write everything needed to continue training after `epoch` (atomically)."""
    state = {
        "format_version": FORMAT_VERSION,
        "epoch": epoch,
        "model": _to_cpu(model.state_dict()),
        "optimizer": _to_cpu(optimizer.state_dict()),
        "scaler": scaler.state_dict() if scaler is not None else None,
    }
    torch_save(state, path)


def _load(path: str | os.PathLike, keys: tuple[str, ...], what: str) -> dict[str, Any]:
    path = Path(path)
    require(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    content = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(content, dict) or any(key not in content for key in keys):
        raise ValueError(f"{path} is not a repdyn {what}: expected keys {', '.join(keys)}")
    if content["format_version"] != FORMAT_VERSION:
        raise ValueError(
            f"{path} has format_version {content['format_version']!r}; this repdyn reads version {FORMAT_VERSION}"
        )
    return content


def load_state(path: str | os.PathLike) -> dict[str, Any]:
    """Read a resume state written by `save_state` (tensors on the CPU)."""
    return _load(path, _STATE_KEYS, "resume state")


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint` (tensors on the CPU)."""
    return _load(path, _CHECKPOINT_KEYS, "checkpoint")


def _geometry(dataset: Any, key: str) -> int:
    if isinstance(dataset, Mapping):
        if key not in dataset:
            raise ValueError(f"dataset description lacks {key!r}")
        return int(dataset[key])
    if not hasattr(dataset, key):
        raise ValueError(f"dataset {type(dataset).__name__} lacks attribute {key!r}")
    return int(getattr(dataset, key))


def build_model(run: Mapping[str, Any], dataset: Any) -> torch.nn.Module:
    """Build the run's architecture for the dataset's geometry, on the CPU, from torch's global RNG.

    `dataset` is a DatasetArtifact or any mapping/object with in_channels,
    num_classes and image_size.
    """
    from repdyn.models import build

    model_settings = run.get("model") if isinstance(run, Mapping) else None
    if not isinstance(model_settings, Mapping) or "arch" not in model_settings:
        raise ValueError(f"run settings need model.arch, got model={model_settings!r}")
    if model_settings["arch"] == "external":  # its module is on sys.path (PYTHONPATH: repdyn.machine.settings.export)
        from repdyn.imports.external import build_external

        return build_external(
            model_settings, _geometry(dataset, "in_channels"), _geometry(dataset, "image_size"), pythonpath=None
        )
    options = {
        key: model_settings[key] for key in ("width", "vit_image_size", "vit_interpolation") if key in model_settings
    }
    return build(
        model_settings["arch"],
        in_channels=_geometry(dataset, "in_channels"),
        num_classes=_geometry(dataset, "num_classes"),
        image_size=_geometry(dataset, "image_size"),
        **options,
    )


def load_checkpoint_model(
    path: str | os.PathLike, run: Mapping[str, Any], dataset: Any, device: str = "cpu"
) -> torch.nn.Module:
    """The network stored in checkpoint `path`, on `device`, in eval mode."""
    content = load_checkpoint(path)
    with torch.random.fork_rng(devices=[]):  # building draws an init we overwrite; keep the caller's RNG
        model = build_model(run, dataset)
    model.load_state_dict(content["model"])
    return model.to(resolve_device(device)).eval()
