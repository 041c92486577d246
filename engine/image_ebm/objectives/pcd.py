"""Persistent contrastive divergence (PCD) with a replay buffer of Langevin chains on images.

The lecture's particles: a buffer of M images ȳ ("fantasy particles") remembered across updates. Each
update takes N of them (the data batch's size), restarts each one from uniform noise on [−1, 1]^D with
probability ρ, moves them k steps down the energy

    ȳ ← clamp(ȳ − ε · clip(∇_ȳ E_θ(ȳ), c) + s ξ, −1, 1),   ξ ~ N(0, I)

(ε and s set separately; s = √(2ε) and no clip c would be true Langevin), writes them back to the
slots they came from and pushes their energy up while pushing the data's down:

    L(θ) = (1/N) Σ_i [E_θ(y_i) − E_θ(ȳ_i)] + α (1/N) Σ_i [E_θ(y_i)² + E_θ(ȳ_i)²]

The particles "find low energy places in our energy surface and … cause them to be pushed up". With
ρ = 5 %, a particle lives about 1/ρ = 20 uses (20 k sampler steps) before it starts again from noise,
so the buffer holds chains of every age. The first `followed` slots are in every batch so that the
live view can follow them update by update (they are used M/N times as often as the other slots).
"""

from __future__ import annotations

import torch
from torch import nn

from engine.image_ebm.objectives import (
    Objective,
    ObjectiveContext,
    ObjectiveOut,
    contrastive_loss,
    register,
    uniform_chains,
)
from engine.image_ebm.sampler import Langevin

Tensor = torch.Tensor


class PersistentCD(Objective):
    def __init__(self, ctx: ObjectiveContext, *, buffer: int, reinit: float, k: int, eps: float,
                 noise: float | None, clip_grad: float | None, alpha: float):
        super().__init__()
        self.ctx, self.reinit, self.alpha = ctx, reinit, alpha
        self.sampler = Langevin(k, eps, noise, clip_grad)
        self.batch_size = min(ctx.batch_size, buffer)
        self.followed = min(ctx.followed, self.batch_size)
        self.register_buffer("chains", uniform_chains(buffer, ctx.shape, ctx.noise_generator, ctx.device))

    def _slots(self) -> Tensor:
        """The followed slots 0..F−1, then distinct random others."""
        m, n, f = self.chains.shape[0], self.batch_size, self.followed
        others = f + torch.randperm(m - f, generator=self.ctx.generator)[: n - f]
        return torch.cat([torch.arange(f), others]).to(self.chains.device)

    def forward(self, model: nn.Module, batch: Tensor) -> ObjectiveOut:
        idx = self._slots()
        start = self.chains[idx]
        restart = (torch.rand(len(idx), generator=self.ctx.generator) < self.reinit).to(start.device)
        fresh = uniform_chains(len(idx), self.ctx.shape, self.ctx.noise_generator, start.device)
        start = torch.where(restart[:, None, None, None], fresh, start)
        neg = self.sampler.run(model, start, self.ctx.noise_generator, autocast=self.ctx.autocast)
        self.chains[idx] = neg  # the chains go back to the slots they came from
        with self.ctx.autocast():
            e_pos, e_neg = model(batch), model(neg)
        loss, scalars = contrastive_loss(e_pos, e_neg, self.alpha)
        scalars["reinit_frac"] = float(restart.float().mean())
        f = self.followed
        return ObjectiveOut(loss, scalars, negatives=neg, followed=neg[:f], restarted=restart[:f],
                            starts=start[:f])

    def particles(self) -> Tensor:
        return self.chains


@register("pcd", "Persistent CD (replay buffer)")
def build(ctx: ObjectiveContext, *, buffer: int, reinit: float, k: int, eps: float, noise: float | None,
          clip_grad: float | None, alpha: float) -> Objective:
    return PersistentCD(ctx, buffer=buffer, reinit=reinit, k=k, eps=eps, noise=noise, clip_grad=clip_grad,
                        alpha=alpha)
