"""Contrastive divergence (CD-k) with Langevin negatives started at the data.

For each data point y_i of the batch, the contrasted point ȳ_i is found by k steps of Langevin
dynamics down the energy surface, starting at y_i itself:

    ȳ ← ȳ − ε ∇_y E_θ(ȳ) + s ξ,   ξ ~ N(0, I),   ȳ⁰ = y_i          (k times; s = √(2ε): true Langevin)

and the energy is pushed down on the data and up on the contrasted points:

    L(θ) = (1/N) Σ_i [E_θ(y_i) − E_θ(ȳ_i)] + α (1/N) Σ_i [E_θ(y_i)² + E_θ(ȳ_i)²]

The ȳ are held fixed (no gradient flows through the sampler). This is the maximum-likelihood gradient
with the model expectation replaced by samples of a chain that has run only k steps from the data:
cheap, but it only shapes the energy near the data (far-away spurious minima are never visited).
The α term keeps the energies from drifting to ±∞ (only differences matter to p_θ).
"""

from __future__ import annotations

import torch
from torch import nn

from engine.toy.objectives import Objective, ObjectiveContext, ObjectiveOut, register


def contrastive_loss(e_pos: torch.Tensor, e_neg: torch.Tensor, alpha: float) -> tuple[torch.Tensor, dict]:
    """mean E(y) − mean E(ȳ) + α mean(E(y)² + E(ȳ)²), and the scalars to log."""
    gap = e_pos.mean() - e_neg.mean()
    reg = (e_pos**2).mean() + (e_neg**2).mean()
    loss = gap + alpha * reg
    return loss, {"loss": loss.item(), "e_pos": e_pos.mean().item(), "e_neg": e_neg.mean().item(),
                  "energy_gap": gap.item()}


class ContrastiveDivergence(Objective):
    def __init__(self, ctx: ObjectiveContext, k: int, eps: float, noise: float | None, alpha: float,
                 clip_grad: float | None):
        super().__init__()
        self.k, self.eps, self.noise = k, eps, noise  # noise None: true Langevin, s = √(2ε)
        self.alpha, self.clip = alpha, clip_grad
        self.box = ctx.dataset.box * 1.5  # a loose fence: chains on a flat energy cannot fly off
        self.gen = ctx.generator
        self.sampler = ctx.langevin(k, eps, noise, clip_grad, self.box)

    def forward(self, model: nn.Module, batch: torch.Tensor) -> ObjectiveOut:
        neg = self.sampler(model, batch)
        loss, scalars = contrastive_loss(model(batch), model(neg), self.alpha)
        return ObjectiveOut(loss, scalars, negatives=neg)


@register("cd", "Contrastive divergence (CD-k)")
def build(ctx: ObjectiveContext, *, k: int, eps: float, noise: float | None, alpha: float,
          clip_grad: float | None) -> Objective:
    return ContrastiveDivergence(ctx, k, eps, noise, alpha, clip_grad)
