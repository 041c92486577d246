"""Exact metrics in 2-D: the partition function on a grid.

With p_θ(y) = exp(−E_θ(y)) / Z_θ and Z_θ = ∫ exp(−E_θ(y)) dy, the integral over the box [−b, b]² is
a midpoint sum over n × n cells of area ΔA:  log Z_θ ≈ logsumexp_i(−E_θ(y_i)) + log ΔA.
Everything that needs probabilities (NLL, KL, the mass off the data) goes through here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

Tensor = torch.Tensor
EnergyFn = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Grid:
    box: float
    n: int

    def __post_init__(self) -> None:
        if self.box <= 0:
            raise ValueError("box must be > 0")
        if not (8 <= self.n <= 1024):
            raise ValueError("grid size n must be within [8, 1024]")

    @property
    def step(self) -> float:
        return 2 * self.box / self.n

    @property
    def cell_area(self) -> float:
        return self.step**2

    @property
    def axis(self) -> Tensor:
        """Cell centres along one axis (ascending)."""
        return -self.box + self.step * (torch.arange(self.n, dtype=torch.float32) + 0.5)

    def points(self, device: torch.device | str = "cpu") -> Tensor:
        """(n², 2) cell centres, row-major with y as the row: points.view(n, n, 2)[iy, ix]."""
        a = self.axis.to(device)
        yy, xx = torch.meshgrid(a, a, indexing="ij")
        return torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)


def energy_on_grid(energy: EnergyFn, grid: Grid, device: torch.device | str = "cpu",
                   chunk: int = 65536) -> Tensor:
    """E_θ at every cell centre, shape (n, n) (rows = y)."""
    pts = grid.points(device)
    with torch.no_grad():
        out = torch.cat([energy(p) for p in torch.split(pts, chunk)])
    return out.view(grid.n, grid.n)


def log_partition(energies: Tensor, grid: Grid) -> Tensor:
    """log Z = logsumexp(−E) + log ΔA (differentiable)."""
    return torch.logsumexp(-energies.reshape(-1), 0) + math.log(grid.cell_area)


def log_prob_grid(energies: Tensor, grid: Grid) -> Tensor:
    """log p_θ at the cell centres."""
    return -energies - log_partition(energies, grid)


def nll(energy: EnergyFn, x: Tensor, log_z: float | Tensor) -> float:
    """Test negative log-likelihood in nats: mean_i E_θ(x_i) + log Z_θ."""
    with torch.no_grad():
        return float(energy(x).mean() + log_z)


def data_cell_probs(log_density: Tensor) -> Tensor:
    """The data density turned into cell probabilities on the grid (renormalised over the box)."""
    return torch.softmax(log_density.reshape(-1).double(), 0).view_as(log_density)


def kl_data_model(log_density: Tensor, energies: Tensor) -> float:
    """KL(p_data ‖ p_θ) = Σ_i P_i (log P_i − log Q_i) over the cells, in nats (cell area cancels)."""
    lp = torch.log_softmax(log_density.reshape(-1).double(), 0)
    lq = torch.log_softmax(-energies.reshape(-1).double(), 0)
    p = lp.exp()
    mask = p > 0
    return float((p[mask] * (lp[mask] - lq[mask])).sum())


def mass_off_data(log_density: Tensor, energies: Tensor, rel: float = 1e-3) -> float:
    """Probability the model puts where the data density is below `rel` × its maximum."""
    low = log_density.reshape(-1) < log_density.max() + math.log(rel)
    q = torch.softmax(-energies.reshape(-1).double(), 0)
    return float(q[low].sum())
