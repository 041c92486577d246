"""The Recorder: snapshot ring, bounded history, bounded evaluations."""

from __future__ import annotations

from engine.run import FINISHED, Run, RunOptions
from engine.run.recording import Recorder, thin


class Steps:
    step_count = 0

    def step(self) -> dict[str, float]:
        self.step_count += 1
        return {"loss": 1.0}

    def snapshot(self) -> dict[str, float]:
        return {}

    def evaluate(self) -> dict[str, float]:
        return {"nll": 1.0}


def test_thin_halves_and_keeps_the_newest_row():
    rows = [{"step": i} for i in range(1, 12)]
    assert [r["step"] for r in thin(rows)] == [1, 3, 5, 7, 9, 11]
    assert thin(rows[:4])[-1]["step"] == 4  # even length: the newest is still kept


def test_ring_keeps_the_last_frames():
    rec = Recorder(frames_kept=3)
    assert rec.latest() is None and rec.frames_since(0) == []
    for step in range(5):
        rec.publish(step, {"e": step}, {"loss": 1.0})
    assert [s.frame for s in rec.frames_since(0)] == [3, 4, 5]
    assert rec.latest().frame == 5 and rec.latest().step == 4
    assert [s.frame for s in rec.frames_since(4)] == [5]


def test_history_is_bounded_and_keeps_its_ends():
    rec = Recorder(max_history=10)
    for step in range(1, 101):
        rec.record(step, {"loss": 1.0 / step})
    steps = [r["step"] for r in rec.history]
    assert len(steps) <= 10 and steps == sorted(steps)
    assert steps[0] == 1 and steps[-1] == 100


def test_evaluations_are_bounded_in_a_run():
    run = Run(Steps(), RunOptions(max_steps=200, evaluate_every_steps=1, max_evaluations=10)).run_to_end()
    steps = [e["step"] for e in run.evaluations]
    assert run.state == FINISHED
    assert 5 <= len(steps) <= 10 and steps == sorted(steps)
    assert steps[0] == 1 and steps[-1] == 200  # the oldest and the closing evaluation survive thinning
    assert run.last_evaluation()["step"] == 200


def test_last_evaluation_and_last_row_are_copies():
    rec = Recorder()
    assert rec.last_evaluation() == {} and rec.last_row() == {}
    rec.add_evaluation(3, 0.12345, {"nll": 2.0})
    rec.record(3, {"loss": 0.5})
    rec.last_evaluation()["nll"] = 9.0
    assert rec.last_evaluation() == {"step": 3, "seconds": 0.123, "nll": 2.0}
    assert rec.last_row() == {"loss": 0.5}
