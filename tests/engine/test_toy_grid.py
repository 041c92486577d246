"""Exact quantities on the grid against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.toy.data import DATASETS
from engine.toy.grid import Grid, data_cell_probs, energy_on_grid, kl_data_model, log_partition, mass_off_data


def gaussian_energy(mu: torch.Tensor, cov: torch.Tensor):
    prec = torch.linalg.inv(cov)

    def energy(y: torch.Tensor) -> torch.Tensor:
        d = y - mu
        return 0.5 * ((d @ prec) * d).sum(1)

    return energy


@pytest.mark.parametrize("mu,cov", [
    ([0.0, 0.0], [[1.0, 0.0], [0.0, 1.0]]),
    ([0.5, -0.3], [[0.6, 0.25], [0.25, 0.4]]),
    ([-1.0, 1.0], [[0.2, 0.0], [0.0, 0.9]]),
])
def test_log_z_of_gaussian_energy_matches_closed_form(mu, cov):
    mu_t, cov_t = torch.tensor(mu), torch.tensor(cov)
    grid = Grid(6.0, 400)
    e = energy_on_grid(gaussian_energy(mu_t, cov_t), grid)
    exact = math.log(2 * math.pi) + 0.5 * math.log(float(torch.linalg.det(cov_t)))
    assert float(log_partition(e, grid)) == pytest.approx(exact, abs=1e-3)


def test_grid_points_layout_rows_are_y():
    g = Grid(2.0, 8)
    pts = g.points().view(8, 8, 2)
    assert torch.allclose(pts[0, :, 1], torch.full((8,), -2.0 + 0.25))  # first row: lowest y
    assert torch.all(pts[0, 1:, 0] > pts[0, :-1, 0])  # x increases along a row
    assert g.cell_area == pytest.approx(0.25)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_data_density_integrates_to_one_over_the_box(name):
    ds = DATASETS[name]
    grid = Grid(ds.box, 150)
    logp = ds.log_density(grid.points())
    mass = float(torch.exp(logp).sum() * grid.cell_area)
    assert mass == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_samples_follow_the_stated_density(name):
    """A histogram of 200k samples against the density's cell probabilities: small KL."""
    ds = DATASETS[name]
    n = 30
    x = ds.sample(200_000, torch.Generator().manual_seed(0)).numpy()
    hist, _, _ = np.histogram2d(x[:, 1], x[:, 0], bins=n, range=[[-ds.box, ds.box]] * 2)
    hist = hist / hist.sum()
    # integrate the density over each cell with a 5×5 sub-grid for the cell probabilities
    fine = Grid(ds.box, n * 4)
    p_fine = torch.exp(ds.log_density(fine.points())).view(n, 4, n, 4).sum((1, 3)).double()
    p = (p_fine / p_fine.sum()).numpy()
    mask = hist > 0
    kl = float((hist[mask] * np.log(hist[mask] / np.maximum(p[mask], 1e-300))).sum())
    assert kl < 0.02, kl


def test_kl_of_a_density_against_itself_is_zero_and_positive_otherwise():
    ds = DATASETS["eight_gaussians"]
    grid = Grid(ds.box, 120)
    logp = ds.log_density(grid.points()).view(120, 120)
    assert kl_data_model(logp, -logp) == pytest.approx(0.0, abs=1e-9)
    assert kl_data_model(logp, -logp + 7.0) == pytest.approx(0.0, abs=1e-9)  # a constant does not matter
    assert kl_data_model(logp, torch.zeros_like(logp)) > 1.0  # uniform model: far off
    probs = data_cell_probs(logp)
    assert float(probs.sum()) == pytest.approx(1.0)


def test_mass_off_data():
    ds = DATASETS["checkerboard"]
    grid = Grid(ds.box, 100)
    logp = ds.log_density(grid.points()).view(100, 100)
    uniform = torch.zeros(100, 100)
    dark_share = float(torch.isfinite(logp).float().mean())
    assert mass_off_data(logp, uniform) == pytest.approx(1 - dark_share, abs=1e-6)
    perfect = torch.where(torch.isfinite(logp), 0.0, 50.0)
    assert mass_off_data(logp, perfect) < 1e-12


@pytest.mark.parametrize("name", ["two_moons", "spiral", "ellipse"])
def test_curve_density_matches_brute_force_quadrature(name):
    """The polyline closed form against a plain average of the kernel over 40k points of the curve."""
    from engine.toy import data as D

    ds = DATASETS[name]
    curve, std = {"two_moons": (D._moons_curve, 0.1), "spiral": (D._spiral_curve, 0.1),
                  "ellipse": (D._ellipse_curve, D.ELLIPSE_STD)}[name]
    y = ds.sample(64, torch.Generator().manual_seed(1)).double()
    t = (torch.arange(40_000, dtype=torch.float64) + 0.5) / 40_000
    c = curve(t)
    d2 = ((y[:, None] - c[None]) ** 2).sum(-1)
    brute = torch.logsumexp(-0.5 * d2 / std**2, 1) - math.log(40_000) - math.log(2 * math.pi * std**2)
    assert torch.allclose(ds.log_density(y.float()).double(), brute, atol=5e-3)
