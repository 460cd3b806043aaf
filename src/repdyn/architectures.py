"""Per-image cost facts of the architectures: forward FLOPs, parameters, analysed layer sizes.

Why: the cost model (repdyn.cost) and the resource estimates need them at Snakemake parse time, where
building a torch model is far too slow; the numbers are closed forms checked against ALGORITHMS.md §4.

Model facts (per image, forward, multiply and add counted separately; inputs s x s):
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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from repdyn.config import DATASET_FACTS

TRAIN_SIZES = {"fashion_mnist": 60000, "cifar10": 50000, "svhn": 73257, "tiny_imagenet": 100000}
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


def model_cost(model: Mapping[str, Any], data: Mapping[str, Any]) -> ModelCost:
    """Cost facts of a run's model on its data (settings as in the run and data spec.json)."""
    dataset = data["dataset"]
    if dataset not in DATASET_FACTS:
        raise ValueError(f"data.dataset: unknown dataset {dataset!r} (known: {', '.join(DATASET_FACTS)})")
    classes, s = DATASET_FACTS[dataset]["classes"], data["image_size"]
    sizes = [s, -(-s // 2), -(-s // 4), -(-s // 8)]
    scale = (s / 32) ** 2
    arch = model["arch"]
    if arch == "preact_resnet18":
        k = model["width"]
        layers = {"conv1": (k, sizes[0] ** 2), "layer1": (k, sizes[0] ** 2), "layer2": (2 * k, sizes[1] ** 2),
                  "layer3": (4 * k, sizes[2] ** 2), "layer4": (8 * k, sizes[3] ** 2), "linear": (classes, 1)}
        return ModelCost((270336 * k * k + 55456 * k) * scale, 2724 * k * k + 213 * k + 10 + (8 * k + 1) * (classes - 10),
                         layers)
    if arch == "resnet50":
        layers = {"conv1": (64, sizes[0] ** 2), "layer1": (256, sizes[0] ** 2), "layer2": (512, sizes[1] ** 2),
                  "layer3": (1024, sizes[2] ** 2), "layer4": (2048, sizes[3] ** 2), "linear": (classes, 1)}
        return ModelCost(2.596e9 * scale, 23520842 + 2049 * (classes - 10), layers)
    if arch == "vit_b_16":
        side = model["vit_image_size"]
        patches = (side // VIT_PATCH) ** 2
        t, d = patches + 1, VIT_DIM
        flops = VIT_BLOCKS * (24 * t * d * d + 4 * t * t * d) + 2 * patches * 3 * VIT_PATCH**2 * d
        layers = {"conv_proj": (d, patches), **{f"encoder.layers.encoder_layer_{i}": (d, t) for i in range(VIT_BLOCKS)},
                  "heads.head": (classes, 1)}
        return ModelCost(float(flops), 85798656 - 197 * d + t * d + (d + 1) * classes, layers)
    raise ValueError(f"model.arch: unknown architecture {arch!r} (known: preact_resnet18, resnet50, vit_b_16)")
