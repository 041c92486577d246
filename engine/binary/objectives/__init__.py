"""Objectives for binary energies, one per file; each module registers a builder here.

A builder takes (config, context, model) and returns an `Objective`: given the model and a batch of
data y (in the model's encoding) it returns the loss whose gradient is the method's update, the
scalars to log and the contrasted states ȳ it used (for the live view). Stateful objectives
(persistent chains, NCE's learned log-normaliser) are nn.Modules, so their state joins the
optimiser and the checkpoints.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from engine.binary.data import BinaryData
from engine.binary.models import BinaryEnergy


@dataclass
class ObjectiveOut:
    loss: torch.Tensor
    scalars: dict[str, float] = field(default_factory=dict)
    negatives: torch.Tensor | None = None  # this step's contrasted states ȳ (model encoding)


@dataclass
class ObjectiveContext:
    data: BinaryData
    generator: torch.Generator
    device: torch.device
    sampler: str = "metropolis"  # metropolis | gibbs (chosen by the model)


class Objective(nn.Module):
    """Base class: forward(model, y) -> ObjectiveOut."""

    def forward(self, model: BinaryEnergy, y: torch.Tensor) -> ObjectiveOut:  # pragma: no cover
        raise NotImplementedError


Builder = Callable[[Any, ObjectiveContext, BinaryEnergy], Objective]
OBJECTIVES: dict[str, Builder] = {}
LABELS: dict[str, str] = {}
# the order the page and the CLI list them in
ORDER = ("ml", "cd", "pcd", "rm", "mpf", "nce")


def register(name: str, label: str) -> Callable[[Builder], Builder]:
    def deco(builder: Builder) -> Builder:
        OBJECTIVES[name] = builder
        LABELS[name] = label
        return builder

    return deco


def _load_all() -> None:
    # importing the modules runs their @register decorators
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")


def available() -> dict[str, str]:
    _load_all()
    return {name: LABELS[name] for name in sorted(LABELS, key=lambda n: (ORDER + (n,)).index(n))}


def build_objective(name: str, config: Any, ctx: ObjectiveContext, model: BinaryEnergy) -> Objective:
    _load_all()
    if name not in OBJECTIVES:
        raise ValueError(f"unknown method {name!r}; choose one of {list(available())}")
    return OBJECTIVES[name](config, ctx, model)
