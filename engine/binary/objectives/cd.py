"""Contrastive divergence CD-k with Metropolis bit flips (block Gibbs for the RBM).

Start at each training sample y, run k sweeps of the sampler (engine.binary.samplers: flip a random
bit, keep the flip if the energy falls, otherwise keep it with probability exp(−ΔE)) to get the
contrasted sample ȳ, then push the energy down at y and up at ȳ:

    L_CD(θ) = (1/N) Σ_n [ E_θ(y_n) − E_θ(ȳ_n) ],   ȳ_n = MCMC_k(y_n) held fixed (no gradient)
    ∂L_CD/∂θ = (1/N) Σ_n [ ∂E_θ(y_n)/∂θ − ∂E_θ(ȳ_n)/∂θ ]

As k → ∞ the ȳ become samples of p_θ and this is the maximum-likelihood gradient; with small k the
negatives stay near the data, which is the method's bias.
"""

from __future__ import annotations

import torch

from engine.binary.models import BinaryEnergy
from engine.binary.objectives import Objective, ObjectiveContext, ObjectiveOut, contrast, register
from engine.binary.samplers import ChainSampler, resolve_sampler, run_sampler


class ContrastiveDivergence(Objective):
    def __init__(self, ctx: ObjectiveContext, k: int, sampler: str):
        super().__init__()
        if k < 1:
            raise ValueError("CD-k needs k >= 1 sampler sweeps")
        self.k, self.sampler, self.gen = k, resolve_sampler(sampler, ctx.model.kind), ctx.generator
        # the k sweeps of every chain in one launch; captured and replayed on a GPU (same numbers)
        self.chain = ChainSampler(self.sampler, ctx.model, k, ctx.generator, ctx.capture)

    def forward(self, model: BinaryEnergy, y: torch.Tensor) -> ObjectiveOut:
        if model is self.chain.model:
            y_bar, rate = self.chain(y)
        else:  # another model than the one it was built with: op by op
            y_bar, rate = run_sampler(self.sampler, model, y, self.k, self.gen)
        return contrast(model, y, y_bar, rate)


@register("cd", "Contrastive divergence CD-k (Metropolis bit flips; Gibbs for the RBM)")
def build(ctx: ObjectiveContext, *, k: int, sampler: str) -> Objective:
    return ContrastiveDivergence(ctx, k, sampler)
