"""Train a 2-D energy with any registered objective, snapshot it live, and score it exactly."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import torch

from engine.device import pick_device
from engine.toy.config import ToyConfig
from engine.toy.data import ToyDataset, get_dataset
from engine.toy.grid import Grid, energy_on_grid, kl_data_model, log_partition, mass_off_data, nll
from engine.toy.model import EnergyMLP
from engine.toy.objectives import Objective, ObjectiveContext, build_objective
from engine.training import TrainerBase, build_optimizer, init_parameters, make_generator

SHOWN_POINTS = 256  # points of each kind drawn per frame
TEST_OFFSET = 10_000  # the held-out points' generator: the run's seed + this


@lru_cache(maxsize=32)
def data_log_density_on_grid(dataset: str, box: float, n: int) -> torch.Tensor:
    """log p_data at the cell centres (cached: the curve data sets need a quadrature)."""
    return get_dataset(dataset).log_density(Grid(box, n).points()).view(n, n)


def build_energy(config: ToyConfig, dataset: ToyDataset, gen: torch.Generator, device: torch.device,
                 dim: int = 2) -> tuple[EnergyMLP, Objective, torch.optim.Optimizer]:
    """The energy MLP (initialised from the run's generator), the method's objective and their Adam."""
    model = init_parameters(EnergyMLP(dim, config.width, config.depth), gen).to(device)
    ctx = ObjectiveContext(dataset, gen, device, seed=config.seed, dim=dim, capture=config.capture)
    objective = build_objective(config.method, ctx, config).to(device)
    opt = build_optimizer([*model.parameters(), *objective.parameters()], "adam", config.lr)
    return model, objective, opt


class ToyTrainer(TrainerBase):
    """Implements engine.run.Trainer for 2-D energies."""

    failure_advice = "Try a lower learning rate, a larger energy² regulariser α, or more Langevin steps k."

    def __init__(self, config: ToyConfig):
        self.config = config
        self.gen = make_generator(config.seed)
        self.device = pick_device(config.device)
        self.dataset = get_dataset(config.dataset)
        box = self.dataset.box
        self.view_grid, self.eval_grid = Grid(box, config.view_grid), Grid(box, config.eval_grid)
        self.model, self.objective, self.opt = build_energy(config, self.dataset, self.gen, self.device)
        self.test_x = self.dataset.sample(config.test_size, make_generator(config.seed, TEST_OFFSET)).to(self.device)
        self.step_count = 0
        self._batch: torch.Tensor | None = None
        self._out = None
        self._reinit_since: np.ndarray | None = None  # PCD: slots re-initialised since the last snapshot

    def state_modules(self) -> dict[str, Any]:
        return {"model": self.model, "objective": self.objective, "opt": self.opt}

    @property
    def capture_reason(self) -> str | None:
        """Why the method's sampler loop runs op by op (None while it is a captured CUDA graph)."""
        sampler = self.objective.sampler
        return "this method has no sampler loop" if sampler is None else sampler.reason

    def checkpoint(self) -> dict[str, Any]:
        state = super().checkpoint()
        state["generators"] = {name: gen.get_state() for name, gen in self.objective.generators().items()}
        return state

    def restore(self, state: dict[str, Any]) -> None:
        super().restore(state)
        for name, gen in self.objective.generators().items():
            if name in state.get("generators", {}):
                gen.set_state(state["generators"][name])

    # ---- Trainer protocol ------------------------------------------------------------------------
    def step(self) -> dict[str, float]:
        batch = self.dataset.sample(self.config.batch_size, self.gen).to(self.device)
        out = self.objective(self.model, batch)
        self.opt.zero_grad(set_to_none=True)
        out.loss.backward()
        self.opt.step()
        self.step_count += 1
        self._batch, self._out = batch, out
        restarted = out.extras.get("reinit")
        if restarted is not None:  # accumulated until the next picture (see `snapshot`)
            self._reinit_since = restarted if self._reinit_since is None else self._reinit_since | restarted
        return out.scalars

    def energy_grid(self, grid: Grid | None = None) -> np.ndarray:
        return energy_on_grid(self.model, grid or self.view_grid, self.device).cpu().numpy()

    def snapshot(self) -> dict[str, Any]:
        out = self._out
        if out is not None and out.grid_energy is not None and self.config.train_grid == self.config.view_grid:
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
        if self._reinit_since is not None:
            # every particle re-initialised since the last picture, not only in the last step: the live
            # view cuts their tails (a jump drawn as a line would cross the whole box)
            snap["reinit"], self._reinit_since = self._reinit_since, None
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
