"""A small CNN defined outside repdyn: the network of the imported-run example (docs/imported-runs.md)."""

import torch
from torch import nn
from torch.nn import functional as F


class TinyNet(nn.Module):
    """conv1, ReLU, max-pool, conv2, ReLU, max-pool, flatten, head; `side` is the input side (a multiple of 4)."""

    def __init__(self, width: int = 4, in_channels: int = 1, classes: int = 10, side: int = 28) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.head = nn.Linear(2 * width * (side // 4) ** 2, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.head(x.flatten(1))


def make(width: int = 4, in_channels: int = 1, classes: int = 10, side: int = 28) -> TinyNet:
    """The factory repdyn calls (model.factory: "tinynet:make", model.kwargs: {width: 4})."""
    return TinyNet(width, in_channels, classes, side)
