"""Persistent contrastive divergence: the negatives are particles that remember where they were.

A set of M chains ȳ_1..ȳ_M (started at uniform random bits) is moved k more sampler sweeps on each
update with the current model, never restarted at the data:

    ȳ_m ← MCMC_k(ȳ_m)      (Metropolis bit flips; block Gibbs for the RBM)
    L_PCD(θ) = (1/N) Σ_n E_θ(y_n) − (1/M) Σ_m E_θ(ȳ_m)
    ∂L_PCD/∂θ = (1/N) Σ_n ∂E_θ(y_n)/∂θ − (1/M) Σ_m ∂E_θ(ȳ_m)/∂θ

The particles find the low-energy places the data does not hold and push them up; when the model
moves faster than the chains mix, the estimate lags and the updates oscillate.
"""

from __future__ import annotations

import torch

from engine.binary.models import BinaryEnergy
from engine.binary.objectives import Objective, ObjectiveContext, ObjectiveOut, contrast, register
from engine.binary.samplers import ChainSampler, resolve_sampler, run_sampler


class PersistentCD(Objective):
    def __init__(self, ctx: ObjectiveContext, k: int, sampler: str, chains: int):
        super().__init__()
        if k < 1:
            raise ValueError("PCD needs k >= 1 sampler sweeps per update")
        if chains < 1:
            raise ValueError("PCD needs at least one persistent chain")
        model = ctx.model
        self.k, self.sampler, self.gen = k, resolve_sampler(sampler, model.kind), ctx.generator
        bits = torch.randint(2, (chains, model.d), generator=ctx.generator, device=ctx.device)
        dtype = next(model.parameters()).dtype
        # a buffer, so checkpoints save and restore the particles with the model
        self.register_buffer("chains", model.encoding.encode(bits).to(dtype))
        # the k sweeps of every chain in one launch; captured and replayed on a GPU (same numbers)
        self.chain = ChainSampler(self.sampler, model, k, ctx.generator, ctx.capture)

    def forward(self, model: BinaryEnergy, y: torch.Tensor) -> ObjectiveOut:
        if model is self.chain.model:
            moved, rate = self.chain(self.chains)
        else:  # another model than the one it was built with: op by op
            moved, rate = run_sampler(self.sampler, model, self.chains, self.k, self.gen)
        self.chains.copy_(moved)
        return contrast(model, y, moved, rate)


@register("pcd", "Persistent CD (persistent Metropolis / Gibbs chains)")
def build(ctx: ObjectiveContext, *, k: int, sampler: str, chains: int) -> Objective:
    return PersistentCD(ctx, k, sampler, chains)
