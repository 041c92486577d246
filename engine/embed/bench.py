"""Speed of a contrastive step: per-sample augmentation on the training device vs the same step with
both views already there (the model-only limit), measured back to back in one process.

On CUDA: SimCLR, ResNet-18 (CIFAR stem), batch 512, the generated 32×32 shapes, bf16 autocast and
channels_last. On the CPU: the small CNN at the shapes defaults (batch 128), the setting the CPU
acceptance runs use.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from engine.device import describe, pick_device
from engine.embed.config import EmbedConfig
from engine.embed.imageset import to_float
from engine.embed.trainer import EmbedTrainer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


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
    }
