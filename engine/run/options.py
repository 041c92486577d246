"""What a run drives (`Trainer`), how it drives it (`RunOptions`) and the states it goes through."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Protocol

IDLE, RUNNING, PAUSED, FINISHED, STOPPED, FAILED = "idle", "running", "paused", "finished", "stopped", "failed"


class Trainer(Protocol):
    """What a `Run` drives. Every experiment (toy 2-D, binary, DAE, images) implements this.

    Optional: ``failure_advice: str``, the advice a diverged run prints after saying why it stopped;
    ``divergence_lr_cut: float``, the fraction of its learning rate a rolled-back run is offered to continue
    with (default engine.run.guard.LR_CUT). Long work inside `step` or `evaluate` may call
    engine.run.cancel.check() between chunks, so that a Stop ends it within a chunk.
    """

    step_count: int

    def step(self) -> dict[str, float]:
        """One optimisation step; returns the scalars to log (at least ``loss``)."""

    def snapshot(self) -> dict[str, Any]:
        """A cheap picture of the current state (numpy arrays / plain Python), drawn live."""

    def evaluate(self) -> dict[str, float]:
        """Exact (possibly slower) metrics, called a few times a second at most."""


class CheckpointingTrainer(Trainer, Protocol):
    """A trainer a diverged run can roll back (`checkpoint` must return a copy, not a view)."""

    def checkpoint(self) -> Any: ...

    def restore(self, state: Any) -> None: ...


# field: (low, high, integer, None allowed)
_BOUNDS: dict[str, tuple[float, float, bool, bool]] = {
    "max_steps": (0, 10**15, True, True),
    "snapshot_hz": (0.1, 240.0, False, False),
    "evaluate_every_s": (1e-6, 1e12, False, True),
    "evaluate_every_steps": (1, 10**15, True, True),
    "frames_kept": (2, 1_000_000, True, False),
    "checkpoint_every_s": (0.0, 1e12, False, False),
    "max_history": (2, 10**9, True, False),
    "max_seconds": (0.0, 1e12, False, True),
    "max_evaluations": (2, 10**9, True, False),
}


@dataclass
class RunOptions:
    """How a `Run` drives its trainer. Budgets end a run FINISHED (with a closing evaluation)."""

    max_steps: int | None = None  # budget: stop once trainer.step_count reaches it
    snapshot_hz: float = 30.0  # published snapshots per second while running
    evaluate_every_s: float | None = 0.5  # exact metrics cadence, from the end of the last one; None: never
    evaluate_every_steps: int | None = None  # or a fixed step cadence (reproducible histories, CLI)
    frames_kept: int = 240
    checkpoint_every_s: float = 2.0  # from the end of the last checkpoint
    max_history: int = 20_000  # scalar rows kept; older rows are thinned by 2 when exceeded
    max_seconds: float | None = None  # budget: training seconds (`Run.elapsed`, evaluations excluded)
    max_evaluations: int = 5000  # evaluation rows kept, thinned like the history

    def __post_init__(self) -> None:
        for f in fields(self):
            low, high, integer, optional = _BOUNDS[f.name]
            value = getattr(self, f.name)
            if value is None and optional:
                continue
            if isinstance(value, bool) or not isinstance(value, int if integer else int | float):
                raise ValueError(f"{f.name} must be {'an integer' if integer else 'a number'}, got {value!r}")
            if not (math.isfinite(value) and low <= value <= high):  # `not` so that NaN is rejected too
                raise ValueError(f"{f.name} must be finite and within [{low}, {high}], got {value!r}")
