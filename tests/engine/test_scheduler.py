"""The process-wide scheduler: N at once, first come first served, a cap per browser, runs that wait their turn
and give their place back, and the same numbers for the same seed whatever else trains beside them."""

from __future__ import annotations

import gc
import threading
import time
import weakref

import pytest

from engine.errors import SettingError
from engine.run import FINISHED, IDLE, PAUSED, RUNNING, STOPPED, Run, RunOptions
from engine.scheduler import (
    ADMITTED,
    DONE,
    WAITING,
    Scheduler,
    ServeSettings,
    TooManyJobs,
    job_of,
    queue_run,
    release_run,
)
from engine.toy.config import ToyConfig
from engine.toy.trainer import ToyTrainer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_at_most_n_run_and_the_rest_wait_in_order():
    clock, started = Clock(), []
    sched = Scheduler(max_jobs=2, session_jobs=10, clock=clock)
    jobs = [sched.submit(f"b{i}", lambda job: started.append(job.name), name=f"j{i}") for i in range(5)]
    assert started == ["j0", "j1"]
    assert [j.state for j in jobs] == [ADMITTED, ADMITTED, WAITING, WAITING, WAITING]
    assert [sched.position(j) for j in jobs] == [0, 0, 1, 2, 3]
    clock.now = 7.0
    sched.release(jobs[1])
    assert started == ["j0", "j1", "j2"] and jobs[1].state == DONE
    assert [sched.position(j) for j in jobs[3:]] == [1, 2]
    sched.release(jobs[3])  # leaving the line: the one behind moves up, nothing new starts
    assert started == ["j0", "j1", "j2"] and sched.position(jobs[4]) == 1
    sched.release(jobs[3])  # idempotent
    clock.now = 10.0
    sched.release(jobs[0])
    assert started == ["j0", "j1", "j2", "j4"]
    assert list(sched.waits) == [0.0, 0.0, 7.0, 10.0]
    assert sched.status()["running"] == 2 and sched.status()["waiting"] == 0


def test_one_browser_may_hold_only_its_share():
    sched = Scheduler(max_jobs=1, session_jobs=2)
    a = [sched.submit("alice", lambda job: None) for _ in range(2)]
    with pytest.raises(TooManyJobs, match="ENERGY_LAB_SESSION_JOBS = 2"):
        sched.submit("alice", lambda job: None)
    bob = sched.submit("bob", lambda job: None)  # another browser is not refused
    assert sched.position(bob) == 2
    sched.release(a[1])  # alice's waiting job leaves: she may queue one more
    assert sched.submit("alice", lambda job: None).state == WAITING


def test_a_job_that_cannot_start_gives_its_place_to_the_next():
    sched = Scheduler(max_jobs=1, session_jobs=5)
    first = sched.submit("a", lambda job: None)
    started = []

    def broken(job):
        raise RuntimeError("cannot start")

    bad = sched.submit("a", broken)
    good = sched.submit("b", lambda job: started.append(job))
    sched.release(first)  # admits `bad`, whose start fails, so `good` starts at once
    assert bad.state == DONE and isinstance(bad.error, RuntimeError)
    assert started == [good] and good.state == ADMITTED
    with pytest.raises(RuntimeError, match="cannot start"):  # a submit whose own start fails says so
        Scheduler(1, 1).submit("c", broken)


def test_settings_from_the_environment():
    s = ServeSettings.from_environ({})
    assert (s.jobs(cores=2), s.threads_per_job(cores=2)) == (1, 1)  # a 2-core machine: one job, one thread
    assert (s.jobs(cores=16), s.threads_per_job(cores=16)) == (15, 1)
    s = ServeSettings.from_environ({"ENERGY_LAB_MAX_JOBS": "2", "ENERGY_LAB_SESSION_JOBS": "3"})
    assert (s.jobs(cores=16), s.threads_per_job(cores=16), s.session_jobs) == (2, 7, 3)
    assert ServeSettings.from_environ({"ENERGY_LAB_SESSION_GRACE_S": "30"}).grace_s == 30.0
    for var, text in (("ENERGY_LAB_MAX_JOBS", "0"), ("ENERGY_LAB_THREADS", "many"),
                      ("ENERGY_LAB_SESSION_GRACE_S", "inf")):
        with pytest.raises(SettingError, match=var):
            ServeSettings.from_environ({var: text})


# ---- real runs in the line --------------------------------------------------------------------
def small_run(seed: int = 0, steps: int = 40) -> Run:
    cfg = ToyConfig.create(method="ml", width=16, train_grid=32, view_grid=32, eval_grid=64, steps=steps,
                           seed=seed, device="cpu")
    return Run(ToyTrainer(cfg), RunOptions(max_steps=steps, snapshot_hz=20, evaluate_every_s=0.05), name=f"s{seed}")


def solo_nll(seed: int, steps: int = 40) -> float:
    run = small_run(seed, steps)
    run.options.evaluate_every_s = None  # no evaluations on the way: they must not change the numbers
    run.run_to_end()
    return run.last_evaluation()["nll"]


def wait_until(cond, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while not cond():
        if time.time() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_a_run_waits_its_turn_then_starts_by_itself():
    sched = Scheduler(max_jobs=1, session_jobs=4)
    first, second = small_run(0, steps=200), small_run(1)
    queue_run(first, "a", sched)
    queue_run(second, "b", sched)
    assert first.state == RUNNING and second.state == IDLE and not second.alive
    assert job_of(second).position() == 1 and queue_run(second, "b", sched) is job_of(second)  # keeps its place
    first.join(60)
    second.join(60)
    assert first.state == FINISHED and second.state == FINISHED
    assert job_of(first) is None and job_of(second) is None and sched.status()["running"] == 0


def test_pausing_gives_the_place_to_the_next_and_resuming_queues_again():
    sched = Scheduler(max_jobs=1, session_jobs=4)
    long, other = small_run(0, steps=100_000), small_run(1, steps=30)
    queue_run(long, "a", sched)
    queue_run(other, "b", sched)
    wait_until(lambda: long.step > 3)
    long.pause()
    release_run(long)  # what the page's Pause does
    wait_until(lambda: other.state == FINISHED)
    assert long.state == PAUSED and not job_of(long)
    queue_run(long, "a", sched)
    assert long.state == RUNNING
    long.stop()
    wait_until(lambda: sched.status()["running"] == 0)


def test_a_run_stopped_or_replaced_while_waiting_never_starts():
    sched = Scheduler(max_jobs=1, session_jobs=4)
    blocker, waiting, after = small_run(0, steps=100_000), small_run(1), small_run(2)
    queue_run(blocker, "a", sched)
    queue_run(waiting, "b", sched)
    queue_run(after, "c", sched)
    waiting.stop()  # no thread to stop: it stays in line until admitted, then gives its place on
    blocker.stop()
    after.join(60)
    wait_until(lambda: after.state == FINISHED)
    assert waiting.state == STOPPED and not waiting.alive and waiting.step == 0
    assert sched.status() == {**sched.status(), "running": 0, "waiting": 0}


def test_a_paused_reset_run_is_resumed_when_admitted():
    sched = Scheduler(max_jobs=1, session_jobs=4)
    blocker = small_run(0, steps=100_000)
    queue_run(blocker, "a", sched)
    fresh = small_run(1).start(paused=True)  # what Reset makes: the thread lives, paused at step 0
    queue_run(fresh, "b", sched)
    assert fresh.state == PAUSED and job_of(fresh).position() == 1
    blocker.stop()
    fresh.join(60)
    assert fresh.state == FINISHED and fresh.step == 40


def test_same_seed_same_numbers_while_others_train_beside_it():
    """Three runs of seed 3 and three of seed 4, two at a time with evaluations at wall-clock times, each
    equal to its seed's solo run (no evaluations) to the last bit."""
    sched = Scheduler(max_jobs=2, session_jobs=10)
    runs = [small_run(seed) for seed in (3, 4, 3, 4, 3, 4)]
    threads = [threading.Thread(target=queue_run, args=(r, f"b{i}", sched)) for i, r in enumerate(runs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in runs:
        r.join(120)
    assert all(r.state == FINISHED for r in runs)
    solo = {seed: solo_nll(seed) for seed in (3, 4)}
    assert solo[3] != solo[4]
    for r in runs:
        assert r.last_evaluation()["nll"] == solo[r.trainer.config.seed], r.name


def test_a_finished_run_is_not_kept_alive_by_the_line():
    sched = Scheduler(max_jobs=1, session_jobs=4)
    run = small_run(5, steps=5)
    queue_run(run, "a", sched)
    run.join(60)
    wait_until(lambda: sched.status()["running"] == 0)
    ref = weakref.ref(run)
    del run
    gc.collect()
    assert ref() is None


def test_on_a_gpu_the_default_job_count_is_what_its_free_memory_holds(monkeypatch):
    import torch

    from engine.scheduler import ServeSettings

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a: (10 * 2**30, 80 * 2**30))  # 10 GiB free
    monkeypatch.delenv("ENERGY_LAB_JOB_MEMORY_MB", raising=False)
    assert ServeSettings().jobs(cores=16) == 2  # 10 GiB // 4 GiB per job
    monkeypatch.setenv("ENERGY_LAB_JOB_MEMORY_MB", "1024")
    assert ServeSettings().jobs(cores=16) == 10
    assert ServeSettings().jobs(cores=4) == 3  # the cores bound it too
    assert ServeSettings(max_jobs=7).jobs(cores=16) == 7  # an explicit count is kept
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a: (2**29, 80 * 2**30))  # a full GPU
    assert ServeSettings().jobs(cores=16) == 1
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert ServeSettings().jobs(cores=16) == 15
