"""`python -m engine dae`: train a DAE and the latent model headless; print their three metrics as JSON.

Example: python -m engine dae --dataset two_circles --sigma 0.5 --steps 3000 --seed 0
"""

from __future__ import annotations

import argparse
from typing import Any

import torch

from engine.cli import progress
from engine.dae.config import DAEConfig
from engine.dae.manifolds import MANIFOLDS
from engine.dae.objective import CORRUPTIONS
from engine.dae.trainer import METRICS, DAETrainer
from engine.device import describe
from engine.run import Run, train_headless


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = DAEConfig()
    p.add_argument("--dataset", default=d.dataset, choices=sorted(MANIFOLDS))
    p.add_argument("--corruption", default=d.corruption, choices=list(CORRUPTIONS))
    p.add_argument("--sigma", type=float, default=d.sigma, help="Gaussian corruption std σ")
    p.add_argument("--drop", type=float, default=d.drop, help="masking corruption: drop probability p")
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--width", type=int, default=d.width)
    p.add_argument("--depth", type=int, default=d.depth, help="hidden layers on each side of the code")
    p.add_argument("--code", type=int, default=d.code)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--batch-size", dest="batch_size", type=int, default=d.batch_size)
    p.add_argument("--latent-lr", dest="latent_lr", type=float, default=d.latent_lr)
    p.add_argument("--eval-grid", dest="eval_grid", type=int, default=d.eval_grid)
    p.add_argument("--log-every", dest="log_every", type=int, default=1000, help="progress to stderr")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: these models are tiny, and on a busy 2-core machine "
                        "two threads made each step ~20× slower)")


def config_from_args(args: argparse.Namespace) -> DAEConfig:
    names = DAEConfig.field_names()
    return DAEConfig(**{k: v for k, v in vars(args).items() if k in names})


def train(config: DAEConfig, log_every: int = 1000) -> tuple[Run, dict[str, Any]]:
    if log_every < 1:
        raise ValueError("log_every must be >= 1")
    trainer = DAETrainer(config)
    run = train_headless(trainer, config.steps, evaluate_every_steps=log_every, name="dae", snapshot_hz=0.1,
                         on_evaluate=lambda r: progress(f"step {r.step}: {_rounded(r.last_evaluation())}"))
    ev = run.last_evaluation()
    result = {
        "dataset": config.dataset,
        "corruption": config.corruption_fn.label(),
        "sigma": config.sigma,
        "steps": run.step,
        "dae": {k: round(ev[f"dae_{k}"], 4) for k in METRICS},
        "latent": {k: round(ev[f"latent_{k}"], 4) for k in METRICS},
        "latent_w": [[round(float(v), 4) for v in row] for row in trainer.latent.w.detach().cpu()],
        "latent_w_error": round(ev["latent_w_error"], 5),
        "final_loss": round(run.history[-1]["loss"], 5) if run.history else None,
        "train_seconds": round(run.elapsed, 2),
        "device": describe(trainer.device),
        "seed": config.seed,
    }
    return run, result


def _rounded(d: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in d.items()}


def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.threads < 1:
        raise ValueError("threads must be >= 1")
    torch.set_num_threads(args.threads)
    _, result = train(config_from_args(args), args.log_every)
    result["threads"] = torch.get_num_threads()
    return result
