"""Which checkpoint files an imported run reads, and the run's id-bearing settings (torch-free, parse time).

The id covers what the files hold, not where they are: the factory's source digest, the kwargs, the
layers, the state-dict key, and the SHA-256 of every checkpoint file of epochs 0..E that exists (the
metrics evaluate them all). Paths (train.checkpoints, model.pythonpath) and model.cost are machine
settings, exported to the jobs by repdyn.machine.settings.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from repdyn.imports.content import file_digests, source_digest


class ImportedFilesError(ValueError):
    """An imported run's files are missing or unreadable; one line naming the file."""


def checkpoint_file(fmt: str, epoch: int) -> Path:
    """The file of `epoch` named by the format string train.checkpoints."""
    try:
        return Path(os.path.expanduser(fmt.format(epoch=epoch)))
    except (KeyError, IndexError, ValueError) as exc:
        raise ImportedFilesError(
            f"train.checkpoints: {fmt!r} is not a format string whose only field is "
            f"{{epoch}} ({type(exc).__name__}: {exc})"
        ) from None


def available_epochs(fmt: str, last: int, required: Iterable[int]) -> list[int]:
    """Epochs 0..last whose file exists; a missing file of a required (grid) epoch is an error."""
    found = [e for e in range(last + 1) if checkpoint_file(fmt, e).is_file()]
    missing = sorted(set(required) - set(found))
    if missing:
        raise ImportedFilesError(
            f"train.checkpoints: {checkpoint_file(fmt, missing[0])} (epoch {missing[0]}) does not "
            f"exist; the grids and train.epochs need epochs {', '.join(map(str, sorted(set(required))))}"
        )
    return found


def run_settings(model: dict[str, Any], train: dict[str, Any], required: Iterable[int]) -> dict[str, Any]:
    """The settings hashed into an imported run's id (see the module docstring)."""
    epochs = available_epochs(train["checkpoints"], train["epochs"], required)
    digests = file_digests(checkpoint_file(train["checkpoints"], e) for e in epochs)
    module = model["factory"].split(":")[0]
    try:
        source = source_digest(module, model["pythonpath"])
    except ValueError as exc:
        raise ImportedFilesError(f"model.factory: {exc}") from None
    return {
        "model": {
            "arch": "external",
            "factory": model["factory"],
            "kwargs": model["kwargs"],
            "layers": list(model["layers"]),
            "source": source,
        },
        "train": {
            "seed": train["seed"],
            "state_dict_key": train["state_dict_key"],
            "files": {str(e): d for e, d in zip(epochs, digests)},
        },
    }


def machine(model: dict[str, Any], train: dict[str, Any]) -> dict[str, Any]:
    """Where an imported run's files are on this machine (never in an id)."""
    return {"checkpoints": train["checkpoints"], "pythonpath": model["pythonpath"], "cost": model.get("cost")}


def is_imported(settings: dict[str, Any]) -> bool:
    """Whether a run's settings (spec.json) are those of an imported run."""
    return settings["model"]["arch"] == "external"
