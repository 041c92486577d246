r"""The contrastive parts of SimCLR, MoCo and PIRL when the batch is split over ranks (engine/distributed.py).

Each rank holds n of the N = W·n images of the global batch (W ranks, same n everywhere) and computes
the loss of its own rows; DistributedDataParallel averages the parameter gradients over ranks, so a
step is that of the mean of the ranks' losses — the single-process loss of the global batch. What the
three objectives must share across ranks:

- SimCLR (NT-Xent): the negatives of a view are the other 2N − 1 views of the *global* batch. Each rank
  gathers every rank's views with `gather_with_grad` (its backward sums the gradients over ranks: the
  negatives a rank contributes receive the gradients of every rank's loss) and compares its 2n views
  (rows) with all 2N (columns). The columns are laid out rank by rank, [z1_0; z2_0; z1_1; z2_1; …],
  so row i of rank r (its view 1 of image i) is column 2n·r + i and its positive column 2n·r + n + i:
  the self-similarity and the positive are masked and picked with the rank's offset 2n·r. One rank
  (`gather` = identity, rank 0) is exactly `simclr.nt_xent`. Batch norm: a positive pair goes through
  the same rank's forward pass, so per-rank BN statistics would let the network recognise its partner
  (SimCLR's "information leakage"); convert the encoder and head with
  `engine.distributed.convert_sync_batchnorm` (SyncBatchNorm on CUDA, GlobalBatchNorm on gloo/CPU).
- MoCo: the loss needs nothing from other ranks (the negatives are the queue, the keys are detached); the
  queue must stay the same on every rank, so each step enqueues the keys of the global batch, gathered in rank
  order (`MoCo.forward`: `enqueue(all_gather_no_grad(keys))`). Batch norm: the keys' BN must not see the same
  images as the queries'; `shuffled_keys` implements MoCo's shuffle-BN across ranks (gather the key inputs,
  permute the global batch by a permutation broadcast from rank 0, each rank encodes its slice with its own BN
  statistics, gather the keys, undo the permutation, keep this rank's rows). This equals one process whose key
  BN uses W groups (`moco._grouped(key, x_all, W, order)`) on the rank-major batch. SyncBN is *not* a
  substitute for the keys: global statistics over the same images as the queries' is the leak shuffle-BN
  removes; with shuffle-BN the queries keep per-rank BN (MoCo's own recipe).
- PIRL: the bank must stay the same on every rank, so the bank update gathers every rank's indices and
  f(v_I) (the shards are disjoint, so no slot is written twice in a step), and the negatives are drawn
  outside the *global* batch from the objective's generator, which every rank holds in the same state
  (same seed, same number of draws) — both in `PIRL.forward`.

All functions are the identity-extension of the single-process code: with one process they compute
exactly what the objectives in engine/embed/objectives/ compute. (The L2 variant's gathered loss is
`objectives.l2.nt_xent_l2_distributed`; this module imports no objective, so the objectives can use it.)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from engine.distributed import all_gather_no_grad, broadcast_tensor, gather_with_grad, world_size

Tensor = torch.Tensor
Similarity = Callable[[Tensor, Tensor], Tensor]


# ---- SimCLR ------------------------------------------------------------------------------------------
def distributed_pair_logits(z1: Tensor, z2: Tensor, similarity: Similarity, *, rank: int,
                            gather: Callable[[Tensor], Tensor] = gather_with_grad) -> tuple[Tensor, Tensor]:
    """This rank's 2n rows against the global batch's 2N views: the [2n, 2N] logits with −∞ at each row's
    own column, and each row's positive column (offsets 2n·rank; columns rank by rank, view 1 then 2)."""
    n = len(z1)
    rows = torch.cat([z1, z2])
    columns = gather(rows)
    logits = similarity(rows, columns)
    mine = torch.arange(2 * n, device=rows.device)
    own = 2 * n * rank + mine
    positive = 2 * n * rank + (mine + n) % (2 * n)
    logits = logits.masked_fill(F.one_hot(own, len(columns)).bool(), float("-inf"))
    return logits, positive


def nt_xent_distributed(z1: Tensor, z2: Tensor, temperature: float, *, rank: int,
                        gather: Callable[[Tensor], Tensor] = gather_with_grad) -> tuple[Tensor, Tensor, Tensor]:
    """NT-Xent of this rank's pairs (z1[i], z2[i]) with every rank's views as negatives; returns (loss —
    the mean over this rank's 2n rows —, logits, positive columns). The vectors are normalised before
    the gather, so each row is normalised once, by the rank that owns it."""
    u1, u2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    logits, positive = distributed_pair_logits(u1, u2, lambda a, b: a @ b.T / temperature, rank=rank,
                                               gather=gather)
    return F.cross_entropy(logits, positive), logits, positive


# ---- MoCo --------------------------------------------------------------------------------------------
def shuffle_plan(total: int, gen: torch.Generator, device: torch.device) -> tuple[Tensor, Tensor]:
    """A permutation of the global batch's rows and its inverse. Every rank draws from `gen` (so the
    generators stay in step) and rank 0's draw is broadcast (so the plan is the same even if they were
    not)."""
    order = broadcast_tensor(torch.randperm(total, generator=gen).to(device))
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(total, device=device)
    return order, inverse


@torch.no_grad()
def shuffled_keys(key_net: Callable[[Tensor], Tensor] | nn.Module, x: Tensor, *, rank: int,
                  gen: torch.Generator) -> Tensor:
    """Keys of this rank's inputs `x`, computed with MoCo's shuffle-BN across ranks: the batch-norm
    statistics of a key come from a random W-th of the global batch, not from this rank's images."""
    world = world_size()
    x_all = all_gather_no_grad(x)
    order, inverse = shuffle_plan(len(x_all), gen, x_all.device)
    k_all = all_gather_no_grad(key_net(x_all[order].chunk(world)[rank]))
    return k_all[inverse].chunk(world)[rank]
