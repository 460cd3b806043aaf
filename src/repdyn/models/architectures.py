"""One torch-free record per architecture: config settings, analysed layers and labels, feature sizes,
parameters and FLOPs per image.

Why: the config check (repdyn.config), the cost model (repdyn.cost.work) and the model builders
(repdyn.models) all need these facts, and the first two run at Snakemake parse time, where building a
torch model is far too slow. The numbers are closed forms, checked against built models in
tests/unit/scheduling/test_resources.py; docs/cost-model.md derives them.

Per image, forward, multiply and add counted separately; inputs s x s:
- preact ResNet-18 width k: F = (270,336 k^2 + 55,456 k) (s/32)^2, 2724 k^2 + 213 k + 10 parameters (+8k per
  extra class); analysed layers conv1 k s^2, layer1 k s^2, layer2 2k (s/2)^2, layer3 4k (s/4)^2,
  layer4 8k (s/8)^2, linear C.
- ResNet-50 (CIFAR variant): F = 2.596e9 (s/32)^2, 23,520,842 parameters (+2049 per extra class); layers
  64 s^2, 256 s^2, 512 (s/2)^2, 1024 (s/4)^2, 2048 (s/8)^2, C.
- ViT-B/16 at side v (T = (v/16)^2 + 1 tokens, D = 768): F = 12 (24 T D^2 + 4 T^2 D) + 2 (T-1) 768 D
  (35.1 GFLOP at v = 224, 0.85 at v = 32); 85,798,656 - 197 D + T D + 769 C parameters; layers
  conv_proj D (T-1), 12 blocks of T D, head C.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from repdyn.config.dataset_facts import DATASET_FACTS, facts_of

VIT_DIM, VIT_BLOCKS, VIT_PATCH = 768, 12, 16


@dataclass(frozen=True)
class ModelCost:
    """Per-image forward FLOPs, parameter count and analysed layers as (channels, positions)."""

    flops: float
    params: int
    layers: dict[str, tuple[int, int]]

    def features(self, pooling: str = "none") -> dict[str, int]:
        """Flattened size per layer ('none'), or one value per channel/token dimension (pooled)."""
        return {name: c * (n if pooling == "none" else 1) for name, (c, n) in self.layers.items()}


@dataclass(frozen=True)
class Architecture:
    """What the package knows about an architecture without building it."""

    name: str
    settings: tuple[str, ...]  # model settings it uses besides `arch` (the others must stay unset)
    layers: tuple[str, ...]  # analysed modules (as in `model.named_modules()`), in panel order
    labels: tuple[str, ...]  # their panel titles
    cost: Callable[[Mapping[str, Any], int, int], ModelCost]  # (model settings, classes, image side)

    @property
    def layer_labels(self) -> dict[str, str]:
        return dict(zip(self.layers, self.labels, strict=True))


def _sides(s: int) -> list[int]:
    """Feature-map sides after the stem and each stride-2 stage."""
    return [s, -(-s // 2), -(-s // 4), -(-s // 8)]


def _resnet18_cost(model: Mapping[str, Any], classes: int, s: int) -> ModelCost:
    k, sides = model["width"], _sides(s)
    layers = {
        "conv1": (k, sides[0] ** 2),
        "layer1": (k, sides[0] ** 2),
        "layer2": (2 * k, sides[1] ** 2),
        "layer3": (4 * k, sides[2] ** 2),
        "layer4": (8 * k, sides[3] ** 2),
        "linear": (classes, 1),
    }
    params = 2724 * k * k + 213 * k + 10 + (8 * k + 1) * (classes - 10)
    return ModelCost((270336 * k * k + 55456 * k) * (s / 32) ** 2, params, layers)


def _resnet50_cost(model: Mapping[str, Any], classes: int, s: int) -> ModelCost:
    sides = _sides(s)
    layers = {
        "conv1": (64, sides[0] ** 2),
        "layer1": (256, sides[0] ** 2),
        "layer2": (512, sides[1] ** 2),
        "layer3": (1024, sides[2] ** 2),
        "layer4": (2048, sides[3] ** 2),
        "linear": (classes, 1),
    }
    return ModelCost(2.596e9 * (s / 32) ** 2, 23520842 + 2049 * (classes - 10), layers)


def _vit_cost(model: Mapping[str, Any], classes: int, s: int) -> ModelCost:
    patches = (model["vit_image_size"] // VIT_PATCH) ** 2
    t, d = patches + 1, VIT_DIM
    flops = VIT_BLOCKS * (24 * t * d * d + 4 * t * t * d) + 2 * patches * 3 * VIT_PATCH**2 * d
    layers = {"conv_proj": (d, patches), **{name: (d, t) for name in VIT_BLOCK_LAYERS}, "heads.head": (classes, 1)}
    return ModelCost(float(flops), 85798656 - 197 * d + t * d + (d + 1) * classes, layers)


_RESNET_LAYERS = ("conv1", "layer1", "layer2", "layer3", "layer4", "linear")
_RESNET_LABELS = ("first layer", "block 1", "block 2", "block 3", "block 4", "last FC")
# ViT blocks keep the module's own (0-based) index, so a label never disagrees with a file name.
VIT_BLOCK_LAYERS = tuple(f"encoder.layers.encoder_layer_{i}" for i in range(VIT_BLOCKS))

ARCHITECTURES: dict[str, Architecture] = {
    "preact_resnet18": Architecture("preact_resnet18", ("width",), _RESNET_LAYERS, _RESNET_LABELS, _resnet18_cost),
    "resnet50": Architecture("resnet50", (), _RESNET_LAYERS, _RESNET_LABELS, _resnet50_cost),
    "vit_b_16": Architecture(
        "vit_b_16",
        ("vit_image_size", "vit_interpolation"),
        ("conv_proj", *VIT_BLOCK_LAYERS, "heads.head"),
        ("first layer", *(f"encoder block {i}" for i in range(VIT_BLOCKS)), "last FC"),
        _vit_cost,
    ),
}


def architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"model name {name!r} is unknown; allowed values: {', '.join(ARCHITECTURES)}") from None


def model_cost(model: Mapping[str, Any], data: Mapping[str, Any]) -> ModelCost:
    """Cost facts of a run's model on its data (settings as in the run and data spec.json)."""
    dataset = data["dataset"]
    if dataset not in DATASET_FACTS and dataset != "npz":
        raise ValueError(f"data.dataset: unknown dataset {dataset!r} (known: {', '.join(DATASET_FACTS)}, npz)")
    arch = ARCHITECTURES.get(model["arch"])
    if arch is None:
        raise ValueError(f"model.arch: unknown architecture {model['arch']!r} (known: {', '.join(ARCHITECTURES)})")
    return arch.cost(model, facts_of(data)["classes"], data["image_size"])


class AnalysedLayersMixin:
    """Gives a model class `analysed_layers` / `layer_labels` from its `ARCHITECTURE` name."""

    ARCHITECTURE: str

    @property
    def analysed_layers(self) -> list[str]:
        return list(ARCHITECTURES[self.ARCHITECTURE].layers)

    @property
    def layer_labels(self) -> dict[str, str]:
        return ARCHITECTURES[self.ARCHITECTURE].layer_labels
