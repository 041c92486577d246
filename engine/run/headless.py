"""Training without a UI (CLI, scripts, tests): `train_headless` and the `Diverged` it raises.

Inside a CLI call with `--save` (a run folder made active by `engine.runfolder.activate`) every headless
run writes its rows there under its name; the first one is the call's main run: its checkpoints go to
disk, and with `--resume` it starts from the saved checkpoint (budgets count from step 0, so a resumed
run to N steps ends at step N).
"""

from __future__ import annotations

from collections.abc import Callable

from engine import runfolder
from engine.errors import SettingError
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
    folder = runfolder.active()
    if folder is not None:  # the guard's checkpoints must come at least as often as the folder writes them
        checkpoint_every_s = min(checkpoint_every_s, folder.checkpoint_every_s)
    # no timed evaluations: they would make the history depend on the machine's speed
    options = RunOptions(max_steps=max_steps, max_seconds=max_seconds, evaluate_every_s=None,
                         evaluate_every_steps=evaluate_every_steps, snapshot_hz=snapshot_hz,
                         checkpoint_every_s=checkpoint_every_s)
    run = Run(trainer, options, name=name)
    if folder is not None:
        _attach_to(folder, run)
    if on_evaluate is not None:
        run.add_callback("on_evaluate", on_evaluate)
    if on_step is not None:
        run.add_callback("on_step", on_step)
    run.run_to_end()
    if run.state == FAILED:
        raise Diverged(run.message, run)
    return run


def _attach_to(folder: runfolder.RunFolder, run: Run) -> None:
    """Log `run` into the active folder; the call's first run is its main one (resumed, checkpointed)."""
    main = folder.claim_main()
    t0 = 0.0
    if main and folder.resume:
        if not run.guard.can_roll_back:
            raise SettingError(f"--resume: this experiment's {run.name} run cannot continue from a checkpoint",
                               setting="resume")
        state = folder.load_checkpoint()
        if state is None:
            raise SettingError(f"--resume: {folder.path} holds no checkpoint to continue from", setting="resume")
        with run.model_lock:
            run.trainer.restore(state)
        t0 = folder.rewind(run.name, run.step)
        folder.update(resumed_from=run.step, step=run.step)
    runfolder.attach(run, folder, run.name, main=main, closes=False, t0=t0)
