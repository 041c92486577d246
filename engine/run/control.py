"""A training run that lives beside the UI: the thread, the state machine, the callbacks and the loop.

A `Run` owns a `Trainer` and drives it from a background thread. It can be paused, resumed, stepped
once and stopped. What it produces (pictures, history, evaluations) goes to its `Recorder`; its
`Guard` keeps finite checkpoints and, on divergence, rolls the trainer back and says why.
Nothing here knows about Streamlit. Observers use callbacks (minGPT style):
``run.add_callback("on_snapshot", fn)``; events: on_step, on_snapshot, on_evaluate, on_checkpoint (after
each checkpoint the guard kept: `run.guard.latest()`), on_end.

Stop means stop: the loop runs inside a cancel scope (engine/run/cancel.py), so long work that checks it
between chunks (an image encoder's evaluation) ends within a chunk of `stop()`, and the run ends STOPPED.
An error the user caused (engine.errors.LabError, e.g. a refused data file) ends a background run FAILED
with its message and nothing else; any other exception is a bug and is re-raised (its traceback shows).
A run that diverged and was rolled back can be continued: `continue_from_rollback()`.
"""

from __future__ import annotations

import atexit
import math
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from engine.errors import LabError
from engine.run.cancel import Cancelled, scope
from engine.run.guard import Guard, first_non_finite, scale_learning_rates
from engine.run.options import FAILED, FINISHED, IDLE, PAUSED, RUNNING, STOPPED, RunOptions, Trainer
from engine.run.recording import Recorder, Snapshot

_STARTED: weakref.WeakSet[Run] = weakref.WeakSet()


def live_runs() -> list[Run]:
    """Runs of this process whose thread is still alive (to check that nothing leaks)."""
    return [r for r in list(_STARTED) if r.alive]


@atexit.register
def _stop_live_runs() -> None:
    # a daemon thread still inside torch when the interpreter exits aborts the process (status 134)
    for run in live_runs():
        run.stop(timeout=2.0)


class Run:
    """Drive a trainer in a background thread (or the caller's, `run_to_end`); see the module docstring."""

    def __init__(self, trainer: Trainer, options: RunOptions | None = None, name: str = "run") -> None:
        self.trainer = trainer
        self.options = options or RunOptions()
        self.name = name
        self.state = IDLE
        self.message = ""
        self.started_at: float | None = None
        self.elapsed = 0.0  # seconds spent in trainer.step() (pauses, evaluations, pictures excluded)
        # held while the trainer steps, snapshots, evaluates or is checkpointed / restored; a UI that
        # reads the model directly takes it too (`with run.model_lock:`) so it never sees half an update
        self.model_lock = threading.Lock()
        self.recorder = Recorder(self.options.frames_kept, self.options.max_history, self.options.max_evaluations)
        self.guard = Guard(trainer, self.model_lock)
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._stop = False
        self._paused = False
        self._pending_steps = 0
        self._commands: list[Callable[[Any], None]] = []
        self._thread: threading.Thread | None = None
        self._background = False  # True when start() made the thread (run_to_end re-raises every error)
        self._callbacks: dict[str, list[Callable[[Run], None]]] = {}

    # ---- control -------------------------------------------------------------------------------
    def start(self, paused: bool = False) -> Run:
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("a Run can be started once; make a new Run to train again")
            self._paused = paused
            self.state = PAUSED if paused else RUNNING
            self.started_at = time.time()
            self._background = True
            self._thread = threading.Thread(target=self._loop, name=f"energy-lab-{self.name}", daemon=True)
            self._thread.start()
            _STARTED.add(self)
        return self

    def run_to_end(self) -> Run:
        """Train in the calling thread until a budget (or stop); used by the CLI and tests."""
        if self.options.max_steps is None and self.options.max_seconds is None:
            raise ValueError("run_to_end needs options.max_steps or options.max_seconds")
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("a Run can be started once; make a new Run to train again")
            self.state = RUNNING
            self.started_at = time.time()
            self._thread = threading.current_thread()
        self._loop()
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
        """Stop after the step in flight (no evaluation, no closing picture); True if the thread ended in time."""
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
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def call(self, fn: Callable[[Any], None]) -> None:
        """Apply `fn(trainer)` between two steps: the way a UI changes a trainer that may be training.

        While the thread lives, the command waits for the step in flight and runs on the training
        thread (also while paused); otherwise it runs at once, under the model lock.
        """
        with self._lock:
            if self.alive and not self._stop:
                self._commands.append(fn)
                self._wake.notify_all()
                return
        with self.model_lock:
            fn(self.trainer)

    def continue_from_rollback(self, lr_factor: float | None = None) -> Run:
        """A new Run (not started) on this failed run's trainer, to train on from the model it was rolled
        back to: the trainer's step count and this run's history and evaluations up to that step are kept.
        With `lr_factor` (e.g. the guard's `lr_cut`), every optimiser's learning rate is scaled by it first.
        Callbacks are not carried over (a run folder attached to this run stays closed)."""
        if self.state != FAILED or self.guard.rolled_back_to is None:
            raise RuntimeError("only a run that failed and was rolled back can be continued")
        new = self._carry_on("the failed run's")
        if lr_factor is not None:
            new.call(lambda trainer: scale_learning_rates(trainer, lr_factor))  # no thread yet: at once
        return new

    def resume_stopped(self) -> Run:
        """A new Run (not started) that trains on from where this stopped (or finished) run ended — Reset's
        undo: the trainer, its step count, history and evaluations are kept, nothing is lost."""
        self.join(5.0)  # a stop is asked, then the thread ends and says STOPPED
        if self.state not in (STOPPED, FINISHED):
            raise RuntimeError("only a run that was stopped or finished can be taken up again")
        return self._carry_on("the stopped run's")

    def _carry_on(self, whose: str) -> Run:
        """A new Run on this ended run's trainer, with its history and evaluations up to the trainer's step."""
        self.join(5.0)  # its thread ends right after the stop or the rollback (on_end callbacks)
        if self.alive:
            raise RuntimeError(f"{whose} thread has not ended yet")
        new = Run(self.trainer, self.options, self.name)
        step = self.step
        new.recorder.history = [row for row in self.history if row["step"] <= step]
        new.recorder.evaluations = [row for row in self.evaluations if row["step"] <= step]
        new.elapsed = self.elapsed
        return new

    def add_callback(self, event: str, fn: Callable[[Run], None]) -> None:
        """Events: on_step (after every step), on_snapshot, on_evaluate, on_checkpoint, on_end."""
        self._callbacks.setdefault(event, []).append(fn)

    # ---- reading -------------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def step(self) -> int:
        return self.trainer.step_count

    @property
    def history(self) -> list[dict[str, float]]:
        return self.recorder.history

    @property
    def evaluations(self) -> list[dict[str, float]]:
        return self.recorder.evaluations

    def latest(self) -> Snapshot | None:
        return self.recorder.latest()

    def frames_since(self, frame: int) -> list[Snapshot]:
        """Snapshots published after frame id `frame` (oldest first), as many as are still kept."""
        return self.recorder.frames_since(frame)

    def last_evaluation(self) -> dict[str, float]:
        return self.recorder.last_evaluation()

    def steps_per_second(self) -> float:
        return self.step / self.elapsed if self.elapsed > 0 else 0.0

    def budget_reached(self) -> bool:
        o = self.options
        return (o.max_steps is not None and self.step >= o.max_steps) or (
            o.max_seconds is not None and self.elapsed >= o.max_seconds)

    def summary(self) -> dict[str, Any]:
        with self._lock:
            # the run's own step last: the latest evaluation's row carries the (earlier) step it evaluated
            return {**self.last_evaluation(), "state": self.state, "message": self.message, "step": self.step,
                    "seconds": round(self.elapsed, 3), "steps_per_s": round(self.steps_per_second(), 2)}

    # ---- the loop --------------------------------------------------------------------------------
    def _emit(self, event: str) -> None:
        for fn in self._callbacks.get(event, []):
            fn(self)

    def _checkpoint(self) -> None:
        if self.guard.save():
            self._emit("on_checkpoint")

    def _fail(self, why: str, bad_from: int) -> None:
        """Fail, rolled back to before step `bad_from`: the first state known bad."""
        message = self.guard.fail(why, bad_from)  # rolls back first, so the trainer is good when FAILED shows
        with self._lock:
            self.state, self.message, self._stop = FAILED, message, True

    def _publish(self, scalars: dict[str, float]) -> bool:
        with self.model_lock:
            data = self.trainer.snapshot()
        bad = first_non_finite(data)
        if bad is not None:
            self._fail(f"the model's {bad} became non-finite at step {self.step}", self.step)
            return False
        self.recorder.publish(self.step, data, scalars)
        self._emit("on_snapshot")
        return True

    def _evaluate(self) -> bool:
        with self.model_lock:
            metrics = self.trainer.evaluate()
        bad = first_non_finite(metrics)
        if bad is not None:
            self._fail(f"the metric {bad} became non-finite at step {self.step}", self.step)
            return False
        self.recorder.add_evaluation(self.step, self.elapsed, metrics)
        self._emit("on_evaluate")
        return True

    def _evaluation_due(self, since_last: float) -> bool:
        o = self.options
        if o.evaluate_every_steps:
            return self.step % o.evaluate_every_steps == 0
        return o.evaluate_every_s is not None and since_last >= o.evaluate_every_s

    def _next_step(self) -> str:
        """Wait while paused, then what to do: "stop", "budget" (reached), "step" or "single" (step_once)."""
        while True:
            with self._lock:
                while self._paused and self._pending_steps == 0 and not self._stop and not self._commands:
                    self._wake.wait(0.25)
                commands, self._commands = self._commands, []
                if not commands:
                    if self._stop:
                        return "stop"
                    single = self._paused
                    if single:
                        self._pending_steps -= 1
                    break
            with self.model_lock:  # commands sent by the UI (`call`), between two steps
                for fn in commands:
                    fn(self.trainer)
        if self.budget_reached():
            return "budget"
        return "single" if single else "step"

    def _train(self) -> bool:
        """The stepping loop; True when it ended on a budget, False on stop or failure."""
        snap_dt = 1.0 / self.options.snapshot_hz
        last_snap = last_eval = -math.inf
        # evaluation and checkpoint cadences run on wall time minus the time spent in either, i.e. from
        # the end of the last one: an evaluation (or checkpoint) slower than its cadence, or a slow one
        # of the other kind, cannot make it run after every step
        busy = 0.0
        last_ckpt = time.perf_counter()  # the loop began with a checkpoint
        while (what := self._next_step()) in ("step", "single"):
            single = what == "single"
            t0 = time.perf_counter()
            with self.model_lock:
                scalars = self.trainer.step()
            self.elapsed += time.perf_counter() - t0
            bad = first_non_finite(scalars)
            if bad is not None:
                # the state this step started from is bad too: training on from it repeats this step
                self._fail(f"the {bad} became non-finite at step {self.step}", self.step - 1)
                return False
            self.recorder.record(self.step, scalars)
            self._emit("on_step")
            if self._stop:  # stop means stop: nothing more after the step in flight
                return False
            t0 = time.perf_counter()
            if self._evaluation_due(t0 - busy - last_eval) or single:
                if not self._evaluate():
                    return False
                end = time.perf_counter()
                busy += end - t0
                last_eval = end - busy
            t0 = time.perf_counter()
            if t0 - busy - last_ckpt >= self.options.checkpoint_every_s:
                self._checkpoint()
                end = time.perf_counter()
                busy += end - t0
                last_ckpt = end - busy
            now = time.perf_counter()
            if now - last_snap >= snap_dt or single:
                if not self._publish(scalars):
                    return False
                last_snap = now
        return what == "budget"

    def _close(self) -> None:
        """Closing metrics and picture of a run that reached its budget."""
        if self.last_evaluation().get("step") != self.step and not self._evaluate():
            return
        self._publish(self.recorder.last_row())

    def _stop_requested(self) -> bool:
        return self._stop

    def _end_with_error(self, message: str) -> None:
        with self._lock:
            self.state, self.message = FAILED, message

    def _loop(self) -> None:
        reached = False
        try:
            with scope(self._stop_requested):
                self._checkpoint()
                if self._publish({}):
                    reached = self._train()
                    with self._lock:
                        reached = reached and not self._stop
                    if reached:
                        self._close()
        except Cancelled:  # stopped inside a chunked evaluation: a stop, not a failure
            reached = False
        except LabError as exc:  # what the user asked for cannot be done: say so, no traceback
            self._end_with_error(f"Stopped at step {self.step}: {exc}")
            if not self._background:
                raise  # the CLI prints it as its error line
        except Exception as exc:  # a bug: surface it to the UI, and let the thread's traceback show
            self._end_with_error(f"Stopped by an error at step {self.step}: {type(exc).__name__}: {exc}")
            raise
        finally:
            with self._lock:
                if self.state in (RUNNING, PAUSED):
                    self.state = FINISHED if reached else STOPPED
            self._emit("on_end")
