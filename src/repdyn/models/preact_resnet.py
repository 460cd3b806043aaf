"""Pre-activation ResNet-18 of width k, the deep-double-descent "ResNet18k" (docs/algorithms.md §4.1).

Module and attribute names follow kuangliu's `PreActResNet18` so that at k = 64
the module tree and the state_dict keys are the same as the peer code's: the
paper's layer names (`conv1`, `layer1`...`layer4`, `linear`) then mean the same
tensors, and checkpoints can be compared key by key.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from repdyn.models.architectures import AnalysedLayersMixin


class PreActBlock(nn.Module):
    """Pre-activation basic block: u = ReLU(BN(x)); conv-BN-ReLU-conv on u, plus shortcut.

    The projection shortcut (1x1 conv, no BN) is applied to the pre-activated
    u, not to x, as in the peer code; an identity shortcut has no module at all
    (kuangliu has no `shortcut` attribute then), so the module tree matches.
    """

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.shortcut: nn.Sequential | None = None
        if stride != 1 or in_planes != self.expansion * planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, self.expansion * planes, kernel_size=1, stride=stride, bias=False)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = F.relu(self.bn1(x))
        shortcut = self.shortcut(u) if self.shortcut is not None else x
        out = self.conv2(F.relu(self.bn2(self.conv1(u))))
        # Not in-place: a tapped conv2 output must not change after its hook ran.
        return out + shortcut


class PreActResNet18(AnalysedLayersMixin, nn.Module):
    """Stem conv (no BN/ReLU) -> 4 stages of 2 PreActBlocks (k, 2k, 4k, 8k) -> avg-pool -> linear.

    No final BN-ReLU after stage 4 (as in the double-descent code). Pooling is
    adaptive to 1x1 so that 28x28 inputs work; for 32x32 inputs it equals the
    peer's 4x4 average pooling.
    """

    ARCHITECTURE = "preact_resnet18"

    def __init__(self, width: int = 64, in_channels: int = 3, num_classes: int = 10) -> None:
        super().__init__()
        k = width
        self.in_planes = k
        self.conv1 = nn.Conv2d(in_channels, k, kernel_size=3, stride=1, padding=1, bias=False)
        self.layer1 = self._make_layer(k, stride=1)
        self.layer2 = self._make_layer(2 * k, stride=2)
        self.layer3 = self._make_layer(4 * k, stride=2)
        self.layer4 = self._make_layer(8 * k, stride=2)
        self.linear = nn.Linear(8 * k * PreActBlock.expansion, num_classes)

    def _make_layer(self, planes: int, stride: int, num_blocks: int = 2) -> nn.Sequential:
        blocks = []
        for block_stride in [stride] + [1] * (num_blocks - 1):
            blocks.append(PreActBlock(self.in_planes, planes, block_stride))
            self.in_planes = planes * PreActBlock.expansion
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.layer3(out)
        out = self.layer4(out)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)
