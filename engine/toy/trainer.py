"""Train a 2-D energy with any registered objective, snapshot it live, and score it exactly."""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from engine.device import pick_device
from engine.seeding import seed_everything
from engine.toy.config import ToyConfig
from engine.toy.data import get_dataset
from engine.toy.grid import Grid, energy_on_grid, kl_data_model, log_partition, mass_off_data, nll
from engine.toy.model import EnergyMLP
from engine.toy.objectives import ObjectiveContext, build_objective

SHOWN_POINTS = 256  # points of each kind drawn per frame


@lru_cache(maxsize=32)
def data_log_density_on_grid(dataset: str, box: float, n: int) -> torch.Tensor:
    """log p_data at the cell centres (cached: the curve data sets need a quadrature)."""
    return get_dataset(dataset).log_density(Grid(box, n).points()).view(n, n)


class ToyTrainer:
    """Implements engine.run.Trainer for 2-D energies."""

    def __init__(self, config: ToyConfig):
        self.config = config
        self.gen = seed_everything(config.seed)
        self.device = pick_device(config.device)
        self.dataset = get_dataset(config.dataset)
        box = self.dataset.box
        self.train_grid, self.view_grid, self.eval_grid = (
            Grid(box, config.train_grid), Grid(box, config.view_grid), Grid(box, config.eval_grid))
        self.model = EnergyMLP(2, config.width, config.depth).to(self.device)
        ctx = ObjectiveContext(self.dataset, self.train_grid, self.gen, self.device)
        self.objective = build_objective(config.method, config, ctx).to(self.device)
        params = list(self.model.parameters()) + list(self.objective.parameters())
        self.opt = torch.optim.Adam(params, lr=config.lr)
        test_gen = torch.Generator().manual_seed(config.seed + 10_000)
        self.test_x = self.dataset.sample(config.test_size, test_gen).to(self.device)
        self.step_count = 0
        self._batch: torch.Tensor | None = None
        self._out = None

    # ---- Trainer protocol ------------------------------------------------------------------------
    def step(self) -> dict[str, float]:
        batch = self.dataset.sample(self.config.batch_size, self.gen).to(self.device)
        out = self.objective(self.model, batch)
        self.opt.zero_grad(set_to_none=True)
        out.loss.backward()
        self.opt.step()
        self.step_count += 1
        self._batch, self._out = batch, out
        return out.scalars

    def energy_grid(self, grid: Grid | None = None) -> np.ndarray:
        return energy_on_grid(self.model, grid or self.view_grid, self.device).cpu().numpy()

    def snapshot(self) -> dict[str, Any]:
        out = self._out
        if out is not None and out.grid_energy is not None and self.train_grid == self.view_grid:
            # maximum likelihood evaluated this grid in its step (before the update): reuse it
            energy = out.grid_energy.cpu().numpy()
        else:
            energy = self.energy_grid()
        snap: dict[str, Any] = {"energy": energy}
        if self._batch is not None:
            snap["positives"] = self._batch[:SHOWN_POINTS, :2].detach().cpu().numpy()
        if out is not None:
            if out.negatives is not None:
                snap["negatives"] = out.negatives[:SHOWN_POINTS, :2].detach().cpu().numpy()
            snap.update(out.extras)
        return snap

    def evaluate(self) -> dict[str, float]:
        e = energy_on_grid(self.model, self.eval_grid, self.device).cpu()
        log_p = data_log_density_on_grid(self.config.dataset, self.dataset.box, self.config.eval_grid)
        log_z = float(log_partition(e, self.eval_grid))
        return {
            "nll": nll(self.model, self.test_x, log_z),
            "kl": kl_data_model(log_p, e),
            "mass_off_data": mass_off_data(log_p, e),
            "log_z": log_z,
        }

    def checkpoint(self) -> dict[str, Any]:
        return copy.deepcopy({"model": self.model.state_dict(), "objective": self.objective.state_dict(),
                              "opt": self.opt.state_dict(), "step": self.step_count})

    def restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.objective.load_state_dict(state["objective"])
        self.opt.load_state_dict(state["opt"])
        self.step_count = state["step"]
