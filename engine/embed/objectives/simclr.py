r"""SimCLR's NT-Xent loss (normalised temperature-scaled cross-entropy).

A batch of N images gives 2N views x̃_1 … x̃_{2N}; views 2k−1 and 2k come from the same image (a
positive pair), every other view is a negative. With z_i = g(f(x̃_i)) (encoder f, projection head g)
and the cosine similarity s(u, v) = uᵀv / (‖u‖ ‖v‖), the energy of a pair is −s/τ and

    ℓ(i, j) = −log  exp[s(z_i, z_j)/τ] / Σ_{k ≠ i} exp[s(z_i, z_k)/τ]

    L = 1/(2N) Σ_{k=1}^{N} [ ℓ(2k−1, 2k) + ℓ(2k, 2k−1) ].

In the lecture's notation this is −log h(v_I, v_{I^t}) with the other 2N−2 views of the batch as the
negatives D_N: the positive's exponential over itself plus the negatives'. No memory bank, no queue:
the negatives are the batch, so the batch size *is* the number of negatives.

Several processes (torchrun): each rank embeds its n images and compares its 2n views with the 2N views
of the global batch, gathered with correct gradients (engine/embed/distributed_losses.py); the loss is
the mean over this rank's rows, DDP averages the gradients: the step of one process on the whole batch.

Analytic floor: s ≤ 1 for the positive, and N·2 unit vectors cannot all be far apart (their mean
pairwise cosine is ≥ −1/(2N−1)); by convexity of log-sum-exp this gives L ≥ `nt_xent_lower_bound`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from engine.distributed import rank, world_size
from engine.embed.distributed_losses import nt_xent_distributed
from engine.embed.models import ProjectionHead
from engine.embed.objectives import REGISTRY, ObjectiveContext, StepOut, float32_loss, full_precision, top1_positive

Tensor = torch.Tensor


def pair_logits(z1: Tensor, z2: Tensor, similarity) -> tuple[Tensor, Tensor]:
    """The 2N×2N matrix of similarities with −∞ on the diagonal, and each row's positive column."""
    n = len(z1)
    z = torch.cat([z1, z2])
    logits = similarity(z, z)
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return logits, positive


def nt_xent(z1: Tensor, z2: Tensor, temperature: float) -> tuple[Tensor, Tensor, Tensor]:
    """NT-Xent of the positive pairs (z1[i], z2[i]); returns (loss, logits, positive columns)."""
    cosine = lambda a, b: F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / temperature
    logits, positive = pair_logits(z1, z2, cosine)
    return F.cross_entropy(logits, positive), logits, positive


def nt_xent_lower_bound(batch: int, temperature: float) -> float:
    """The smallest value NT-Xent can take for N = `batch` images (2N unit vectors).

    Per view the loss is log(1 + Σ_neg exp((s_neg − s_pos)/τ)); s_pos ≤ 1 and, over all ordered pairs,
    Σ s = ‖Σ z‖² − 2N ≥ −2N, so the negatives' mean cosine is ≥ −(2N + 2N)/(2N(2N−2)) = −1/(N−1).
    Jensen on the convex log(1 + (2N−2)·e^x) then bounds the mean loss.
    """
    if batch < 2:
        raise ValueError("the bound needs at least two images")
    mean_neg = -1.0 / (batch - 1)
    return math.log1p((2 * batch - 2) * math.exp((mean_neg - 1.0) / temperature))


class SimCLR(nn.Module):
    metric = "cosine"

    def __init__(self, in_dim: int, proj_dim: int, temperature: float):
        super().__init__()
        self.head = ProjectionHead(in_dim, proj_dim)
        self.temperature = temperature

    def embed_features(self, h: Tensor) -> Tensor:
        """Encoder output h → the unit vector z the loss compares."""
        return F.normalize(self.head(h), dim=1)

    def embed(self, encoder: nn.Module, x: Tensor) -> Tensor:
        return self.embed_features(encoder(x))

    def forward(self, encoder: nn.Module, x1: Tensor, x2: Tensor, idx: Tensor) -> StepOut:
        n, world = len(x1), world_size()
        z = self.head(encoder(torch.cat([x1, x2])))  # one pass: BN sees both views
        with float32_loss(z):
            z1, z2 = full_precision(z[:n]), full_precision(z[n:])
            if world > 1:  # the other ranks' views are negatives too
                loss, logits, positive = nt_xent_distributed(z1, z2, self.temperature, rank=rank())
            else:
                loss, logits, positive = nt_xent(z1, z2, self.temperature)
        zn = F.normalize(full_precision(z.detach()), dim=1)
        return StepOut(loss, zn[:n], zn[n:], {
            "contrastive_acc": top1_positive(logits.detach(), positive),
            "loss_floor": nt_xent_lower_bound(n * world, self.temperature),
            "embedding_norm": full_precision(z.detach()).norm(dim=1).mean().item(),
        })


@REGISTRY.register("simclr", "SimCLR (NT-Xent)")
def build(ctx: ObjectiveContext, *, proj_dim: int, temperature: float) -> SimCLR:
    return SimCLR(ctx.encoder.out_dim, proj_dim, temperature)
