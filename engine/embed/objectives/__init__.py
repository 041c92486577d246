"""Contrastive objectives, one per file, each with its formula in the lecture's notation.

Every objective is an `nn.Module` called as ``objective(encoder, x1, x2, idx)`` with two views of the
same images (x1[i] and x2[i] are a positive pair; idx[i] is the image's index in the training set)
and returns a `StepOut`. ``objective.embed(encoder, x)`` gives the vectors the loss compares (the
space of the embedding map and of the contrastive accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

Tensor = torch.Tensor
METHODS = ("simclr", "moco", "pirl", "simclr_l2")


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


def build_objective(method: str, encoder: nn.Module, config, n_train: int) -> nn.Module:
    """The objective for `method`, sized from an `EmbedConfig` (heads, queue, bank)."""
    dim = encoder.out_dim
    if method == "simclr":
        from engine.embed.objectives.simclr import SimCLR

        return SimCLR(dim, config.proj_dim, config.temperature)
    if method == "simclr_l2":
        from engine.embed.objectives.l2 import SimCLRL2

        return SimCLRL2(dim, config.proj_dim, config.temperature)
    if method == "moco":
        from engine.embed.objectives.moco import MoCo

        return MoCo(encoder, config.proj_dim, config.temperature, config.queue_size, config.moco_momentum,
                    config.bn_groups)
    if method == "pirl":
        from engine.embed.objectives.pirl import PIRL

        return PIRL(dim, config.proj_dim, config.temperature, n_train, config.bank_negatives,
                    config.bank_momentum, config.pirl_lambda)
    raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
