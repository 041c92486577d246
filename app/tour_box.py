"""The guided lecture's moving parts: "show me" (open a stop's page with its preset and start its run), the
stop's live check, and the compact tour box drawn on the target page (app/main.py, after the page), so the
lecturer goes from stop to stop without coming back to the lecture page.

Session state (this browser tab): `_tour.at` the current stop's index, `_tour.on` whether the box shows on the
stop's page, `_tour.started` {stop signature: id of the run the tour started for it (or "pending")},
`_tour.results` {stop id: the last verdict, for the lecture page's list and the tests}, `_tour.go` a stop the
lecture page opens first thing (a box's Next to a stop that changes a widget drawn on this very page),
`_tour.job` a job stop whose job the box starts once its page is drawn.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import streamlit as st

from app.i18n import language, num, texts
from app.pages_index import page_title
from app.tour import LECTURE, STOPS, Stop
from app.tour_checks import Reading, reading, verdict
from engine.run import FAILED, PAUSED, RUNNING, Run

ROOT = Path(__file__).resolve().parent.parent
TEXT = texts("tour")
AT, ON, STARTED, RESULTS, JOB = "_tour.at", "_tour.on", "_tour.started", "_tour.results", "_tour.job"
GO = "_tour.go"
BOX_KEY = "tour_box"
LIVE_EVERY_S = 1.0
_CSS = """
.st-key-tour_box { position: fixed; right: 1rem; bottom: 1rem; z-index: 999990; width: min(32rem, 44vw);
  max-height: 70vh; overflow-y: auto; background: var(--st-background-color, #fff);
  box-shadow: 0 4px 18px rgba(0, 0, 0, .25); border-radius: .6rem; padding: .2rem .6rem; }
"""


# ---- state ----------------------------------------------------------------------------------------------
def current() -> int:
    at = st.session_state.get(AT, 0)
    return at if isinstance(at, int) and 0 <= at < len(STOPS) else 0


def set_current(i: int) -> None:
    st.session_state[AT] = max(0, min(len(STOPS) - 1, i))


def _slots():
    from app.session import run_slots

    return run_slots()


def stop_run(stop: Stop, slots: Any = None) -> Run | None:
    """The run this stop's check reads: the one the tour started for its signature (None if replaced since)."""
    if stop.slot is None:
        return None
    slots = slots if slots is not None else _slots()
    run = slots.get(stop.slot)
    started = st.session_state.get(STARTED, {})
    mark = started.get(stop.signature())
    if run is None or mark is None:
        return None
    if mark == "pending":  # the page has drawn its run_controls since "show me": this is the run it started
        started[stop.signature()] = id(run)
        return run
    return run if mark == id(run) else None


# ---- show me ----------------------------------------------------------------------------------------------
def leave(stop: Stop, slots: Any = None) -> None:
    """Leaving a stop whose run has no budget: pause it, so it does not take the cores from the next stop."""
    if not stop.pause_after:
        return
    run = stop_run(stop, slots)
    if run is not None and run.state == RUNNING:
        from engine.scheduler import release_run

        run.pause()
        release_run(run)


def _clear_form(form: str) -> None:
    """The form starts again from its defaults, then takes the preset (app/share.py reads the URL)."""
    state = st.session_state
    for key in list(state.keys()):
        if key.startswith((f"{form}.", f"_form_keep.{form}", f"_form_context.{form}", f"_share_synced.{form}",
                           f"_cfg_{form}")):
            del state[key]


def prepare(stop: Stop, slots: Any = None) -> bool:
    """Everything "show me" does before switching page; True when a new run will start (False: the stop reuses
    the run an earlier stop with the same preset started)."""
    slots = slots if slots is not None else _slots()
    old = STOPS[current()]
    if old.id != stop.id:
        leave(old, slots)
    set_current(STOPS.index(stop))
    st.session_state[ON] = True
    started = st.session_state.setdefault(STARTED, {})
    if stop.page == LECTURE:
        return False
    run = slots.get(stop.slot)
    mark = started.get(stop.signature())
    if run is not None and mark is not None and mark in ("pending", id(run)) and run.state != FAILED:
        return False  # the same preset ran (or runs) already: its numbers are this stop's too
    slots.replace(stop.slot, None)  # autostart starts a run only in an empty slot (app/run_controls.py)
    if stop.form is not None:
        _clear_form(stop.form)
    for key, value in stop.state.items():  # widgets outside the form: the page's mode, the methods compared
        st.session_state[key] = list(value) if isinstance(value, list | tuple) else value
    if stop.job:
        st.session_state[JOB] = stop.id  # the box starts it once the page is drawn (a job has no autostart)
    else:
        st.session_state[f"_autostart.{stop.slot}"] = True
    started[stop.signature()] = "pending"
    st.session_state.setdefault(RESULTS, {}).pop(stop.id, None)
    return True


def show_me(stop: Stop) -> None:
    """Open the stop's page with its preset, its run starting (st.switch_page: ends this script run)."""
    prepare(stop)
    target = "lecture" if stop.page == LECTURE else stop.page
    params = {**stop.query(), "lang": language()} if stop.page != LECTURE else {"lang": language()}
    if stop.page == LECTURE:
        st.session_state["_tour.cap_start"] = True
    st.switch_page(ROOT / "pages" / f"{target}.py", query_params=params)


def back_to_lecture() -> None:
    st.switch_page(ROOT / "pages" / "lecture.py", query_params={"lang": language()})


# ---- the check, in words ------------------------------------------------------------------------------------
def fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool):
        return TEXT["yes"] if value else TEXT["no"]
    if isinstance(value, int):
        return num(value, 0)
    if not isinstance(value, float):
        return str(value)
    if not math.isfinite(value):
        return "—"
    if value != 0 and abs(value) < 10 ** -digits:
        text = f"{value:.1e}"
        return text.replace(".", ",") if language() == "pt" else text
    return num(value, digits)


def rule(stop: Stop) -> str:
    if stop.compare == "between":
        lo, hi = stop.threshold  # type: ignore[misc]
        return TEXT["rule_between"].format(lo=fmt(lo, stop.digits), hi=fmt(hi, stop.digits))
    return TEXT["rule"].format(op=stop.compare.replace("<=", "≤").replace(">=", "≥"),
                               threshold=fmt(float(stop.threshold), stop.digits))


def sentence(stop: Stop, r: Reading) -> str:
    fields = {k: fmt(v, stop.digits) for k, v in r.fields.items()}
    try:
        return TEXT[f"check.{stop.id}"].format(value=fmt(r.value, stop.digits), **fields)
    except (KeyError, IndexError):
        return TEXT["check_value"].format(value=fmt(r.value, stop.digits))


def check_view(stop: Stop, run: Run | None, key: str) -> bool | None:
    """The stop's check: the sentence with its number, and the verdict against the fixed threshold (or why
    there is none yet). Records the verdict in `_tour.results`. Returns it."""
    r = reading(stop, run)
    passed = verdict(stop, r)
    if run is None:
        st.caption(TEXT["no_run"])
    elif r.value is None:
        st.caption(TEXT["waiting"].format(step=run.step))
    elif passed is None:
        st.markdown(TEXT["so_far"].format(text=sentence(stop, r), rule=rule(stop)))
        if stop.pause_after:
            st.caption(TEXT["read_at"].format(step=stop.min_step))
    else:
        text = sentence(stop, r)
        line = TEXT["pass" if passed else "fail"].format(text=text, rule=rule(stop))
        (st.success if passed else st.warning)(line, icon=":material/check_circle:" if passed else ":material/info:")
        st.session_state.setdefault(RESULTS, {})[stop.id] = {"value": r.value, "passed": passed, "text": text}
    value = "" if r.value is None else repr(float(r.value))
    state = "pending" if passed is None else ("pass" if passed else "fail")
    st.html(f'<span class="tour-verdict" data-stop="{stop.id}" data-state="{state}" data-value="{value}" '
            f'data-key="{key}"></span>')
    return passed


def claim(stop: Stop) -> None:
    st.markdown(f"> {texts('lecture')[f'quote.{stop.id}']}")
    st.caption(TEXT["quote_source"])


def title(stop: Stop) -> str:
    return texts("lecture")[f"stop.{stop.id}"]


def page_name(stem: str) -> str:
    return page_title(stem)


def progress_text(i: int) -> str:
    return TEXT["progress"].format(k=i + 1, n=len(STOPS))


# ---- the box on the target page ---------------------------------------------------------------------------
def _go(i: int, page: str) -> None:
    """Open stop i from the target page `page`. A stop on this same page that sets one of its widgets outside
    the form (the CD page's mode) goes through the lecture page, which does "show me" before drawing anything:
    a widget's value cannot be set once it is drawn in the same script run."""
    if not 0 <= i < len(STOPS):
        return
    here = STOPS[current()]
    if STOPS[i].page == page and STOPS[i].state and STOPS[i].signature() != here.signature():
        st.session_state[GO] = i
        back_to_lecture()
    show_me(STOPS[i])


def go_pending() -> None:
    """(The lecture page, first thing.) A Next / Previous from a tour box: show that stop."""
    i = st.session_state.pop(GO, None)
    if isinstance(i, int) and 0 <= i < len(STOPS):
        show_me(STOPS[i])


def tour_box(page: str | None) -> None:
    """Draw the compact box on the current stop's page (nothing elsewhere, nor on the lecture page)."""
    if not st.session_state.get(ON) or page in (None, "", LECTURE):
        return
    i = current()
    stop = STOPS[i]
    if stop.page != page:
        return
    if st.session_state.get(JOB) == stop.id:
        del st.session_state[JOB]
        _start_job(stop)
    st.html(f"<style>{_CSS}</style>")
    with st.container(key=BOX_KEY), st.expander(f"{progress_text(i)} · {title(stop)}", expanded=True):
        claim(stop)
        st.markdown(f"**{TEXT['look_label']}** {TEXT[f'look.{stop.id}']}")
        _box_check(stop)
        c1, c2 = st.columns(2)
        c3, c4 = st.columns(2)
        if c1.button(TEXT["prev"], key="tour_box_prev", disabled=i == 0, width="stretch",
                     icon=":material/arrow_back:"):
            _go(i - 1, page)
        if c2.button(TEXT["next"], key="tour_box_next", disabled=i == len(STOPS) - 1, width="stretch",
                     icon=":material/arrow_forward:", type="primary"):
            _go(i + 1, page)
        if c3.button(TEXT["back"], key="tour_box_back", width="stretch", icon=":material/school:"):
            back_to_lecture()
        if c4.button(TEXT["close"], key="tour_box_close", width="stretch", icon=":material/close:"):
            st.session_state[ON] = False
            st.rerun()


def job_run(stop: Stop) -> Run:
    """The background job a job stop runs, built as its page builds it from the same settings (the preset)."""
    from app.share import read_params

    if stop.slot == "cd_dimension":
        from engine.run import RunOptions
        from engine.toy.dimension import DimensionConfig, DimensionTrainer

        values, _ = read_params(DimensionConfig, stop.form, dict(stop.preset), DimensionConfig.specs())
        trainer = DimensionTrainer(DimensionConfig.create(**values))
        return Run(trainer, RunOptions(max_steps=trainer.total_steps, snapshot_hz=2, evaluate_every_s=1.0),
                   name="cd_dimension")
    raise ValueError(f"no job for slot {stop.slot}")


def _start_job(stop: Stop) -> None:
    from app.jobs import start_job

    run = start_job(_slots(), stop.slot, job_run(stop))
    if run is not None:
        st.session_state.setdefault(STARTED, {})[stop.signature()] = id(run)
        st.rerun()  # the page draws the job live (its results fragment polls while the job runs)


def _box_check(stop: Stop) -> None:
    slots = _slots()
    run = stop_run(stop, slots)
    live = run is not None and (run.state == RUNNING or verdict(stop, reading(stop, run)) is None)
    live = live and run.state != FAILED and not (run.state == PAUSED and not run.alive())

    @st.fragment(run_every=LIVE_EVERY_S if live else None)
    def check_fragment() -> None:
        r = stop_run(stop, slots)
        passed = check_view(stop, r, "box")
        if stop.pause_after and r is not None and r.state == RUNNING and st.button(
                TEXT["pause"], key="tour_box_pause", icon=":material/pause:"):
            leave(stop, slots)
            st.rerun()
        if live and passed is not None and (r is None or r.state != RUNNING):
            st.rerun()  # settled: redraw once without the timer

    check_fragment()
