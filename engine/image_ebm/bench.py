"""Speed of the image-energy engine: the sampler in chains·steps per second, beside its baselines.

- Langevin steps on the digits CNN with the training batch (128 chains per launch) and with many
  chains per launch (the whole point of a GPU); on CUDA, bfloat16 autocast beside float32;
- one training update (k = 30 sampler steps + the loss), beside 30 sampler steps alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from engine.image_ebm.config import ImageEBMConfig
from engine.image_ebm.models import build_model
from engine.image_ebm.sampler import Langevin
from engine.image_ebm.trainer import autocast_for
from engine.training import init_parameters, make_generator


def _seconds(fn: Callable[[], object], reps: int, device: torch.device) -> float:
    fn()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - t0) / reps


def chain_steps_per_s(device: torch.device, chains: int, size: int = 8, precision: str = "float32",
                      steps: int = 5, reps: int = 3, seed: int = 0) -> float:
    gen = make_generator(seed)
    model = init_parameters(build_model("cnn", size, 16), gen).to(device)
    noise_gen = gen if device.type == "cpu" else torch.Generator(device=device).manual_seed(seed)
    x = torch.rand(chains, 1, size, size, generator=gen).to(device) * 2 - 1
    sampler = Langevin(steps, 10.0, 0.005, 0.03)
    autocast = autocast_for(device, precision)
    sec = _seconds(lambda: sampler.run(model, x, noise_gen, autocast=autocast), reps, device)
    return chains * steps / sec


def bench(quick: bool, device: torch.device, seed: int = 0) -> dict[str, Any]:
    gpu = device.type == "cuda"
    many = (8192 if not quick else 2048) if gpu else 1024
    reps = 2 if quick else 5
    out: dict[str, Any] = {
        "langevin_chain_steps_per_s": {
            "chains_128": round(chain_steps_per_s(device, 128, reps=reps, seed=seed)),
            f"chains_{many}": round(chain_steps_per_s(device, many, reps=reps, seed=seed)),
            "what": "digits CNN (width 16, 8×8), float32; baseline: 128 chains per launch",
        }
    }
    if gpu:
        out["langevin_chain_steps_per_s"][f"chains_{many}_bf16"] = round(
            chain_steps_per_s(device, many, precision="bfloat16", reps=reps, seed=seed))
    from engine.image_ebm.trainer import ImageEBMTrainer

    trainer = ImageEBMTrainer(ImageEBMConfig(device=str(device), seed=seed))
    sampler_only = Langevin(trainer.config.k, trainer.config.eps, trainer.config.noise, trainer.config.clip_grad)
    x = trainer.particles()[: trainer.config.batch_size]
    out["update_ms"] = {
        "train_update": round(1000 * _seconds(trainer.step, reps, device), 1),
        "baseline_sampler_only": round(1000 * _seconds(
            lambda: sampler_only.run(trainer.model, x, trainer.noise_gen, autocast=trainer.autocast), reps, device), 1),
    }
    return out
