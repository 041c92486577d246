"""`python -m engine embed`: train an encoder contrastively for a step and/or time budget, then probe it.

Prints one JSON object: linear_probe_acc, knn_acc, the three baselines on the same split (raw pixels,
a random encoder, a supervised encoder trained for the same time), contrastive_acc, images_per_s,
device, world_size and the run's settings. `--sweep NAME` runs one of the page's sweeps instead.

Several processes: `torchrun --standalone --nproc-per-node N -m engine embed … --max-steps S` (or
`--nnodes M …` over machines) trains one model with DistributedDataParallel, `--batch-size` being the
global batch (engine/embed/trainer.py). Process 0 alone evaluates, runs the baselines and prints the
JSON line; the others print nothing. Only a step budget can end such a run (processes that stopped on
their own clocks would stop at different steps and wait for each other forever).

The flags are the declarations of `EmbedConfig` (engine/embed/config.py) and of `EmbedOptions` below.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from engine.cli import progress
from engine.device import describe
from engine.distributed import Dist
from engine.embed.config import EmbedConfig
from engine.embed.sweeps import MAX_CELL_STEPS, SWEEPS
from engine.errors import SettingError
from engine.run import Run
from engine.schema import Settings, setting

PROGRESS_EVERY_S = 10.0


@dataclass
class EmbedOptions(Settings):
    """How the command runs (not settings of the model): sweeps, threads, baselines."""

    experiment: ClassVar[str] = "embed_cli"

    sweep: str | None = setting(None, choices=tuple(SWEEPS), none="a single training run", label="Sweep",
                                help="run one of the page's sweeps instead of a single training run", form=False)
    sweep_steps: int = setting(200, ge=1, le=MAX_CELL_STEPS, label="Steps per sweep cell",
                               help="training steps of each cell of the sweep", form=False)
    threads: int | None = setting(None, ge=1, le=256, none="torch's choice", label="CPU threads",
                                  help="torch's CPU threads", form=False)
    no_baselines: bool = setting(False, label="No baselines",
                                 help="skip the raw-pixel, random-encoder and supervised baselines", form=False)
    supervised_seconds: float | None = setting(None, gt=0, le=86_400, none="the same budget as the run",
                                               label="Supervised baseline (s)",
                                               help="training time of the supervised baseline", form=False)


SETTINGS = (EmbedConfig, EmbedOptions)


def run(config: EmbedConfig, options: EmbedOptions) -> dict[str, Any]:
    if options.threads is not None:
        torch.set_num_threads(options.threads)
    if options.sweep is not None:
        return run_sweep(options.sweep, config, options.sweep_steps)
    if config.budget_seconds is None and config.max_steps is None:
        raise SettingError("budget_seconds and max_steps are both unset: give a time or a step budget",
                           setting="budget_seconds")
    return run_experiment(config, baselines=not options.no_baselines, supervised_seconds=options.supervised_seconds)


def reporter(name: str, every_s: float = PROGRESS_EVERY_S) -> Callable[[Run], None]:
    """An on_step callback that prints the step, time, loss (and contrastive accuracy) every `every_s`."""
    last = [0.0]

    def on_step(r: Run) -> None:
        if r.elapsed - last[0] >= every_s:
            last[0] = r.elapsed
            row = r.history[-1]
            progress(f"{name}: step {r.step}, {r.elapsed:.0f} s, loss {row['loss']:.4f}"
                     + (f", contrastive acc {row['contrastive_acc']:.3f}" if "contrastive_acc" in row else ""))

    return on_step


def run_experiment(config: EmbedConfig, baselines: bool = True, supervised_seconds: float | None = None
                   ) -> dict[str, Any] | None:
    """Train (over every process torchrun started, if it did), then probe; None on processes other than 0."""
    from engine.distributed import init_from_env

    d = init_from_env("auto", config.device)
    try:
        if d.distributed and config.max_steps is None:
            raise SettingError(f"max_steps is unset: under torchrun ({d.world_size} processes) give a step budget "
                               "(--max-steps); a time budget would stop the processes at different steps",
                               setting="max_steps")
        result = train_and_probe(config, d, baselines, supervised_seconds)
        # every rank leaves together: a rank that tore its process group down while rank 0 was still
        # evaluating aborted now and then at exit ("terminate called without an active exception")
        d.barrier()
        return result
    finally:
        d.destroy()


def train_and_probe(config: EmbedConfig, d: Dist, baselines: bool, supervised_seconds: float | None
                    ) -> dict[str, Any] | None:
    from engine.embed.baselines import random_encoder_probe, raw_pixel_probe
    from engine.embed.trainer import EmbedTrainer, SupervisedTrainer, dataset_for

    t0 = time.perf_counter()
    data = dataset_for(config)
    if d.is_main:
        progress(f"embed: {config.dataset} ({len(data.x_train)} train / {len(data.x_test)} test, "
                 f"{data.channels}×{data.size}×{data.size}) loaded in {time.perf_counter() - t0:.1f} s"
                 + (f"; {d.world_size} processes ({d.backend})" if d.distributed else ""))
    trainer = EmbedTrainer(config, data, dist=d)
    run_ = trainer.headless(max_steps=config.max_steps, max_seconds=None if d.distributed else config.budget_seconds,
                            name=config.method, on_step=reporter(config.method) if d.is_main else None)
    if not d.is_main:
        return None
    ev = run_.last_evaluation()
    last = run_.history[-1] if run_.history else {}
    result: dict[str, Any] = {
        "dataset": config.dataset,
        "method": config.method,
        "encoder": config.encoder,
        "linear_probe_acc": round(ev["linear_probe_acc"], 4),
        "knn_acc": round(ev["knn_acc"], 4),
        "contrastive_acc": round(ev["contrastive_acc_test"], 4),
        "contrastive_acc_train_batch": round(last["contrastive_acc"], 4) if "contrastive_acc" in last else None,
        "effective_rank": round(ev["effective_rank"], 2),
        "uniformity": round(ev["uniformity"], 3),
        "final_loss": round(last["loss"], 4) if last else None,
        "steps": run_.step,
        "epochs": trainer.sampler.epoch,
        "train_seconds": round(trainer.train_seconds, 2),
        "images_per_s": round(trainer.images_per_second() * d.world_size, 1),  # all processes together
        "device": describe(trainer.device),
        "world_size": d.world_size,
        "optimizer": config.optimizer,
        "threads": torch.get_num_threads(),
        "batch_size": config.batch_size,
        "temperature": config.temperature,
        "seed": config.seed,
    }
    if "embedding_norm" in last:
        result["embedding_norm"] = round(last["embedding_norm"], 4)
    if baselines:
        result["raw_pixels_acc"] = round(raw_pixel_probe(data), 4)
        result["random_encoder_acc"] = round(random_encoder_probe(config, data), 4)
        sup = SupervisedTrainer(config, data)
        seconds = supervised_seconds if supervised_seconds is not None else max(trainer.train_seconds, 1e-3)
        sup_run = sup.headless(max_steps=config.max_steps if supervised_seconds is None else None,
                               max_seconds=seconds, name="supervised", on_step=reporter("supervised"))
        result["supervised_acc"] = round(sup_run.last_evaluation()["linear_probe_acc"], 4)
        result["supervised_seconds"] = round(sup_run.elapsed, 2)
    return result


def run_sweep(name: str, config: EmbedConfig, steps: int) -> dict[str, Any]:
    from engine.embed.sweeps import build_sweep, summarise_why_cosine
    from engine.run import train_headless

    sweep = build_sweep(name, config, steps=steps)
    done = [0]

    def report(_: Run) -> None:
        if len(sweep.rows) > done[0]:
            done[0] = len(sweep.rows)
            row = sweep.rows[-1]
            progress(f"{name}: {row['label']}: probe {row['linear_probe_acc']:.3f}, "
                     f"contrastive {row['contrastive_acc_test']:.3f}, rank {row['effective_rank']:.1f}")

    # a sweep is a Trainer of trainers (no checkpoint of its own): the shared headless run drives it
    run_ = train_headless(sweep, max_steps=sweep.total_steps, name=name, on_step=report)
    result = {**sweep.result(), "dataset": config.dataset, "seconds_training": round(run_.elapsed, 1),
              "threads": torch.get_num_threads()}
    for row in result["rows"]:
        for k, v in list(row.items()):
            if isinstance(v, float):
                row[k] = round(v, 4)
    if name == "why_cosine":
        result["summary"] = summarise_why_cosine(sweep)
    return result
