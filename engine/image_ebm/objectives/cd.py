"""Short-run contrastive divergence (CD-k) on images: the chains start at the data.

The lecture's CD: pick training samples y, move each k steps down the energy with noise,

    ȳ ← clamp(ȳ − ε · clip(∇_ȳ E_θ(ȳ), c) + s ξ, −1, 1),   ȳ⁰ = y,   ξ ~ N(0, I)

and contrast them with the data:

    L(θ) = (1/N) Σ_i [E_θ(y_i) − E_θ(ȳ_i)] + α (1/N) Σ_i [E_θ(y_i)² + E_θ(ȳ_i)²]

Nothing is remembered between updates, so the energy is only shaped within k steps of the data: far
from it (uniform noise, other images) it may stay low. For comparison with PCD. The judges score the
last `kept` negatives (a ring of the most recent ones): they started at the data, so they flatter CD;
"freeze and sample" from noise is the fair test.
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
KEPT = 1024  # recent negatives kept for the judges and the picture


class ContrastiveDivergence(Objective):
    def __init__(self, ctx: ObjectiveContext, *, k: int, eps: float, noise: float | None,
                 clip_grad: float | None, alpha: float):
        super().__init__()
        self.ctx, self.alpha = ctx, alpha
        self.sampler = Langevin(k, eps, noise, clip_grad)
        self.followed = min(ctx.followed, ctx.batch_size)
        # before the first update: noise (what an untrained model's samples look like)
        self.register_buffer("recent", uniform_chains(KEPT, ctx.shape, ctx.noise_generator, ctx.device))
        self.register_buffer("cursor", torch.zeros((), dtype=torch.long))

    def forward(self, model: nn.Module, batch: Tensor) -> ObjectiveOut:
        neg = self.sampler.run(model, batch, self.ctx.noise_generator, autocast=self.ctx.autocast)
        with self.ctx.autocast():
            e_pos, e_neg = model(batch), model(neg)
        loss, scalars = contrastive_loss(e_pos, e_neg, self.alpha)
        n = min(len(neg), KEPT)
        slots = (int(self.cursor) + torch.arange(n)) % KEPT
        self.recent[slots.to(neg.device)] = neg[:n]
        self.cursor.fill_((int(self.cursor) + n) % KEPT)
        f = self.followed
        restarted = torch.ones(f, dtype=torch.bool, device=neg.device)  # every chain starts again, at the data
        return ObjectiveOut(loss, scalars, negatives=neg, followed=neg[:f], restarted=restarted, starts=batch[:f])

    def particles(self) -> Tensor:
        return self.recent


@register("cd", "Contrastive divergence (from the data)")
def build(ctx: ObjectiveContext, *, k: int, eps: float, noise: float | None, clip_grad: float | None,
          alpha: float) -> Objective:
    return ContrastiveDivergence(ctx, k=k, eps=eps, noise=noise, clip_grad=clip_grad, alpha=alpha)
