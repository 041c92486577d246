"""The Run's loop: stop means stop, cadences measured from the end, time budgets, option checks."""

from __future__ import annotations

import math
import threading
import time

import pytest

from engine.run import FINISHED, STOPPED, Run, RunOptions


class Fake:
    """Counts steps, evaluations and checkpoints; each can be made slow."""

    def __init__(self, step_delay: float = 0.0, eval_delay: float = 0.0, checkpoint_delay: float = 0.0) -> None:
        self.step_count = 0
        self.step_delay, self.eval_delay, self.checkpoint_delay = step_delay, eval_delay, checkpoint_delay
        self.evaluated_at: list[int] = []
        self.checkpoints = 0

    def step(self) -> dict[str, float]:
        time.sleep(self.step_delay)
        self.step_count += 1
        return {"loss": 1.0 / self.step_count}

    def snapshot(self) -> dict[str, float]:
        return {"w": float(self.step_count)}

    def evaluate(self) -> dict[str, float]:
        time.sleep(self.eval_delay)
        self.evaluated_at.append(self.step_count)
        return {"w": float(self.step_count)}

    def checkpoint(self) -> int:
        time.sleep(self.checkpoint_delay)
        self.checkpoints += 1
        return self.step_count

    def restore(self, state: int) -> None:
        self.step_count = state


def test_stop_during_a_step_runs_no_evaluation_and_no_closing_picture():
    entered, gate = threading.Event(), threading.Event()

    class Gated(Fake):
        def step(self) -> dict[str, float]:
            if self.step_count == 5:  # the 6th step blocks until the test has asked to stop
                entered.set()
                gate.wait(5)
            return super().step()

    trainer = Gated()
    run = Run(trainer, RunOptions(max_steps=1000, evaluate_every_s=1e-6, snapshot_hz=240)).start()
    assert entered.wait(5)
    evaluated, frame = list(trainer.evaluated_at), run.latest().frame
    assert evaluated == [1, 2, 3, 4, 5]  # due after every step until then
    run.stop(timeout=0)
    gate.set()
    run.join(5)
    assert run.state == STOPPED and run.step == 6
    assert run.history[-1]["step"] == 6  # the step in flight is recorded...
    assert trainer.evaluated_at == evaluated  # ...but not evaluated, and no closing evaluation
    assert run.latest().frame == frame  # nor pictured


def test_stop_from_a_callback_ends_without_a_closing_evaluation():
    trainer = Fake()
    run = Run(trainer, RunOptions(max_steps=100, evaluate_every_steps=10))
    run.add_callback("on_step", lambda r: r.stop() if r.step == 15 else None)
    run.run_to_end()
    assert run.state == STOPPED and run.step == 15
    assert trainer.evaluated_at == [10]


def test_reaching_the_budget_gets_a_closing_evaluation_and_picture():
    trainer = Fake()
    run = Run(trainer, RunOptions(max_steps=15, evaluate_every_steps=10)).run_to_end()
    assert run.state == FINISHED
    assert trainer.evaluated_at == [10, 15]
    assert run.latest().step == 15


def test_cadences_are_measured_from_the_end_of_a_slow_evaluation_or_checkpoint():
    # an evaluation (0.2 s) and a checkpoint (0.1 s) slower than their cadence (0.05 s) must not run every step
    trainer = Fake(step_delay=0.003, eval_delay=0.2, checkpoint_delay=0.1)
    run = Run(trainer, RunOptions(max_steps=60, evaluate_every_s=0.05, checkpoint_every_s=0.05)).start()
    run.join(30)
    assert run.state == FINISHED and run.step == 60
    assert 2 <= len(trainer.evaluated_at) <= 12  # ~ 1 + 0.18 s / 0.05 s, plus the closing one; was 60
    assert 1 <= trainer.checkpoints <= 12


def test_max_seconds_counts_training_time_only_and_finishes():
    trainer = Fake(step_delay=0.002, eval_delay=0.05)
    t0 = time.perf_counter()
    run = Run(trainer, RunOptions(max_seconds=0.15, evaluate_every_s=0.01)).start()
    run.join(10)
    wall = time.perf_counter() - t0
    assert run.state == FINISHED
    assert 0.15 <= run.elapsed < 0.4
    assert run.evaluations[-1]["step"] == run.step and run.latest().step == run.step  # closing ones
    assert len(trainer.evaluated_at) >= 3
    assert wall >= run.elapsed + 0.05 * (len(trainer.evaluated_at) - 1)  # evaluation time was not counted


def test_run_to_end_accepts_a_time_budget_alone():
    run = Run(Fake(step_delay=0.001), RunOptions(max_seconds=0.05)).run_to_end()
    assert run.state == FINISHED and run.elapsed >= 0.05
    with pytest.raises(ValueError):
        Run(Fake(), RunOptions()).run_to_end()


@pytest.mark.parametrize("field, value", [
    ("snapshot_hz", math.nan), ("snapshot_hz", math.inf), ("snapshot_hz", 0.0),
    ("evaluate_every_s", math.nan), ("evaluate_every_s", 0.0), ("evaluate_every_s", math.inf),
    ("checkpoint_every_s", -1.0), ("checkpoint_every_s", math.inf),
    ("max_seconds", math.nan), ("max_seconds", -1.0), ("max_seconds", math.inf),
    ("max_steps", -1), ("max_steps", 1.5), ("max_steps", True), ("evaluate_every_steps", 0),
    ("frames_kept", 1), ("max_history", 1), ("max_evaluations", 1), ("max_evaluations", "5"),
])
def test_options_reject_non_finite_and_out_of_range_values(field, value):
    with pytest.raises(ValueError, match=field):
        RunOptions(**{field: value})


def test_options_accept_the_values_the_app_uses():
    RunOptions(max_steps=10**9, evaluate_every_s=1e9, checkpoint_every_s=1e9, snapshot_hz=0.1)
    RunOptions(max_seconds=0.0, evaluate_every_s=None, checkpoint_every_s=0.0, max_evaluations=2)


def test_call_runs_between_steps_on_the_training_thread_also_while_paused():
    class Counter:
        step_count = 0
        scale = 1.0

        def step(self):
            self.step_count += 1
            return {"loss": self.scale}

        def snapshot(self):
            return {}

        def evaluate(self):
            return {}

    trainer = Counter()
    run = Run(trainer, RunOptions(evaluate_every_s=None)).start(paused=True)
    seen: list[str] = []

    def command(t):
        t.scale = 0.5
        seen.append(threading.current_thread().name)

    run.call(command)
    deadline = time.time() + 5
    while not seen and time.time() < deadline:
        time.sleep(0.01)
    assert seen == [f"energy-lab-{run.name}"] and trainer.scale == 0.5
    run.step_once()
    deadline = time.time() + 5
    while run.step < 1 and time.time() < deadline:
        time.sleep(0.01)
    assert run.history[-1]["loss"] == 0.5
    run.stop()
    run.call(lambda t: setattr(t, "scale", 2.0))  # no thread: applied at once
    assert trainer.scale == 2.0
