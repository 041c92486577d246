"""Speed of the DAE engine, each figure beside its baseline from the same run.

- a training step with the latent model beside the DAE, against the DAE alone;
- F_∞ on the metrics grid by "best latent from cdist's matrix form, then its exact energy", against
  the plain all-pairs differences it replaces (same numbers, checked);
- one live snapshot and one exact evaluation, against one training step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from engine.dae.config import DAEConfig
from engine.dae.trainer import DAETrainer
from engine.toy.grid import Grid


def _ms(fn: Callable[[], object], reps: int) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return 1000 * (time.perf_counter() - t0) / reps


def bench(quick: bool, device: torch.device, seed: int = 0) -> dict[str, Any]:
    reps = 20 if quick else 200
    cfg = DAEConfig(dataset="two_circles", device=str(device), seed=seed)
    with_latent = DAETrainer(cfg)
    dae_only = DAETrainer(cfg, with_latent=False)
    step_both, step_dae = _ms(with_latent.step, reps), _ms(dae_only.step, reps)
    out: dict[str, Any] = {
        "train_step_ms": {"dae_and_latent": round(step_both, 3), "baseline_dae_only": round(step_dae, 3)},
    }
    latent = with_latent.latent
    pts = Grid(with_latent.manifold.box, cfg.eval_grid).points().to(with_latent.device)
    with torch.no_grad():
        fast = latent.free_energy(pts)
        plain = torch.cat([latent.pair_energy(p).min(1).values for p in torch.split(pts, 4096)])
        fe_reps = max(2, reps // 20)
        t_fast = _ms(lambda: latent.free_energy(pts), fe_reps)
        t_plain = _ms(lambda: [latent.pair_energy(p).min(1).values for p in torch.split(pts, 4096)], fe_reps)
    out["latent_F_grid_ms"] = {
        "grid": f"{cfg.eval_grid}x{cfg.eval_grid}", "latents": int(latent.curve().shape[0]),
        "argmin_then_exact": round(t_fast, 2), "baseline_all_pairs": round(t_plain, 2),
        "max_abs_difference": float((fast - plain).abs().max()),
    }
    snap_reps = max(2, reps // 20)
    out["live_ms"] = {
        "snapshot": round(_ms(with_latent.snapshot, snap_reps), 2),
        "evaluate_exact_metrics": round(_ms(with_latent.evaluate, max(2, reps // 50)), 2),
        "baseline_one_train_step": round(step_both, 3),
    }
    return out
