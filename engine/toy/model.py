"""The energy model for 2-D data: an MLP with Swish (SiLU) activations, E_θ: R^d → R."""

from __future__ import annotations

import torch
from torch import nn


class EnergyMLP(nn.Module):
    def __init__(self, in_dim: int = 2, width: int = 128, depth: int = 3):
        super().__init__()
        if width < 1 or depth < 1:
            raise ValueError("width and depth must be >= 1")
        layers: list[nn.Module] = []
        d = in_dim
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.SiLU()]
            d = width
        layers.append(nn.Linear(d, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.net(y).squeeze(-1)
