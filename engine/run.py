"""A training run that lives beside the UI.

A `Run` owns a `Trainer` and drives it from a background thread. It can be paused, resumed, stepped
once and stopped; it publishes snapshots (step, scalars, pictures) into a small ring buffer at a
steady rate, keeps the history of scalars, checks every loss and snapshot for non-finite values and,
on divergence, stops, rolls the trainer back to its last good checkpoint and says why.

The same object is used from a notebook, the CLI (`run_to_end`) and the Streamlit pages: nothing
here knows about Streamlit. Progress reaches observers through callbacks (minGPT style):
``run.add_callback("on_snapshot", fn)``.
"""

from __future__ import annotations

import atexit
import math
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


class Trainer(Protocol):
    """What a `Run` drives. Every experiment (toy 2-D, binary, DAE, images) implements this."""

    step_count: int

    def step(self) -> dict[str, float]:
        """One optimisation step; returns the scalars to log (at least ``loss``)."""

    def snapshot(self) -> dict[str, Any]:
        """A cheap picture of the current state (numpy arrays / plain Python), drawn live."""

    def evaluate(self) -> dict[str, float]:
        """Exact (possibly slower) metrics, called a few times a second at most."""


class CheckpointingTrainer(Trainer, Protocol):
    def checkpoint(self) -> Any: ...

    def restore(self, state: Any) -> None: ...


IDLE, RUNNING, PAUSED, FINISHED, STOPPED, FAILED = "idle", "running", "paused", "finished", "stopped", "failed"

_STARTED: weakref.WeakSet[Run] = weakref.WeakSet()


def live_runs() -> list[Run]:
    """Runs of this process whose thread is still alive (to check that nothing leaks)."""
    return [r for r in list(_STARTED) if r.alive]


@atexit.register
def _stop_live_runs() -> None:
    # a daemon thread still inside torch when the interpreter exits aborts the process (status 134)
    for run in live_runs():
        run.stop(timeout=2.0)


@dataclass
class Snapshot:
    frame: int  # increasing id, one per published snapshot
    step: int
    t: float  # time.time() when taken
    data: dict[str, Any]
    scalars: dict[str, float] = field(default_factory=dict)


@dataclass
class RunOptions:
    max_steps: int | None = None
    snapshot_hz: float = 30.0  # published snapshots per second while running
    evaluate_every_s: float = 0.5  # exact metrics cadence while running
    evaluate_every_steps: int | None = None  # or a fixed step cadence (reproducible histories, CLI)
    frames_kept: int = 240
    checkpoint_every_s: float = 2.0
    max_history: int = 20_000  # scalar rows kept; older rows are thinned by 2 when exceeded

    def __post_init__(self) -> None:
        if self.max_steps is not None and self.max_steps < 0:
            raise ValueError("max_steps must be >= 0")
        if not (0.1 <= self.snapshot_hz <= 240):
            raise ValueError("snapshot_hz must be within [0.1, 240]")
        if self.evaluate_every_s <= 0:
            raise ValueError("evaluate_every_s must be > 0")
        if self.evaluate_every_steps is not None and self.evaluate_every_steps < 1:
            raise ValueError("evaluate_every_steps must be >= 1")
        if self.frames_kept < 2:
            raise ValueError("frames_kept must be >= 2")


def first_non_finite(values: dict[str, Any]) -> str | None:
    """Name of the first entry that holds a NaN or infinity (numbers and numpy arrays), else None."""
    for name, value in values.items():
        if isinstance(value, bool | str) or value is None:
            continue
        if isinstance(value, int | float):
            if not math.isfinite(value):
                return name
        elif isinstance(value, np.ndarray) and value.dtype.kind == "f" and not np.isfinite(value).all():
            return name
    return None


class Run:
    """Drive a trainer in a background thread; see the module docstring."""

    def __init__(self, trainer: Trainer, options: RunOptions | None = None, name: str = "run"):
        self.trainer = trainer
        self.options = options or RunOptions()
        self.name = name
        self.state = IDLE
        self.message = ""
        self.history: list[dict[str, float]] = []
        self.evaluations: list[dict[str, float]] = []
        self.started_at: float | None = None
        self.elapsed = 0.0  # seconds spent training (pauses excluded)
        self._frames: deque[Snapshot] = deque(maxlen=self.options.frames_kept)
        self._frame_id = 0
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._stop = False
        self._paused = False
        self._pending_steps = 0
        self._thread: threading.Thread | None = None
        self._checkpoint: tuple[int, Any] | None = None
        self._callbacks: dict[str, list[Callable[[Run], None]]] = {}
        # held while the trainer steps, snapshots or evaluates; a UI that reads the model directly
        # takes it too (`with run.model_lock:`) so it never sees half an optimiser update
        self.model_lock = threading.Lock()

    # ---- control -------------------------------------------------------------------------------
    def start(self, paused: bool = False) -> Run:
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("a Run can be started once; make a new Run to train again")
            self._paused = paused
            self.state = PAUSED if paused else RUNNING
            self.started_at = time.time()
            self._thread = threading.Thread(target=self._loop, name=f"energy-lab-{self.name}", daemon=True)
            self._thread.start()
            _STARTED.add(self)
        return self

    def pause(self) -> None:
        with self._lock:
            if self.state == RUNNING:
                self._paused = True
                self.state = PAUSED
                self._wake.notify_all()

    def resume(self) -> None:
        with self._lock:
            if self.state == PAUSED:
                self._paused = False
                self.state = RUNNING
                self._wake.notify_all()

    def step_once(self, n: int = 1) -> None:
        """Take n steps (default one) and stay paused; starts the thread paused if needed."""
        with self._lock:
            if self._thread is None:
                self.start(paused=True)
            if self.state in (RUNNING, PAUSED):
                self._paused = True
                self.state = PAUSED
                self._pending_steps += n
                self._wake.notify_all()

    def stop(self, timeout: float = 1.0) -> bool:
        """Ask the thread to stop; returns True if it ended within `timeout` seconds."""
        with self._lock:
            self._stop = True
            self._wake.notify_all()
            if self.state in (RUNNING, PAUSED, IDLE):
                self.state = STOPPED
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def step(self) -> int:
        return self.trainer.step_count

    def add_callback(self, event: str, fn: Callable[[Run], None]) -> None:
        """Events: on_step (after every step), on_snapshot, on_evaluate, on_end."""
        self._callbacks.setdefault(event, []).append(fn)

    # ---- reading -------------------------------------------------------------------------------
    def latest(self) -> Snapshot | None:
        with self._lock:
            return self._frames[-1] if self._frames else None

    def frames_since(self, frame: int) -> list[Snapshot]:
        """Snapshots published after frame id `frame` (oldest first), as many as are still kept."""
        with self._lock:
            return [s for s in self._frames if s.frame > frame]

    def last_evaluation(self) -> dict[str, float]:
        with self._lock:
            return dict(self.evaluations[-1]) if self.evaluations else {}

    def steps_per_second(self) -> float:
        return self.step / self.elapsed if self.elapsed > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {
                "state": self.state,
                "message": self.message,
                "step": self.step,
                "seconds": round(self.elapsed, 3),
                "steps_per_s": round(self.steps_per_second(), 2),
                **self.last_evaluation(),
            }

    # ---- headless -------------------------------------------------------------------------------
    def run_to_end(self) -> Run:
        """Train in the calling thread until max_steps (or stop); used by the CLI and tests."""
        if self.options.max_steps is None:
            raise ValueError("run_to_end needs options.max_steps")
        self.state = RUNNING
        self.started_at = time.time()
        self._thread = threading.current_thread()
        self._loop()
        return self

    # ---- the loop --------------------------------------------------------------------------------
    def _emit(self, event: str) -> None:
        for fn in self._callbacks.get(event, []):
            fn(self)

    def _publish(self, scalars: dict[str, float]) -> bool:
        with self.model_lock:
            data = self.trainer.snapshot()
        bad = first_non_finite(data)
        if bad is not None:
            self._fail(f"the model's {bad} became non-finite at step {self.step}")
            return False
        with self._lock:
            self._frame_id += 1
            self._frames.append(Snapshot(self._frame_id, self.step, time.time(), data, dict(scalars)))
        self._emit("on_snapshot")
        return True

    def _evaluate(self) -> bool:
        with self.model_lock:
            metrics = self.trainer.evaluate()
        bad = first_non_finite(metrics)
        if bad is not None:
            self._fail(f"the metric {bad} became non-finite at step {self.step}")
            return False
        with self._lock:
            self.evaluations.append({"step": self.step, "seconds": round(self.elapsed, 3), **metrics})
        self._emit("on_evaluate")
        return True

    def _fail(self, why: str) -> None:
        restored = ""
        if self._checkpoint is not None and hasattr(self.trainer, "restore"):
            step, state = self._checkpoint
            self.trainer.restore(state)
            restored = f"; rolled back to the last good checkpoint (step {step})"
        with self._lock:
            self.state = FAILED
            self.message = (
                f"Stopped: {why}{restored}. The energy diverged — try a lower learning rate, "
                "a larger energy² regulariser α, or more sampling steps."
            )
            self._stop = True

    def _save_checkpoint(self) -> None:
        if hasattr(self.trainer, "checkpoint"):
            self._checkpoint = (self.step, self.trainer.checkpoint())

    def _record(self, scalars: dict[str, float]) -> None:
        with self._lock:
            self.history.append({"step": self.step, **scalars})
            if len(self.history) > self.options.max_history:
                # keep the curve's shape at a bounded cost: drop every other old row
                self.history = self.history[::2]

    def _loop(self) -> None:
        opts = self.options
        snap_dt = 1.0 / opts.snapshot_hz
        last_snap = last_eval = last_ckpt = 0.0
        try:
            self._save_checkpoint()
            if not self._publish({}):
                return
            while True:
                with self._lock:
                    while self._paused and self._pending_steps == 0 and not self._stop:
                        self._wake.wait(0.25)
                    if self._stop:
                        break
                    single = self._paused
                    if single:
                        self._pending_steps -= 1
                if opts.max_steps is not None and self.step >= opts.max_steps:
                    break
                t0 = time.perf_counter()
                with self.model_lock:
                    scalars = self.trainer.step()
                self.elapsed += time.perf_counter() - t0
                bad = first_non_finite(scalars)
                if bad is not None:
                    self._fail(f"the {bad} became non-finite at step {self.step}")
                    break
                self._record(scalars)
                self._emit("on_step")
                now = time.perf_counter()
                by_steps = opts.evaluate_every_steps
                due_eval = (self.step % by_steps == 0) if by_steps else now - last_eval >= opts.evaluate_every_s
                if due_eval or single:
                    if not self._evaluate():
                        break
                    last_eval = now
                if now - last_ckpt >= opts.checkpoint_every_s:
                    self._save_checkpoint()
                    last_ckpt = now
                if now - last_snap >= snap_dt or single:
                    if not self._publish(scalars):
                        break
                    last_snap = now
            # closing picture and metrics, unless the run failed
            if self.state != FAILED:
                if not self.evaluations or self.evaluations[-1]["step"] != self.step:
                    self._evaluate()
                if self.state != FAILED:
                    self._publish(self.history[-1] if self.history else {})
        except Exception as exc:  # surface engine errors to the UI instead of dying silently
            with self._lock:
                self.state = FAILED
                self.message = f"Stopped by an error at step {self.step}: {type(exc).__name__}: {exc}"
            raise
        finally:
            with self._lock:
                if self.state in (RUNNING, PAUSED):
                    hit_budget = opts.max_steps is not None and self.step >= opts.max_steps
                    self.state = FINISHED if hit_budget else STOPPED
            self._emit("on_end")


def train_headless(trainer: Trainer, max_steps: int, *, evaluate_every_steps: int, name: str = "run",
                   on_evaluate: Callable[[Run], None] | None = None, snapshot_hz: float = 30.0) -> Run:
    """Train to `max_steps` in the calling thread (the CLI's way); a diverged run raises RuntimeError."""
    run = Run(trainer, RunOptions(max_steps=max_steps, evaluate_every_steps=evaluate_every_steps,
                                  snapshot_hz=snapshot_hz), name=name)
    if on_evaluate is not None:
        run.add_callback("on_evaluate", on_evaluate)
    run.run_to_end()
    if run.state == FAILED:
        raise RuntimeError(run.message)
    return run
