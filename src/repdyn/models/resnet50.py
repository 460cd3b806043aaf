"""kuangliu's CIFAR ResNet-50: post-activation bottlenecks, 3x3 stem, no max-pool (docs/algorithms.md §4.2).

Attribute names follow kuangliu/pytorch-cifar `resnet.py` so that module names
and state_dict keys are the peer's; the analysed "first layer" is `conv1`,
i.e. the stem conv before its BN and ReLU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from repdyn.models.architectures import AnalysedLayersMixin


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride s) -> 1x1 (x4) with BN after each conv; ReLU after the residual sum."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_planes = self.expansion * planes
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = nn.Sequential()  # identity; kuangliu keeps the (empty) module
        if stride != 1 or in_planes != out_planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_planes),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


class ResNet50(AnalysedLayersMixin, nn.Module):
    """Stem conv-BN-ReLU -> stages of 3, 4, 6, 3 bottlenecks -> avg-pool -> linear 2048 -> classes.

    Pooling is adaptive to 1x1 (equal to kuangliu's 4x4 average pooling for
    32x32 inputs) so that other input sizes such as 28x28 also work.
    """

    ARCHITECTURE = "resnet50"

    def __init__(self, in_channels: int = 3, num_classes: int = 10) -> None:
        super().__init__()
        self.in_planes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = self._make_layer(64, num_blocks=3, stride=1)
        self.layer2 = self._make_layer(128, num_blocks=4, stride=2)
        self.layer3 = self._make_layer(256, num_blocks=6, stride=2)
        self.layer4 = self._make_layer(512, num_blocks=3, stride=2)
        self.linear = nn.Linear(512 * Bottleneck.expansion, num_classes)

    def _make_layer(self, planes: int, num_blocks: int, stride: int) -> nn.Sequential:
        blocks = []
        for block_stride in [stride] + [1] * (num_blocks - 1):
            blocks.append(Bottleneck(self.in_planes, planes, block_stride))
            self.in_planes = planes * Bottleneck.expansion
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.layer3(out)
        out = self.layer4(out)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)
