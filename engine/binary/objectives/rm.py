"""Ratio matching (Hyvärinen 2007), the binary cousin of score matching.

Match the ratios p(y)/p(ȳ^i) of each data point to its d single-bit flips ȳ^i instead of the
probabilities, so Z_θ cancels: p_θ(y)/p_θ(ȳ^i) = exp(E_θ(ȳ^i) − E_θ(y)). With g(u) = 1/(1 + u),
Hyvärinen's objective Σ_y p_data(y) Σ_i [g(p_θ(y)/p_θ(ȳ^i)) − g(p_data(y)/p_data(ȳ^i))]² + (same with
y, ȳ^i swapped) equals, up to a constant,

    J_RM(θ) = (1/N) Σ_n Σ_{i=1}^{d} g( p_θ(y_n) / p_θ(ȳ_n^i) )²
            = (1/N) Σ_n Σ_i σ( E_θ(y_n) − E_θ(ȳ_n^i) )²

It is small when every data point has lower energy than all of its one-bit neighbours (the
contrasted samples ȳ are all d flips, deterministic: no sampling).
"""

from __future__ import annotations

import torch

from engine.binary.models import BinaryEnergy
from engine.binary.objectives import Objective, ObjectiveContext, ObjectiveOut, register


class RatioMatching(Objective):
    def forward(self, model: BinaryEnergy, y: torch.Tensor) -> ObjectiveOut:
        delta = model.neighbour_deltas(y)  # E(ȳ^i) − E(y), (N, d)
        loss = torch.sigmoid(-delta).pow(2).sum(1).mean()
        return ObjectiveOut(loss, {"loss": loss.item(), "min_gap": delta.min().item()})


@register("rm", "Ratio matching (Hyvärinen 2007)")
def build(ctx: ObjectiveContext) -> Objective:
    return RatioMatching()
