"""The three metrics against exact answers: E = d² is perfect, E = d^p grows like p, flat spots show."""

from __future__ import annotations

import pytest
import torch

from engine.dae.manifolds import MANIFOLDS, get_manifold
from engine.dae.metrics import (
    distance_on_grid,
    false_low_fraction,
    growth_exponent,
    midpoint_ratio,
    score_energy,
)


@pytest.mark.parametrize("name", sorted(MANIFOLDS))
def test_squared_distance_is_a_perfect_score(name):
    m = get_manifold(name)
    s = score_energy(lambda y: m.distance(y) ** 2, m, 64)
    assert s["midpoint_ratio"] == pytest.approx(1.0, abs=1e-4)
    assert s["false_low"] == 0.0
    assert s["growth_exponent"] == pytest.approx(2.0, abs=1e-6)


@pytest.mark.parametrize("p", [1.0, 3.0, 0.5])
def test_growth_exponent_recovers_a_power_law(p):
    m = get_manifold("two_lines")
    d = distance_on_grid("two_lines", 64)
    assert growth_exponent(7.0 * d**p, d) == pytest.approx(p, abs=1e-6)
    assert score_energy(lambda y: 3 * m.distance(y) ** p, m, 64)["growth_exponent"] == pytest.approx(p, abs=1e-6)


def test_midpoint_ratio_measures_a_flat_spot_exactly():
    m = get_manifold("two_lines")

    def flat_between(y: torch.Tensor) -> torch.Tensor:
        between = y[:, 1].abs() < 1
        return m.distance(y) ** 2 * torch.where(between, 0.1, 1.0)

    assert midpoint_ratio(flat_between, m) == pytest.approx(0.1, rel=1e-6)
    assert midpoint_ratio(lambda y: 5 * m.distance(y) ** 2, m) == pytest.approx(1.0)


def test_two_circle_ratio_compares_radius_one_and_a_half_with_two_and_a_half():
    m = get_manifold("two_circles")
    # an energy that only looks at the radius: the ratio is E(1.5) / E(2.5)
    assert midpoint_ratio(lambda y: y.norm(dim=1), m) == pytest.approx(1.5 / 2.5, rel=1e-5)


def test_false_low_fraction_counts_band_points_below_the_95th_percentile():
    distances = torch.tensor([0.1, 0.3, 0.5, 0.9, 1.0, 1.5])
    energies = torch.tensor([0.0, 0.5, 2.0, 0.94, 5.0, 0.0])
    on_manifold = torch.linspace(0, 1, 101)  # 95th percentile: 0.95
    # in the band [0.25, 1]: 0.3 (0.5 < τ), 0.5 (2.0), 0.9 (0.94 < τ), 1.0 (5.0) → 2 of 4
    assert false_low_fraction(energies, distances, on_manifold) == pytest.approx(0.5)
    assert false_low_fraction(energies, distances, on_manifold, q=0.0) == 0.0


def test_false_low_fraction_of_an_energy_flat_between_lines():
    m = get_manifold("two_lines")
    n = 128
    d = distance_on_grid("two_lines", n)
    from engine.toy.grid import Grid

    y = Grid(m.box, n).points()
    between = (y[:, 1].abs() < 0.5).view(n, n)  # within 0.5 of the midline: distance 0.5–1
    energies = torch.where(between, 0.0, d**2)
    on = torch.full((100,), 1e-3)
    band = (d >= 0.25) & (d <= 1.0)
    expected = float((band & between).sum() / band.sum())
    assert false_low_fraction(energies, d, on) == pytest.approx(expected)
    assert 0.2 < expected < 0.6


def test_degenerate_bands_are_clear_errors():
    d = torch.full((4, 4), 5.0)
    with pytest.raises(ValueError, match="false-low"):
        false_low_fraction(d, d, torch.zeros(3))
    with pytest.raises(ValueError, match="growth"):
        growth_exponent(d, d)
