"""Training runs that live beside the UI (or headless).

    options.py    Trainer / CheckpointingTrainer protocols, RunOptions, the states
    control.py    Run: the thread, the state machine, callbacks, the loop; live_runs and the atexit hook
    recording.py  Recorder: the snapshot ring, bounded history and evaluations; Snapshot
    guard.py      Guard: non-finite checks, finite-only checkpoints, rollback, the failure message, the lr cut
    cancel.py     cancel scopes: a Stop reaches chunked work in flight (Cancelled, check)
    headless.py   train_headless and Diverged
"""

from engine.run.control import Run, live_runs
from engine.run.guard import first_non_finite
from engine.run.headless import Diverged, train_headless
from engine.run.options import (
    FAILED,
    FINISHED,
    IDLE,
    PAUSED,
    RUNNING,
    STOPPED,
    CheckpointingTrainer,
    RunOptions,
    Trainer,
)
from engine.run.recording import Snapshot

__all__ = [
    "FAILED", "FINISHED", "IDLE", "PAUSED", "RUNNING", "STOPPED",
    "CheckpointingTrainer", "Diverged", "Run", "RunOptions", "Snapshot", "Trainer",
    "first_non_finite", "live_runs", "train_headless",
]
