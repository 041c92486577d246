"""Speed of the 2-D engine, each figure beside its same-run baseline: training steps with and without the
live view, grid evaluation, one CD-10 update and the Langevin sampler op by op vs captured as a CUDA
graph (engine/capture.py; null off CUDA, with the reason), the sampler with 1 vs many chains per launch."""

from __future__ import annotations

import time
from typing import Any

import torch

from engine.bench import StepMaker, eager_vs_captured
from engine.capture import chain_generator
from engine.run import Run, RunOptions
from engine.toy.config import ToyConfig
from engine.toy.grid import Grid, energy_on_grid
from engine.toy.model import EnergyMLP
from engine.toy.samplers import LangevinSteps, frozen_copy, uniform_in_box
from engine.toy.trainer import ToyTrainer
from engine.training import init_parameters, make_generator

LANGEVIN_STEPS = 10  # per call, as in one CD-10 update


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


def cd_step(device: torch.device, seed: int) -> StepMaker:
    """One CD-10 update with the toy defaults (batch 256, MLP 128 × 3), its Langevin loop eager or captured."""

    def make(capture: str):
        trainer = ToyTrainer(ToyConfig.create(method="cd", device=str(device), seed=seed, capture=capture))
        return trainer.step, lambda: trainer.capture_reason

    return make


def langevin_calls(device: torch.device, seed: int, chains: int) -> StepMaker:
    """LANGEVIN_STEPS steps of `chains` chains per call on a frozen default-size energy MLP."""
    model = frozen_copy(init_parameters(EnergyMLP(2, 128, 3), make_generator(seed))).to(device)
    start = uniform_in_box(chains, 2, 3.0, make_generator(seed, 1)).to(device)

    def make(capture: str):
        gen = chain_generator(make_generator(seed), seed, device, 2)
        sampler = LangevinSteps(LANGEVIN_STEPS, 0.01, generator=gen, box=4.0, capture=capture, device=device)
        return (lambda: sampler(model, start)), lambda: sampler.reason

    return make


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
    timed = 0.5 if quick else 2.0
    cd = eager_vs_captured(cd_step(device, seed), device, timed)
    out["cd10_step"] = {
        "eager_ms": round(1000 / cd["eager"], 3),
        "captured_ms": round(1000 / cd["captured"], 3) if cd["captured"] else None,
        **{k: v for k, v in cd.items() if k not in ("eager", "captured")},
        "what": "one CD-10 update (batch 256, MLP 128×3): the Langevin loop op by op vs one captured graph",
    }
    many = (65_536 if not quick else 16_384) if device.type == "cuda" else 4096
    out["langevin_chain_steps_per_s"] = {
        f"chains_{n}": eager_vs_captured(langevin_calls(device, seed, n), device, timed, work=n * LANGEVIN_STEPS)
        for n in (1, many)
    }
    out["langevin_chain_steps_per_s"]["what"] = (f"{LANGEVIN_STEPS} Langevin steps per launch on a frozen MLP "
                                                 "128×3: 1 chain vs many per launch, eager vs captured")
    return out
