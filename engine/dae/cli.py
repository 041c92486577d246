"""`python -m engine dae`: train a DAE and the latent model headless; print their three metrics as JSON.

Example: python -m engine dae --dataset two_circles --sigma 0.5 --steps 3000 --seed 0
The flags are the declared settings (engine/dae/config.py): `python -m engine dae --help` lists them.
"""

from __future__ import annotations

from typing import Any

import torch

from engine.cli import progress
from engine.dae.config import DAEConfig, HeadlessSettings
from engine.dae.trainer import METRICS, DAETrainer
from engine.device import describe
from engine.run import Run

SETTINGS = (DAEConfig, HeadlessSettings)


def train(config: DAEConfig, log_every: int = 1000) -> tuple[Run, dict[str, Any]]:
    trainer = DAETrainer(config)
    run = trainer.headless(max_steps=config.steps, evaluate_every_steps=log_every, name="dae",
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


def run(config: DAEConfig, headless: HeadlessSettings | None = None) -> dict[str, Any]:
    headless = headless or HeadlessSettings()
    torch.set_num_threads(headless.threads)
    _, result = train(config, headless.log_every)
    result["threads"] = torch.get_num_threads()
    return result
