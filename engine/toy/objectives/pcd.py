"""Persistent contrastive divergence (PCD) with a replay buffer of Langevin chains.

A buffer holds M particles ("fantasy points") that live across parameter updates. Each step takes
N slots, restarts each chosen chain from uniform noise on the box with probability ρ, runs k Langevin
steps from where the chain was left,

    ȳ ← ȳ − ε ∇_y E_θ(ȳ) + s ξ,   ξ ~ N(0, I)      (k times; s = √(2ε): true Langevin)

writes the chains back to the slots they came from, and contrasts them with the data batch:

    L(θ) = (1/N) Σ_i [E_θ(y_i) − E_θ(ȳ_i)] + α (1/N) Σ_i [E_θ(y_i)² + E_θ(ȳ_i)²]

Because the chains are not restarted at the data, they wander to wherever the model puts low energy,
including spurious minima far from the data, and push those up; the price is that they mix slowly
between modes (and ever more slowly as the dimension grows).

For the live view, the first `shown` slots are part of every batch (the rest of the batch is drawn
uniformly from the other slots), so those chains can be followed step by step with their tails.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.errors import SettingError
from engine.toy.objectives import Objective, ObjectiveContext, ObjectiveOut, register
from engine.toy.objectives.cd import contrastive_loss
from engine.toy.samplers import uniform_in_box

SHOWN = 128  # buffer slots followed by the live view


class PersistentCD(Objective):
    def __init__(self, ctx: ObjectiveContext, k: int, eps: float, noise: float | None, alpha: float,
                 clip_grad: float | None, buffer: int, reinit: float, shown: int = SHOWN):
        super().__init__()
        self.k, self.eps, self.noise = k, eps, noise  # noise None: true Langevin, s = √(2ε)
        self.alpha, self.clip, self.reinit = alpha, clip_grad, reinit
        self.dim, self.box, self.gen = ctx.dim, ctx.dataset.box, ctx.generator
        self.shown = shown
        self.sampler = ctx.langevin(k, eps, noise, clip_grad, self.box)
        self.register_buffer("buffer", uniform_in_box(buffer, ctx.dim, self.box, self.gen).to(ctx.device))

    def _slots(self, n: int) -> torch.Tensor:
        """n slots: the followed slots 0..shown−1 plus distinct random others."""
        m, s = self.buffer.shape[0], min(self.shown, n)
        if n > m:
            raise SettingError(f"buffer = {m} is not allowed: the replay buffer must hold at least one batch ({n})",
                               setting="buffer", value=m)
        others = s + torch.randperm(m - s, generator=self.gen)[: n - s]
        return torch.cat([torch.arange(s), others]).to(self.buffer.device)

    def forward(self, model: nn.Module, batch: torch.Tensor) -> ObjectiveOut:
        idx = self._slots(batch.shape[0])
        shown = min(self.shown, batch.shape[0])
        start = self.buffer[idx]
        restart = torch.rand(idx.shape[0], generator=self.gen).to(start.device) < self.reinit
        noise = uniform_in_box(idx.shape[0], self.dim, self.box, self.gen).to(start.device)
        start = torch.where(restart[:, None], noise, start)
        neg = self.sampler(model, start)
        self.buffer[idx] = neg  # chains go back to the slots they came from
        loss, scalars = contrastive_loss(model(batch), model(neg), self.alpha)
        scalars["reinit_frac"] = restart.float().mean().item()
        extras = {"particles": neg[:shown, :2].detach().cpu().numpy(), "reinit": restart[:shown].cpu().numpy()}
        return ObjectiveOut(loss, scalars, negatives=neg, extras=extras)


@register("pcd", "Persistent CD (replay buffer)")
def build(ctx: ObjectiveContext, *, k: int, eps: float, noise: float | None, alpha: float,
          clip_grad: float | None, buffer: int, reinit: float) -> Objective:
    return PersistentCD(ctx, k, eps, noise, alpha, clip_grad, buffer, reinit)
