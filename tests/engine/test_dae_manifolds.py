"""Manifold data sets: samples on the curves, distances against brute force, the midpoint pairs."""

from __future__ import annotations

import math

import pytest
import torch

from engine.dae.manifolds import MANIFOLDS, get_manifold, nearest_on_polyline, polyline_distance

NAMES = sorted(MANIFOLDS)


def brute_distance(y: torch.Tensor, polys: list[torch.Tensor]) -> torch.Tensor:
    """Distance to every segment of every polyline, in float64 (no nearest-vertex shortcut)."""
    y = y.double()
    best = torch.full((y.shape[0],), math.inf, dtype=torch.float64)
    for poly in polys:
        p = poly.double()
        a, ab = p[:-1], p[1:] - p[:-1]
        ap = y[:, None] - a[None]
        t = ((ap * ab).sum(-1) / (ab * ab).sum(-1)).clamp(0, 1)
        d = (ap - t[..., None] * ab).norm(dim=-1).min(1).values
        best = torch.minimum(best, d)
    return best


@pytest.mark.parametrize("name", NAMES)
def test_samples_lie_on_the_manifold(name):
    m = get_manifold(name)
    y = m.sample(4000, torch.Generator().manual_seed(0))
    d = m.distance(y)
    if m.noise == 0:
        assert float(d.max()) < 2e-5  # the polyline chords (manifolds docstring)
    else:  # isotropic noise: the distance is ≈ |normal component|, mean σ·sqrt(2/π)
        assert abs(float(d.mean()) - m.noise * math.sqrt(2 / math.pi)) < 0.1 * m.noise
    assert (y.abs() < m.box + 1.5).all()


@pytest.mark.parametrize("name", NAMES)
def test_distance_matches_brute_force(name):
    m = get_manifold(name)
    y = (2 * torch.rand(300, 2, generator=torch.Generator().manual_seed(1)) - 1) * m.box
    ref = brute_distance(y, m.branches(3000))
    assert torch.allclose(m.distance(y).double(), ref, atol=2e-4)


def test_polyline_helpers_on_a_square_corner():
    poly = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    y = torch.tensor([[0.5, -2.0], [2.0, 0.5], [-1.0, -1.0], [0.9, 0.5]])
    assert torch.allclose(polyline_distance(y, poly), torch.tensor([2.0, 1.0, math.sqrt(2), 0.1]), atol=1e-6)
    assert torch.allclose(nearest_on_polyline(y, poly), torch.tensor([[0.5, 0], [1, 0.5], [0, 0], [1, 0.5]]))


@pytest.mark.parametrize("name", NAMES)
def test_midpoints_are_between_branches_and_partners_outside_at_the_same_distance(name):
    m = get_manifold(name)
    mid, out = m.midpoint_pairs()
    d_mid, d_out = m.distance(mid), m.distance(out)
    assert torch.allclose(d_mid, d_out, atol=1e-4)
    per_branch = m.branch_distances(mid)
    assert torch.allclose(per_branch[:, 0], per_branch[:, 1], atol=1e-4), "a midpoint is equidistant"
    assert float(d_mid.min()) > 0.3
    assert (out.abs() <= m.box + 1e-4).all(), "the partners lie inside the pictures"
    assert m.half_gap() == pytest.approx(float(d_mid.max()))


@pytest.mark.parametrize(("name", "mid_radius", "out_radius"), [("two_circles", 1.5, 2.5), ("circle", 0.0, 2.0)])
def test_circle_pairs_are_exact(name, mid_radius, out_radius):
    mid, out = get_manifold(name).midpoint_pairs()
    assert torch.allclose(mid.norm(dim=1), torch.full((mid.shape[0],), mid_radius), atol=1e-6)
    assert torch.allclose(out.norm(dim=1), torch.full((out.shape[0],), out_radius), atol=1e-6)


def test_lines_pairs_are_exact():
    mid, out = get_manifold("two_lines").midpoint_pairs()
    assert (mid[:, 1] == 0).all()
    assert set(out[:, 1].tolist()) == {-2.0, 2.0}


@pytest.mark.parametrize("name", NAMES)
def test_profile_line_crosses_at_least_two_branches(name):
    m = get_manifold(name)
    _, pts = m.profile(2001)
    on = m.distance(pts) < 0.01
    hit = set(m.branch_of(pts[on]).tolist())
    assert len(hit) >= 2


def test_unknown_manifold_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown manifold"):
        get_manifold("moebius")
