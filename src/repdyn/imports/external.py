"""An imported run's network: built by the user's factory, its analysed layers checked, its weights read
from checkpoints that are never executed.

`build_external` imports `module:callable` (with model.pythonpath first on sys.path), calls it with
model.kwargs and gives the result what repdyn's own models have: `analysed_layers`, `layer_labels`
(the module names) and `input_shape` (`with_analysed_layers`). `state_dict_from` reads a checkpoint with
torch.load(weights_only=True) and finds the state dict in it.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

STATE_DICT_KEYS = ("model_state_dict", "state_dict", "model")


def import_factory(factory: str, pythonpath: str | None):
    """The callable named `module:callable` (a dotted attribute path after the colon is followed)."""
    if pythonpath:
        folder = os.path.expanduser(pythonpath)
        if folder not in sys.path:
            sys.path.insert(0, folder)
    module_name, attribute = factory.split(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(
            f"model.factory: cannot import module {module_name!r} ({exc}); model.pythonpath is {pythonpath!r}"
        ) from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ValueError(f"model.factory: module {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"model.factory: {factory!r} is not callable")
    return target


def check_layers(model: torch.nn.Module, layers: list[str]) -> None:
    """Every analysed layer must be a module of `model`; the error lists the valid names."""
    names = [n for n, _ in model.named_modules() if n]
    unknown = [n for n in layers if n not in names]
    if unknown:
        raise ValueError(
            f"model.layers: {unknown[0]!r} is not a module of the network (valid names: {', '.join(names)})"
        )


def build_external(
    model_settings: Mapping[str, Any], in_channels: int, image_size: int, pythonpath: str | None
) -> torch.nn.Module:
    """The factory's network with repdyn's layer attributes, on the CPU (its init draws from torch's RNG)."""
    factory = import_factory(model_settings["factory"], pythonpath)
    model = factory(**dict(model_settings["kwargs"]))
    if not isinstance(model, torch.nn.Module):
        raise ValueError(
            f"model.factory: {model_settings['factory']!r} returned {type(model).__name__}, not a torch.nn.Module"
        )
    layers = list(model_settings["layers"])
    check_layers(model, layers)
    return with_analysed_layers(model, layers, (in_channels, image_size, image_size))


def with_analysed_layers(
    model: torch.nn.Module, layers: list[str], input_shape: tuple[int, int, int]
) -> torch.nn.Module:
    """`model` with repdyn's layer attributes (analysed_layers, layer_labels = the names, input_shape).

    They are class attributes of a subclass made for this instance, so that a class defining these names
    itself (read-only, as repdyn's own networks do) is overridden, not an error; parameters, buffers, forward
    and state-dict keys are the model's own."""
    base = type(model)
    model.__class__ = type(
        base.__name__,
        (base,),
        {
            "__module__": base.__module__,
            "analysed_layers": list(layers),
            "layer_labels": {name: name for name in layers},
            "input_shape": input_shape,
        },
    )
    return model


def state_dict_from(path: str | os.PathLike, key: str | None) -> dict[str, torch.Tensor]:
    """The state dict in a checkpoint file: bare, under `key`, or under the first of STATE_DICT_KEYS present.

    weights_only=True: a file holding anything but tensors and plain containers is refused, not run.
    """
    path = Path(path)
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"train.checkpoints: {path} does not exist") from None
    except Exception as exc:  # pickle.UnpicklingError for code, RuntimeError for a damaged zip
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"train.checkpoints: {path} cannot be read with weights_only=True ({first})") from None
    if not isinstance(content, dict):
        raise ValueError(f"train.checkpoints: {path} holds a {type(content).__name__}, not a dict")
    if key is not None:
        if key not in content:
            raise ValueError(f"train.state_dict_key: {path} has no key {key!r} (keys: {', '.join(map(str, content))})")
        content = content[key]
    elif not all(isinstance(v, torch.Tensor) for v in content.values()):
        found = [k for k in STATE_DICT_KEYS if isinstance(content.get(k), dict)]
        if not found:
            raise ValueError(
                f"train.checkpoints: {path} is neither a state dict nor holds one under "
                f"{', '.join(STATE_DICT_KEYS)} (keys: {', '.join(map(str, content))}; set train.state_dict_key)"
            )
        content = content[found[0]]
    if not isinstance(content, dict) or not all(isinstance(v, torch.Tensor) for v in content.values()):
        raise ValueError(f"train.checkpoints: {path}: the state dict must map names to tensors")
    return content


def check_outputs(model: torch.nn.Module, layers: list[str], device: torch.device) -> None:
    """One eval-mode forward of two blank images: each analysed layer must run once and output a tensor; the
    error lists the modules that do."""
    outputs: dict[str, Any] = {}
    handles = [module.register_forward_hook(_keeper(outputs, name)) for name, module in model.named_modules() if name]
    try:
        with torch.no_grad():
            model(torch.zeros(2, *model.input_shape, device=device))
    finally:
        for handle in handles:
            handle.remove()
    valid = [name for name, out in outputs.items() if isinstance(out, torch.Tensor)]
    for name in layers:
        if name not in outputs:
            raise ValueError(
                f"model.layers: {name!r} does not run in the forward pass (modules with tensor "
                f"outputs: {', '.join(valid)})"
            )
        if not isinstance(outputs[name], torch.Tensor):
            raise ValueError(
                f"model.layers: {name!r} outputs a {type(outputs[name]).__name__}, not a tensor "
                f"(modules with tensor outputs: {', '.join(valid)})"
            )


def _keeper(outputs: dict[str, Any], name: str):
    """A forward hook keeping module `name`'s first output (it returns None: the output is not replaced)."""

    def hook(_module, _args, output) -> None:
        outputs.setdefault(name, output)

    return hook
