"""Minimum probability flow (Sohl-Dickstein, Battaglino & DeWeese 2011), single-bit-flip connectivity.

Imagine a dynamics that starts at the data distribution and flows probability towards the model
along the edges of the hypercube: from a data state y to each neighbour ȳ^i (bit i flipped) at rate
Γ = exp(½(E_θ(y) − E_θ(ȳ^i))), which satisfies detailed balance for p_θ. MPF minimises the initial
flow out of the data, the KL divergence after an infinitesimal time ε:

    K(θ) = (ε/N) Σ_n Σ_{i=1}^{d} exp( ½ [E_θ(y_n) − E_θ(ȳ_n^i)] )      (ε = 1 here)

Z_θ never appears. The paper's sum runs over neighbours outside the data set; here every flip is
counted, which is the same for bars-and-stripes (no pattern is one flip from another) and keeps
the estimator consistent: if p_data = p_θ the expected gradient is exactly zero.
"""

from __future__ import annotations

import torch

from engine.binary.models import BinaryEnergy
from engine.binary.objectives import Objective, ObjectiveContext, ObjectiveOut, register


class MinimumProbabilityFlow(Objective):
    def forward(self, model: BinaryEnergy, y: torch.Tensor) -> ObjectiveOut:
        delta = model.neighbour_deltas(y)  # E(ȳ^i) − E(y)
        loss = torch.exp(-0.5 * delta).sum(1).mean()
        return ObjectiveOut(loss, {"loss": loss.item(), "min_gap": delta.min().item()})


@register("mpf", "Minimum probability flow (Sohl-Dickstein et al. 2011)")
def build(ctx: ObjectiveContext) -> Objective:
    return MinimumProbabilityFlow()
