"""Objectives for binary energies, one per file; each module registers a builder here.

A builder takes the context (data, model, generator, device) and, as keyword-only arguments, exactly
the settings it uses (`def build(ctx, *, k: int, sampler: str)`); those are the method's settings in
the form and the CLI (engine.binary.config). It returns an `Objective`: given the model and a batch of
data y (in the model's encoding) it returns the loss whose gradient is the method's update, the
scalars to log and the contrasted states ȳ it used (for the live view). Stateful objectives
(persistent chains, NCE's learned log-normaliser) are nn.Modules, so their state joins the
optimiser and the checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from engine.binary.data import BinaryData
from engine.binary.models import BinaryEnergy
from engine.registry import Registry


@dataclass
class ObjectiveOut:
    loss: torch.Tensor
    scalars: dict[str, float] = field(default_factory=dict)
    negatives: torch.Tensor | None = None  # this step's contrasted states ȳ (model encoding)


@dataclass
class ObjectiveContext:
    data: BinaryData
    model: BinaryEnergy
    generator: torch.Generator  # the run's generator (on `device`)
    device: torch.device
    capture: str = "off"  # the `capture` setting: "auto" replays CD / PCD's sweeps as CUDA graphs on a GPU


class Objective(nn.Module):
    """Base class: forward(model, y) -> ObjectiveOut."""

    def forward(self, model: BinaryEnergy, y: torch.Tensor) -> ObjectiveOut:  # pragma: no cover
        raise NotImplementedError


# the order the page and the CLI list them in
REGISTRY = Registry(__name__, __path__, order=("ml", "cd", "pcd", "rm", "mpf", "nce"))
register = REGISTRY.register


def available() -> dict[str, str]:
    return REGISTRY.available()


def build_objective(name: str, ctx: ObjectiveContext, config: Any) -> Objective:
    """Method `name` with its context and, from `config`, the settings its builder takes."""
    return REGISTRY.build(name, ctx, config)


def contrast(model: BinaryEnergy, y: torch.Tensor, negatives: torch.Tensor, accept_rate: float) -> ObjectiveOut:
    """L = mean E(y) − mean E(ȳ): energy down on the data, up on the contrasted states (CD and PCD)."""
    e_pos, e_neg = model(y).mean(), model(negatives).mean()
    loss = e_pos - e_neg
    return ObjectiveOut(loss, {"loss": loss.item(), "e_data": e_pos.item(), "e_neg": e_neg.item(),
                               "accept": accept_rate}, negatives)
