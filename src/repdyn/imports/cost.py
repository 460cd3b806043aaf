"""Cost-model facts of an imported network (repdyn.models.architectures.ModelCost): from model.cost, or measured.

Measured = the factory's network built once on the CPU and one image forwarded under
torch.utils.flop_counter.FlopCounterMode (multiply and add counted separately, as for the built-in
architectures), each analysed layer's output shape read by a hook. The result is remembered in the
digest cache under the network's source digest, kwargs and input shape, so a parse pays it once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from repdyn.imports.content import _read_cache, _write_cache
from repdyn.models.architectures import ModelCost


def model_cost(
    model: Mapping[str, Any], machine: Mapping[str, Any], data: Mapping[str, Any], classes: int, channels: int
) -> ModelCost:
    """ModelCost of a run's external `model` settings on `data` (image_size) with its class/channel counts."""
    given = machine.get("cost")
    if given:
        return ModelCost(
            float(given["flops"]),
            int(given["params"]),
            {name: (int(given["features"][name]), 1) for name in model["layers"]},
        )
    key = "cost|" + json.dumps(
        [model["source"], model["factory"], model["kwargs"], model["layers"], channels, data["image_size"]],
        sort_keys=True,
    )
    cache = _read_cache()
    if key not in cache:
        cache[key] = json.dumps(measure(model, machine.get("pythonpath"), channels, data["image_size"]))
        _write_cache(cache)
    facts = json.loads(cache[key])
    return ModelCost(facts["flops"], facts["params"], {k: tuple(v) for k, v in facts["layers"].items()})


def measure(model: Mapping[str, Any], pythonpath: str | None, channels: int, side: int) -> dict[str, Any]:
    """flops, params and {layer: (channels, positions)} of one image through the factory's network."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from repdyn.imports.external import build_external

    with torch.random.fork_rng(devices=[]):
        net = build_external(model, channels, side, pythonpath).eval()
    shapes: dict[str, list[int]] = {}
    modules = dict(net.named_modules())
    handles = [modules[name].register_forward_hook(_recorder(shapes, name)) for name in model["layers"]]
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            net(torch.zeros(1, channels, side, side))
    finally:
        for handle in handles:
            handle.remove()
    layers = {}
    for name in model["layers"]:
        shape = shapes.get(name, [1, 1])
        positions = 1
        for extent in shape[2:]:
            positions *= extent
        layers[name] = [shape[1] if len(shape) > 1 else 1, positions]
    return {
        "flops": float(counter.get_total_flops()),
        "params": sum(p.numel() for p in net.parameters()),
        "layers": layers,
    }


def _recorder(shapes: dict[str, list[int]], name: str):
    """A forward hook noting the first output shape of module `name` (it returns None: the output is kept)."""

    def hook(_module, _args, output) -> None:
        shapes.setdefault(name, list(getattr(output, "shape", [1, 1])))

    return hook
