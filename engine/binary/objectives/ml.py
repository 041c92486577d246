"""Exact maximum likelihood, the reference every method is held to.

    p_θ(y) = exp(−E_θ(y)) / Z_θ,   Z_θ = Σ_{y'} exp(−E_θ(y'))   (all 2^d states, enumerated)
    L(θ) = (1/N) Σ_n E_θ(y_n) + log Z_θ
    ∂L/∂θ = (1/N) Σ_n ∂E_θ(y_n)/∂θ − Σ_{y'} p_θ(y') ∂E_θ(y')/∂θ

The first term pushes the energy down on the data, the second pushes it up everywhere else in
proportion to the model's probability. With d ≤ 20 bits the sum over y' is exact.
"""

from __future__ import annotations

import torch

from engine.binary.exact import log_partition
from engine.binary.models import BinaryEnergy
from engine.binary.objectives import Objective, ObjectiveContext, ObjectiveOut, register


class MaximumLikelihood(Objective):
    def forward(self, model: BinaryEnergy, y: torch.Tensor) -> ObjectiveOut:
        e_data = model(y).mean()
        log_z = log_partition(model)
        loss = e_data + log_z
        return ObjectiveOut(loss, {"loss": loss.item(), "e_data": e_data.item(), "log_z": log_z.item()})


@register("ml", "Maximum likelihood (exact Z by enumeration)")
def build(ctx: ObjectiveContext) -> Objective:
    return MaximumLikelihood()
