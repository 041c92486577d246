"""Noise-contrastive estimation (Gutmann & Hyvärinen 2010) with factorised Bernoulli noise.

The noise q(y) = Π_i μ_i^{b_i} (1 − μ_i)^{1 − b_i} (b = the bits of y) has the data's marginals
μ_i = P_data(b_i = 1) (Laplace-smoothed). The model is self-normalised with a learned log-normaliser
c (started at −log Z_θ of the initial model, so it starts normalised):

    log p_θ(y) = −E_θ(y) + c
    G(y) = log p_θ(y) − log(ν q(y)),   h(y) = σ(G(y))      (the classifier "data, not noise")
    L_NCE(θ, c) = −(1/N) Σ_n log h(y_n) − (1/N) Σ_{m=1}^{νN} log(1 − h(ỹ_m)),   ỹ_m ~ q

ν noise samples per data sample (fresh each update). Sanity: with p_θ = q = p_data and ν = 1 the
loss is log 4. The exact NLL is scored with the true Z_θ, not with c.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from engine.binary.exact import log_partition
from engine.binary.models import BinaryEnergy
from engine.binary.objectives import Objective, ObjectiveContext, ObjectiveOut, register


class BernoulliNoise:
    """Factorised Bernoulli noise in the model's encoding."""

    def __init__(self, marginals: torch.Tensor, encoding):
        self.mu = marginals.double().clamp(1e-6, 1 - 1e-6)
        self.encoding = encoding

    def sample(self, n: int, gen: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
        u = torch.rand((n, self.mu.numel()), generator=gen, device=self.mu.device)
        return self.encoding.encode((u < self.mu).to(torch.uint8)).to(dtype)

    def log_prob(self, y: torch.Tensor) -> torch.Tensor:
        bits = self.encoding.decode(y).to(y.dtype)
        mu = self.mu.to(y.dtype)
        return (bits * mu.log() + (1 - bits) * torch.log1p(-mu)).sum(-1)


class NoiseContrastive(Objective):
    def __init__(self, ctx: ObjectiveContext, nu: int):
        super().__init__()
        if nu < 1:
            raise ValueError("NCE needs nu >= 1 noise samples per data sample")
        self.nu, self.gen = nu, ctx.generator
        self.noise = BernoulliNoise(ctx.data.marginals().to(ctx.device), ctx.model.encoding)
        with torch.no_grad():
            log_z0 = float(log_partition(ctx.model))
        self.log_norm = nn.Parameter(torch.tensor(-log_z0))  # c

    def classifier_logit(self, model: BinaryEnergy, y: torch.Tensor) -> torch.Tensor:
        """G(y) = −E_θ(y) + c − log ν − log q(y)."""
        return -model(y) + self.log_norm - math.log(self.nu) - self.noise.log_prob(y)

    def forward(self, model: BinaryEnergy, y: torch.Tensor) -> ObjectiveOut:
        n = y.shape[0]
        y_tilde = self.noise.sample(self.nu * n, self.gen, y.dtype)
        g_data, g_noise = self.classifier_logit(model, y), self.classifier_logit(model, y_tilde)
        # −log σ(G) = softplus(−G),  −log(1 − σ(G)) = softplus(G)
        loss = F.softplus(-g_data).sum() / n + F.softplus(g_noise).sum() / n
        acc = 0.5 * ((g_data > 0).float().mean() + (g_noise < 0).float().mean())
        return ObjectiveOut(loss, {"loss": loss.item(), "log_norm": self.log_norm.item(),
                                   "classifier_acc": acc.item()}, y_tilde)


@register("nce", "Noise-contrastive estimation (Bernoulli noise from the data marginals)")
def build(ctx: ObjectiveContext, *, nce_nu: int) -> Objective:
    return NoiseContrastive(ctx, nce_nu)
