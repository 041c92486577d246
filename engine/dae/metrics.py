"""Three exact measurements of an energy E over a 2-D manifold data set (no sampling, no randomness).

Let d(y) be the distance from y to the clean manifold (engine.dae.manifolds), and let the grid be the
n × n cell centres of [−box, box]². An energy that is exactly the squared distance, E = d², scores
midpoint ratio 1, false-low fraction 0 and growth exponent 2.

midpoint ratio
    mean_i E(m_i) / mean_i E(o_i), where m_i are points halfway between two branches and o_i points at
    the same distance d(o_i) = d(m_i) on the outside of a branch (Manifold.midpoint_pairs; e.g. two
    circles: the circle of radius 1.5 against the circle of radius 2.5; two lines: y = 0 against y = ±2).
    Far below 1 means a flat spot: the energy between the branches is lower than at the same distance
    elsewhere.

false-low fraction
    Let τ be the 95th percentile (linear interpolation) of E over points on the manifold inside the box
    (512 per branch along the curves). The fraction of grid points with 0.25 ≤ d(y) ≤ 1 whose energy is
    below τ: points clearly off the data that the energy scores as low as the data.

growth exponent
    The least-squares slope p of log E(y) = a + p log d(y) over the grid points with 0.1 ≤ d(y) ≤ 0.4
    (near the manifold, before the half-gap of the closest branches): E ∝ d^p. A quadratic bowl gives 2.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import torch

from engine.dae.manifolds import Manifold, get_manifold
from engine.toy.grid import Grid

Tensor = torch.Tensor
EnergyFn = Callable[[Tensor], Tensor]

FALSE_LOW_BAND = (0.25, 1.0)
FALSE_LOW_QUANTILE = 0.95
GROWTH_BAND = (0.1, 0.4)
TINY = 1e-12  # energies are clamped here before taking logs


@lru_cache(maxsize=16)
def distance_on_grid(name: str, n: int) -> Tensor:
    """d(y) at the grid's cell centres, (n, n), rows = y (cached per data set and grid size)."""
    m = get_manifold(name)
    return m.distance(Grid(m.box, n).points()).view(n, n)


def _apply(energy: EnergyFn, pts: Tensor, device: torch.device | str) -> Tensor:
    with torch.no_grad():
        return energy(pts.to(device)).float().cpu()


def midpoint_ratio(energy: EnergyFn, manifold: Manifold, device: torch.device | str = "cpu") -> float:
    mid, out = manifold.midpoint_pairs()
    return float(_apply(energy, mid, device).mean() / _apply(energy, out, device).mean().clamp_min(TINY))


def false_low_fraction(energies: Tensor, distances: Tensor, on_manifold: Tensor,
                       band: tuple[float, float] = FALSE_LOW_BAND, q: float = FALSE_LOW_QUANTILE) -> float:
    """`energies`, `distances`: the grid's E and d (same shape); `on_manifold`: E on the manifold."""
    tau = torch.quantile(on_manifold.double(), q)
    sel = (distances >= band[0]) & (distances <= band[1])
    if not sel.any():
        raise ValueError("no grid point lies in the false-low distance band; use a larger box or grid")
    return float((energies[sel].double() < tau).double().mean())


def growth_exponent(energies: Tensor, distances: Tensor, band: tuple[float, float] = GROWTH_BAND) -> float:
    """Slope of log E against log d over the points with band[0] ≤ d ≤ band[1]."""
    sel = (distances >= band[0]) & (distances <= band[1])
    if int(sel.sum()) < 3:
        raise ValueError("fewer than 3 grid points in the growth band; use a finer grid")
    x = distances[sel].double().log()
    y = energies[sel].double().clamp_min(TINY).log()
    xc = x - x.mean()
    return float((xc * (y - y.mean())).sum() / (xc * xc).sum())


def score_energy(energy: EnergyFn, manifold: Manifold, grid_n: int,
                 device: torch.device | str = "cpu") -> dict[str, float]:
    """All three metrics of one energy; E is evaluated on the grid, the manifold and the pairs."""
    grid = Grid(manifold.box, grid_n)
    e_grid = torch.cat([_apply(energy, p, device) for p in torch.split(grid.points(), 8192)]).view(grid_n, grid_n)
    dist = distance_on_grid(manifold.name, grid_n)
    on = _apply(energy, manifold.on_manifold(512), device)
    return {
        "midpoint_ratio": midpoint_ratio(energy, manifold, device),
        "false_low": false_low_fraction(e_grid, dist, on),
        "growth_exponent": growth_exponent(e_grid, dist),
    }
