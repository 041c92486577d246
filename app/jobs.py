"""Background jobs (a comparison, a sweep, a scoreboard, baselines) through the process-wide scheduler.

A page builds its job as a `Run` (not started) when its button is pressed and hands it to `start_job`: the run
goes into the browser's slot and joins the scheduler's line under the browser's token, so it starts when a place
is free and counts towards the browser's share (engine/scheduler.py). Where the job's results will appear,
`job_wait` shows its place in line while it waits ("Waiting: 3rd in line"). `stop_job` stops it, running or
waiting: a waiting job gives its place back at once. `job_controls` is Run / Stop and the results for a page
whose job needs nothing else. Jobs start only from these buttons, never from a widget change.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from app.i18n import texts
from app.run_controls import admit, waiting, waiting_line
from app.session import CLASS_TEXT, RunSlots, may_train, read_only
from engine.run import PAUSED, RUNNING, Run
from engine.scheduler import release_run

TEXT = texts("jobs")


def _refuse_read_only(slots: RunSlots) -> bool:
    """On a follower's read-only slots (app/follow.py): say so, and True (the caller changes nothing)."""
    if read_only(slots):
        st.info(TEXT["read_only"], icon=":material/visibility:")
        return True
    return False


def start_job(slots: RunSlots, slot: str, run: Run) -> Run | None:
    """Put `run` (not started) in `slot` and queue it under the browser's token; the run it replaces is stopped
    and gives back its place first. Returns the run, or None (said with st.error) when the browser already holds
    its share of jobs: the slot is then left empty. On a follower's read-only slots: None, nothing started."""
    if _refuse_read_only(slots):
        return None
    if not may_train():  # refused before the slot's job is replaced: it stays as it was
        st.error(CLASS_TEXT["needed"], icon=":material/key:")
        return None
    slots.replace(slot, run)
    if not admit(run, slots.owner):  # this browser holds its share of jobs (admit said so)
        slots.replace(slot, None)
        return None
    return run


def stop_job(slots: RunSlots, slot: str) -> None:
    """Stop the slot's job: a running one after its step in flight, a waiting one at once (its place is given
    back). The run stays in the slot, so what it has computed stays on the page. A follower's read-only slots:
    nothing is stopped."""
    if _refuse_read_only(slots):
        return
    run = slots.get(slot)
    if run is not None:
        release_run(run)  # a waiting run has no thread to end: nothing else would give its place back
        run.stop()


def active(run: Run | None) -> bool:
    """Is `run` running, paused (by "Pause all") or waiting in line (what Stop applies to)?"""
    return run is not None and (run.state == RUNNING or (run.state == PAUSED and run.alive) or waiting(run))


def carry_on(slots: RunSlots, slot: str) -> bool:
    """Run pressed on a slot whose job waits in line (it keeps its place) or was paused ("Pause all" in the
    sidebar: it joins the line again, to go on where it paused). True then: no new job is made. True, too, on a
    follower's read-only slots (said with st.info): nothing is made or queued."""
    if _refuse_read_only(slots):
        return True
    run = slots.get(slot)
    if run is None or waiting(run):
        return run is not None
    if run.state == PAUSED and run.alive:
        admit(run, slots.owner)
        return True
    return False


def job_wait(run: Run | None, key: str, text: dict[str, str] | None = None) -> bool:
    """While `run` waits in line: its place (redrawn every few seconds; the page reruns once the job starts),
    in a container keyed `<key>_waiting`. True while it waits, so the caller draws no results yet."""
    if not waiting(run):
        return False
    with st.container(key=f"{key}_waiting"):
        waiting_line(run, {**TEXT, **(text or {})})
    return True


def job_controls(slots: RunSlots, name: str, make_run: Callable[[], Run], *, key: str, run_label: str,
                 stop_label: str, every: float, results: Callable[[Run], None]) -> Run | None:
    """Run / Stop for a background job and its results, redrawn every `every` seconds while it runs.

    `make_run()` builds the job's Run (not started) when Run is pressed; `results(run)` draws what it has so far.
    Run on a job waiting in line keeps its place (Stop, then Run, to change it)."""
    b1, b2 = st.columns(2)
    run = slots.get(name)
    ro = read_only(slots)  # a follower's view: the buttons show, disabled (and would refuse anyway)
    if b1.button(run_label, key=f"{key}_run", type="primary", icon=":material/play_arrow:", disabled=ro) \
            and not carry_on(slots, name):
        run = start_job(slots, name, make_run())
    if b2.button(stop_label, key=f"{key}_stop", disabled=ro or not active(run)):
        stop_job(slots, name)
    run = slots.get(name)
    live = run is not None and run.state == RUNNING
    if job_wait(run, key):
        return run

    @st.fragment(run_every=every if live else None)
    def job_results() -> None:
        current = slots.get(name)
        if current is not None:
            results(current)

    job_results()
    return run
