"""The scoreboard: every 2-D method trained on the same data set, seed and step budget, scored exactly.

`python -m engine scoreboard --dataset D --steps N` prints the table as a JSON list of rows. The page
runs the same `BoardTrainer` inside an `engine.run.Run` (a background thread with progress, pause and
stop). Columns: exact test NLL and KL(p_data ‖ p_θ) on the grid, the probability mass the model puts
where the data density is below 1e-3 of its maximum, steps/s and wall time; denoising score matching
also gets its floor KL(p_data ‖ p_data ∗ N(0, σ²I)), the best its minimiser can reach.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from engine.cli import progress as print_progress
from engine.run import train_headless
from engine.schema import MAX_SEED, Settings, device_setting, setting
from engine.toy.config import ToyConfig
from engine.toy.data import DATASETS, get_dataset
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
COLUMNS = ["method", "label", "nll", "kl", "kl_floor", "mass_off_data", "steps_per_s", "seconds", "status"]


@dataclass
class ScoreboardConfig(Settings):
    """The board: which entries, on which data set, with which budget and seed (the rest is each method's
    layered defaults, engine/toy/config.py)."""

    experiment: ClassVar[str] = "scoreboard"

    dataset: str = setting("eight_gaussians", choices=tuple(DATASETS), label="Data set",
                           help="the 2-D distribution every method learns")
    steps: int = setting(DEFAULT_STEPS, ge=1, le=100_000, label="Steps per method",
                         help="parameter updates of each method")
    methods: tuple[str, ...] = setting(tuple(ENTRY_KEYS), choices=tuple(ENTRY_KEYS), max_items=len(ENTRY_KEYS),
                                       label="Methods", help="the board's entries (comma-separated)")
    seed: int = setting(0, ge=0, le=MAX_SEED, label="Seed", help="the same seed for every method")
    device: str = device_setting()


def entry_config(entry: Entry, board: ScoreboardConfig) -> ToyConfig:
    return ToyConfig.create(dataset=board.dataset, method=entry.method, steps=board.steps, seed=board.seed,
                            device=board.device, **entry.overrides)


def entry_details(entry: Entry, config: ToyConfig) -> dict[str, Any]:
    """What a row's label says, as values (a page words them in its language): the method and the one
    setting that tells entries of a method apart (k, σ or NCE's noise)."""
    details: dict[str, Any] = {"method": entry.method}
    if entry.method in ("cd", "pcd"):
        details["k"] = config.k
    if entry.method == "dsm":
        details["sigma"] = config.sigma
    if entry.method == "nce":
        details["noise"] = config.nce_noise
    return details


def entry_label(entry: Entry, config: ToyConfig) -> str:
    """The English label of a row (the CLI's JSON): "<method>, k=10", "<method>, σ=0.1", "<method>, noise: …"."""
    details = entry_details(entry, config)
    label = available()[entry.method]
    if "k" in details:
        label += f", k={details['k']}"
    if "sigma" in details:
        label += f", σ={details['sigma']}"
    if "noise" in details:
        label += f", noise: {details['noise']}"
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

    def __init__(self, config: ScoreboardConfig):
        self.config = config
        self.entries = [e for e in ENTRIES if e.key in config.methods]  # the board's order
        self.configs = [entry_config(e, config) for e in self.entries]
        self.dataset, self.steps, self.seed = config.dataset, config.steps, config.seed
        super().__init__(len(self.entries), config.steps)
        box = get_dataset(self.dataset).box
        self.surface_grid = Grid(box, SURFACE_GRID)
        self.surfaces: dict[str, np.ndarray] = {
            "data": data_log_density_on_grid(self.dataset, box, SURFACE_GRID).numpy().astype(np.float32)}
        self._index = -1
        self._trainer: ToyTrainer | None = None
        self._train_s = 0.0
        self._t0 = 0.0
        self._failed: str | None = None
        self._failure: dict[str, Any] | None = None  # the same, as values: {"kind", "step", "error"}

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
                self._failure = {"kind": "error", "step": trainer.step_count, "error": str(exc)}
            if math.isfinite(loss):
                self._last_loss = loss
            elif self._failed is None:
                self._failed = f"diverged at step {trainer.step_count + 1}"
                self._failure = {"kind": "diverged", "step": trainer.step_count + 1, "error": ""}
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
        self._train_s, self._failed, self._failure, self._t0 = 0.0, None, None, time.perf_counter()

    def _finish(self) -> None:
        trainer, entry, config = self._trainer, self.entries[self._index], self.configs[self._index]
        assert trainer is not None
        row: dict[str, Any] = {"method": entry.key, "label": entry_label(entry, config),
                               "details": entry_details(entry, config),
                               "dataset": self.dataset, "steps": self.steps, "seed": self.seed}
        if self._failed is None:
            ev = trainer.evaluate()
            row.update(nll=ev["nll"], kl=ev["kl"], mass_off_data=ev["mass_off_data"], status="ok")
            e = energy_on_grid(trainer.model, self.surface_grid, trainer.device).cpu()
            self.surfaces[entry.key] = log_prob_grid(e, self.surface_grid).numpy().astype(np.float32)
        else:
            row.update(nll=math.nan, kl=math.nan, mass_off_data=math.nan, status=self._failed)
        # "status" in English for the CLI; "failure" the same as values (None when the entry trained)
        row["failure"] = self._failure
        row["kl_floor"] = self._floor(config) if entry.method == "dsm" else None
        row["steps_per_s"] = self.steps / self._train_s if self._train_s > 0 else 0.0
        row["seconds"] = time.perf_counter() - self._t0
        # the knobs shown next to each row: the learning rate and the method's own settings
        row["config"] = {k: getattr(config, k) for k in ("lr", *ToyConfig.method_settings(entry.method))}
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


def run_board(config: ScoreboardConfig,
              on_progress: Callable[[BoardTrainer], None] | None = None) -> list[dict[str, Any]]:
    """Headless: the whole board in the calling thread; `on_progress(board)` after each entry."""
    board = BoardTrainer(config)
    done = [0]

    def after_step(_run: Any) -> None:
        if on_progress is not None and len(board.rows) != done[0]:
            done[0] = len(board.rows)
            on_progress(board)

    train_headless(board, max_steps=board.total_steps, name="scoreboard", on_step=after_step)
    return [rounded(r) for r in board.rows]


# ---- CLI: `python -m engine scoreboard` -------------------------------------------------------------
SETTINGS = ScoreboardConfig


def run(config: ScoreboardConfig) -> list[dict[str, Any]]:
    def report(board: BoardTrainer) -> None:
        r = rounded(board.rows[-1])
        floor = f" (floor {r['kl_floor']})" if r.get("kl_floor") is not None else ""
        print_progress(f"[{len(board.rows)}/{len(board.entries)}] {r['method']}: kl {r['kl']}{floor}, "
                       f"nll {r['nll']}, {r['steps_per_s']} steps/s, {r['seconds']} s, {r['status']}")

    return run_board(config, on_progress=report)
