"""Objectives for image energies, one per file; each registers a builder here.

A builder takes an `ObjectiveContext` and, as keyword-only arguments, exactly the settings it uses
(`engine.registry`); those are the method's settings in the form and the CLI. An objective is an
nn.Module (its chains are buffers, so checkpoints hold them): forward(model, batch) → `ObjectiveOut`.

Both methods contrast data with Langevin negatives under the same loss,

    L(θ) = (1/N) Σ_i [E_θ(x_i) − E_θ(x̄_i)] + α (1/N) Σ_i [E_θ(x_i)² + E_θ(x̄_i)²]

(E₊ = E_θ(x_i) on the data batch, E₋ = E_θ(x̄_i) on the negatives); they differ in where the
negatives' chains start.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import torch
from torch import nn

from engine.registry import Registry

Tensor = torch.Tensor


@dataclass
class ObjectiveContext:
    shape: tuple[int, int, int]  # C×H×W of one image
    batch_size: int
    generator: torch.Generator  # CPU: choices of slots, restarts
    noise_generator: torch.Generator  # on the training device: the sampler's noise and fresh chains
    device: torch.device
    autocast: Callable[[], AbstractContextManager] = nullcontext
    followed: int = 8  # chains the live view follows (PCD: buffer slots 0..followed−1)


@dataclass
class ObjectiveOut:
    loss: Tensor
    scalars: dict[str, float] = field(default_factory=dict)
    negatives: Tensor | None = None
    followed: Tensor | None = None  # the followed chains after this step
    restarted: Tensor | None = None  # bool per followed chain: started again from noise this step
    starts: Tensor | None = None  # where the followed chains started this step


class Objective(nn.Module):
    """forward(model, batch) → ObjectiveOut; `particles()` are the chains the judges score."""

    def forward(self, model: nn.Module, batch: Tensor) -> ObjectiveOut:  # pragma: no cover
        raise NotImplementedError

    def particles(self) -> Tensor:  # pragma: no cover
        raise NotImplementedError


def contrastive_loss(e_pos: Tensor, e_neg: Tensor, alpha: float) -> tuple[Tensor, dict[str, float]]:
    """L = mean(E₊) − mean(E₋) + α · mean(E₊² + E₋²), and what the history logs."""
    e_pos, e_neg = e_pos.float(), e_neg.float()
    contrast = e_pos.mean() - e_neg.mean()
    reg = (e_pos**2).mean() + (e_neg**2).mean()
    loss = contrast + alpha * reg
    scalars = {"loss": float(loss.detach()), "e_pos": float(e_pos.detach().mean()),
               "e_neg": float(e_neg.detach().mean()), "contrast": float(contrast.detach()),
               "energy_sq": float(reg.detach())}
    return loss, scalars


def uniform_chains(n: int, shape: tuple[int, ...], gen: torch.Generator, device: torch.device) -> Tensor:
    """n images of uniform noise in [−1, 1], drawn on `gen`'s device."""
    return torch.rand((n, *shape), generator=gen, device=device) * 2 - 1


REGISTRY = Registry(__name__, __path__, order=("pcd", "cd"))
register = REGISTRY.register
