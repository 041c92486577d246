"""Maximum likelihood with the exact partition function (the reference every method is held to).

    p_θ(y) = exp(−E_θ(y)) / Z_θ,   Z_θ = ∫ exp(−E_θ(y')) dy'
    L(θ) = (1/N) Σ_i E_θ(y_i) + log Z_θ
    ∂L/∂θ = (1/N) Σ_i ∂E_θ(y_i)/∂θ − E_{y'~p_θ}[∂E_θ(y')/∂θ]

The first term pushes the energy down on the data; the second pushes it up everywhere else, in
proportion to the probability the model gives each place. In 2-D, log Z_θ is a sum over a grid
(engine.toy.grid), so the gradient is exact up to quadrature. Only energy differences matter:
E_θ + c gives the same p_θ and the same L.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.errors import SettingError
from engine.toy.grid import Grid, log_partition
from engine.toy.objectives import Objective, ObjectiveContext, ObjectiveOut, register


class MaximumLikelihood(Objective):
    uses_grid = True

    def __init__(self, ctx: ObjectiveContext, grid: Grid):
        super().__init__()
        if ctx.dim != 2:
            raise SettingError("maximum likelihood needs the grid partition function: 2-D data only",
                               setting="method", value="ml")
        self.grid = grid
        self.register_buffer("points", grid.points(ctx.device), persistent=False)

    def forward(self, model: nn.Module, batch: torch.Tensor) -> ObjectiveOut:
        e_data = model(batch)
        e_grid = model(self.points)
        log_z = log_partition(e_grid, self.grid)
        loss = e_data.mean() + log_z
        scalars = {"loss": loss.item(), "e_data": e_data.mean().item(), "log_z": log_z.item()}
        n = self.grid.n
        return ObjectiveOut(loss, scalars, grid_energy=e_grid.detach().view(n, n))


@register("ml", "Maximum likelihood (exact Z on a grid)")
def build(ctx: ObjectiveContext, *, train_grid: int) -> Objective:
    """train_grid: cells per axis of the grid on which log Z_θ is summed."""
    return MaximumLikelihood(ctx, Grid(ctx.dataset.box, train_grid))
