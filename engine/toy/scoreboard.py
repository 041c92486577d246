"""The scoreboard: every 2-D method trained on the same data set, seed and step budget, scored exactly.

`python -m engine scoreboard --dataset D --steps N` prints the table as a JSON list of rows. The page
runs the same `BoardTrainer` inside an `engine.run.Run` (a background thread with progress, pause and
stop). Columns: exact test NLL and KL(p_data ‖ p_θ) on the grid, the probability mass the model puts
where the data density is below 1e-3 of its maximum, steps/s and wall time; denoising score matching
also gets its floor KL(p_data ‖ p_data ∗ N(0, σ²I)), the best its minimiser can reach.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.cli import progress as print_progress
from engine.toy.config import ToyConfig
from engine.toy.data import DATASETS, get_dataset
from engine.toy.defaults import defaults_for
from engine.toy.grid import Grid, energy_on_grid, log_prob_grid
from engine.toy.objectives import available
from engine.toy.objectives.dsm import kl_floor
from engine.toy.trainer import ToyTrainer, data_log_density_on_grid

DEFAULT_STEPS = 1000  # the whole board on one data set in about two minutes on 2 CPU cores
SURFACE_GRID = 64  # the side-by-side pictures


@dataclass(frozen=True)
class Entry:
    key: str  # the row's name
    method: str  # the objective
    overrides: dict[str, Any] = field(default_factory=dict)


ENTRIES: list[Entry] = [
    Entry("ml", "ml"),
    Entry("cd-1", "cd", {"k": 1}),
    Entry("cd-10", "cd", {"k": 10}),
    Entry("pcd", "pcd"),
    Entry("nce", "nce"),
    Entry("dsm", "dsm"),
]
ENTRY_KEYS = [e.key for e in ENTRIES]
# the knobs shown next to each row (the rest of ToyConfig is the same for every method)
KNOBS = {"ml": ["lr"], "cd": ["lr", "alpha", "k", "eps", "noise"], "pcd": ["lr", "alpha", "k", "eps", "noise",
         "buffer", "reinit"], "nce": ["lr", "nce_noise"], "dsm": ["lr", "sigma"]}
COLUMNS = ["method", "label", "nll", "kl", "kl_floor", "mass_off_data", "steps_per_s", "seconds", "status"]


def entry_config(entry: Entry, dataset: str, steps: int, seed: int, device: str) -> ToyConfig:
    values = defaults_for(dataset, entry.method)
    values.update(entry.overrides)
    values.update(steps=steps, seed=seed, device=device)
    return ToyConfig(**values)


def entry_label(entry: Entry, config: ToyConfig) -> str:
    label = available()[entry.method]
    if entry.method in ("cd", "pcd"):
        label += f", k={config.k}"
    if entry.method == "dsm":
        label += f", σ={config.sigma}"
    if entry.method == "nce":
        label += f", noise: {config.nce_noise}"
    return label


class JobSequence:
    """Part of engine.run.Trainer for experiments made of jobs trained one after the other, the same
    number of steps each, one step per step(): `rows` collects one result per finished job."""

    def __init__(self, jobs: int, steps_per_job: int):
        self.jobs, self.total_steps = jobs, jobs * steps_per_job
        self.step_count = 0
        self.rows: list[dict[str, Any]] = []
        self._last_loss = 0.0

    @property
    def done(self) -> bool:
        return len(self.rows) == self.jobs

    @property
    def progress(self) -> float:
        return self.step_count / self.total_steps

    def evaluate(self) -> dict[str, float]:
        return {"progress": self.progress, "jobs_done": float(len(self.rows))}


class BoardTrainer(JobSequence):
    """Implements engine.run.Trainer: trains the entries one after the other, one step per step()."""

    def __init__(self, dataset: str, steps: int = DEFAULT_STEPS, seed: int = 0, device: str = "auto",
                 entries: list[str] | None = None):
        if steps < 1:
            raise ValueError("steps must be >= 1")
        get_dataset(dataset)
        keys = entries or ENTRY_KEYS
        unknown = sorted(set(keys) - set(ENTRY_KEYS))
        if unknown:
            raise ValueError(f"unknown scoreboard entries {unknown}; choose from {ENTRY_KEYS}")
        self.entries = [e for e in ENTRIES if e.key in keys]
        self.configs = [entry_config(e, dataset, steps, seed, device) for e in self.entries]
        self.dataset, self.steps, self.seed = dataset, steps, seed
        super().__init__(len(self.entries), steps)
        box = get_dataset(dataset).box
        self.surface_grid = Grid(box, SURFACE_GRID)
        self.surfaces: dict[str, np.ndarray] = {
            "data": data_log_density_on_grid(dataset, box, SURFACE_GRID).numpy().astype(np.float32)}
        self._index = -1
        self._trainer: ToyTrainer | None = None
        self._train_s = 0.0
        self._t0 = 0.0
        self._failed: str | None = None

    @property
    def current(self) -> str | None:
        return None if self.done or self._index < 0 else self.entries[self._index].key

    # ---- Trainer protocol -------------------------------------------------------------------------
    def step(self) -> dict[str, float]:
        if self.done:
            return {"loss": self._last_loss, "progress": 1.0}
        if self._trainer is None:
            self._next()
        trainer = self._trainer
        assert trainer is not None
        t0 = time.perf_counter()
        if self._failed is None:
            try:
                loss = trainer.step()["loss"]
            except (RuntimeError, ValueError) as exc:  # e.g. a sampler that ran into NaNs
                loss = math.nan
                self._failed = f"error at step {trainer.step_count}: {exc}"
            if math.isfinite(loss):
                self._last_loss = loss
            elif self._failed is None:
                self._failed = f"diverged at step {trainer.step_count + 1}"
        else:
            trainer.step_count += 1  # a failed entry uses up its budget without training
        self._train_s += time.perf_counter() - t0
        self.step_count += 1
        if trainer.step_count >= self.steps:
            self._finish()
        return {"loss": self._last_loss, "progress": self.progress}

    def snapshot(self) -> dict[str, Any]:
        return {"rows": [dict(r) for r in self.rows], "surfaces": dict(self.surfaces),
                "current": self.current, "progress": self.progress}

    # ---- internals ---------------------------------------------------------------------------------
    def _next(self) -> None:
        self._index += 1
        self._trainer = ToyTrainer(self.configs[self._index])
        self._train_s, self._failed, self._t0 = 0.0, None, time.perf_counter()

    def _finish(self) -> None:
        trainer, entry, config = self._trainer, self.entries[self._index], self.configs[self._index]
        assert trainer is not None
        row: dict[str, Any] = {"method": entry.key, "label": entry_label(entry, config),
                               "dataset": self.dataset, "steps": self.steps, "seed": self.seed}
        if self._failed is None:
            ev = trainer.evaluate()
            row.update(nll=ev["nll"], kl=ev["kl"], mass_off_data=ev["mass_off_data"], status="ok")
            e = energy_on_grid(trainer.model, self.surface_grid, trainer.device).cpu()
            self.surfaces[entry.key] = log_prob_grid(e, self.surface_grid).numpy().astype(np.float32)
        else:
            row.update(nll=math.nan, kl=math.nan, mass_off_data=math.nan, status=self._failed)
        row["kl_floor"] = self._floor(config) if entry.method == "dsm" else None
        row["steps_per_s"] = self.steps / self._train_s if self._train_s > 0 else 0.0
        row["seconds"] = time.perf_counter() - self._t0
        row["config"] = {k: getattr(config, k) for k in KNOBS.get(entry.method, ["lr"])}
        self.rows.append(row)
        self._trainer = None
        if not self.done:
            self._next()

    def _floor(self, config: ToyConfig) -> float:
        box = get_dataset(self.dataset).box
        log_p = data_log_density_on_grid(self.dataset, box, config.eval_grid)
        return kl_floor(log_p, Grid(box, config.eval_grid), config.sigma)


def rounded(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for k, digits in (("nll", 4), ("kl", 4), ("kl_floor", 4), ("mass_off_data", 5), ("steps_per_s", 1),
                      ("seconds", 2)):
        v = out.get(k)
        if isinstance(v, float):
            out[k] = round(v, digits) if math.isfinite(v) else None
    return out


def run_board(dataset: str, steps: int = DEFAULT_STEPS, seed: int = 0, device: str = "auto",
              entries: list[str] | None = None, on_progress=None) -> list[dict[str, Any]]:
    """Headless: the whole board in the calling thread; `on_progress(board)` after each entry."""
    board = BoardTrainer(dataset, steps, seed, device, entries)
    done = 0
    while not board.done:
        board.step()
        if on_progress is not None and len(board.rows) != done:
            done = len(board.rows)
            on_progress(board)
    return [rounded(r) for r in board.rows]


# ---- CLI -----------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="eight_gaussians", choices=sorted(DATASETS))
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="training steps per method")
    p.add_argument("--methods", default=",".join(ENTRY_KEYS),
                   help=f"comma-separated subset of {','.join(ENTRY_KEYS)}")


def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    keys = [k.strip() for k in args.methods.split(",") if k.strip()]

    def report(board: BoardTrainer) -> None:
        r = rounded(board.rows[-1])
        floor = f" (floor {r['kl_floor']})" if r.get("kl_floor") is not None else ""
        print_progress(f"[{len(board.rows)}/{len(board.entries)}] {r['method']}: kl {r['kl']}{floor}, "
                       f"nll {r['nll']}, {r['steps_per_s']} steps/s, {r['seconds']} s, {r['status']}")

    return run_board(args.dataset, args.steps, args.seed, args.device, keys, on_progress=report)
