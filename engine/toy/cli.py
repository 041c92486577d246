"""`python -m engine toy`: train one 2-D energy headless and print exact metrics as JSON.

Its flags are ToyConfig's declarations (engine/toy/config.py); the data set and method pick the
layered defaults the other flags override.
"""

from __future__ import annotations

from typing import Any

from engine.cli import progress
from engine.device import describe
from engine.toy.config import ToyConfig
from engine.toy.trainer import ToyTrainer

SETTINGS = ToyConfig
EVALUATE_EVERY = 500  # steps between the progress lines on stderr


def run(config: ToyConfig) -> dict[str, Any]:
    trainer = ToyTrainer(config)
    result = trainer.headless(max_steps=config.steps, evaluate_every_steps=EVALUATE_EVERY, name="toy",
                              on_evaluate=lambda r: progress(f"step {r.step}: {r.last_evaluation()}"))
    ev = result.last_evaluation()
    return {
        "dataset": config.dataset,
        "method": config.method,
        "steps": result.step,
        "nll": round(ev["nll"], 4),
        "kl": round(ev["kl"], 4),
        "mass_off_data": round(ev["mass_off_data"], 5),
        "train_seconds": round(result.elapsed, 2),
        "steps_per_s": round(result.steps_per_second(), 1),
        "device": describe(trainer.device),
        "seed": config.seed,
    }
