"""The Run's control semantics, on a tiny deterministic trainer."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest

from engine.run import (
    FAILED,
    FINISHED,
    PAUSED,
    RUNNING,
    STOPPED,
    Diverged,
    Run,
    RunOptions,
    first_non_finite,
    train_headless,
)


class Counter:
    """Counts steps; can be told to produce a NaN loss (or a NaN picture) at a given step."""

    def __init__(self, nan_loss_at: int | None = None, nan_snapshot_at: int | None = None, delay: float = 0.0):
        self.step_count = 0
        self.w = 0.0
        self.nan_loss_at, self.nan_snapshot_at, self.delay = nan_loss_at, nan_snapshot_at, delay
        self.restored: list[int] = []

    def step(self):
        if self.delay:
            time.sleep(self.delay)
        self.step_count += 1
        self.w += 1.0
        loss = math.nan if self.step_count == self.nan_loss_at else 1.0 / self.step_count
        return {"loss": loss}

    def snapshot(self):
        bad = self.nan_snapshot_at is not None and self.step_count >= self.nan_snapshot_at
        return {"energy": np.full((4, 4), np.nan if bad else self.w, dtype=np.float32)}

    def evaluate(self):
        return {"w": self.w}

    def checkpoint(self):
        return (self.step_count, self.w)

    def restore(self, state):
        self.step_count, self.w = state
        self.restored.append(state[0])


def wait_for(cond, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return False


def test_runs_to_its_budget_and_finishes():
    run = Run(Counter(), RunOptions(max_steps=200)).start()
    run.join(5)
    assert run.state == FINISHED
    assert run.step == 200
    assert len(run.history) == 200 and run.history[-1]["step"] == 200
    assert run.latest().step == 200  # closing picture
    assert run.evaluations[-1]["step"] == 200


def test_pause_resume_and_step_once():
    run = Run(Counter(delay=0.001), RunOptions(max_steps=100_000)).start()
    assert wait_for(lambda: run.step > 5)
    run.pause()
    time.sleep(0.05)
    assert run.state == PAUSED
    frozen = run.step
    time.sleep(0.1)
    assert run.step == frozen  # paused means no steps
    run.step_once()
    assert wait_for(lambda: run.step == frozen + 1)
    time.sleep(0.05)
    assert run.step == frozen + 1  # exactly one
    assert run.latest().step == frozen + 1  # a stepped run publishes its picture at once
    run.resume()
    assert run.state == RUNNING
    assert wait_for(lambda: run.step > frozen + 10)
    assert run.stop()
    assert run.state == STOPPED


def test_step_once_on_a_new_run_starts_it_paused():
    run = Run(Counter(), RunOptions(max_steps=10))
    run.step_once(3)
    assert wait_for(lambda: run.step == 3)
    assert run.state == PAUSED
    run.stop()


def test_stop_takes_effect_within_a_second_even_with_slow_steps():
    run = Run(Counter(delay=0.05), RunOptions(max_steps=None)).start()
    assert wait_for(lambda: run.step > 2)
    t0 = time.perf_counter()
    assert run.stop(timeout=1.0)
    assert time.perf_counter() - t0 < 1.0
    assert not run.alive


def test_non_finite_loss_stops_rolls_back_and_says_why():
    trainer = Counter(nan_loss_at=30)
    run = Run(trainer, RunOptions(max_steps=1000, checkpoint_every_s=0.0)).start()
    run.join(5)
    assert run.state == FAILED
    assert "non-finite" in run.message and "step 30" in run.message
    assert trainer.restored and trainer.restored[-1] <= 29  # back to a good checkpoint
    assert run.step < 30


def test_non_finite_snapshot_is_detected():
    run = Run(Counter(nan_snapshot_at=5), RunOptions(max_steps=1000, snapshot_hz=240)).start()
    run.join(5)
    assert run.state == FAILED
    assert "energy" in run.message


def test_snapshots_are_published_at_a_steady_rate_and_frames_since_works():
    run = Run(Counter(delay=0.001), RunOptions(max_steps=None, snapshot_hz=20)).start()
    time.sleep(0.6)
    run.stop()
    frames = run.frames_since(0)
    assert 6 <= len(frames) <= 16  # ~20 per second over 0.6 s, plus the first and last
    ids = [f.frame for f in frames]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert run.frames_since(ids[-2]) == frames[-1:]


def test_callbacks_get_progress():
    seen: list[str] = []
    run = Run(Counter(), RunOptions(max_steps=20, evaluate_every_steps=10))
    run.add_callback("on_evaluate", lambda r: seen.append(f"eval@{r.step}"))
    run.add_callback("on_end", lambda r: seen.append("end"))
    run.run_to_end()
    assert seen == ["eval@10", "eval@20", "end"]


def test_a_run_starts_once():
    run = Run(Counter(), RunOptions(max_steps=1)).start()
    run.join(2)
    with pytest.raises(RuntimeError):
        run.start()


def test_options_are_validated():
    with pytest.raises(ValueError):
        RunOptions(snapshot_hz=0)
    with pytest.raises(ValueError):
        RunOptions(max_steps=-1)


def test_first_non_finite():
    assert first_non_finite({"a": 1.0, "b": np.zeros(3)}) is None
    assert first_non_finite({"a": 1.0, "b": np.array([0.0, np.inf])}) == "b"
    assert first_non_finite({"loss": float("nan")}) == "loss"


def test_model_lock_is_held_while_stepping():
    entered = threading.Event()

    class Slow(Counter):
        def step(self):
            entered.set()
            time.sleep(0.2)
            return super().step()

    run = Run(Slow(), RunOptions(max_steps=1)).start()
    assert entered.wait(2)
    assert not run.model_lock.acquire(timeout=0.05)  # busy in step()
    run.join(3)
    assert run.model_lock.acquire(timeout=0.5)
    run.model_lock.release()


# ---- train_headless ------------------------------------------------------------------------------
def test_train_headless_evaluates_only_at_the_end_by_default():
    seen: list[int] = []
    run = train_headless(Counter(), max_steps=20, on_step=lambda r: seen.append(r.step))
    assert run.state == FINISHED and seen == list(range(1, 21))
    assert [e["step"] for e in run.evaluations] == [20]


def test_train_headless_step_cadence_time_budget_and_positional_steps():
    run = train_headless(Counter(), 20, evaluate_every_steps=5)  # the CLIs pass max_steps positionally
    assert [e["step"] for e in run.evaluations] == [5, 10, 15, 20]
    timed = train_headless(Counter(delay=0.001), max_seconds=0.05)
    assert timed.state == FINISHED and timed.elapsed >= 0.05 and timed.evaluations[-1]["step"] == timed.step
    with pytest.raises(ValueError):
        train_headless(Counter())


def test_train_headless_raises_diverged_with_the_message():
    trainer = Counter(nan_loss_at=5)
    with pytest.raises(Diverged) as caught:
        train_headless(trainer, max_steps=100, checkpoint_every_s=0.0)
    assert isinstance(caught.value, RuntimeError)
    assert str(caught.value) == caught.value.run.message
    assert "non-finite at step 5" in str(caught.value) and caught.value.run.state == FAILED
    # rolled back to the newest checkpoint taken before the state that gave step 5 its NaN (step 4's
    # checkpoint is that state: continuing from it would diverge again at once)
    assert trainer.step_count == 3
