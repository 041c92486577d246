"""The σ sweep: one DAE per noise level, trained side by side on the same batches from the same start.

A `TrainerBase`, so the page drives it live like any run. Each member is a DAETrainer
(no latent model) with the base configuration's seed, so the members differ only in σ: the same
initial weights and the same clean batches, only the corruption's scale changes. A snapshot stacks the
members' energy grids, profiles and their latest metrics, so the flat spots can be watched growing
with σ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from engine.dae.config import DAEConfig
from engine.dae.trainer import METRICS, DAETrainer
from engine.schema import Settings, setting
from engine.training import TrainerBase

DEFAULT_SIGMAS = (0.1, 0.2, 0.35, 0.5, 0.75, 1.0)
# the members train in lockstep: 8 of them at the DAE's declared-maximum corner is ~8× its step
MAX_SIGMAS = 8
SWEEP_PICTURES = dict(view_grid=48, probes=0)  # each member's heatmap is drawn small; no probes are drawn


@dataclass
class SweepConfig(Settings):
    """The σ sweep's own settings; the rest (data set, model, seed) come from the DAE settings."""

    experiment: ClassVar[str] = "dae_sweep"

    sigmas: tuple[float, ...] = setting(DEFAULT_SIGMAS, gt=0, le=5, max_items=MAX_SIGMAS, label="Noise levels σ",
                                        help="one DAE per σ (comma-separated)")
    steps: int = setting(1500, ge=1, le=100_000, label="Sweep steps", help="updates of every member", step=250)

    def base(self, config: DAEConfig) -> DAEConfig:
        """The members' shared settings: the DAE's, Gaussian corruption, the sweep's budget."""
        return config.with_(corruption="gaussian", steps=self.steps, **SWEEP_PICTURES)


class SigmaSweepTrainer(TrainerBase):
    failure_advice = DAETrainer.failure_advice

    def __init__(self, config: DAEConfig, sigmas: tuple[float, ...] = DEFAULT_SIGMAS):
        if not sigmas:
            raise ValueError("the sweep needs at least one σ")
        self.config = config.with_(corruption="gaussian")
        self.sigmas = tuple(sorted({float(s) for s in sigmas}))
        self.members = [DAETrainer(self.config.with_(sigma=s), with_latent=False) for s in self.sigmas]
        self.device = self.members[0].device
        self.step_count = 0
        self.metrics: dict[str, float] = {}

    @classmethod
    def from_settings(cls, config: DAEConfig, sweep: SweepConfig) -> SigmaSweepTrainer:
        return cls(sweep.base(config), sweep.sigmas)

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

    def state_modules(self) -> dict[str, Any]:
        return {f"{i}.{name}": obj for i, m in enumerate(self.members) for name, obj in m.state_modules().items()}

    def checkpoint(self) -> list[Any]:  # each member's own (its generator and step included)
        return [m.checkpoint() for m in self.members]

    def restore(self, state: list[Any]) -> None:
        for m, st in zip(self.members, state, strict=True):
            m.restore(st)
        self.step_count = self.members[0].step_count
