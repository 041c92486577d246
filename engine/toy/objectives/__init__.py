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

from engine.registry import Registry
from engine.toy.data import ToyDataset


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


class Objective(nn.Module):
    """Base class: forward(model, batch) -> ObjectiveOut."""

    #: True when the method needs the partition function (only maximum likelihood does)
    uses_grid: bool = False

    def forward(self, model: nn.Module, batch: torch.Tensor) -> ObjectiveOut:  # pragma: no cover
        raise NotImplementedError


REGISTRY = Registry(__name__, __path__, order=("ml", "cd", "pcd", "nce", "dsm"))
register = REGISTRY.register


def build_objective(name: str, ctx: ObjectiveContext, config: Any) -> Objective:
    """The objective `name` with its context and, from `config`, the settings its builder takes."""
    return REGISTRY.build(name, ctx, config)


def available() -> dict[str, str]:
    """method -> label, in the registry's order."""
    return REGISTRY.available()
