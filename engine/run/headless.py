"""Training without a UI (CLI, scripts, tests): `train_headless` and the `Diverged` it raises."""

from __future__ import annotations

from collections.abc import Callable

from engine.run.control import Run
from engine.run.options import FAILED, RunOptions, Trainer


class Diverged(RuntimeError):
    """A run stopped on a NaN / infinity; its trainer was rolled back to the last finite checkpoint."""

    def __init__(self, message: str, run: Run | None = None) -> None:
        super().__init__(message)
        self.run = run


def train_headless(trainer: Trainer, max_steps: int | None = None, *, max_seconds: float | None = None,
                   evaluate_every_steps: int | None = None, name: str = "run",
                   on_evaluate: Callable[[Run], None] | None = None, on_step: Callable[[Run], None] | None = None,
                   snapshot_hz: float = 30.0, checkpoint_every_s: float = 2.0) -> Run:
    """Train in the calling thread until `max_steps` or `max_seconds` of training, whichever comes first.

    Evaluations every `evaluate_every_steps` steps, or only the closing one when None (so they do not
    eat a time budget). Raises `Diverged` with the run's message if the run failed.
    """
    if max_steps is None and max_seconds is None:
        raise ValueError("train_headless needs max_steps or max_seconds")
    # no timed evaluations: they would make the history depend on the machine's speed
    options = RunOptions(max_steps=max_steps, max_seconds=max_seconds, evaluate_every_s=None,
                         evaluate_every_steps=evaluate_every_steps, snapshot_hz=snapshot_hz,
                         checkpoint_every_s=checkpoint_every_s)
    run = Run(trainer, options, name=name)
    if on_evaluate is not None:
        run.add_callback("on_evaluate", on_evaluate)
    if on_step is not None:
        run.add_callback("on_step", on_step)
    run.run_to_end()
    if run.state == FAILED:
        raise Diverged(run.message, run)
    return run
