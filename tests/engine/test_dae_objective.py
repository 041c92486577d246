"""The DAE objective against its formula, the corruptions, and E / the field of the autoencoder."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.dae.model import MLPAutoencoder, dae_energy, reconstruction_field
from engine.dae.objective import Corruption, dae_loss


def test_gaussian_corruption_is_y_plus_sigma_eps_from_the_generator():
    y = torch.randn(50, 2)
    got = Corruption("gaussian", sigma=0.3)(y, torch.Generator().manual_seed(7))
    eps = torch.randn((50, 2), generator=torch.Generator().manual_seed(7))
    assert torch.allclose(got, y + 0.3 * eps)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_masking_keeps_or_zeroes_each_coordinate_and_is_unbiased(p):
    y = torch.full((40_000, 2), 1.5)
    got = Corruption("masking", drop=p)(y, torch.Generator().manual_seed(0))
    zero, scaled = got == 0, torch.isclose(got, y / (1 - p))
    assert (zero | scaled).all()
    assert float(zero.double().mean()) == pytest.approx(p, abs=0.01)
    assert float(got.mean()) == pytest.approx(1.5, rel=0.03)  # E[ỹ] = y: dropout's 1/(1 − p)


def test_loss_is_the_batch_mean_of_the_squared_norm():
    torch.manual_seed(0)
    model = MLPAutoencoder(2, 16, 1, 4)
    y = torch.randn(32, 2)
    corruption = Corruption("gaussian", sigma=0.5)
    out = dae_loss(model, y, corruption, torch.Generator().manual_seed(3))
    y_tilde = corruption(y, torch.Generator().manual_seed(3))
    expected = ((y - model(y_tilde)) ** 2).sum(1).mean()
    assert torch.allclose(out.corrupted, y_tilde)
    assert torch.allclose(out.loss, expected)


@pytest.mark.parametrize("sigma", [0.1, 0.5, 1.0])
def test_identity_autoencoder_pays_d_sigma_squared(sigma):
    # r = identity: ‖y − ỹ‖² = σ²‖ε‖², whose mean over d = 2 coordinates is 2σ²
    y = torch.zeros(200_000, 2)
    out = dae_loss(nn.Identity(), y, Corruption("gaussian", sigma=sigma), torch.Generator().manual_seed(0))
    assert float(out.loss) == pytest.approx(2 * sigma**2, rel=0.02)


def test_energy_is_the_squared_length_of_the_field():
    lin = nn.Linear(2, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.5, 0.0], [0.0, 2.0]]))
        lin.bias.copy_(torch.tensor([1.0, -1.0]))
    y = torch.tensor([[1.0, 1.0], [0.0, 2.0]])
    field = reconstruction_field(lin, y)  # r(y) − y = [−0.5 y1 + 1, y2 − 1]
    assert torch.allclose(field, torch.tensor([[0.5, 0.0], [1.0, 1.0]]))
    assert torch.allclose(dae_energy(lin, y), torch.tensor([0.25, 2.0]))


def test_autoencoder_shape_and_code():
    model = MLPAutoencoder(2, 32, 2, 5)
    assert model.encoder(torch.zeros(3, 2)).shape == (3, 5)
    assert model(torch.zeros(3, 2)).shape == (3, 2)
    with pytest.raises(ValueError):
        MLPAutoencoder(2, 0, 2, 5)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"kind": "salt"}, "unknown corruption"), ({"sigma": 0.0}, "sigma"), ({"drop": 1.0}, "drop"),
])
def test_corruption_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Corruption(**kwargs)
