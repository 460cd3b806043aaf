"""Optimizer construction from the `train.optimizer` settings (constant learning rate).

The paper trains with a constant learning rate, so no scheduler exists here:
a run's first 1000 epochs are then the same whatever its total length, which
is what lets a run's id omit its length (docs/design.md, "Ids").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from repdyn.config.integers import is_number

OPTIMIZERS: tuple[str, ...] = ("adam", "adamw", "sgd")
KEY = "train.optimizer"


def _number(settings: Mapping[str, Any], key: str, *, positive: bool) -> float:
    if key not in settings:
        raise ValueError(f"{KEY}.{key} is missing")
    value = settings[key]
    if not is_number(value) or not math.isfinite(value):
        raise ValueError(f"{KEY}.{key} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{KEY}.{key} must be > 0, got {value!r}")
    if value < 0:
        raise ValueError(f"{KEY}.{key} must be >= 0, got {value!r}")
    return float(value)


def _betas(settings: Mapping[str, Any]) -> tuple[float, float]:
    betas = settings.get("betas")
    if not isinstance(betas, (list, tuple)) or len(betas) != 2 or not all(is_number(b) and 0 <= b < 1 for b in betas):
        raise ValueError(f"{KEY}.betas must be two numbers in [0, 1), got {betas!r}")
    return float(betas[0]), float(betas[1])


def _flag(settings: Mapping[str, Any], key: str) -> bool:
    value = settings.get(key)
    if not isinstance(value, bool):
        raise ValueError(f"{KEY}.{key} must be true or false, got {value!r}")
    return value


def validate_optimizer_settings(settings: Mapping[str, Any]) -> None:
    """Raise ValueError naming the offending `train.optimizer.*` key; builds nothing."""
    if not isinstance(settings, Mapping):
        raise ValueError(f"{KEY} must be a mapping, got {type(settings).__name__}")
    name = settings.get("name")
    if name not in OPTIMIZERS:
        raise ValueError(f"{KEY}.name {name!r} is unknown; allowed values: {', '.join(OPTIMIZERS)}")
    _number(settings, "lr", positive=True)
    _number(settings, "weight_decay", positive=False)
    if name in ("adam", "adamw"):
        _betas(settings)
        _number(settings, "eps", positive=True)
    else:
        momentum = _number(settings, "momentum", positive=False)
        if _flag(settings, "nesterov") and momentum == 0:
            raise ValueError(f"{KEY}.nesterov needs {KEY}.momentum > 0, got momentum {momentum!r}")


def build_optimizer(params: Iterable[torch.nn.Parameter], settings: Mapping[str, Any]) -> torch.optim.Optimizer:
    """Construct the optimizer named by `settings["name"]` over `params`.

    Only the keys that apply to the chosen optimizer are read (betas/eps for
    Adam(W), momentum/nesterov for SGD), but each of those must be valid.
    """
    validate_optimizer_settings(settings)
    name = settings["name"]
    lr = float(settings["lr"])
    weight_decay = float(settings["weight_decay"])
    if name == "adam":
        return torch.optim.Adam(
            params, lr=lr, betas=_betas(settings), eps=float(settings["eps"]), weight_decay=weight_decay
        )
    if name == "adamw":
        return torch.optim.AdamW(
            params, lr=lr, betas=_betas(settings), eps=float(settings["eps"]), weight_decay=weight_decay
        )
    return torch.optim.SGD(
        params,
        lr=lr,
        momentum=float(settings["momentum"]),
        weight_decay=weight_decay,
        nesterov=bool(settings["nesterov"]),
    )
