"""The MLP autoencoder r = decoder ∘ encoder, its energy E(y) = ‖y − r(y)‖² and its field r(y) − y."""

from __future__ import annotations

import torch
from torch import nn

Tensor = torch.Tensor


def _mlp(d_in: int, width: int, depth: int, d_out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = d_in
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.SiLU()]
        d = width
    layers.append(nn.Linear(d, d_out))
    return nn.Sequential(*layers)


class MLPAutoencoder(nn.Module):
    """r(y) = dec(enc(y)); `depth` hidden SiLU layers of `width` units on each side of a `code`-wide code.

    In 2-D the code need not be narrower than the data: what makes r denoise is the training signal
    (corrupted in, clean out), not a bottleneck.
    """

    def __init__(self, dim: int = 2, width: int = 128, depth: int = 2, code: int = 16):
        super().__init__()
        if min(dim, width, depth, code) < 1:
            raise ValueError("dim, width, depth and code must all be >= 1")
        self.encoder = _mlp(dim, width, depth, code)
        self.decoder = _mlp(code, width, depth, dim)

    def forward(self, y: Tensor) -> Tensor:
        return self.decoder(self.encoder(y))


def reconstruction_field(model: nn.Module, y: Tensor) -> Tensor:
    """r(y) − y: where the DAE sends a point, as a displacement."""
    return model(y) - y


def dae_energy(model: nn.Module, y: Tensor) -> Tensor:
    """E(y) = ‖y − r(y)‖² (the squared length of the field)."""
    return (reconstruction_field(model, y) ** 2).sum(-1)
