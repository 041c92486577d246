"""The latent-variable energy: F_∞ against brute force, F_β's bounds, the decoder families, training."""

from __future__ import annotations

import math

import pytest
import torch

from engine.dae.latent import LatentCurveModel
from engine.dae.manifolds import MANIFOLDS, LatentSpec, get_manifold


def true_model(name: str, n_z: int = 720) -> LatentCurveModel:
    spec = get_manifold(name).latent
    return LatentCurveModel(spec, n_z, torch.tensor(spec.w_true))


def brute_pair_energy(model: LatentCurveModel, y: torch.Tensor) -> torch.Tensor:
    g = model.curve().detach().double()
    return ((y.double()[:, None, :] - g[None]) ** 2).sum(-1)


@pytest.mark.parametrize("name", sorted(MANIFOLDS))
def test_free_energy_is_the_min_over_the_latent_grid(name):
    model = true_model(name, 200)
    y = 3 * torch.rand(500, 2, generator=torch.Generator().manual_seed(0)) - 1.5
    ref = brute_pair_energy(model, y)
    assert torch.allclose(model.free_energy(y).double(), ref.min(1).values, atol=1e-5)


@pytest.mark.parametrize("beta", [0.5, 5.0, 50.0])
def test_relaxed_free_energy_formula_and_bounds(beta):
    model = true_model("two_circles", 100)
    y = 4 * torch.rand(300, 2, generator=torch.Generator().manual_seed(1)) - 2
    e = brute_pair_energy(model, y)
    ref = -(torch.logsumexp(-beta * e, 1) - math.log(e.shape[1])) / beta
    f_beta = model.free_energy(y, beta).double()
    assert torch.allclose(f_beta, ref, atol=2e-4 * max(1.0, 1 / beta))
    f_inf = e.min(1).values
    assert (f_beta >= f_inf - 1e-4).all()
    assert (f_beta <= f_inf + math.log(e.shape[1]) / beta + 1e-4).all()


def test_relaxed_tends_to_zero_temperature():
    model = true_model("ellipse", 360)
    y = torch.tensor([[0.0, 0.0], [2.5, 0.3], [-1.0, 1.0]])
    with torch.no_grad():
        gap = (model.free_energy(y, 1e4) - model.free_energy(y)).abs().max()
    assert float(gap) < 1e-3


@pytest.mark.parametrize("name", sorted(MANIFOLDS))
def test_true_decoder_gives_the_squared_distance(name):
    m = get_manifold(name)
    model = true_model(name, 2000)
    y = (2 * torch.rand(400, 2, generator=torch.Generator().manual_seed(2)) - 1) * m.box
    d2 = m.distance(y) ** 2
    # the latent grid's gaps add at most (spacing/2)² ≈ 1e-5 here
    assert torch.allclose(model.free_energy(y), d2, atol=1e-4)


def test_decoder_families():
    ell = LatentCurveModel(LatentSpec("ellipse", ((2.0, 1.5),), (0.0, 2 * math.pi), True), 4,
                           torch.tensor([[2.0, 1.5]]))
    assert torch.allclose(ell.curve()[:2], torch.tensor([[2.0, 0.0], [0.0, 1.5]]), atol=1e-6)
    line = LatentCurveModel(LatentSpec("line", ((1.0,),), (-1.0, 1.0), False), 5, torch.tensor([[0.7]]))
    assert torch.allclose(line.curve(), torch.tensor([[-1, 0.7], [-0.5, 0.7], [0, 0.7], [0.5, 0.7], [1, 0.7]]))
    spiral = LatentCurveModel(LatentSpec("spiral", ((1.0, 0.5),), (0.0, 3 * math.pi / 2), False), 4,
                              torch.tensor([[1.0, 0.5]]))
    z = torch.tensor([0.0, math.pi / 2, math.pi, 3 * math.pi / 2])
    r = 1.0 * z + 0.5
    assert torch.allclose(spiral.curve(), torch.stack([r * torch.cos(z), r * torch.sin(z)], 1), atol=1e-5)


def test_training_the_decoder_finds_the_manifold():
    m = get_manifold("two_circles")
    gen = torch.Generator().manual_seed(0)
    model = LatentCurveModel.perturbed(m.latent, 360, 0.3, gen)
    w_true = torch.tensor(m.latent.w_true)
    start = float((model.w.detach() - w_true).abs().max())
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(300):
        loss = model.free_energy(m.sample(256, gen)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert start > 0.05
    assert float((model.w.detach() - w_true).abs().max()) < 0.02


def test_validation():
    spec = get_manifold("circle").latent
    with pytest.raises(ValueError, match="family"):
        LatentCurveModel(LatentSpec("torus", ((1.0,),), (0.0, 1.0), False), 10, torch.ones(1, 1))
    with pytest.raises(ValueError, match="at least 4"):
        LatentCurveModel(spec, 2, torch.ones(1, 2))
    with pytest.raises(ValueError, match="beta"):
        true_model("circle").free_energy(torch.zeros(1, 2), beta=0.0)
