"""Train / Pause / Step / Reset for any page whose training lives in a `Run`, plus its status line.

"Record to a run folder" (under the buttons) makes Train write the run into a new run folder under
$ENERGY_LAB_RUNS (engine/runfolder.py), so the run can be followed and compared on the Runs page too.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from app.form import set_values, widget_key
from app.i18n import language, message, num, texts
from app.session import CLASS_TEXT, UNDO_SUFFIX, RunSlots, browser_token, may_train, read_only
from engine.errors import SettingError
from engine.run import FAILED, FINISHED, IDLE, PAUSED, RUNNING, Run
from engine.run.guard import learning_rate, lr_cut
from engine.run_owners import QuotaExceeded, check_quota
from engine.runfolder import RunFolder, attach, runs_root
from engine.scheduler import TooManyJobs, default_scheduler, job_of, queue_run, release_run
from engine.schema import Settings

LABELS = texts("run_controls")  # the buttons' labels and the status line, read in the session's language
# how often a waiting page looks at its place in line: each look redraws the page in the browser (~60 ms of a
# core in headless Chromium) and runs a fragment on the server; the run itself starts the moment it is admitted
WAIT_POLL_S = 5.0
STEP_WAIT_S = 5.0  # how long Step waits for its step to show it (a toy step takes ms; the last one may still evaluate)
_RECORDED: weakref.WeakKeyDictionary[Run, Path] = weakref.WeakKeyDictionary()  # run → the folder it writes


def run_controls(slots: RunSlots, name: str, config: object, make_run: Callable[[object], Run],
                 key: str, text: dict[str, str] | None = None) -> Run | None:
    """Draw the buttons; return the session's run for `name` after applying the click.

    `make_run(config)` builds a Run (not started). Train starts a new run when there is none, or
    when the last one ended; it resumes a paused one. Reset replaces the run by a fresh, unstarted
    one with the current settings (its initial energy is shown at once).

    `text` overrides labels of the section run_controls (e.g. {"train": "Sample"}), already in the session's
    language. A page switched to by a "show me" button (`st.session_state["_autostart.<name>"]`, popped here)
    acts as if Train were clicked, when its run is absent or fresh and this browser may train.

    On a follower's read-only slots (app/follow.py) no button is drawn: a caption, the followed run's place in
    line while it waits, and the followed run itself, which the page draws as its own.
    """
    t = {**LABELS, **(text or {})}
    run = slots.get(name)
    autostart = st.session_state.pop(f"_autostart.{name}", False)
    if read_only(slots):
        st.caption(t["following"])
        follow_settings(run, config, key)
        if waiting(run):
            waiting_line(run, t)
        return run
    cfg_key = f"_cfg_{key}"
    buttons = st.container()
    record = st.checkbox(t["record"], key=f"{key}_record", help=t["record_help"])
    c1, c2, c3, c4 = buttons.columns(4)
    paused = run is not None and run.state == PAUSED and run.step > 0
    label = t["resume"] if paused else t["train"]
    clicked = c1.button(label, key=f"{key}_train", type="primary", icon=":material/play_arrow:", width="stretch")
    if autostart and (run is None or fresh(run) or run.state == IDLE) and may_train():
        clicked = True  # a "show me" button sent the lecture here: as if Train were pressed
    if clicked and not waiting(run):  # a run waiting in line keeps its place
        if run is None or run.state not in (RUNNING, PAUSED) or (
                run.state == PAUSED and run.step == 0 and st.session_state.get(cfg_key) != config):
            run = slots.replace(name, make_run(config))
            st.session_state[cfg_key] = config
            if record:
                record_run(run, name, config, t)
            admit(run, slots.owner)
        elif run.state == PAUSED:
            if record and run.step == 0:  # a run made by Reset, trained for the first time
                record_run(run, name, config, t)
            admit(run, slots.owner)
    if c2.button(t["pause"], key=f"{key}_pause", width="stretch", icon=":material/pause:",
                 disabled=run is None or run.state != RUNNING):
        run.pause()
        release_run(run)  # a paused run gives its place in line to the next
    step = c3.button(t["step"], key=f"{key}_step", width="stretch", icon=":material/skip_next:")
    if step and not may_train():  # a class code is set and this browser has not given it
        st.error(CLASS_TEXT["needed"], icon=":material/key:")
    elif step:
        if run is None or run.state not in (RUNNING, PAUSED):
            run = slots.replace(name, make_run(config))
            st.session_state[cfg_key] = config
        target = run.step + 1
        run.step_once()
        # the step runs on the run's thread: wait (briefly) for it, so this redraw shows it, not the step before
        deadline = time.monotonic() + STEP_WAIT_S
        while run.step < target and run.alive and time.monotonic() < deadline:
            time.sleep(0.01)
    if c4.button(t["reset"], key=f"{key}_reset", width="stretch", icon=":material/restart_alt:") and not (
            fresh(run) and st.session_state.get(cfg_key) == config):  # a fresh run, same settings: nothing to do
        old = slots.get(name)
        # the old run is stopped (its thread ends) but kept, so "Undo reset" can take it up again
        slots.replace(undo_slot(name), old if old is not None and old.step > 0 and old.state != FAILED else None)
        run = slots.replace(name, make_run(config))
        st.session_state[f"_undo_cfg_{key}"] = st.session_state.get(cfg_key)
        st.session_state[cfg_key] = config
        run.start(paused=True)
        st.rerun()  # redraw the buttons above for the fresh run ("Train", not "Resume")
    offer_undo(slots, name, run, key, t)
    if run is not None and st.session_state.get(cfg_key) not in (None, config) and run.state in (RUNNING, PAUSED):
        st.caption(t["changed"])
    if run is not None and run in _RECORDED:
        st.caption(t["recording"].format(path=_RECORDED[run]))
    if waiting(run):
        waiting_line(run, t)
    if run is not None and run.state == FAILED and run.guard.rolled_back_to is not None:
        offer_continue(slots, name, run, config, key)
    return run


FOLLOWED_SETTINGS = "_followed_settings."  # + form key: (settings class, values) for app/follow.py to put in


def follow_settings(run: Run | None, config: object, key: str) -> None:
    """A follower's form takes the followed run's settings, so the page draws that run with its own data set
    and box: the values differing from the form's go to app/follow.py, which puts them into the widgets before
    the next run draws the form (too late in this one), and the page reruns. Once per run: a value the form
    cannot take does not make it rerun again and again."""
    theirs = getattr(getattr(run, "trainer", None), "config", None)
    if run is None or not isinstance(config, Settings) or type(theirs) is not type(config) or theirs == config:
        return
    if st.session_state.get(f"_followed_run_{key}") == id(run):
        return
    st.session_state[f"_followed_run_{key}"] = id(run)
    differ = {n: getattr(theirs, n) for n in type(config).specs() if getattr(theirs, n) != getattr(config, n)}
    st.session_state[f"{FOLLOWED_SETTINGS}{key}"] = (type(config), differ)
    st.rerun()


def fresh(run: Run | None) -> bool:
    """A run made by Reset (or Step's first click) that has not trained yet."""
    return run is not None and run.step == 0 and run.state == PAUSED


def undo_slot(name: str) -> str:
    """The slot that keeps the run a Reset replaced (stopped, no thread), for "Undo reset"."""
    return f"{name}{UNDO_SUFFIX}"


def offer_undo(slots: RunSlots, name: str, run: Run | None, key: str, t: dict[str, str]) -> None:
    """"Undo reset" while the fresh run has not trained; once it trains, the replaced run is let go."""
    old = slots.get(undo_slot(name))
    if old is None or read_only(slots):
        return
    if run is None or run.step > 0:
        slots.replace(undo_slot(name), None)
        return
    st.button(t["undo"].format(step=num(old.step, 0)), key=f"{key}_undo", icon=":material/undo:",
              on_click=undo_reset, args=(slots, name, key))


def undo_reset(slots: RunSlots, name: str, key: str) -> None:
    """(The button's callback.) Put the replaced run back, paused where it stopped: Train goes on from there."""
    old = slots.get(undo_slot(name))
    if old is None or read_only(slots):
        return  # a second click (or a follower's view, which never draws the button)
    slots.replace(undo_slot(name), None)
    back = slots.replace(name, old.resume_stopped())
    back.start(paused=True)
    st.session_state[f"_cfg_{key}"] = st.session_state.pop(f"_undo_cfg_{key}", None)


def offer_continue(slots: RunSlots, name: str, run: Run, config: object, key: str) -> None:
    """After a divergence: a button that trains on from the rolled-back model at the suggested smaller lr."""
    if read_only(slots):
        return
    lr = learning_rate(run.trainer)
    cut = lr_cut(run.trainer)
    label = LABELS["continue_plain"] if lr is None else LABELS["continue_lr"].format(lr=short_number(lr * cut))
    st.button(label, key=f"{key}_continue", icon=":material/replay:", help=LABELS["continue_help"],
              on_click=continue_run, args=(slots, name, run, config, key, None if lr is None else cut))


def continue_run(slots: RunSlots, name: str, run: Run, config: object, key: str, cut: float | None) -> None:
    """(The button's callback, before the page redraws.) Put the continued run in the slot and train it; the
    form's lr follows the optimiser's, so the page does not report changed settings."""
    if slots.get(name) is not run or run.state != FAILED or read_only(slots):
        return  # a second click, or the run was replaced meanwhile (a follower's view never draws the button)
    lr = learning_rate(run.trainer)
    new = slots.replace(name, run.continue_from_rollback(cut))
    cfg_key, lr_key = f"_cfg_{key}", widget_key(key, "lr")
    if cut is not None and isinstance(config, Settings) and getattr(config, "lr", None) == lr \
            and lr_key in st.session_state:
        set_values(type(config), key, {"lr": lr * cut})
        st.session_state[cfg_key] = config.with_(lr=lr * cut)
    admit(new, slots.owner)


def admit(run: Run, owner: str) -> bool:
    """Start (or resume) `run` once the process-wide scheduler admits it; say why if it refuses (False)."""
    if not may_train():  # a class code is set and this browser has not given it
        st.error(CLASS_TEXT["needed"], icon=":material/key:")
        return False
    try:
        queue_run(run, owner)
    except TooManyJobs as exc:
        st.error(message(exc))
        return False
    return True


def waiting(run: Run | None) -> bool:
    """Is `run` waiting in the scheduler's line?"""
    job = job_of(run) if run is not None else None
    return job is not None and job.position() > 0


def ordinal(n: int) -> str:
    """A place in line in the session's language: "19th" (en), "19º" (pt)."""
    if language() == "pt":
        return f"{num(n, 0)}º"
    return f"{num(n, 0)}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def short_number(x: float) -> str:
    """A learning rate or the like as `:.3g` writes it, with the session's decimal mark (0.0005 → "0,0005")."""
    text = f"{x:.3g}"
    return text.replace(".", ",") if language() == "pt" else text


@st.fragment(run_every=WAIT_POLL_S)
def waiting_line(run: Run, t: dict[str, str]) -> None:
    """The run's place in line, redrawn every WAIT_POLL_S; the whole page once it starts (it goes live)."""
    job = job_of(run)
    place = job.position() if job is not None else 0
    if place == 0:
        st.rerun()
    jobs = default_scheduler().max_jobs
    st.info(t["waiting"].format(place=ordinal(place), jobs=num(jobs, 0)), icon=":material/hourglass_top:")


def recorded_settings(config: Any) -> dict[str, dict[str, Any]]:
    """A page's settings for run.json: {experiment: settings}; a page that trains several configurations of
    one experiment (the binary page's methods) gives each its own entry, "<experiment>.<method>"."""
    configs = [c for c in (config if isinstance(config, tuple | list) else (config,)) if isinstance(c, Settings)]
    names = [c.experiment for c in configs]
    out = {}
    for i, c in enumerate(configs):
        entry = c.experiment if names.count(c.experiment) == 1 else f"{c.experiment}.{getattr(c, 'method', i)}"
        out[entry] = c.to_dict()
    return out


def record_run(run: Run, name: str, config: Any, text: dict[str, str], owner: str | None = None) -> None:
    """Write `run` (not yet trained) into a new folder <runs root>/<name>-<date>-<time> as it trains.

    The folder belongs to the browser `owner` (its token, `RunSlots.owner`; default: this session's browser):
    run.json keeps only a hash of it (engine/run_owners.py). Refused, with the numbers, when this browser's
    runs or all runs already take their disk quota (the run trains anyway, unrecorded)."""
    if run in _RECORDED:
        return
    if owner is None and get_script_run_ctx() is not None:
        owner = browser_token()
    try:
        check_quota(owner)
    except QuotaExceeded as exc:
        st.warning(text["record_failed"].format(why=message(exc)))
        return
    settings = recorded_settings(config)
    experiment = next(iter(settings), name).split(".")[0]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, n = runs_root() / f"{name}-{stamp}", 1
    while True:  # claim the name with an atomic mkdir: two browsers may press Train in the same second
        try:
            path.mkdir(parents=True)
            break
        except FileExistsError:
            n += 1
            path = runs_root() / f"{name}-{stamp}-{n}"
        except OSError:  # not writable: RunFolder.create says why
            break
    try:
        folder = RunFolder.create(path, experiment, settings, browser=owner)
    except SettingError as exc:  # the runs folder cannot be written: train anyway, and say why
        st.warning(text["record_failed"].format(why=message(exc)))
        return
    attach(run, folder)
    _RECORDED[run] = path


def status_line(run: Run | None, text: dict[str, str] | None = None) -> None:
    t = {**LABELS, **(text or {})}
    if run is None:
        st.caption(t["idle"])
        return
    s = run.summary()
    label = t["queued"] if waiting(run) else t.get(s["state"], s["state"])
    parts = [f"**{label}** · " + t["status_step"].format(step=num(s["step"], 0)),
             t["status_rate"].format(rate=num(s["steps_per_s"], 0))]
    for k in ("kl", "nll"):
        if k in s:
            parts.append(t["status_nats"].format(name=k.upper(), value=num(s[k], 3)))
    device = getattr(run.trainer, "device", None)
    if device is not None:
        parts.append(t["status_device"].format(device=device))
    st.markdown(" · ".join(parts))
    if s["state"] == FAILED:
        st.error(failure_message(run, s["message"]))
    elif s["state"] == FINISHED:
        st.success(t["status_done"].format(label=label, steps=num(s["step"], 0), seconds=num(s["seconds"], 1)))


def failure_message(run: Run, english: str) -> str:
    """Why the run failed, in the session's language when the run's guard wrote it (a divergence)."""
    failure = getattr(getattr(run, "guard", None), "failure", None)
    return format(failure) if failure is not None and str(failure) == english else english
