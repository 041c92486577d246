"""`python -m engine toy`: train one 2-D energy headless and print exact metrics as JSON."""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

from engine.cli import progress
from engine.device import describe
from engine.run import Run, train_headless
from engine.toy.config import ToyConfig
from engine.toy.data import DATASETS
from engine.toy.defaults import defaults_for
from engine.toy.objectives import available


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="eight_gaussians", choices=sorted(DATASETS))
    p.add_argument("--method", default="ml", choices=sorted(available()))
    p.add_argument("--steps", type=int, default=2000)
    skip = {"dataset", "method", "steps", "seed", "device"}
    for f in fields(ToyConfig):
        if f.name in skip:
            continue
        kind = {"int": int, "float": float, "str": str}.get(str(f.type).split(" ")[0], float)
        p.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kind, default=None,
                       help=f"(default: per-data-set/method default, else {f.default})")


def config_from_args(args: argparse.Namespace) -> ToyConfig:
    values: dict[str, Any] = defaults_for(args.dataset, args.method)
    for f in fields(ToyConfig):
        v = getattr(args, f.name, None)
        if v is not None:
            values[f.name] = v
    return ToyConfig(**values)


def train(config: ToyConfig, log_every: int = 500) -> tuple[Run, dict[str, Any]]:
    from engine.toy.trainer import ToyTrainer

    trainer = ToyTrainer(config)
    run = train_headless(trainer, config.steps, evaluate_every_steps=log_every, name="toy",
                         on_evaluate=lambda r: progress(f"step {r.step}: {r.last_evaluation()}"))
    ev = run.last_evaluation()
    result = {
        "dataset": config.dataset,
        "method": config.method,
        "steps": run.step,
        "nll": round(ev["nll"], 4),
        "kl": round(ev["kl"], 4),
        "mass_off_data": round(ev["mass_off_data"], 5),
        "train_seconds": round(run.elapsed, 2),
        "steps_per_s": round(run.steps_per_second(), 1),
        "device": describe(trainer.device),
        "seed": config.seed,
    }
    return run, result


def main(args: argparse.Namespace) -> dict[str, Any]:
    _, result = train(config_from_args(args))
    return result
