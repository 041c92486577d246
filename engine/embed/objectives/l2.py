r"""The L2 variant of NT-Xent, for the lecture's question "why cosine similarity and not L2?".

The same loss as SimCLR's with the energy of a pair the squared Euclidean distance of the raw
(un-normalised) projections instead of minus their cosine:

    ℓ(i, j) = −log  exp[−‖z_i − z_j‖²/τ] / Σ_{k ≠ i} exp[−‖z_i − z_k‖²/τ].

Nothing stops the network from "cheating" as the lecture says: shrinking every vector makes the
positives close, and spreading them far from the centre makes negatives far. The loss can go to
zero (cosine's cannot: see `simclr.nt_xent_lower_bound`) and the embedding norms drift; the trainer
logs the mean norm ‖z‖ so the drift can be plotted.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.distributed import rank, world_size
from engine.embed.distributed_losses import distributed_pair_logits
from engine.embed.models import ProjectionHead
from engine.embed.objectives import REGISTRY, ObjectiveContext, StepOut, float32_loss, full_precision, top1_positive
from engine.embed.objectives.simclr import nt_xent_lower_bound, pair_logits

Tensor = torch.Tensor


def neg_sq_distance(a: Tensor, b: Tensor) -> Tensor:
    """−‖a_i − b_j‖² for every pair, as ‖a‖² + ‖b‖² − 2aᵀb (clamped: rounding can make it negative)."""
    d2 = a.pow(2).sum(1, keepdim=True) + b.pow(2).sum(1)[None, :] - 2 * a @ b.T
    return -d2.clamp(min=0)


def nt_xent_l2(z1: Tensor, z2: Tensor, temperature: float) -> tuple[Tensor, Tensor, Tensor]:
    logits, positive = pair_logits(z1, z2, lambda a, b: neg_sq_distance(a, b) / temperature)
    return F.cross_entropy(logits, positive), logits, positive


def nt_xent_l2_distributed(z1: Tensor, z2: Tensor, temperature: float, *, rank: int,
                           gather=None) -> tuple[Tensor, Tensor, Tensor]:
    """`nt_xent_l2` over ranks: this rank's 2n rows against the gathered 2N views (gather: the
    all-gather with gradients by default; the identity gives the single-process loss)."""
    kw = {} if gather is None else {"gather": gather}
    logits, positive = distributed_pair_logits(z1, z2, lambda a, b: neg_sq_distance(a, b) / temperature,
                                               rank=rank, **kw)
    return F.cross_entropy(logits, positive), logits, positive


class SimCLRL2(nn.Module):
    metric = "l2"

    def __init__(self, in_dim: int, proj_dim: int, temperature: float):
        super().__init__()
        self.head = ProjectionHead(in_dim, proj_dim)
        self.temperature = temperature

    def embed_features(self, h: Tensor) -> Tensor:
        return self.head(h)  # not normalised: the L2 energy sees the norm

    def embed(self, encoder: nn.Module, x: Tensor) -> Tensor:
        return self.embed_features(encoder(x))

    def forward(self, encoder: nn.Module, x1: Tensor, x2: Tensor, idx: Tensor) -> StepOut:
        n, world = len(x1), world_size()
        z = full_precision(self.head(encoder(torch.cat([x1, x2]))))
        with float32_loss(z):
            if world > 1:
                loss, logits, positive = nt_xent_l2_distributed(z[:n], z[n:], self.temperature, rank=rank())
            else:
                loss, logits, positive = nt_xent_l2(z[:n], z[n:], self.temperature)
        zd = z.detach()
        return StepOut(loss, zd[:n], zd[n:], {
            "contrastive_acc": top1_positive(logits.detach(), positive),
            "loss_floor": nt_xent_lower_bound(n * world, self.temperature),  # cosine's floor, for comparison
            "embedding_norm": zd.norm(dim=1).mean().item(),
        })


@REGISTRY.register("simclr_l2", "SimCLR with L2 energy")
def build(ctx: ObjectiveContext, *, proj_dim: int, temperature: float) -> SimCLRL2:
    return SimCLRL2(ctx.encoder.out_dim, proj_dim, temperature)
