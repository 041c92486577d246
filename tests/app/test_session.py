"""The session registry: a browser's runs live under its token, outlive a dropped connection for the grace
period, are released by the reaper thread after it, and a page that waits in the scheduler's line says so."""

from __future__ import annotations

import time

import streamlit as st

from app.session import RunSlots, SessionRegistry, registry
from engine.run import FINISHED, RUNNING, STOPPED, Run, RunOptions
from engine.scheduler import Scheduler, default_scheduler, job_of, queue_run
from engine.toy.config import ToyConfig
from engine.toy.trainer import ToyTrainer
from tests.app.conftest import no_exception, open_page, wait_for


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def endless_run(seed: int = 0) -> Run:
    cfg = ToyConfig.create(method="ml", width=8, train_grid=16, view_grid=16, eval_grid=32, seed=seed, device="cpu")
    return Run(ToyTrainer(cfg), RunOptions(max_steps=10**9, evaluate_every_s=None), name=f"endless{seed}")


def test_one_token_one_set_of_runs_across_sessions():
    reg = SessionRegistry(60, connected=lambda sid: False)
    a = reg.slots("token-a" * 3, "session-1")
    assert reg.slots("token-a" * 3, "session-2") is a  # a reload: a new session, the same runs
    assert reg.slots("token-b" * 3, "session-3") is not a
    assert a.owner == "token-a" * 3 and len(reg) == 2


def test_a_connected_browser_is_kept_and_a_silent_one_released_after_the_grace_period():
    clock, connected = Clock(), {"s1"}
    reg = SessionRegistry(30, connected=lambda sid: sid in connected, clock=clock)
    sched = Scheduler(max_jobs=1, session_jobs=4)
    kept, dropped = reg.slots("kept-browser-token", "s1"), reg.slots("dropped-browser-token", "s2")
    running, waiting = endless_run(0), endless_run(1)
    kept.replace("ml", running)
    dropped.replace("ml", waiting)
    queue_run(running, kept.owner, sched)
    queue_run(waiting, dropped.owner, sched)  # waits behind `running`
    try:
        clock.now = 29.0
        assert reg.sweep() == []
        clock.now = 1000.0  # "s1" stays connected however long; "s2" went silent at t = 0
        assert reg.sweep() == ["dropped-browser-token"]
        assert "kept-browser-token" in reg and "dropped-browser-token" not in reg
        assert waiting.state == STOPPED and job_of(waiting) is None and not waiting.alive
        assert running.state == RUNNING and sched.status()["waiting"] == 0
        connected.clear()  # the kept browser's tab closes: released a grace period after its last contact
        clock.now = 1020.0
        assert reg.sweep() == []
        clock.now = 1031.0
        assert reg.sweep() == ["kept-browser-token"]
        assert running.state == STOPPED and not running.alive and sched.status()["running"] == 0
    finally:
        reg.close()


def test_the_reaper_thread_releases_without_the_caller():
    reg = SessionRegistry(0.3, connected=lambda sid: False)
    slots = reg.slots("a-browser-that-leaves")
    run = slots.replace("ml", endless_run()).start()
    reg.start_reaper(every_s=0.1)
    try:
        deadline = time.time() + 10
        while run.alive and time.time() < deadline:
            time.sleep(0.05)
        assert not run.alive and run.state == STOPPED and len(reg) == 0 and reg.released == 1
    finally:
        reg.close()


def test_run_slots_replace_gives_back_the_place_of_the_run_it_replaces():
    sched = Scheduler(max_jobs=1, session_jobs=1)
    slots = RunSlots("one-job-browser-token")
    first = slots.replace("ml", endless_run())
    queue_run(first, slots.owner, sched)
    second = slots.replace("ml", endless_run(1))  # Train after a change: the old run goes, and its place
    queue_run(second, slots.owner, sched)  # … so the cap of one is not exceeded
    assert first.state == STOPPED and second.state == RUNNING
    slots.stop_all()
    assert sched.status()["running"] == 0


# ---- the pages ---------------------------------------------------------------------------------
def _small_ml(at, steps: int):
    at.number_input(key="ml.width").set_value(16)
    at.number_input(key="ml.train_grid").set_value(32)
    at.number_input(key="ml.steps").set_value(steps)
    return at.run()


def _status(at) -> str:
    return " ".join(m.value for m in at.markdown)


def test_a_new_session_with_the_same_token_finds_the_run_still_training():
    """What a reload (or a new tab) does: a new Streamlit session whose cookie carries the browser's token."""
    first = _small_ml(open_page("maximum_likelihood"), 100_000)
    first.button(key="ml_train").click().run()
    token = first.session_state["_browser_token"]
    run = registry().slots(token).get("ml")
    assert run is not None and run.state == RUNNING
    again = open_page("maximum_likelihood")
    assert again.session_state["_browser_token"] != token  # a fresh browser: no runs
    assert "Ready: press Train." in " ".join(c.value for c in again.caption)
    reload = open_page_as("maximum_likelihood", token)
    no_exception(reload)
    step = run.step
    wait_for(reload, lambda at: "**Training**" in _status(at) and run.step > step)
    assert registry().slots(token).get("ml") is run and run.state == RUNNING, _status(reload)


def open_page_as(stem: str, token: str):
    from streamlit.testing.v1 import AppTest

    from tests.app.conftest import MAIN, ROOT

    at = AppTest.from_file(MAIN, default_timeout=60)
    at.session_state["_browser_token"] = token
    at.run()
    at.switch_page(str(ROOT / "pages" / f"{stem}.py"))
    return at.run()


def test_a_page_waiting_in_line_says_where_and_starts_by_itself():
    sched = default_scheduler()
    holders = []
    for i in range(sched.max_jobs):  # fill every place with another browser's job
        holder = endless_run(i)
        queue_run(holder, f"another-browser-{i}", sched)
        holders.append(holder)
    try:
        at = _small_ml(open_page("maximum_likelihood"), 30)
        at.button(key="ml_train").click().run()
        no_exception(at)
        assert any("Waiting: 1st in line" in i.value for i in at.info), [i.value for i in at.info]
        assert "**Waiting**" in _status(at)
        run = registry().slots(at.session_state["_browser_token"]).get("ml")
        assert run.step == 0 and not run.alive
        holders[0].stop()  # a place frees: the page's run starts by itself and trains to its budget
        run.join(60)
        deadline = time.time() + 30
        while run.state != FINISHED and time.time() < deadline:
            time.sleep(0.1)
        assert run.state == FINISHED and run.step == 30
    finally:
        for h in holders:
            h.stop()


def test_a_browser_over_its_share_is_told_so():
    sched = default_scheduler()
    at = _small_ml(open_page("maximum_likelihood"), 30)
    token = at.session_state["_browser_token"]
    mine = [endless_run(i) for i in range(sched.session_jobs)]
    for r in mine:  # this browser's other pages already hold its whole share
        queue_run(r, token, sched)
    try:
        at.button(key="ml_train").click().run()
        no_exception(at)
        assert any("ENERGY_LAB_SESSION_JOBS" in e.value for e in at.error), [e.value for e in at.error]
        assert not registry().slots(token).get("ml").alive
    finally:
        for r in mine:
            r.stop()


def test_clearing_the_resource_cache_releases_every_browser():
    at = _small_ml(open_page("maximum_likelihood"), 100_000)
    at.button(key="ml_train").click().run()
    run = registry().slots(at.session_state["_browser_token"]).get("ml")
    assert run.alive
    st.cache_resource.clear()  # what the tests' fixture does between tests
    assert not run.alive and run.state == STOPPED


def test_browsers_pressing_train_in_the_same_second_record_into_their_own_folders(tmp_path, monkeypatch):
    """Found by the load test: two runs recorded in the same second both took the same new folder."""
    import json
    import sys
    import threading

    from app.run_controls import LABELS, record_run

    monkeypatch.setenv("ENERGY_LAB_RUNS", str(tmp_path))
    runs = [endless_run(seed) for seed in range(8)]
    barrier = threading.Barrier(len(runs))

    def press(run):
        barrier.wait()
        record_run(run, "ml", run.trainer.config, LABELS)

    threads = [threading.Thread(target=press, args=(r,)) for r in runs]
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # interleave the threads as finely as a busy server's script threads
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(switch)
    seeds = sorted(json.loads((d / "run.json").read_text())["settings"]["toy"]["seed"] for d in tmp_path.iterdir())
    assert seeds == list(range(8))
