"""Noise-contrastive estimation (NCE) with a learned log-normaliser.

The model is an unnormalised log-density with a learned constant c standing in for log Z_θ:

    log p_θ(y) = −E_θ(y) − c

A classifier tells data y ~ p_data from noise ỹ ~ q (one noise point per data point) through the
log-ratio G(y) = log p_θ(y) − log q(y), the probability of "data" being σ(G(y)):

    L(θ, c) = −(1/N) Σ_i log σ(G(y_i)) − (1/N) Σ_j log(1 − σ(G(ỹ_j)))  [+ α mean(E(y)² + E(ỹ)²)]

Its minimum is at p_θ = p_data, where c becomes the true log Z_θ: the classification problem
normalises the model. When the model equals the noise, G = 0 and L = 2 log 2 = log 4.

The noise q must cover the data and have a density we can evaluate: a Gaussian fitted to the data
(mean and covariance of a large sample), the same Gaussian widened (standard deviations × 2), or
uniform on the box. The closer q is to p_data the harder and more informative the classification.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import SettingError
from engine.toy.objectives import Objective, ObjectiveContext, ObjectiveOut, register
from engine.toy.samplers import uniform_in_box
from engine.training import make_generator

NOISE_KINDS = {
    "gaussian_fit": "Gaussian fitted to the data",
    "gaussian_wide": "fitted Gaussian, standard deviations × 2",
    "uniform": "uniform on the box",
}
WIDEN = 2.0
FIT_SAMPLES = 20_000
FIT_OFFSET = 20_000  # the fit's generator: the run's seed + this


class NoiseDistribution(nn.Module):
    """q: sample(n) and log_prob(y), on the model's device."""

    def __init__(self, kind: str, data: torch.Tensor, box: float):
        super().__init__()
        if kind not in NOISE_KINDS:
            raise SettingError(f"nce_noise = {kind!r} is not allowed: it must be one of {', '.join(NOISE_KINDS)}",
                               setting="nce_noise", value=kind)
        self.kind, self.box, self.dim = kind, box, data.shape[1]
        mean = data.mean(0)
        cov = torch.cov(data.T) * (WIDEN**2 if kind == "gaussian_wide" else 1.0)
        self.register_buffer("mean", mean)
        self.register_buffer("chol", torch.linalg.cholesky(cov))

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        if self.kind == "uniform":
            return uniform_in_box(n, self.dim, self.box, gen).to(self.mean.device)
        z = torch.randn(n, self.dim, generator=gen).to(self.mean.device)
        return self.mean + z @ self.chol.T

    def log_prob(self, y: torch.Tensor) -> torch.Tensor:
        if self.kind == "uniform":
            inside = (y.abs() <= self.box).all(1)
            lp = torch.full_like(y[:, 0], -self.dim * math.log(2 * self.box))
            return torch.where(inside, lp, torch.full_like(lp, -math.inf))
        z = torch.linalg.solve_triangular(self.chol, (y - self.mean).T, upper=False).T
        log_det = torch.log(torch.diagonal(self.chol)).sum()
        return -0.5 * (z**2).sum(1) - log_det - 0.5 * self.dim * math.log(2 * math.pi)


class NoiseContrastiveEstimation(Objective):
    def __init__(self, ctx: ObjectiveContext, nce_noise: str, alpha: float):
        super().__init__()
        fit_gen = make_generator(ctx.seed, FIT_OFFSET)  # the fit does not shift the run's draws
        self.noise = NoiseDistribution(nce_noise, ctx.dataset.sample(FIT_SAMPLES, fit_gen).to(ctx.device),
                                       ctx.dataset.box)
        self.log_norm = nn.Parameter(torch.zeros(()))  # c, the learned log Z_θ
        self.alpha = alpha
        self.gen = ctx.generator

    def log_ratio(self, model: nn.Module, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """G(y) = −E_θ(y) − c − log q(y), and E_θ(y)."""
        e = model(y)
        return -e - self.log_norm - self.noise.log_prob(y), e

    def forward(self, model: nn.Module, batch: torch.Tensor) -> ObjectiveOut:
        noise = self.noise.sample(batch.shape[0], self.gen)
        g_pos, e_pos = self.log_ratio(model, batch)
        g_neg, e_neg = self.log_ratio(model, noise)
        # log σ(G) and log(1 − σ(G)) = log σ(−G), computed stably
        loss = -F.logsigmoid(g_pos).mean() - F.logsigmoid(-g_neg).mean()
        if self.alpha > 0:
            loss = loss + self.alpha * ((e_pos**2).mean() + (e_neg**2).mean())
        acc = 0.5 * ((g_pos > 0).float().mean() + (g_neg < 0).float().mean())
        scalars = {"loss": loss.item(), "log_norm": self.log_norm.item(), "accuracy": acc.item(),
                   "e_pos": e_pos.mean().item(), "e_neg": e_neg.mean().item()}
        return ObjectiveOut(loss, scalars, negatives=noise.detach())


@register("nce", "Noise-contrastive estimation")
def build(ctx: ObjectiveContext, *, nce_noise: str, alpha: float) -> Objective:
    return NoiseContrastiveEstimation(ctx, nce_noise, alpha)
