r"""MoCo: momentum contrast with a queue of negatives.

A query encoder f_q (encoder + head) and a key encoder f_k, a copy of f_q that is not trained by
gradients but follows it by an exponential moving average. For a batch of images, q = f_q(x_q) and
k₊ = f_k(x_k) embed two views of the same image (a positive pair); the queue holds the K most recent
keys k_1 … k_K from earlier batches (negatives). With unit vectors and the cosine similarity
s(q, k) = qᵀk,

    L_q = −log  exp[s(q, k₊)/τ] / ( exp[s(q, k₊)/τ] + Σ_{i=1}^{K} exp[s(q, k_i)/τ] )

— the lecture's −log h(v_I, v_{I^t}) with the queue as D_N. After each step

    θ_k ← m θ_k + (1 − m) θ_q,     queue ← [k₊ of this batch, queue minus its oldest keys].

The number of negatives is the queue length, not the batch size: MoCo's way of having many
negatives, like PIRL's memory bank, but with keys from a slowly moving encoder. The loss here is
symmetrised (each view serves once as query and once as key), which uses each forward pass twice.
Batch-norm statistics would let a query find its key through the batch. MoCo's answer is shuffle-BN
over its GPUs; on one device the batch is run through BN in `bn_groups` groups laid out as that many
virtual GPUs — group g holds both views of the g-th chunk of the images, as GPU g would — and the keys'
groups are a shuffled order of the same rows. Under torchrun each process is one group and the keys use
shuffle-BN across the processes (`distributed_losses.shuffled_keys`); the queue is filled with every
process's keys, gathered in rank order, so it is the same on every rank. One process with `bn_groups`
= W computes the step of W processes exactly (tests/engine/test_distributed_trainer.py).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from engine.distributed import all_gather_no_grad, rank, world_size
from engine.embed.distributed_losses import shuffled_keys
from engine.embed.models import ProjectionHead
from engine.embed.objectives import REGISTRY, ObjectiveContext, StepOut, float32_loss, full_precision, top1_positive

Tensor = torch.Tensor


def moco_logits(q: Tensor, k: Tensor, queue: Tensor, temperature: float) -> Tensor:
    """Row i: [s(q_i, k_i), s(q_i, queue_1), …, s(q_i, queue_K)] / τ for unit vectors q, k, queue."""
    positive = (q * k).sum(dim=1, keepdim=True)
    return torch.cat([positive, q @ queue.T], dim=1) / temperature


def moco_loss(q: Tensor, k: Tensor, queue: Tensor, temperature: float) -> tuple[Tensor, Tensor]:
    """Mean L_q over the batch (the positive is column 0); returns (loss, logits)."""
    logits = moco_logits(q, k, queue, temperature)
    target = torch.zeros(len(q), dtype=torch.long, device=q.device)
    return F.cross_entropy(logits, target), logits


def _grouped(net: nn.Module, x: Tensor, groups: int, order: Tensor | None = None) -> Tensor:
    """net(x) with batch-norm statistics per group of rows (rows permuted by `order` first)."""
    if groups <= 1:
        return net(x)
    xs = x if order is None else x[order]
    out = torch.cat([net(chunk) for chunk in xs.chunk(groups)])
    return out if order is None else out[_inverse(order)]


def virtual_ranks(n: int, groups: int, device: torch.device) -> Tensor:
    """Row order laying out the batch [x1; x2] of n images as `groups` virtual processes, each with both
    views of its images: [x1_0; x2_0; x1_1; x2_1; …], x1_g the g-th chunk of the images."""
    chunks = torch.arange(n, device=device).chunk(groups)
    return torch.cat([torch.cat([c, c + n]) for c in chunks])


def _inverse(order: Tensor) -> Tensor:
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(len(order), device=order.device)
    return inverse


class MoCo(nn.Module):
    metric = "cosine"

    def __init__(self, encoder: nn.Module, proj_dim: int, temperature: float, queue_size: int,
                 momentum: float, bn_groups: int, gen: torch.Generator):
        super().__init__()
        self.head = ProjectionHead(encoder.out_dim, proj_dim)
        self.key_encoder = copy.deepcopy(encoder)
        self.key_head = copy.deepcopy(self.head)
        for p in list(self.key_encoder.parameters()) + list(self.key_head.parameters()):
            p.requires_grad_(False)
        self.temperature = temperature
        self.momentum = momentum
        self.bn_groups = bn_groups
        # the queue starts as random unit vectors (drawn from the run's generator)
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, proj_dim, generator=gen), dim=1))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("queue_filled", torch.zeros((), dtype=torch.long))
        # a buffer, not a flag: a restored checkpoint must not re-copy the query encoder over its keys
        self.register_buffer("key_synced", torch.zeros((), dtype=torch.bool))
        self.gen = gen  # the run's generator (shuffles the BN groups)

    def embed_features(self, h: Tensor) -> Tensor:
        return F.normalize(self.head(h), dim=1)

    def embed(self, encoder: nn.Module, x: Tensor) -> Tensor:
        return self.embed_features(encoder(x))

    @torch.no_grad()
    def momentum_update(self, encoder: nn.Module) -> None:
        """θ_k ← m θ_k + (1 − m) θ_q (and copy the batch-norm running statistics)."""
        pairs = [(self.key_encoder, encoder), (self.key_head, self.head)]
        for key_net, query_net in pairs:
            for pk, pq in zip(key_net.parameters(), query_net.parameters(), strict=True):
                pk.mul_(self.momentum).add_(pq.detach(), alpha=1 - self.momentum)
            for bk, bq in zip(key_net.buffers(), query_net.buffers(), strict=True):
                bk.copy_(bq)

    @torch.no_grad()
    def enqueue(self, keys: Tensor) -> None:
        k = keys.detach().to(self.queue.dtype)
        size = len(self.queue)
        if len(k) >= size:
            self.queue.copy_(k[-size:])
            self.queue_ptr.zero_()
        else:
            ptr = int(self.queue_ptr)
            idx = (torch.arange(len(k), device=k.device) + ptr) % size
            self.queue[idx] = k
            self.queue_ptr.fill_((ptr + len(k)) % size)
        self.queue_filled.fill_(min(size, int(self.queue_filled) + len(k)))

    def forward(self, encoder: nn.Module, x1: Tensor, x2: Tensor, idx: Tensor) -> StepOut:
        if not self.key_synced:  # the key encoder starts as an exact copy of the query encoder
            self.key_encoder.load_state_dict(encoder.state_dict())
            self.key_head.load_state_dict(self.head.state_dict())
            self.key_synced.fill_(True)
        n = len(x1)
        x = torch.cat([x1, x2])
        query = lambda t: self.head(encoder(t))
        key = lambda t: self.key_head(self.key_encoder(t))
        if world_size() > 1:  # this process is one BN group; the keys' BN sees a random share of all processes
            zq = full_precision(query(x))
            with torch.no_grad():
                self.momentum_update(encoder)
                k = F.normalize(full_precision(shuffled_keys(key, x, rank=rank(), gen=self.gen)), dim=1)
        elif self.bn_groups > 1:
            layout = virtual_ranks(n, self.bn_groups, x.device)
            back = _inverse(layout)
            zq = full_precision(_grouped(query, x[layout], self.bn_groups))[back]
            with torch.no_grad():
                self.momentum_update(encoder)
                order = torch.randperm(len(x), generator=self.gen).to(x.device)
                k = F.normalize(full_precision(_grouped(key, x[layout], self.bn_groups, order)), dim=1)[back]
        else:
            zq = full_precision(query(x))
            with torch.no_grad():
                self.momentum_update(encoder)
                k = F.normalize(full_precision(key(x)), dim=1)
        q = F.normalize(zq, dim=1)
        queue = self.queue.clone()
        k_for_q = torch.cat([k[n:], k[:n]])  # view 1's key is view 2's encoding and vice versa
        with float32_loss(q):
            loss, logits = moco_loss(q, k_for_q, queue, self.temperature)
        self.enqueue(all_gather_no_grad(k[:n]))  # every process's keys, in rank order
        positive = torch.zeros(len(q), dtype=torch.long, device=q.device)
        qd = q.detach()
        return StepOut(loss, qd[:n], qd[n:], {
            "contrastive_acc": top1_positive(logits.detach(), positive),
            "embedding_norm": zq.detach().norm(dim=1).mean().item(),
            "queue_filled": float(self.queue_filled),
        })


@REGISTRY.register("moco", "MoCo (queue + momentum encoder)")
def build(ctx: ObjectiveContext, *, proj_dim: int, temperature: float, queue_size: int, moco_momentum: float,
          bn_groups: int) -> MoCo:
    return MoCo(ctx.encoder, proj_dim, temperature, queue_size, moco_momentum, bn_groups, ctx.gen)
