"""What a run has produced: the ring of live pictures, the scalar history and the evaluations."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Snapshot:
    """One published picture of the model, as the live views draw it."""

    frame: int  # increasing id, one per published snapshot
    step: int
    t: float  # time.time() when taken
    data: dict[str, Any]
    scalars: dict[str, float] = field(default_factory=dict)


def thin(rows: list[dict[str, float]]) -> list[dict[str, float]]:
    """Every other row, counted back from the newest: half the rows, the newest kept, the curve's shape too."""
    return rows[::-2][::-1]


class Recorder:
    """Snapshot ring, bounded history, bounded evaluations; written by the run's thread, read from any.

    `history` and `evaluations` are replaced (not edited) when thinned, so a reader holding the
    old list still sees a consistent one.
    """

    def __init__(self, frames_kept: int = 240, max_history: int = 20_000, max_evaluations: int = 5000) -> None:
        self.max_history = max_history
        self.max_evaluations = max_evaluations
        self.history: list[dict[str, float]] = []
        self.evaluations: list[dict[str, float]] = []
        self._frames: deque[Snapshot] = deque(maxlen=frames_kept)
        self._frame_id = 0
        self._lock = threading.Lock()

    # ---- pictures ------------------------------------------------------------------------------
    def publish(self, step: int, data: dict[str, Any], scalars: dict[str, float]) -> Snapshot:
        """Add a snapshot to the ring (the oldest drops out) and return it."""
        with self._lock:
            self._frame_id += 1
            snap = Snapshot(self._frame_id, step, time.time(), data, dict(scalars))
            self._frames.append(snap)
            return snap

    def latest(self) -> Snapshot | None:
        with self._lock:
            return self._frames[-1] if self._frames else None

    def frames_since(self, frame: int) -> list[Snapshot]:
        """Snapshots published after frame id `frame` (oldest first), as many as are still kept."""
        with self._lock:
            return [s for s in self._frames if s.frame > frame]

    # ---- scalars -------------------------------------------------------------------------------
    def record(self, step: int, scalars: dict[str, float]) -> None:
        """One history row per step."""
        with self._lock:
            self.history.append({"step": step, **scalars})
            if len(self.history) > self.max_history:
                self.history = thin(self.history)

    def add_evaluation(self, step: int, seconds: float, metrics: dict[str, float]) -> None:
        with self._lock:
            self.evaluations.append({"step": step, "seconds": round(seconds, 3), **metrics})
            if len(self.evaluations) > self.max_evaluations:
                self.evaluations = thin(self.evaluations)

    def last_evaluation(self) -> dict[str, float]:
        with self._lock:
            return dict(self.evaluations[-1]) if self.evaluations else {}

    def last_row(self) -> dict[str, float]:
        """The newest history row without its step (the scalars of the last step), or {}."""
        with self._lock:
            row = dict(self.history[-1]) if self.history else {}
        row.pop("step", None)
        return row
