"""Encoders (the convolutional network that maps x to h) and heads on top of them.

- `SmallCNN`: stages of two 3×3 conv-BN-ReLU layers, halving the resolution between stages (after a
  stride-2 stem on images larger than 12 pixels), then a global average pool. Small enough to train
  in CPU-seconds on 8×8 digits and 32×32 shapes.
- `ResNet18`: the CIFAR variant (3×3 stride-1 stem, no max-pool), four stages of two basic blocks.
- `ProjectionHead`: the MLP g(·) of SimCLR / MoCo v2 (the probe reads the encoder's output, not z).
- `PIRLHeads`: PIRL's two heads, f for the image v_I and g for its transform v_{I^t}.
"""

from __future__ import annotations

import torch
from torch import nn

Tensor = torch.Tensor
ENCODERS = ("small_cnn", "resnet18")


def conv_bn(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class SmallCNN(nn.Module):
    """8×8 inputs: two stages (8×8, 4×4) of two convolutions each. Larger inputs: a stride-2 stem
    first (32×32 → 16×16; it cuts the CPU cost ~8× and loses little on these images), then three
    stages (16, 8, 4)."""

    def __init__(self, in_channels: int, image_size: int, width: int = 32):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        if image_size > 12:
            layers.append(conv_bn(c_in, width, stride=2))
            c_in = width
        stages = 2 if image_size <= 12 else 3
        for i in range(stages):
            c_out = width * 2**i
            layers += [conv_bn(c_in, c_out, stride=1 if i == 0 else 2), conv_bn(c_out, c_out)]
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.out_dim = c_in

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x).mean(dim=(2, 3))


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = conv_bn(c_in, c_out, stride)
        self.conv2 = nn.Sequential(nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))
        self.skip = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.skip = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.conv2(self.conv1(x)) + self.skip(x))


class ResNet18(nn.Module):
    """ResNet-18 with the CIFAR stem: 3×3 stride-1 first convolution and no max-pool."""

    def __init__(self, in_channels: int = 3, width: int = 64):
        super().__init__()
        self.stem = conv_bn(in_channels, width)
        blocks: list[nn.Module] = []
        c_in = width
        for i in range(4):
            c_out = width * 2**i
            blocks += [BasicBlock(c_in, c_out, 1 if i == 0 else 2), BasicBlock(c_out, c_out, 1)]
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.out_dim = c_in

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(self.stem(x)).mean(dim=(2, 3))


def build_encoder(name: str, in_channels: int, image_size: int, width: int | None = None) -> nn.Module:
    if name == "small_cnn":
        return SmallCNN(in_channels, image_size, width or 32)
    if name == "resnet18":
        return ResNet18(in_channels, width or 64)
    raise ValueError(f"unknown encoder {name!r}; choose one of {', '.join(ENCODERS)}")


class ProjectionHead(nn.Module):
    """h → z: Linear-BN-ReLU-Linear."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or in_dim
        self.net = nn.Sequential(nn.Linear(in_dim, hidden, bias=False), nn.BatchNorm1d(hidden),
                                 nn.ReLU(inplace=True), nn.Linear(hidden, out_dim))

    def forward(self, h: Tensor) -> Tensor:
        return self.net(h)


class PIRLHeads(nn.Module):
    """PIRL's f (applied to the image's features v_I) and g (applied to the transform's v_{I^t})."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.f = ProjectionHead(in_dim, out_dim)
        self.g = ProjectionHead(in_dim, out_dim)


class Classifier(nn.Module):
    """Encoder + linear layer: the supervised baseline trained for the same time."""

    def __init__(self, encoder: nn.Module, n_classes: int):
        super().__init__()
        self.encoder = encoder
        self.fc = nn.Linear(encoder.out_dim, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.encoder(x))
