"""The Run's loop: stop means stop (also inside a long evaluation), cadences measured from the end, time
budgets, option checks, user errors vs bugs in the thread."""

from __future__ import annotations

import math
import threading
import time

import pytest

from engine.errors import DataError
from engine.run import FAILED, FINISHED, STOPPED, Run, RunOptions, cancel


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


# ---- stop means stop: cancel scopes, user errors ----------------------------------------------------------
class LongEvaluation(Fake):
    """An evaluation of `chunks` chunks of `chunk_s` seconds each, checking the cancel flag between them."""

    def __init__(self, chunks: int = 600, chunk_s: float = 0.05) -> None:
        super().__init__()
        self.chunks, self.chunk_s = chunks, chunk_s
        self.evaluating = threading.Event()
        self.chunks_done = 0

    def evaluate(self) -> dict[str, float]:
        self.evaluating.set()
        for _ in range(self.chunks):
            cancel.check("the evaluation")
            time.sleep(self.chunk_s)
            self.chunks_done += 1
        return super().evaluate()


def test_stop_ends_a_long_evaluation_between_chunks_as_a_stop():
    trainer = LongEvaluation()  # 30 s of evaluation if nothing stops it
    run = Run(trainer, RunOptions(max_steps=100, evaluate_every_steps=1)).start()
    assert trainer.evaluating.wait(5)
    time.sleep(0.2)
    t0 = time.perf_counter()
    assert run.stop(timeout=1.0)
    assert time.perf_counter() - t0 < 0.5  # one chunk (0.05 s), not the 30 s evaluation
    assert run.state == STOPPED and run.message == "" and not run.alive
    assert run.evaluations == [] and 1 <= trainer.chunks_done < 100


def test_cancel_check_is_a_no_op_outside_a_scope_and_scopes_nest():
    cancel.check()  # nothing to cancel here
    assert not cancel.active() and not cancel.requested()
    outer, inner = threading.Event(), threading.Event()
    with cancel.scope(outer.is_set):
        with cancel.scope(inner.is_set):
            assert cancel.active() and not cancel.requested()
            outer.set()  # the enclosing job was stopped: the inner work stops too
            with pytest.raises(cancel.Cancelled, match="the probe was cancelled"):
                cancel.check("the probe")
        assert cancel.requested()
    assert not cancel.active()
    seen = []
    with cancel.scope(lambda: True):  # another thread does not inherit the scope
        worker = threading.Thread(target=lambda: seen.append(cancel.active()))
        worker.start()
        worker.join()
    assert seen == [False]


class Raising(Fake):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def step(self) -> dict[str, float]:
        if self.step_count == 3:
            raise self.error
        return super().step()


@pytest.fixture
def thread_tracebacks(monkeypatch):
    """The exceptions that escaped a thread (what Python would print as a traceback)."""
    escaped: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: escaped.append(args.exc_value))
    return escaped


def test_a_user_error_in_the_thread_fails_the_run_with_its_message_and_no_traceback(thread_tracebacks):
    run = Run(Raising(DataError("data/x.idx refused: a short header")), RunOptions(max_steps=10)).start()
    run.join(5)
    assert run.state == FAILED and run.message == "Stopped at step 3: data/x.idx refused: a short header"
    assert thread_tracebacks == []


def test_a_bug_in_the_thread_fails_the_run_and_its_traceback_shows(thread_tracebacks):
    run = Run(Raising(ZeroDivisionError("division by zero")), RunOptions(max_steps=10)).start()
    run.join(5)
    assert run.state == FAILED and run.message.startswith("Stopped by an error at step 3: ZeroDivisionError")
    assert [type(e) for e in thread_tracebacks] == [ZeroDivisionError]


def test_run_to_end_re_raises_a_user_error_for_the_cli():
    run = Run(Raising(DataError("refused")), RunOptions(max_steps=10))
    with pytest.raises(DataError, match="refused"):
        run.run_to_end()
    assert run.state == FAILED


def test_an_embedding_evaluation_checks_for_a_stop_between_layers_and_probe_iterations():
    from engine.embed.config import EmbedConfig
    from engine.embed.trainer import EmbedTrainer

    cfg = EmbedConfig.create(dataset="digits", encoder="resnet18", width=8, batch_size=32, proj_dim=16,
                             map_size=100, device="cpu")
    trainer = EmbedTrainer(cfg)
    trainer.step()
    checks = 0

    def count_checks() -> bool:
        nonlocal checks
        checks += 1
        return False

    with cancel.scope(count_checks):
        full = trainer.evaluate()
    layers = sum(1 for _ in trainer.encoder.modules())
    images = len(trainer.data.x_train) + len(trainer.data.x_test)
    assert checks > layers * images / 1024  # at least once a layer for each chunk of images
    assert trainer.encoder._forward_pre_hooks == {}  # the checks are gone after the evaluation

    for stop_at in (layers // 2, checks // 2, checks - 5):  # in the features, in a probe fit, near the end
        seen = 0

        def stop_after(n: int = stop_at) -> bool:
            nonlocal seen
            seen += 1
            return seen > n

        with cancel.scope(stop_after), pytest.raises(cancel.Cancelled):
            trainer.evaluate()
        assert seen == stop_at + 1  # it stopped at the first check after the flag went up
        assert trainer.encoder.training and trainer.encoder._forward_pre_hooks == {}
    assert trainer.evaluate() == full  # nothing half-done was left behind


@pytest.mark.slow
def test_stop_during_the_resnet18_evaluation_on_shapes_ends_within_a_second_and_frees_the_cpu():
    """The acceptance's setting (the page's ResNet-18 on the shapes set, on the CPU), in this process:
    the thread ends within 1 s of stop(), and from 2 s after it the process uses < 0.2 CPU-s per second."""
    from engine.embed.config import EmbedConfig
    from engine.embed.trainer import DeferredTrainer

    trainer = DeferredTrainer(EmbedConfig.create(dataset="shapes", encoder="resnet18", device="cpu"))
    evaluating = threading.Event()
    evaluate = trainer.evaluate

    def flagged_evaluate() -> dict[str, float]:
        evaluating.set()
        return evaluate()

    trainer.evaluate = flagged_evaluate
    run = Run(trainer, RunOptions(snapshot_hz=2.0, evaluate_every_s=4.0, checkpoint_every_s=30.0))
    run.step_once()  # one step, then its evaluation (a minute on a loaded 2-core CPU)
    assert evaluating.wait(300)
    time.sleep(2.0)
    t0 = time.perf_counter()
    assert run.stop(timeout=5.0)
    latency = time.perf_counter() - t0
    time.sleep(2.0)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    time.sleep(5.0)
    rate = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    print(f"\nstop during the ResNet-18 evaluation: thread ended {latency:.3f} s after stop(); "
          f"CPU from 2 s after: {rate:.3f} s/s")
    assert run.state == STOPPED and run.evaluations == []
    assert latency < 1.0 and rate < 0.2


def test_the_summary_gives_the_runs_own_step_not_its_last_evaluations():
    """The status line reads `summary()`: after a step whose evaluation has not come yet (or never comes), it
    shows the run's step, with the last evaluation's numbers beside it."""
    trainer = Fake()
    run = Run(trainer, RunOptions(max_steps=1000, evaluate_every_s=None, snapshot_hz=240))
    run.step_once()  # a single step is evaluated after it
    deadline = time.time() + 5
    while trainer.evaluated_at != [1] and time.time() < deadline:
        time.sleep(0.01)
    trainer.step_count = 2  # the next step landed; its evaluation has not come yet
    summary = run.summary()
    assert run.step == 2 and summary["step"] == 2, summary
    assert summary["w"] == 1.0  # the last evaluation's own numbers are kept
    run.stop()
