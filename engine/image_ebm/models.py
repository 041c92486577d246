"""Image energies E_θ(x) ∈ ℝ for x ∈ [−1, 1]^{1×H×W}: a small CNN and a ResNet-style one, Swish throughout.

No normalisation layers: batch norm would make one image's energy depend on the rest of the batch
(data and particles are scored in separate batches), which breaks the contrast.

- `cnn`: a 3×3 convolution at full resolution, then stride-2 3×3 convolutions (channels doubling up to
  4× the width) until the map is 2×2, then two linear layers. At 8×8 and width 16 that is 3 convolutions
  and ~45k parameters: small enough for 30 Langevin steps per update on a CPU.
- `resnet`: a 3×3 stem, then stages of residual blocks x + conv(swish(conv(swish(x)))), halving the
  resolution with average pooling between stages (to 4×4 at most), then the sum over positions and a
  linear read-out: the family of IGEBM / JEM's energies, for 28×28 and 32×32.
"""

from __future__ import annotations

import torch
from torch import nn

MODELS = ("cnn", "resnet")


class Swish(nn.Module):
    """swish(x) = x · σ(x): smooth, so the input gradient the sampler follows is smooth too."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x)


class SmallCNN(nn.Module):
    def __init__(self, size: int, width: int = 16, channels: int = 1):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1), Swish()]
        c, s = width, size
        while s > 2:
            c_next = min(2 * c, 4 * width)
            layers += [nn.Conv2d(c, c_next, 3, stride=2, padding=1), Swish()]
            c, s = c_next, (s + 1) // 2
        layers += [nn.Flatten(), nn.Linear(c * s * s, 2 * width), Swish(), nn.Linear(2 * width, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.act = Swish()
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.conv2(self.act(self.conv1(self.act(x))))


class ResNetEnergy(nn.Module):
    def __init__(self, size: int, width: int = 16, channels: int = 1):
        super().__init__()
        self.stem = nn.Conv2d(channels, width, 3, padding=1)
        blocks: list[nn.Module] = [ResBlock(width, width)]
        c, s = width, size
        while s > 4:
            c_next = min(2 * c, 4 * width)
            blocks += [nn.AvgPool2d(2, ceil_mode=True), ResBlock(c, c_next)]
            c, s = c_next, (s + 1) // 2
        self.blocks = nn.Sequential(*blocks)
        self.act = Swish()
        self.out = nn.Linear(c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.blocks(self.stem(x)))
        return self.out(h.sum(dim=(2, 3))).squeeze(1)


def build_model(name: str, size: int, width: int) -> nn.Module:
    """The energy `name` for size×size grey images (parameters still at PyTorch's constructor init:
    the trainer re-initialises them from the run's generator)."""
    if name == "cnn":
        return SmallCNN(size, width)
    if name == "resnet":
        return ResNetEnergy(size, width)
    raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
