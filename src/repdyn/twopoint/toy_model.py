"""The two-point experiment's network: a deep fully connected MLP on scalar inputs, as in van Rossem & Saxe.

Classic layout: `depth` hidden layers Linear → activation of `width` units, then a Linear readout to one
output. Weights Xavier-normal times `gain`, biases zero, so the gain sets the initial scale (small: rich
regime; large: lazy). forward returns the output and every hidden layer's activation (the layers the theory's
H is measured on). Departure: each activation comes with its derivative (ACTIVATION_SLOPES), because the
experiment's training step backpropagates by hand (toy.sgd_step) to halve its cost.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

LEAKY_SLOPE = 0.01  # torch's default negative slope

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "leaky_relu": lambda p: nn.functional.leaky_relu(p, LEAKY_SLOPE),
    "relu": torch.relu,
    "tanh": torch.tanh,
    "linear": lambda p: p,
}

ACTIVATION_SLOPES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "leaky_relu": lambda p: torch.where(p > 0, 1.0, LEAKY_SLOPE),
    "relu": lambda p: (p > 0).to(p.dtype),
    "tanh": lambda p: 1.0 - torch.tanh(p) ** 2,
    "linear": torch.ones_like,
}


class TwoPointMLP(nn.Module):
    def __init__(
        self,
        depth: int = 20,
        width: int = 500,
        gain: float = 1.0,
        activation: str = "leaky_relu",
        in_features: int = 1,
        out_features: int = 1,
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if depth < 1 or width < 1:
            raise ValueError(f"depth and width must be >= 1, got depth={depth}, width={width}")
        sizes = [in_features] + [width] * depth
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.readout = nn.Linear(width, out_features)
        self.activation = activation
        for layer in [*self.hidden, self.readout]:
            nn.init.xavier_normal_(layer.weight, gain=gain)
            nn.init.zeros_(layer.bias)

    def forward_all(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """(output, pre-activations, activations) of every hidden layer."""
        act = ACTIVATIONS[self.activation]
        pres, hiddens = [], []
        for layer in self.hidden:
            pres.append(layer(x))
            x = act(pres[-1])
            hiddens.append(x)
        return self.readout(x), pres, hiddens

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        out, _, hiddens = self.forward_all(x)
        return out, hiddens
