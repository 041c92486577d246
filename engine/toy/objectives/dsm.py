"""Denoising score matching (DSM) at noise level σ.

Corrupt each data point, ỹ = y + σ ξ with ξ ~ N(0, I), and ask the model's score −∇_y E_θ to point
from ỹ back towards y, i.e. to match the score of the corruption kernel, ∇_ỹ log q_σ(ỹ | y) = −(ỹ − y)/σ²:

    L(θ) = (σ²/2) (1/N) Σ_i ‖ −∇_y E_θ(ỹ_i) + (ỹ_i − y_i)/σ² ‖²  =  ½ (1/N) Σ_i ‖ σ ∇_y E_θ(ỹ_i) − ξ_i ‖²
           [+ α (1/N) Σ_i E_θ(ỹ_i)²]

(the σ² weight keeps the loss O(1) for every σ). No negatives, no sampler, no partition function: its
minimiser is the score of the *smoothed* density p_σ = p_data ∗ N(0, σ²I), not of p_data, so even a
perfect fit leaves KL(p_data ‖ p_σ) > 0: the floor this method is reported against. Large σ: stable
but blurred; small σ: sharp but the score is only learned very close to the data.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from engine.toy.grid import Grid, data_cell_probs
from engine.toy.objectives import Objective, ObjectiveContext, ObjectiveOut, register


class DenoisingScoreMatching(Objective):
    def __init__(self, ctx: ObjectiveContext, sigma: float, alpha: float):
        super().__init__()
        self.sigma, self.alpha = sigma, alpha
        self.gen = ctx.generator

    def forward(self, model: nn.Module, batch: torch.Tensor) -> ObjectiveOut:
        xi = torch.randn(batch.shape, generator=self.gen).to(batch.device)
        noisy = (batch + self.sigma * xi).requires_grad_(True)
        e = model(noisy)
        # create_graph: the loss depends on ∇_y E, so θ's gradient goes through it (a second derivative)
        (grad_y,) = torch.autograd.grad(e.sum(), noisy, create_graph=True)
        loss = 0.5 * ((self.sigma * grad_y - xi) ** 2).sum(1).mean()
        if self.alpha > 0:
            loss = loss + self.alpha * (e**2).mean()
        scalars = {"loss": loss.item(), "e_pos": e.mean().item()}
        return ObjectiveOut(loss, scalars, negatives=noisy.detach())


@register("dsm", "Denoising score matching")
def build(ctx: ObjectiveContext, *, sigma: float, alpha: float) -> Objective:
    return DenoisingScoreMatching(ctx, sigma, alpha)


def _cell_kernel(sigma: float, step: float) -> torch.Tensor:
    """1-D Gaussian N(0, σ²) integrated over cells of width `step` centred on j·step (sums to ~1)."""
    half = int(math.ceil(6 * sigma / step)) + 1
    edges = (torch.arange(-half, half + 2, dtype=torch.float64) - 0.5) * step
    cdf = 0.5 * (1 + torch.erf(edges / (sigma * math.sqrt(2))))
    return cdf[1:] - cdf[:-1]


def smoothed_cell_probs(log_density: torch.Tensor, grid: Grid, sigma: float) -> torch.Tensor:
    """Cell probabilities of p_σ = p_data ∗ N(0, σ²I), renormalised over the box: the data's cell
    probabilities convolved with the cell-integrated Gaussian, separably along x and y."""
    p = data_cell_probs(log_density)  # (n, n), rows = y
    k = _cell_kernel(sigma, grid.step)
    pad = (k.numel() - 1) // 2
    kx = k.view(1, 1, 1, -1)
    q = torch.nn.functional.conv2d(p[None, None], kx, padding=(0, pad))
    q = torch.nn.functional.conv2d(q, kx.transpose(2, 3), padding=(pad, 0))[0, 0]
    return q / q.sum()


def kl_floor(log_density: torch.Tensor, grid: Grid, sigma: float) -> float:
    """KL(p_data ‖ p_data ∗ N(0, σ²I)) in nats on the grid: the best KL denoising score matching at σ
    can reach, since its minimiser is the smoothed density."""
    p = data_cell_probs(log_density).reshape(-1)
    q = smoothed_cell_probs(log_density, grid, sigma).reshape(-1)
    mask = p > 0
    return float((p[mask] * (p[mask].log() - q[mask].clamp_min(1e-300).log())).sum())
