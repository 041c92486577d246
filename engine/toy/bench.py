"""Speed of the 2-D engine: training steps with and without the live view, grid evaluation."""

from __future__ import annotations

import time
from typing import Any

import torch

from engine.run import Run, RunOptions
from engine.toy.config import ToyConfig
from engine.toy.grid import Grid, energy_on_grid
from engine.toy.trainer import ToyTrainer


def _steps_per_s(trainer: ToyTrainer, seconds: float) -> float:
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        trainer.step()
        n += 1
    return n / (time.perf_counter() - t0)


def _run_steps_per_s(config: ToyConfig, seconds: float) -> tuple[float, float]:
    run = Run(ToyTrainer(config), RunOptions(max_steps=None, snapshot_hz=30, evaluate_every_s=1.0)).start()
    time.sleep(seconds)
    steps, frames = run.step, (run.latest().frame if run.latest() else 0)
    run.stop()
    return steps / seconds, frames / seconds


def _grid_ms(trainer: ToyTrainer, n: int, reps: int) -> float:
    grid = Grid(trainer.dataset.box, n)
    energy_on_grid(trainer.model, grid, trainer.device)
    t0 = time.perf_counter()
    for _ in range(reps):
        energy_on_grid(trainer.model, grid, trainer.device)
    return 1000 * (time.perf_counter() - t0) / reps


def bench(quick: bool, device: torch.device, seed: int = 0) -> dict[str, Any]:
    seconds = 1.5 if quick else 5.0
    out: dict[str, Any] = {}
    cfg = ToyConfig.create(method="ml", device=str(device), seed=seed)
    bare = _steps_per_s(ToyTrainer(cfg), seconds)
    live, fps = _run_steps_per_s(cfg, seconds)
    out["ml_live_view"] = {
        "steps_per_s_bare_loop": round(bare, 1),
        "steps_per_s_in_run_with_30hz_snapshots": round(live, 1),
        "snapshots_per_s": round(fps, 1),
        "overhead_pct": round(100 * (1 - live / bare), 1),
    }
    trainer = ToyTrainer(cfg)
    reps = 3 if quick else 10
    out["energy_grid_ms"] = {f"{n}x{n}": round(_grid_ms(trainer, n, reps), 2) for n in (64, 128, 256)}
    return out
