"""The sidebar's list of this browser's runs: every slot maps to its page, a run trained on one page shows (page,
state, step) on another, Pause all pauses it and gives its place back, Train on its page resumes it; a run waiting
in line leaves the line unstarted and starts later; with no runs the panel draws nothing."""

from __future__ import annotations

import re
import time

import pytest

import engine.scheduler as scheduler
from app.session import RunSlots, registry
from app.session_runs import REFRESH_S, describe, label_of, page_of, pause_all, refresh_every, resumable, status_text
from engine.run import IDLE, PAUSED, RUNNING, STOPPED, Run, RunOptions
from engine.scheduler import Scheduler, job_of, queue_run
from engine.toy.config import ToyConfig
from engine.toy.trainer import ToyTrainer
from tests.app.conftest import ROOT, no_exception, open_page, settle, wait_for


@pytest.fixture
def one_place(monkeypatch) -> Scheduler:
    """The process's scheduler, for this test: one job at a time, four per browser."""
    sched = Scheduler(max_jobs=1, session_jobs=4)
    monkeypatch.setattr(scheduler, "_DEFAULT", sched)
    return sched


def endless_run(name: str) -> Run:
    cfg = ToyConfig.create(method="ml", width=8, train_grid=16, view_grid=16, eval_grid=32, device="cpu")
    return Run(ToyTrainer(cfg), RunOptions(max_steps=10**9, evaluate_every_s=None), name=name)


def test_every_slot_the_pages_use_names_its_page():
    """The slot names written in the pages (and the views they call) all map to a page of the index."""
    literal = re.compile(r'(?:run_controls|start_job|job_controls|stop_job)\(slots, f?"([\w-]+)"'
                         r'|slots\.(?:get|replace)\(f?"([\w-]+)"'
                         r'|^\s*SLOT\s*=\s*"([\w-]+)"|_SLOT\s*=\s*"([\w-]+)"', re.M)
    constants = re.compile(r'^SLOT, SUP_SLOT, BASE_SLOT = (.+)$', re.M)
    found: dict[str, str] = {}
    for path in [*ROOT.glob("pages/*.py"), *ROOT.glob("app/*.py")]:
        text = path.read_text()
        for m in literal.finditer(text):
            found[next(g for g in m.groups() if g)] = path.stem
        for m in constants.finditer(text):
            for name in re.findall(r'"([\w-]+)"', m.group(1)):
                found[name] = path.stem
    assert {"ml", "cd", "cd_sample", "scoreboard", "dae", "dae_sweep", "binary", "embed", "runs_continue"} <= set(found)
    for slot, where in found.items():
        stem = page_of(slot)
        assert stem is not None, f"slot {slot!r} (in {where}.py) has no page"
        assert (ROOT / "pages" / f"{stem}.py").exists()
        if where in {p.stem for p in ROOT.glob("pages/*.py")}:
            assert stem == where, (slot, stem, where)
    assert page_of("embed_sweep_temperature") == "contrastive_embedding"
    assert label_of("cd_sample") == "Contrastive divergence & PCD · sampler"
    assert label_of("ml") == "Maximum likelihood"
    assert page_of("mystery") is None and label_of("mystery") == "mystery"


def test_pause_all_pauses_the_trainer_and_takes_the_waiting_run_out_of_line_resumably():
    """One place: `first` trains, `second` waits. Pause all: `first` is paused and gives its place back, `second`
    leaves the line never started (no thread). Both can be queued again: they train, one after the other."""
    sched = Scheduler(max_jobs=1, session_jobs=4)
    slots = RunSlots("pause-all-browser-token")
    first, second = endless_run("first"), endless_run("second")
    slots.replace("ml", first)
    slots.replace("cd", second)
    try:
        queue_run(first, slots.owner, sched)
        queue_run(second, slots.owner, sched)
        assert settle(lambda: first.step > 0)
        rows = {r.slot: r for r in (describe(s, r) for s, r in slots.items())}
        assert rows["ml"].state == RUNNING and rows["ml"].rate is not None and rows["ml"].step > 0
        assert rows["cd"].state == "waiting" and rows["cd"].place == 1
        assert status_text(rows["cd"]).startswith("**Waiting: 1st in line**")
        assert refresh_every(list(rows.values())) == REFRESH_S

        paused = pause_all(slots)
        assert {s for s, _ in paused} == {"ml", "cd"}
        assert first.state == PAUSED and second.state == IDLE and not second.alive
        assert job_of(first) is None and job_of(second) is None
        assert sched.status()["running"] == 0 and sched.status()["waiting"] == 0
        step = first.step
        rows = [describe(s, r) for s, r in slots.items()]
        assert refresh_every(rows) is None and all(r.rate is None for r in rows)
        assert {id(r) for r in resumable(slots, [(s, id(r)) for s, r in paused])} == {id(first), id(second)}

        queue_run(first, slots.owner, sched)  # what Train (Resume) on the page does
        queue_run(second, slots.owner, sched)
        assert settle(lambda: first.step > step) and first.state == RUNNING
        assert second.state == IDLE and job_of(second).position() == 1  # behind `first` again
        pause_all(slots)
        queue_run(second, slots.owner, sched)
        assert settle(lambda: second.step > 0) and second.state == RUNNING and first.state == PAUSED
    finally:
        slots.stop_all()
    assert first.state == STOPPED and second.state == STOPPED


def _ml_small(at):
    at.number_input(key="ml.width").set_value(8)
    at.number_input(key="ml.train_grid").set_value(16)
    at.number_input(key="ml.steps").set_value(100_000)
    return at.run()


def _sidebar_text(at) -> str:
    return "\n".join([*(m.value for m in at.sidebar.markdown), *(c.value for c in at.sidebar.caption)])


def _ml_line(at) -> str:
    return next((c.value for c in at.sidebar.caption if "step" in c.value), "")


def test_a_run_on_another_page_shows_in_the_sidebar_and_pause_all_pauses_it(one_place):
    at = _ml_small(open_page("maximum_likelihood"))
    at.button(key="ml_train").click().run()
    at.switch_page(str(ROOT / "pages" / "home.py"))
    at.run()
    no_exception(at)
    run = registry().slots(at.session_state["_browser_token"]).get("ml")
    assert run is not None and settle(lambda: run.step > 0)
    at.run()
    links = [(p.value, p.proto.page) for p in at.sidebar.page_link]
    assert ("Maximum likelihood", "maximum_likelihood") in links, links
    line = _ml_line(at)
    assert line.startswith("**Training**") and "steps/s" in line, line
    assert int(re.search(r"step ([\d,]+)", line).group(1).replace(",", "")) > 0
    assert not at.button(key="session_runs_pause_all").disabled

    at.button(key="session_runs_pause_all").click().run()
    no_exception(at)
    assert run.state == PAUSED and job_of(run) is None and one_place.status()["running"] == 0
    time.sleep(0.2)  # a pause lands after the step in flight
    step = run.step
    time.sleep(0.3)
    assert run.step == step  # paused: no step since
    assert _ml_line(at).startswith("**Paused**") and at.button(key="session_runs_pause_all").disabled
    assert at.button(key="session_runs_resume").label == "Resume (1)"

    at.switch_page(str(ROOT / "pages" / "maximum_likelihood.py"))
    at.run()
    assert at.button(key="ml_train").label == "Resume"
    at.button(key="ml_train").click().run()
    no_exception(at)
    assert registry().slots(at.session_state["_browser_token"]).get("ml") is run  # the same run, trained on
    assert settle(lambda: run.step > step) and run.state == RUNNING
    at.run()
    assert not [b for b in at.button if b.key == "session_runs_resume"]  # resumed: nothing left to offer
    run.stop()
    wait_for(at, lambda a: "Stopped" in _sidebar_text(a), timeout=5)
    assert "Maximum likelihood · Stopped · step" in _sidebar_text(at)  # ended: one dim line, not hidden


def test_the_panel_resumes_what_pause_all_paused(one_place):
    at = _ml_small(open_page("maximum_likelihood"))
    at.button(key="ml_train").click().run()
    run = registry().slots(at.session_state["_browser_token"]).get("ml")
    assert settle(lambda: run.step > 0)
    at.run()
    at.button(key="session_runs_pause_all").click().run()
    assert run.state == PAUSED
    step = run.step
    at.button(key="session_runs_resume").click().run()
    no_exception(at)
    assert settle(lambda: run.step > step) and run.state == RUNNING and job_of(run) is not None
    run.stop()


def test_no_runs_no_panel():
    at = open_page("home")
    no_exception(at)
    assert "Runs of this session" not in _sidebar_text(at)
    assert not at.sidebar.page_link and not [b for b in at.button if b.key and b.key.startswith("session_runs")]
    assert refresh_every([]) is None

