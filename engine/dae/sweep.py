"""The σ sweep: one DAE per noise level, trained side by side on the same batches from the same start.

Implements engine.run.Trainer, so the page drives it live like any run. Each member is a DAETrainer
(no latent model) with the base configuration's seed, so the members differ only in σ: the same
initial weights and the same clean batches, only the corruption's scale changes. A snapshot stacks the
members' energy grids, profiles and their latest metrics, so the flat spots can be watched growing
with σ.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from engine.dae.config import DAEConfig
from engine.dae.trainer import METRICS, DAETrainer

DEFAULT_SIGMAS = (0.1, 0.2, 0.35, 0.5, 0.75, 1.0)


class SigmaSweepTrainer:
    def __init__(self, config: DAEConfig, sigmas: tuple[float, ...] = DEFAULT_SIGMAS):
        if not sigmas:
            raise ValueError("the sweep needs at least one σ")
        if any(not 0 < s <= 5 for s in sigmas):
            raise ValueError("every σ of the sweep must be within (0, 5]")
        self.config = replace(config, corruption="gaussian")
        self.sigmas = tuple(float(s) for s in sorted(sigmas))
        self.members = [DAETrainer(replace(self.config, sigma=s), with_latent=False) for s in self.sigmas]
        self.step_count = 0
        self.metrics: dict[str, float] = {}

    def step(self) -> dict[str, float]:
        losses = [m.step()["loss"] for m in self.members]
        self.step_count += 1
        out = {"loss": float(np.mean(losses))}
        out.update({f"loss@{s:g}": v for s, v in zip(self.sigmas, losses, strict=True)})
        return out

    def snapshot(self) -> dict[str, Any]:
        first = self.members[0].snapshot()
        snaps = [first] + [m.snapshot() for m in self.members[1:]]
        snap: dict[str, Any] = {
            "sigmas": np.array(self.sigmas),
            "energy": np.stack([s["energy"] for s in snaps]),
            "profile_dae": np.stack([s["profile_dae"] for s in snaps]),
            "profile_s": first["profile_s"],
            "profile_d2": first["profile_d2"],
            "data": first["data"],
        }
        for name in METRICS:
            vals = [self.metrics.get(f"{name}@{s:g}", np.nan) for s in self.sigmas]
            if not np.isnan(vals).any():  # only once every member has been scored
                snap[name] = np.array(vals)
        return snap

    def evaluate(self) -> dict[str, float]:
        out = {}
        for s, m in zip(self.sigmas, self.members, strict=True):
            ev = m.evaluate()
            out.update({f"{name}@{s:g}": ev[f"dae_{name}"] for name in METRICS})
        self.metrics = out
        return dict(out)

    def checkpoint(self) -> list[Any]:
        return [m.checkpoint() for m in self.members]

    def restore(self, state: list[Any]) -> None:
        for m, st in zip(self.members, state, strict=True):
            m.restore(st)
        self.step_count = self.members[0].step_count
