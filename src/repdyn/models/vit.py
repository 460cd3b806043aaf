"""torchvision's ViT-B/16 that accepts any input size by resizing on the fly (docs/algorithms.md §4.3).

Subclassing torchvision's VisionTransformer (rather than wrapping it) keeps
the module names `conv_proj`, `encoder.layers.encoder_layer_i`, `heads.head`
exactly as in torchvision, so analysed layer names are the peer's. The model
asserts its input is image_size x image_size; CIFAR images (32x32) are resized
inside `forward` so datasets and the DRS input planes stay at their own size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.vision_transformer import VisionTransformer

from repdyn.models.architectures import VIT_BLOCKS, VIT_DIM, VIT_PATCH, AnalysedLayersMixin


class ViTB16(AnalysedLayersMixin, VisionTransformer):
    """`torchvision.models.vit_b_16(weights=None, image_size=..., num_classes=...)`, plus in-forward resize.

    The head keeps torchvision's zero initialisation (logits are 0 at epoch 0).
    With in_channels != 3 the patch embedding is replaced by a Conv2d(in_channels,
    768, 16, 16) initialised exactly as torchvision initialises its own
    (truncated normal, std = 1/sqrt(fan_in), zero bias), so that only the
    channel count differs from the 3-channel model.
    """

    ARCHITECTURE = "vit_b_16"

    def __init__(
        self,
        image_size: int = 224,
        in_channels: int = 3,
        num_classes: int = 10,
        interpolation: str = "bilinear",
    ) -> None:
        super().__init__(
            image_size=image_size,
            patch_size=VIT_PATCH,
            num_layers=VIT_BLOCKS,
            num_heads=12,
            hidden_dim=VIT_DIM,
            mlp_dim=3072,
            num_classes=num_classes,
        )
        self.interpolation = interpolation
        if in_channels != 3:
            self.conv_proj = nn.Conv2d(in_channels, VIT_DIM, kernel_size=VIT_PATCH, stride=VIT_PATCH)
            fan_in = in_channels * VIT_PATCH * VIT_PATCH
            nn.init.trunc_normal_(self.conv_proj.weight, std=math.sqrt(1 / fan_in))
            nn.init.zeros_(self.conv_proj.bias)

    def resize(self, x: torch.Tensor) -> torch.Tensor:
        """Resize a batch (n, C, H, W) to image_size x image_size; unchanged if already that size."""
        size = (self.image_size, self.image_size)
        if tuple(x.shape[-2:]) == size:
            return x
        align = False if self.interpolation in ("bilinear", "bicubic") else None
        return F.interpolate(x, size=size, mode=self.interpolation, align_corners=align)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(self.resize(x))
