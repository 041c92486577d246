"""Follow the lecturer: a read-only link (`?follow=<code>`) shows another browser's live runs on a student's
screen, with no button that could change them; a revoked or unknown code says so and gives the page back."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from app.follow import TEXT as FOLLOW_TEXT
from app.jobs import TEXT as JOB_TEXT
from app.jobs import carry_on, start_job, stop_job
from app.run_controls import LABELS, undo_reset, undo_slot
from app.session import ReadOnlyError, ReadOnlySlots, SessionRegistry, registry
from engine.run import IDLE, RUNNING, Run, RunOptions
from engine.toy.config import ToyConfig
from engine.toy.trainer import ToyTrainer
from tests.app.conftest import MAIN, ROOT, no_exception, open_page, set_numbers, settle, wait_for

RUN_BUTTONS = {"ml_train", "ml_pause", "ml_step", "ml_reset", "ml_undo", "ml_continue"}
STEP = re.compile(r"\*\*(\w+)\*\* · step ([\d,]+)")


def status(at: AppTest) -> tuple[str, int] | None:
    """The page's status line: ("Training", 123), or None when it shows none."""
    for m in at.markdown:
        found = STEP.match(m.value)
        if found:
            return found.group(1), int(found.group(2).replace(",", ""))
    return None


def lecturer_training() -> AppTest:
    """The ML page, a small model with a budget it will not reach during the test, training."""
    at = set_numbers(open_page("maximum_likelihood"), "ml", width=16, train_grid=32, steps=100_000)
    at.button(key="ml_train").click().run()
    no_exception(at)
    run = lecturer_run(at)
    assert run is not None and settle(lambda: run.state == RUNNING and run.step > 0)
    return at


def lecturer_run(at: AppTest):
    slots = registry().existing(at.session_state["_browser_token"])
    return slots.get("ml") if slots is not None else None


def share(at: AppTest) -> str:
    """Press "Make a read-only link" and read the code out of the link the sidebar shows."""
    at.button(key="_follow_share").click().run()
    no_exception(at)
    links = [c.value for c in at.sidebar.code if "?follow=" in c.value]
    assert len(links) == 1, [c.value for c in at.sidebar.code]
    code = links[0].split("?follow=", 1)[1]
    assert code and code != at.session_state["_browser_token"]  # the link never carries the token
    return code


def follower(code: str, stem: str = "maximum_likelihood") -> AppTest:
    """A second session (another browser: its own token) that opens the follow link to page `stem`."""
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.run()
    at.switch_page(str(ROOT / "pages" / f"{stem}.py"))
    at.query_params["follow"] = code
    at.run()
    return at


def keys(at: AppTest) -> set[str]:
    return {b.key for b in at.button}


def test_the_registry_maps_a_random_code_to_the_token_until_revoked_or_released():
    now = [0.0]
    reg = SessionRegistry(30, connected=lambda sid: False, clock=lambda: now[0])
    token = "a-lecturer-browser-token"
    assert reg.followed(reg.share(token)) is None  # a browser that holds no runs yet is not followable
    reg.slots(token, "s1")
    code = reg.share(token)
    assert reg.share(token) == code and reg.sharing(token) == code  # one link per browser
    assert code != token and token not in code and len(code) >= 16
    assert reg.followed(code) == token and reg.followed("not-a-code") is None and reg.followed(None) is None
    reg.revoke(token)
    assert reg.followed(code) is None and reg.sharing(token) is None
    again = reg.share(token)
    assert again != code and reg.followed(again) == token
    now[0] = 100.0  # silent for longer than the grace period: released, and its link with it
    assert reg.sweep() == [token]
    assert reg.followed(again) is None and reg.follow_codes == {}
    reg.close()


def test_read_only_slots_read_through_and_refuse_every_change():
    reg = SessionRegistry(60, connected=lambda sid: False)
    mine = reg.slots("a-lecturer-browser-token")
    view = ReadOnlySlots(mine, "a-student-browser-token")
    assert view.get("ml") is None and len(view) == 0
    assert view.owner == "a-student-browser-token"  # never the followed browser's token: no rights through it
    with pytest.raises(ReadOnlyError, match="read-only"):
        view.replace("ml", None)
    with pytest.raises(ReadOnlyError, match="read-only"):
        view.stop_all()
    reg.close()


def small_run(name: str) -> Run:
    cfg = ToyConfig.create(method="ml", width=8, train_grid=16, view_grid=16, eval_grid=32, device="cpu")
    return Run(ToyTrainer(cfg), RunOptions(max_steps=10**9, evaluate_every_s=None), name=name)


def test_the_job_helpers_and_undo_refuse_on_a_read_only_view():
    reg = SessionRegistry(60, connected=lambda sid: False)
    mine = reg.slots("a-lecturer-browser-token")
    training = mine.replace("scoreboard", small_run("training")).start()
    kept = mine.replace(undo_slot("ml"), small_run("kept"))
    view = ReadOnlySlots(mine, "a-student-browser-token")
    try:
        assert settle(lambda: training.step > 0)
        job = small_run("job")
        assert start_job(view, "scoreboard", job) is None and job.state == IDLE  # nothing queued or started
        assert mine.get("scoreboard") is training
        stop_job(view, "scoreboard")
        assert carry_on(view, "scoreboard") is True  # "handled": the caller makes no job either
        undo_reset(view, "ml", "ml")  # a stale click on a follower's page: nothing happens, nothing raises
        assert mine.get(undo_slot("ml")) is kept and mine.get("ml") is None
        assert training.state == RUNNING and training.alive
    finally:
        reg.close()


def test_a_follower_sees_the_lecturers_step_advance_and_has_no_run_buttons():
    lecturer = lecturer_training()
    run = lecturer_run(lecturer)
    code = share(lecturer)
    student = follower(code)
    no_exception(student)
    assert any(FOLLOW_TEXT["banner"] in i.value for i in student.info)
    assert any(LABELS["following"] in c.value for c in student.caption)
    assert not keys(student) & RUN_BUTTONS, keys(student)
    assert not {"Train", "Resume", "Pause", "Step", "Reset"} & {b.label for b in student.button}
    first = status(student)
    assert first is not None and first[0] == LABELS["running"], [m.value for m in student.markdown]
    wait_for(student, lambda at: (status(at) or ("", 0))[1] > first[1] + 5)
    later = status(student)
    assert later is not None and later[1] > first[1] + 5, (first, later)
    # the follower's form took the lecturer's settings (the page draws the run with its data and box)
    assert student.number_input(key="ml.width").value == 16
    assert student.number_input(key="ml.steps").value == 100_000
    # the follower's own browser holds no run: it watched the lecturer's, it did not start one
    own = registry().existing(student.session_state["_browser_token"])
    assert own is not None and len(own) == 0
    # the follower changes its settings and switches pages: the lecturer's run goes on untouched
    student.number_input(key="ml.steps").set_value(5).run()
    student.switch_page(str(ROOT / "pages" / "contrastive_divergence.py"))
    student.query_params.clear()  # a browser's page switch drops the URL's query parameters (AppTest keeps them)
    student.run()
    no_exception(student)
    assert any(FOLLOW_TEXT["banner"] in i.value for i in student.info)  # still following after the switch
    assert student.query_params.get("follow") == code  # put back into the URL: a reload keeps following
    assert lecturer_run(lecturer) is run and run.state == RUNNING and run.options.max_steps == 100_000


def test_a_follower_cannot_start_or_stop_a_job():
    lecturer = lecturer_training()
    code = share(lecturer)
    student = follower(code, "scoreboard")
    no_exception(student)
    student.button(key="sb_run").click().run()
    no_exception(student)
    assert any(JOB_TEXT["read_only"] in i.value for i in student.info), [i.value for i in student.info]
    assert lecturer_run(lecturer).state == RUNNING
    slots = registry().existing(lecturer.session_state["_browser_token"])
    assert slots.get("scoreboard") is None  # nothing was started in the lecturer's slots …
    own = registry().existing(student.session_state["_browser_token"])
    assert own.get("scoreboard") is None  # … nor in the follower's own


def test_a_revoked_link_says_so_and_gives_the_page_back():
    lecturer = lecturer_training()
    code = share(lecturer)
    student = follower(code)
    assert not keys(student) & RUN_BUTTONS
    lecturer.button(key="_follow_stop").click().run()
    no_exception(lecturer)
    assert not [c for c in lecturer.sidebar.code if "?follow=" in c.value]  # the link is gone
    student.run()
    no_exception(student)
    assert any("This follow link has ended or is not valid" in w.value for w in student.warning)
    assert "ml_train" in keys(student)  # the student's own buttons are back
    assert "follow" not in student.query_params
    student.run()  # the warning was said once; the page is the student's own from now on
    assert not student.warning and not any(FOLLOW_TEXT["banner"] in i.value for i in student.info)
    assert lecturer_run(lecturer).state == RUNNING


def test_a_bogus_code_gives_the_warning_and_the_students_own_page():
    student = follower("no-such-follow-code")
    no_exception(student)
    assert any("This follow link has ended or is not valid" in w.value for w in student.warning)
    assert {"ml_train", "ml_pause", "ml_step", "ml_reset"} <= keys(student)


def test_leave_gives_the_students_own_page_back():
    lecturer = lecturer_training()
    student = follower(share(lecturer))
    student.button(key="_follow_leave").click().run()
    no_exception(student)
    assert "ml_train" in keys(student) and not student.warning
    assert not any(FOLLOW_TEXT["banner"] in i.value for i in student.info)
    assert "follow" not in student.query_params



def test_the_sidebar_offers_a_follower_no_pause_all():
    lecturer = lecturer_training()
    student = follower(share(lecturer))
    assert "session_runs_pause_all" not in keys(student)
