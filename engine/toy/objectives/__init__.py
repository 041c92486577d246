"""Objectives for 2-D energies, one per file. Each module registers a builder here.

A builder takes the run's context and, as keyword-only arguments, exactly the settings it uses
(`build(ctx, *, k, eps, noise, alpha, clip_grad)`); those names are the method's settings, which the
form shows for that method only (engine/toy/config.py). It returns an `Objective`: a callable that,
given the model and a batch of data, returns the loss to minimise and what the live view should draw
(the contrasted points, persistent particles...). Stateful objectives (a replay buffer, NCE's learned
log Z) are nn.Modules so that their parameters join the optimiser and their state the checkpoints.
Adding a method is adding one file here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.capture import chain_generator
from engine.registry import Registry
from engine.toy.data import ToyDataset
from engine.toy.samplers import LangevinSteps

LANGEVIN_OFFSET = 40_000  # on a CUDA device, the Langevin noise generator: the run's seed + this


@dataclass
class ObjectiveOut:
    loss: torch.Tensor
    scalars: dict[str, float] = field(default_factory=dict)
    negatives: torch.Tensor | None = None  # this step's contrasted points (drawn in the second colour)
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # e.g. particles, re-initialised mask
    grid_energy: torch.Tensor | None = None  # E on the training grid, if the method computed it anyway


@dataclass
class ObjectiveContext:
    """What an objective needs besides its settings: the data, the run's generator and device."""

    dataset: ToyDataset
    generator: torch.Generator  # the run's own: every random draw of the objective comes from it
    device: torch.device
    seed: int = 0  # the run's seed, for draws kept apart from the run's stream (NCE's noise fit)
    dim: int = 2  # data dimension (the "PCD and dimension" experiment embeds 2-D data higher up)
    capture: str = "off"  # the run's `capture` setting: the Langevin loops captured on a CUDA device

    def langevin(self, k: int, eps: float, noise: float | None, clip_grad: float | None,
                 box: float) -> LangevinSteps:
        """The k-step Langevin loop of a contrastive method: its noise drawn from the run's generator, or
        on a CUDA device from one of its own there (seed + LANGEVIN_OFFSET), captured per `capture`."""
        gen = chain_generator(self.generator, self.seed, self.device, LANGEVIN_OFFSET)
        return LangevinSteps(k, eps, noise, generator=gen, clip_grad=clip_grad, box=box, capture=self.capture,
                             device=self.device)


class Objective(nn.Module):
    """Base class: forward(model, batch) -> ObjectiveOut."""

    #: True when the method needs the partition function (only maximum likelihood does)
    uses_grid: bool = False
    #: the Langevin loop of a contrastive method (ObjectiveContext.langevin), None for the others
    sampler: LangevinSteps | None = None

    def forward(self, model: nn.Module, batch: torch.Tensor) -> ObjectiveOut:  # pragma: no cover
        raise NotImplementedError

    def generators(self) -> dict[str, torch.Generator]:
        """Generators of its own beside the run's (a CUDA sampler's), saved and restored with checkpoints."""
        gen = self.sampler.generator if self.sampler is not None else None
        return {"langevin": gen} if gen is not None and gen.device.type == "cuda" else {}


REGISTRY = Registry(__name__, __path__, order=("ml", "cd", "pcd", "nce", "dsm"))
register = REGISTRY.register


def build_objective(name: str, ctx: ObjectiveContext, config: Any) -> Objective:
    """The objective `name` with its context and, from `config`, the settings its builder takes."""
    return REGISTRY.build(name, ctx, config)


def available() -> dict[str, str]:
    """method -> label, in the registry's order."""
    return REGISTRY.available()
