"""`python -m engine embed`: train an encoder contrastively for a time budget, then probe it.

Prints one JSON object: linear_probe_acc, knn_acc, the three baselines on the same split (raw pixels,
a random encoder, a supervised encoder trained for the same time), contrastive_acc, images_per_s,
device, and the run's settings.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

from engine.cli import progress
from engine.device import describe
from engine.embed.config import EmbedConfig, make_config
from engine.embed.data import DATASETS
from engine.embed.models import ENCODERS
from engine.embed.objectives import METHODS
from engine.embed.sweeps import SWEEPS

_SKIP = {"dataset", "method", "seed", "device", "download", "amp"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="digits", choices=DATASETS)
    p.add_argument("--method", default="simclr", choices=METHODS)
    p.add_argument("--encoder", default=None, choices=ENCODERS)
    p.add_argument("--download", action="store_true", help="download mnist/fashion_mnist/cifar10 if missing")
    p.add_argument("--no-amp", dest="amp", action="store_false", help="no bf16 autocast / channels_last on CUDA")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-baselines", dest="baselines", action="store_false",
                   help="skip the raw-pixel, random-encoder and supervised baselines")
    p.add_argument("--supervised-seconds", type=float, default=None,
                   help="training time of the supervised baseline (default: the same budget)")
    p.add_argument("--sweep", default=None, choices=SWEEPS,
                   help="run one of the page's sweeps instead of a single training run")
    p.add_argument("--sweep-steps", type=int, default=200, help="training steps per sweep cell")
    for name in EmbedConfig.field_names():
        if name in _SKIP or name == "encoder":
            continue
        default = EmbedConfig.__dataclass_fields__[name].default
        kind = {"int": int, "float": float, "str": str}.get(
            str(EmbedConfig.__dataclass_fields__[name].type).split(" ")[0], float)
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, default=None,
                       help=f"(default: per-data-set/method default, else {default})")


def config_from_args(args: argparse.Namespace) -> EmbedConfig:
    overrides = {n: getattr(args, n, None) for n in EmbedConfig.field_names()
                 if n not in ("dataset", "method")}
    overrides["download"] = bool(getattr(args, "download", False))
    overrides["amp"] = bool(getattr(args, "amp", True))
    return make_config(args.dataset, args.method, **overrides)


def run_experiment(config: EmbedConfig, baselines: bool = True, supervised_seconds: float | None = None
                   ) -> dict[str, Any]:
    from engine.embed.baselines import random_encoder_probe, raw_pixel_probe
    from engine.embed.trainer import EmbedTrainer, SupervisedTrainer, budget_run, dataset_for

    t0 = time.perf_counter()
    data = dataset_for(config)
    progress(f"embed: {config.dataset} ({len(data.x_train)} train / {len(data.x_test)} test, "
             f"{data.channels}×{data.size}×{data.size}) loaded in {time.perf_counter() - t0:.1f} s")
    trainer = EmbedTrainer(config, data)
    run = budget_run(trainer, config.budget_seconds, config.max_steps, name=config.method, progress=progress)
    ev = run.last_evaluation()
    hist = run.history
    result: dict[str, Any] = {
        "dataset": config.dataset,
        "method": config.method,
        "encoder": config.encoder,
        "linear_probe_acc": round(ev["linear_probe_acc"], 4),
        "knn_acc": round(ev["knn_acc"], 4),
        "contrastive_acc": round(ev["contrastive_acc_test"], 4),
        "contrastive_acc_train_batch": round(hist[-1].get("contrastive_acc", float("nan")), 4) if hist else None,
        "effective_rank": round(ev["effective_rank"], 2),
        "uniformity": round(ev["uniformity"], 3),
        "final_loss": round(hist[-1]["loss"], 4) if hist else None,
        "steps": run.step,
        "epochs": trainer.sampler.epoch,
        "train_seconds": round(trainer.train_seconds, 2),
        "images_per_s": round(trainer.images_per_second(), 1),
        "device": describe(trainer.device),
        "threads": torch.get_num_threads(),
        "batch_size": config.batch_size,
        "temperature": config.temperature,
        "seed": config.seed,
    }
    if "embedding_norm" in (hist[-1] if hist else {}):
        result["embedding_norm"] = round(hist[-1]["embedding_norm"], 4)
    if baselines:
        result["raw_pixels_acc"] = round(raw_pixel_probe(data), 4)
        result["random_encoder_acc"] = round(random_encoder_probe(config, data), 4)
        sup_budget = supervised_seconds if supervised_seconds is not None else trainer.train_seconds
        sup = SupervisedTrainer(config, data)
        sup_run = budget_run(sup, sup_budget, config.max_steps if supervised_seconds is None else None,
                             name="supervised", progress=progress)
        result["supervised_acc"] = round(sup_run.last_evaluation()["linear_probe_acc"], 4)
        result["supervised_seconds"] = round(sup_run.elapsed, 2)
    return result


def run_sweep(name: str, args: argparse.Namespace, steps: int) -> dict[str, Any]:
    from engine.embed.sweeps import build_sweep, summarise_why_cosine
    from engine.embed.trainer import budget_run

    overrides = {n: getattr(args, n) for n in ("batch_size", "width", "lr", "train_size", "test_size", "device")
                 if getattr(args, n, None) is not None}
    sweep = build_sweep(name, args.dataset, steps, seed=args.seed, **overrides)
    done = [0]

    def report(r) -> None:
        if len(sweep.rows) > done[0]:
            done[0] = len(sweep.rows)
            row = sweep.rows[-1]
            progress(f"{name}: {row['label']}: probe {row['linear_probe_acc']:.3f}, "
                     f"contrastive {row['contrastive_acc_test']:.3f}, rank {row['effective_rank']:.1f}")

    run_ = budget_run(sweep, None, sweep.total_steps, name=name, progress=progress, progress_every_s=30)
    report(run_)
    result = {**sweep.result(), "dataset": args.dataset, "seconds_training": round(run_.elapsed, 1),
              "threads": torch.get_num_threads()}
    for row in result["rows"]:
        for k, v in list(row.items()):
            if isinstance(v, float):
                row[k] = round(v, 4)
    if name == "why_cosine":
        result["summary"] = summarise_why_cosine(sweep)
    return result


def main(args: argparse.Namespace) -> dict[str, Any]:
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    if getattr(args, "sweep", None):
        return run_sweep(args.sweep, args, args.sweep_steps)
    config = config_from_args(args)
    return run_experiment(config, getattr(args, "baselines", True), getattr(args, "supervised_seconds", None))
