r"""PIRL: NCE with two heads f and g and a memory bank, written exactly as in the lecture.

For an image I and its transform I^t, the encoder gives v_I and v_{I^t}; head f embeds the image,
head g the transform. With the cosine similarity s and a set D_N of negative images I′,

    h(v_I, v_{I^t}) = exp[s(v_I, v_{I^t})/τ] / ( exp[s(v_I, v_{I^t})/τ] + Σ_{I′∈D_N} exp[s(v_{I^t}, v_{I′})/τ] )

    L_NCE(I, I^t) = −log h(f(v_I), g(v_{I^t})) − Σ_{I′∈D_N} log[1 − h(g(v_{I^t}), f(v_{I′}))].

Note the second term: h(g(v_{I^t}), f(v_{I′})) has f(v_{I′}) in the second slot, so its normaliser
sums exp[s(f(v_{I′}), v_{I″})/τ] over I″ ∈ D_N — including I″ = I′ itself (s = 1), which keeps that
term small; the code evaluates it as written (`l_nce`) and the tests compare against loops over the
formula.

Memory bank: PIRL does not recompute f(v_{I′}) for thousands of negatives. It keeps one slot m_I per
training image, updated after each step as m_I ← normalise(μ m_I + (1 − μ) f(v_I)) (μ = 0.5), and uses
the bank for the image's representation and for the negatives (drawn from images outside the
batch). The loss mixes the two ways of comparing with the bank with a weight λ:

    L(I, I^t) = λ L_NCE(m_I, g(v_{I^t})) + (1 − λ) L_NCE(m_I, f(v_I)).

Several processes (torchrun): the bank is kept identical on every rank — each step's update gathers
every rank's indices and f(v_I), and the negatives are drawn outside the global batch from the
objective's generator, in the same state on every rank.

Here the "transform" I^t is the same family of augmentations as SimCLR's (PIRL's jigsaw is one choice
of transformation; the lecture's point is the loss and the bank).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.distributed import all_gather_no_grad
from engine.embed.models import PIRLHeads
from engine.embed.objectives import REGISTRY, ObjectiveContext, StepOut, float32_loss, full_precision, top1_positive

Tensor = torch.Tensor


def log_h(a: Tensor, b: Tensor, negatives: Tensor, temperature: float) -> tuple[Tensor, Tensor]:
    """log h(a_i, b_i) for unit rows a, b against the shared negatives; also the logits row
    [s(a_i, b_i), s(b_i, n_1), …]/τ (the positive is column 0)."""
    logits = torch.cat([(a * b).sum(1, keepdim=True), b @ negatives.T], dim=1) / temperature
    return logits[:, 0] - torch.logsumexp(logits, dim=1), logits


def l_nce(a: Tensor, b: Tensor, negatives: Tensor, temperature: float) -> tuple[Tensor, Tensor]:
    """L_NCE per row: −log h(a_i, b_i) − Σ_{n∈D_N} log[1 − h(b_i, n)]; rows are unit vectors.

    h(b, n) = e^{s(b,n)/τ} / (e^{s(b,n)/τ} + Σ_{n′∈D_N} e^{s(n,n′)/τ}), so
    log[1 − h(b, n)] = C_n − log(e^{s(b,n)/τ} + e^{C_n}) with C_n = log Σ_{n′} e^{s(n,n′)/τ}.
    """
    first, logits = log_h(a, b, negatives, temperature)
    c = torch.logsumexp(negatives @ negatives.T / temperature, dim=1)  # C_n, one per negative
    s_bn = logits[:, 1:]
    log_one_minus_h = c[None, :] - torch.logaddexp(s_bn, c[None, :])
    return -first - log_one_minus_h.sum(1), logits


def sample_negatives(n_images: int, batch_idx: Tensor, k: int, gen: torch.Generator) -> Tensor:
    """k distinct image indices outside the batch (so no image is its own negative)."""
    perm = torch.randperm(n_images, generator=gen)
    in_batch = torch.zeros(n_images, dtype=torch.bool)
    in_batch[batch_idx.cpu()] = True
    free = perm[~in_batch[perm]]
    return free[: min(k, len(free))]


class PIRL(nn.Module):
    metric = "cosine"

    def __init__(self, in_dim: int, proj_dim: int, temperature: float, n_images: int, negatives: int,
                 bank_momentum: float, lam: float, gen: torch.Generator):
        super().__init__()
        self.heads = PIRLHeads(in_dim, proj_dim)
        self.temperature = temperature
        self.n_negatives = negatives
        self.bank_momentum = bank_momentum
        self.lam = lam
        # the bank starts as random unit vectors (drawn from the run's generator)
        self.register_buffer("bank", F.normalize(torch.randn(n_images, proj_dim, generator=gen), dim=1))
        self.gen = gen  # the run's generator (draws the negatives)

    def embed_features(self, h: Tensor) -> Tensor:
        return F.normalize(self.heads.f(h), dim=1)  # f: the image's head

    def embed(self, encoder: nn.Module, x: Tensor) -> Tensor:
        return self.embed_features(encoder(x))

    @torch.no_grad()
    def update_bank(self, idx: Tensor, f_v: Tensor) -> None:
        mu = self.bank_momentum
        self.bank[idx] = F.normalize(mu * self.bank[idx] + (1 - mu) * f_v.detach().to(self.bank.dtype), dim=1)

    def forward(self, encoder: nn.Module, x1: Tensor, x2: Tensor, idx: Tensor) -> StepOut:
        n = len(x1)
        v = encoder(torch.cat([x1, x2]))  # v_I (first views) and v_{I^t} (second views)
        f_v = F.normalize(full_precision(self.heads.f(v[:n])), dim=1)
        g_vt = F.normalize(full_precision(self.heads.g(v[n:])), dim=1)
        global_idx = all_gather_no_grad(idx)  # every process's images (this batch alone with one process)
        neg_idx = sample_negatives(len(self.bank), global_idx, self.n_negatives, self.gen).to(self.bank.device)
        negatives = self.bank[neg_idx]
        m = self.bank[idx]
        with float32_loss(f_v):
            l_g, logits = l_nce(m, g_vt, negatives, self.temperature)
            l_f, _ = l_nce(m, f_v, negatives, self.temperature)
            loss = (self.lam * l_g + (1 - self.lam) * l_f).mean()
        self.update_bank(global_idx, all_gather_no_grad(f_v.detach()))
        positive = torch.zeros(n, dtype=torch.long, device=logits.device)
        return StepOut(loss, f_v.detach(), g_vt.detach(), {
            "contrastive_acc": top1_positive(logits.detach(), positive),
            "negatives": float(len(neg_idx)),
        })


@REGISTRY.register("pirl", "PIRL (NCE, heads f and g, memory bank)")
def build(ctx: ObjectiveContext, *, proj_dim: int, temperature: float, bank_negatives: int, bank_momentum: float,
          pirl_lambda: float) -> PIRL:
    return PIRL(ctx.encoder.out_dim, proj_dim, temperature, ctx.n_train, bank_negatives, bank_momentum,
                pirl_lambda, ctx.gen)
