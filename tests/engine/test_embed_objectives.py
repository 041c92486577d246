"""The contrastive losses against brute-force evaluations of their formulas (values and gradients)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from engine.embed.models import SmallCNN
from engine.embed.objectives import REGISTRY, ObjectiveContext
from engine.embed.objectives.l2 import nt_xent_l2
from engine.embed.objectives.moco import MoCo, moco_loss
from engine.embed.objectives.pirl import PIRL, l_nce, sample_negatives
from engine.embed.objectives.simclr import nt_xent, nt_xent_lower_bound
from engine.training import init_parameters, make_generator


def rand(*shape, seed: int, dtype=torch.float32) -> torch.Tensor:
    return torch.rand(*shape, generator=make_generator(seed), dtype=dtype)


def small_cnn(seed: int = 0) -> SmallCNN:
    return init_parameters(SmallCNN(1, 8, width=4), make_generator(seed))


def cos(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return (u * v).sum() / (u.norm() * v.norm())


def grads(fn, *xs):
    xs = [x.clone().requires_grad_(True) for x in xs]
    value = fn(*xs)
    return value.detach(), torch.autograd.grad(value, xs)


def brute_nt_xent(z1, z2, tau, energy=None):
    """ℓ(i, j) = −log exp(s_ij/τ) / Σ_{k≠i} exp(s_ik/τ), averaged over the 2N views."""
    s = energy or cos
    views = list(z1) + list(z2)
    n = len(z1)
    total = 0
    for i in range(2 * n):
        j = i + n if i < n else i - n
        num = torch.exp(s(views[i], views[j]) / tau)
        den = sum(torch.exp(s(views[i], views[k]) / tau) for k in range(2 * n) if k != i)
        total = total - torch.log(num / den)
    return total / (2 * n)


@pytest.mark.parametrize("n,d,tau", [(3, 4, 0.5), (4, 2, 0.1), (2, 5, 1.0)])
def test_nt_xent_matches_the_formula(n, d, tau):
    gen = torch.Generator().manual_seed(n * 10 + d)
    z1 = torch.randn(n, d, generator=gen, dtype=torch.float64)
    z2 = torch.randn(n, d, generator=gen, dtype=torch.float64)
    v_fast, g_fast = grads(lambda a, b: nt_xent(a, b, tau)[0], z1, z2)
    v_slow, g_slow = grads(lambda a, b: brute_nt_xent(a, b, tau), z1, z2)
    torch.testing.assert_close(v_fast, v_slow)
    for a, b in zip(g_fast, g_slow, strict=True):
        torch.testing.assert_close(a, b)


def test_l2_variant_matches_the_formula():
    gen = torch.Generator().manual_seed(3)
    z1 = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    z2 = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    neg_sq = lambda u, v: -((u - v) ** 2).sum()
    v_fast, g_fast = grads(lambda a, b: nt_xent_l2(a, b, 0.7)[0], z1, z2)
    v_slow, g_slow = grads(lambda a, b: brute_nt_xent(a, b, 0.7, energy=neg_sq), z1, z2)
    torch.testing.assert_close(v_fast, v_slow)
    for a, b in zip(g_fast, g_slow, strict=True):
        torch.testing.assert_close(a, b)


def test_cosine_loss_floor_is_tight_and_l2_goes_below_it():
    tau = 0.5
    # N = 2: each positive pair identical, the two pairs antipodal → every negative at cosine −1
    e = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]], dtype=torch.float64)
    best = nt_xent(e, e.clone(), tau)[0].item()
    assert best == pytest.approx(nt_xent_lower_bound(2, tau), rel=1e-9)
    assert best == pytest.approx(math.log1p(2 * math.exp(-2 / tau)), rel=1e-9)
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):  # random embeddings never go below the floor
        z1, z2 = torch.randn(8, 4, generator=gen), torch.randn(8, 4, generator=gen)
        assert nt_xent(z1, z2, tau)[0].item() >= nt_xent_lower_bound(8, tau) - 1e-6
    # L2 energies can "cheat": spreading the same configuration far from the centre drives the loss to 0
    far = nt_xent_l2(10 * e, 10 * e.clone(), tau)[0].item()
    assert far < 1e-6 < nt_xent_lower_bound(2, tau)


def brute_moco(q, k, queue, tau):
    """L_q = −log exp(s(q,k₊)/τ) / (exp(s(q,k₊)/τ) + Σ_i exp(s(q,k_i)/τ)), s the cosine."""
    total = 0
    for i in range(len(q)):
        num = torch.exp(cos(q[i], k[i]) / tau)
        den = num + sum(torch.exp(cos(q[i], queue[j]) / tau) for j in range(len(queue)))
        total = total - torch.log(num / den)
    return total / len(q)


@pytest.mark.parametrize("tau", [0.07, 0.2, 1.0])
def test_moco_loss_matches_the_formula(tau):
    gen = torch.Generator().manual_seed(1)
    raw = lambda *s: torch.randn(*s, generator=gen, dtype=torch.float64)
    q, k, queue = raw(4, 3), raw(4, 3), F.normalize(raw(6, 3), dim=1)
    # the code takes unit vectors (the objective normalises first), the formula takes raw ones
    v_fast, g_fast = grads(lambda a, b: moco_loss(F.normalize(a, dim=1), F.normalize(b, dim=1), queue, tau)[0], q, k)
    v_slow, g_slow = grads(lambda a, b: brute_moco(a, b, queue, tau), q, k)
    torch.testing.assert_close(v_fast, v_slow)
    for a, b in zip(g_fast, g_slow, strict=True):
        torch.testing.assert_close(a, b)


def test_moco_queue_and_momentum_encoder():
    enc = small_cnn()
    moco = MoCo(enc, proj_dim=5, temperature=0.2, queue_size=6, momentum=0.9, bn_groups=2, gen=make_generator(0))
    x = rand(4, 1, 8, 8, seed=1)
    out = moco(enc, x, x.flip(-1), torch.arange(4))
    assert torch.isfinite(out.loss)
    assert int(moco.queue_filled) == 4 and int(moco.queue_ptr) == 4
    out.loss.backward()
    assert all(p.grad is None for p in moco.key_encoder.parameters())  # keys get no gradient
    assert enc.body[0][0].weight.grad is not None
    # θ_k ← m θ_k + (1 − m) θ_q after the query encoder moved
    with torch.no_grad():
        for p in enc.parameters():
            p.add_(1.0)
    before = [p.clone() for p in moco.key_encoder.parameters()]
    moco.momentum_update(enc)
    for pk, pk0, pq in zip(moco.key_encoder.parameters(), before, enc.parameters(), strict=True):
        torch.testing.assert_close(pk, 0.9 * pk0 + 0.1 * pq)
    moco.enqueue(torch.ones(3, 5))  # wraps around the end of the queue
    assert int(moco.queue_ptr) == 1 and int(moco.queue_filled) == 6


def brute_h(a, b, negatives, tau):
    """h(a, b) = e^{s(a,b)/τ} / (e^{s(a,b)/τ} + Σ_{I'∈D_N} e^{s(b, v_I')/τ}) with s the cosine."""
    num = torch.exp(cos(a, b) / tau)
    return num / (num + sum(torch.exp(cos(b, n) / tau) for n in negatives))


def brute_l_nce(a, b, negatives, tau):
    """L_NCE = −log h(a, b) − Σ_{I'} log[1 − h(b, v_I')], per row, averaged."""
    total = 0
    for i in range(len(a)):
        total = total - torch.log(brute_h(a[i], b[i], negatives, tau))
        for n in negatives:
            total = total - torch.log(1 - brute_h(b[i], n, negatives, tau))
    return total / len(a)


@pytest.mark.parametrize("tau", [0.3, 1.0, 2.0])
def test_pirl_l_nce_matches_the_lecture_formula(tau):
    gen = torch.Generator().manual_seed(2)
    raw = lambda *s: torch.randn(*s, generator=gen, dtype=torch.float64)
    a, b, negs = raw(3, 4), raw(3, 4), F.normalize(raw(5, 4), dim=1)
    unit = lambda t: F.normalize(t, dim=1)
    v_fast, g_fast = grads(lambda x, y: l_nce(unit(x), unit(y), negs, tau)[0].mean(), a, b)
    v_slow, g_slow = grads(lambda x, y: brute_l_nce(x, y, negs, tau), a, b)
    torch.testing.assert_close(v_fast, v_slow)
    for x, y in zip(g_fast, g_slow, strict=True):
        torch.testing.assert_close(x, y)
    # the second term is really there: at τ ≥ 1 it moves the value
    first_only = -sum(torch.log(brute_h(a[i], b[i], negs, tau)) for i in range(3)) / 3
    assert abs(v_slow - first_only) > 1e-3


def test_pirl_loss_is_the_lambda_mix_against_the_memory_bank_and_updates_it():
    enc = small_cnn().double()
    pirl = PIRL(enc.out_dim, proj_dim=3, temperature=0.5, n_images=12, negatives=5, bank_momentum=0.5,
                lam=0.3, gen=make_generator(1))
    pirl = init_parameters(pirl, make_generator(2)).double()
    pirl.gen.manual_seed(7)
    x1, x2 = rand(4, 1, 8, 8, seed=3, dtype=torch.float64), rand(4, 1, 8, 8, seed=4, dtype=torch.float64)
    idx = torch.tensor([0, 3, 5, 9])
    bank0 = pirl.bank.clone()
    negs = sample_negatives(12, idx, 5, torch.Generator().manual_seed(7))
    assert not set(negs.tolist()) & set(idx.tolist()) and len(negs) == 5
    enc.train()
    pirl.train()
    out = pirl(enc, x1, x2, idx)
    # recompute with the same weights (train-mode BN: same batch → same outputs)
    v = enc(torch.cat([x1, x2]))
    f_v = F.normalize(pirl.heads.f(v[:4]), dim=1)
    g_vt = F.normalize(pirl.heads.g(v[4:]), dim=1)
    m, negatives = bank0[idx], bank0[negs]
    expected = 0.3 * brute_l_nce(m, g_vt, negatives, 0.5) + 0.7 * brute_l_nce(m, f_v, negatives, 0.5)
    torch.testing.assert_close(out.loss, expected)
    # m_I ← normalise(μ m_I + (1 − μ) f(v_I)); other slots untouched
    torch.testing.assert_close(pirl.bank[idx], F.normalize(0.5 * bank0[idx] + 0.5 * f_v.detach(), dim=1))
    untouched = torch.ones(12, dtype=torch.bool)
    untouched[idx] = False
    torch.testing.assert_close(pirl.bank[untouched], bank0[untouched])


def test_losses_stay_float32_under_bf16_autocast():
    """The CUDA path runs the encoder under bf16 autocast; the similarities must not be rounded.
    CPU autocast exercises the same code."""
    from engine.embed.objectives.simclr import SimCLR

    enc = small_cnn()
    obj = init_parameters(SimCLR(enc.out_dim, 8, temperature=0.1), make_generator(1))
    x1, x2 = rand(16, 1, 8, 8, seed=2), rand(16, 1, 8, 8, seed=3)
    plain = obj(enc, x1, x2, torch.arange(16)).loss
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        mixed = obj(enc, x1, x2, torch.arange(16))
    assert mixed.loss.dtype == torch.float32
    # only the encoder and head ran in bf16: the loss moves by their rounding, not the loss's own
    assert abs(mixed.loss.item() - plain.item()) < 0.05
    gen = make_generator(4)
    z1, z2 = torch.randn(64, 32, generator=gen), torch.randn(64, 32, generator=gen)
    exact = nt_xent(z1, z2, 0.05)[0]
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        from engine.embed.objectives import float32_loss

        with float32_loss(z1):
            guarded = nt_xent(z1, z2, 0.05)[0]
        unguarded = nt_xent(z1, z2, 0.05)[0]
    assert guarded.item() == pytest.approx(exact.item(), abs=1e-6)
    assert abs(unguarded.item() - exact.item()) > 1e-4  # what the guard prevents


def test_every_method_is_registered_with_its_own_settings():
    assert REGISTRY.names() == ("simclr", "moco", "pirl", "simclr_l2")
    assert REGISTRY.settings_of("simclr") == ("proj_dim", "temperature")
    assert set(REGISTRY.settings_of("moco")) == {"proj_dim", "temperature", "queue_size", "moco_momentum",
                                                 "bn_groups"}
    assert set(REGISTRY.settings_of("pirl")) == {"proj_dim", "temperature", "bank_negatives", "bank_momentum",
                                                 "pirl_lambda"}
    from engine.embed.config import EmbedConfig

    cfg = EmbedConfig.create(method="moco", queue_size=32, proj_dim=8)
    moco = REGISTRY.build("moco", ObjectiveContext(small_cnn(), n_train=100, gen=make_generator(0)), cfg)
    assert isinstance(moco, MoCo) and moco.queue.shape == (32, 8) and moco.momentum == cfg.moco_momentum
    again = REGISTRY.build("moco", ObjectiveContext(small_cnn(), n_train=100, gen=make_generator(0)), cfg)
    assert torch.equal(moco.queue, again.queue)  # the queue comes from the run's generator
    pirl = REGISTRY.build("pirl", ObjectiveContext(small_cnn(), n_train=100, gen=make_generator(0)),
                          cfg.with_(method="pirl", bank_negatives=16))
    assert pirl.bank.shape == (100, 8) and pirl.n_negatives == 16
