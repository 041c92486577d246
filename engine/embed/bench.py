"""Speed of a contrastive step: per-sample augmentation on the training device vs the same step with
both views already there (the model-only limit), measured back to back in one process; and the same
training with one process vs N under torchrun (same global batch, same cores in all).

On CUDA: SimCLR, ResNet-18 (CIFAR stem), batch 512, the generated 32×32 shapes, bf16 autocast and
channels_last. On the CPU: the small CNN at the shapes defaults (batch 128), the setting the CPU
acceptance runs use.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from engine.device import describe, pick_device
from engine.embed.config import EmbedConfig
from engine.embed.imageset import to_float
from engine.embed.trainer import EmbedTrainer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


ROOT = Path(__file__).resolve().parents[2]  # where `-m engine` resolves


def _last_json(cmd: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(cmd[:6])} … failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    return json.loads(lines[-1])


def processes(quick: bool, device: torch.device, seed: int = 0) -> dict[str, Any]:
    """SimCLR on digits (global batch 256): training images/s of one process (with every core, and with
    one thread) vs N processes under torchrun with cores/N threads each (N = the GPUs when there are
    several, else 2 CPU processes over gloo). Small convolutions scale poorly over threads on a CPU, so
    the one-thread figure is the fair per-core baseline there."""
    gpus = torch.cuda.device_count() if device.type == "cuda" else 0
    n, dev = (gpus, "cuda") if gpus > 1 else (2, "cpu")
    cores = os.cpu_count() or 1
    args = ["-m", "engine", "embed", "--dataset", "digits", "--method", "simclr", "--device", dev, "--seed", str(seed),
            "--max-steps", str(10 if quick else 40), "--no-baselines"]
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, cores // n))}
    one = _last_json([sys.executable, *args, "--threads", str(cores)], env)
    one_thread = _last_json([sys.executable, *args, "--threads", "1"], env)
    many = _last_json([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(n),
                       *args, "--threads", str(max(1, cores // n))], env)
    return {
        "what": f"SimCLR, digits, global batch 256, {args[-2]} steps, {cores} cores",
        f"images_per_s_1_process_{cores}_threads": one["images_per_s"],
        "images_per_s_1_process_1_thread": one_thread["images_per_s"],
        f"images_per_s_{n}_processes": many["images_per_s"],
        "speedup_vs_1_process_all_cores": round(many["images_per_s"] / one["images_per_s"], 2),
        "world_size": many["world_size"],
        "device": dev,
    }


def bench(quick: bool = False, device: torch.device | str | None = None, seed: int = 0) -> dict[str, Any]:
    device = device if isinstance(device, torch.device) else pick_device(device)
    gpu = device.type == "cuda"
    cfg = EmbedConfig.create(dataset="shapes", method="simclr", device=str(device), seed=seed, budget_seconds=None,
                      encoder="resnet18" if gpu else "small_cnn", width=64 if gpu else 16,
                      batch_size=512 if gpu else 128, train_size=4096 if quick else 6000, test_size=512)
    trainer = EmbedTrainer(cfg)
    steps = (5 if quick else 20) if gpu else (3 if quick else 10)
    warm = 3 if gpu else 1

    def timed(fn) -> float:
        for _ in range(warm):
            fn()
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(steps):
            fn()
        _sync(device)
        return time.perf_counter() - t0

    augmented = timed(trainer.step)
    idx = trainer.sampler.next()
    x = to_float(trainer.x_train[idx.to(device)])
    x1, x2 = trainer.augmenter.pair(x, trainer.gen)
    model_only = timed(lambda: trainer.train_on_views(x1, x2, idx))
    augment_only = timed(lambda: trainer.augmenter.pair(x, trainer.gen))
    scale = processes(quick, device, seed)
    images = 2 * cfg.batch_size * steps
    return {
        "what": f"SimCLR step, {cfg.encoder}, batch {cfg.batch_size}, shapes 32×32"
                + (", bf16 autocast + channels_last" if gpu else ", float32"),
        "device": describe(device),
        "images_per_s_with_augmentation": round(images / augmented, 1),
        "images_per_s_views_precomputed": round(images / model_only, 1),
        "fraction_of_model_only_limit": round(model_only / augmented, 3),
        "augmentation_images_per_s": round(images / augment_only, 1),
        "steps_timed": steps,
        "processes": scale,
    }
