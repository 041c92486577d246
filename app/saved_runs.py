"""Saved runs on the Runs page: whose a run is, "Continue training N more steps", "Save run" (a copy under a
new name) and Delete (this browser's runs only, after a confirmation).

The rules live in the engine (engine/run_owners.py: names, owners, quotas; engine/run_resume.py: continuing
from a checkpoint, the CLI's --resume path); this module binds them to buttons. Buttons act in their
callbacks, before the page redraws, so the run list and the picker above already show the result; what
happened (or why it was refused) is kept in the session and shown once.
"""

from __future__ import annotations

import weakref
from pathlib import Path

import streamlit as st

from app.i18n import message, num, t, texts
from app.run_controls import admit
from app.session import CLASS_TEXT, RunSlots, may_train, read_only, read_only_text
from engine.errors import LabError
from engine.run import IDLE, PAUSED, RUNNING, Run
from engine.run_owners import delete_run, is_owner, save_copy
from engine.run_resume import MAX_MORE_STEPS, can_continue, continue_run
from engine.runfolder import RunInfo
from engine.scheduler import job_of, release_run

TEXT = texts("saved_runs")
SLOT = "runs_continue"  # this browser's run slot for a continued run
NOTICE, CONFIRM, NEXT_PICK = "_runs_notice", "_runs_confirm_delete", "_runs_pick"
_CONTINUED: weakref.WeakKeyDictionary[Run, str] = weakref.WeakKeyDictionary()  # a continued run → its folder


def _notice(kind: str, text: str) -> None:
    st.session_state[NOTICE] = (kind, text)


def show_notice() -> None:
    """What the last button did, or why it was refused (once)."""
    notice = st.session_state.pop(NOTICE, None)
    if notice is not None:
        kind, text = notice
        {"error": st.error, "success": st.success}.get(kind, st.info)(text)


def take_pick(key: str) -> None:
    """Before the run picker is drawn: select the run a button made (a copy, a continued copy) or leave out
    the one it deleted. (The picker's own key cannot be set from a callback of a widget drawn after it.)"""
    pick = st.session_state.pop(NEXT_PICK, None)
    if pick is not None:
        st.session_state[key] = pick


def _pick(names: list[str]) -> None:
    st.session_state[NEXT_PICK] = names


# ---- callbacks ----------------------------------------------------------------------------------------
def _continue(path: Path, slots: RunSlots, root: Path) -> None:
    more = int(st.session_state.get("runs_more_steps") or 0)
    if read_only(slots):  # a follower continues nothing (the slots are the lecturer's)
        _notice("info", format(read_only_text("continue")))
        return
    if not may_train():  # a class code is set and this browser has not given it: touch nothing
        _notice("error", CLASS_TEXT["needed"])
        return
    try:
        cont = continue_run(path, slots.owner, more, root=root)
    except LabError as exc:
        _notice("error", message(exc))
        return
    run = slots.replace(SLOT, cont.run)
    _CONTINUED[run] = str(cont.path.resolve())
    admit(run, slots.owner)
    if job_of(run) is None and run.state == IDLE:  # refused by the scheduler (admit said why): not running
        # run.json keeps English (the CLI and every browser read it)
        cont.folder.finish("stopped", message=t("saved_runs.not_started", lang="en").format(
            why="this browser has too many jobs"))
        return
    end = run.options.max_steps or 0
    _notice("success", TEXT["continuing"].format(name=cont.path.name, start=num(end - more, 0), end=num(end, 0)))
    _pick([cont.path.name])


def _stop(slots: RunSlots) -> None:
    if read_only(slots):
        return
    run = slots.get(SLOT)
    if run is not None:
        release_run(run)
        run.stop()


def _save(path: Path, token: str, root: Path) -> None:
    try:
        new = save_copy(path, st.session_state.get("runs_save_name") or "", token, root)
    except LabError as exc:
        _notice("error", message(exc))
        return
    _notice("success", TEXT["saved"].format(name=new.name))
    _pick([new.name])


def _delete(path: Path, token: str, root: Path, name: str, picked: list[str]) -> None:
    st.session_state.pop(CONFIRM, None)
    try:
        delete_run(path, token, root)
    except LabError as exc:
        _notice("error", message(exc))
        return
    _notice("success", TEXT["deleted"].format(name=name))
    _pick([n for n in picked if n != name])


def _ask(path: Path) -> None:
    st.session_state[CONFIRM] = str(path)


def _cancel() -> None:
    st.session_state.pop(CONFIRM, None)


# ---- the panel ----------------------------------------------------------------------------------------
def run_actions(info: RunInfo, slots: RunSlots, root: Path, live: bool, picked: list[str]) -> None:
    """Under a followed run: whose it is and what this browser may do with it."""
    token = slots.owner
    mine = is_owner(info, token)
    st.subheader(TEXT["title"])
    st.markdown(TEXT["yours"] if mine else TEXT["cli"] if info.owner is None else TEXT["others"])
    current = slots.get(SLOT)
    continuing = (not read_only(slots) and current is not None and current.state in (IDLE, RUNNING, PAUSED)
                  and _CONTINUED.get(current) == str(info.path.resolve()))
    if continuing:
        st.caption(TEXT["continuing_now"].format(name=info.name))
        st.button(TEXT["stop"], key="runs_continue_stop", icon=":material/stop:", on_click=_stop, args=(slots,))
    elif live:
        st.caption(TEXT["live"])
    resumable = can_continue(info.experiment)
    left, middle, right = st.columns(3)
    with left:
        more = st.number_input(TEXT["more_steps"], min_value=1, max_value=MAX_MORE_STEPS, value=100, step=100,
                               key="runs_more_steps", disabled=live or not resumable)
        st.button(TEXT["continue"].format(n=num(int(more), 0)), key="runs_continue", type="primary",
                  icon=":material/play_arrow:", disabled=live or not resumable,
                  help=TEXT["continue_help_yours"] if mine else TEXT["continue_help_copy"],
                  on_click=_continue, args=(info.path, slots, root))
        if not resumable:
            st.caption(TEXT["cannot_continue"].format(experiment=info.experiment or "?"))
    with middle:
        st.text_input(TEXT["save_name"], key="runs_save_name", placeholder=TEXT["save_placeholder"], max_chars=64,
                      disabled=live)
        st.button(TEXT["save"], key="runs_save", icon=":material/save:", disabled=live, help=TEXT["save_help"],
                  on_click=_save, args=(info.path, token, root))
    if mine:  # another browser's run (or a terminal's) has no Delete button at all
        with right:
            if st.session_state.get(CONFIRM) == str(info.path):
                st.warning(TEXT["confirm"].format(name=info.name))
                st.button(TEXT["yes_delete"], key="runs_delete_yes", type="primary", on_click=_delete,
                          args=(info.path, token, root, info.name, picked))
                st.button(TEXT["cancel"], key="runs_delete_no", on_click=_cancel)
            else:
                st.button(TEXT["delete"], key="runs_delete", icon=":material/delete:", disabled=live,
                          help=TEXT["delete_help"], on_click=_ask, args=(info.path,))
