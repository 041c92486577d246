"""A latent-variable energy for contrast (the course's week-15 ellipse model, generalised to branches).

A decoder g(z; w) traces a curve as its latent z runs over a grid; the energy of a pair is
E(y, z) = ‖y − g(z)‖², and the energy of y is its free energy

    F_∞(y) = min_z E(y, z)                                   (zero temperature)
    F_β(y) = −1/β log mean_z exp(−β E(y, z))                 (relaxed; F_β → F_∞ as β → ∞)

with F_∞ ≤ F_β ≤ F_∞ + (log |Z|)/β over a grid of |Z| latents. Decoder families (one row of w per
branch k, the latent ranges over branch and position):
- ellipse: g_k(z) = [w_k1 cos z, w_k2 sin z], z ∈ [0, 2π)   (the course's model; circles are w_k1 = w_k2)
- line:    g_k(z) = [z, w_k1],                 z ∈ [−L, L]   (a horizontal line at height w_k1)
- spiral:  g(z)   = (w_1 z + w_2)[cos z, sin z], z ∈ [θ0, θ1] (Archimedean)

Training (as in the course): minimise the free energy of the data, L(w) = mean_i F_∞(y_i); only the
best latent of each point receives gradient, which pulls the curve onto the data. Because the data
enter only through pulling F down where they are, and F is a distance to the curve, F grows as the
squared distance everywhere — no flat spot between branches.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from engine.dae.manifolds import LatentSpec

Tensor = torch.Tensor
FAMILIES = ("ellipse", "line", "spiral")


class LatentCurveModel(nn.Module):
    def __init__(self, spec: LatentSpec, n_z: int, w_init: Tensor):
        super().__init__()
        if spec.family not in FAMILIES:
            raise ValueError(f"unknown decoder family {spec.family!r}; choose one of {list(FAMILIES)}")
        if n_z < 4:
            raise ValueError("the latent grid needs at least 4 values of z")
        self.family = spec.family
        lo, hi = spec.z_range
        if spec.periodic:
            z = lo + (hi - lo) * torch.arange(n_z, dtype=torch.float32) / n_z
        else:
            z = torch.linspace(lo, hi, n_z)
        self.register_buffer("z", z)
        self.w = nn.Parameter(w_init.detach().clone().float())

    @classmethod
    def perturbed(cls, spec: LatentSpec, n_z: int, jitter: float, gen: torch.Generator) -> LatentCurveModel:
        """Start from the true parameters scaled by (1 + jitter·u), u ~ U(−1, 1) each: training has to
        find the manifold from there (and the branches stay distinct)."""
        w_true = torch.tensor(spec.w_true, dtype=torch.float32)
        u = 2 * torch.rand(w_true.shape, generator=gen) - 1
        return cls(spec, n_z, w_true * (1 + jitter * u))

    def curve(self) -> Tensor:
        """g(z) for every latent (branch × grid position), shape (K·Z, 2)."""
        z, w = self.z, self.w
        if self.family == "ellipse":
            pts = torch.stack([w[:, :1] * torch.cos(z), w[:, 1:2] * torch.sin(z)], -1)
        elif self.family == "line":
            pts = torch.stack([z.expand(w.shape[0], -1), w[:, :1].expand(-1, z.shape[0])], -1)
        else:
            r = w[:, :1] * z + w[:, 1:2]
            pts = torch.stack([r * torch.cos(z), r * torch.sin(z)], -1)
        return pts.reshape(-1, 2)

    def pair_energy(self, y: Tensor) -> Tensor:
        """E(y, z) = ‖y − g(z)‖² for every latent, shape (N, K·Z) (computed exactly, by differences)."""
        diff = y[:, None, :] - self.curve()[None]
        return (diff * diff).sum(-1)

    def free_energy(self, y: Tensor, beta: float | None = None, chunk: int = 4096) -> Tensor:
        """F_∞(y) (beta None) or F_β(y), shape (N,)."""
        if beta is not None and beta <= 0:
            raise ValueError("beta must be > 0 (or None for F_∞)")
        g = self.curve()
        out = []
        for part in torch.split(y, chunk):
            if beta is None:
                # the best latent by cdist's fast matrix form, then its energy exactly (and differentiably)
                best = torch.cdist(part.detach(), g.detach()).argmin(1)
                out.append(((part - g[best]) ** 2).sum(1))
            else:
                e = torch.cdist(part, g) ** 2
                out.append(-(torch.logsumexp(-beta * e, 1) - math.log(e.shape[1])) / beta)
        return torch.cat(out)

    def forward(self, y: Tensor) -> Tensor:
        return self.free_energy(y)
