"""Contrastive objectives, one per file, each with its formula in the lecture's notation.

Every objective is an `nn.Module` called as ``objective(encoder, x1, x2, idx)`` with two views of the
same images (x1[i] and x2[i] are a positive pair; idx[i] is the image's index in the training set)
and returns a `StepOut`. ``objective.embed(encoder, x)`` gives the vectors the loss compares (the
space of the embedding map and of the contrastive accuracy).

Each file registers a builder in `REGISTRY` that takes an `ObjectiveContext` and, as keyword-only
arguments, exactly the settings it uses (engine/registry.py); adding a method is adding one file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from engine.registry import Registry

Tensor = torch.Tensor
REGISTRY = Registry(__name__, __path__, order=("simclr", "moco", "pirl", "simclr_l2"))


@dataclass
class ObjectiveContext:
    """What a builder gets besides its settings: the encoder (its output size; MoCo copies it), the
    number of training images (PIRL's memory bank) and the run's generator (queue, bank, shuffles)."""

    encoder: nn.Module
    n_train: int
    gen: torch.Generator


@dataclass
class StepOut:
    loss: Tensor
    a: Tensor  # embeddings of the first views (detached), for pictures and metrics
    b: Tensor  # embeddings of the second views
    scalars: dict[str, float] = field(default_factory=dict)


def full_precision(t: Tensor) -> Tensor:
    """Losses are computed in float32 at least, whatever precision the forward pass ran in."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def float32_loss(t: Tensor):
    """Context: no autocast, so similarities and the loss are computed in float32 (under bf16 autocast
    a matmul of unit vectors would be rounded to ~3 significant digits)."""
    return torch.autocast(device_type=t.device.type, enabled=False)


def top1_positive(logits: Tensor, positive: Tensor) -> float:
    """Fraction of rows whose largest logit is the positive's: the "contrastive accuracy"."""
    return (logits.argmax(dim=1) == positive).float().mean().item()
