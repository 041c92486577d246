"""The sidebar's list of this browser's runs, on every page: which page each belongs to, its state, step and speed.

Runs keep training on the pages a student left (by design), and two cores are shared by all of them: without
this list, four forgotten runs slowed the page in front of the student with nothing on screen saying why. Each
run gets a link to its page and one status line; ended runs are kept to one dim line each (a count beyond a few).
"Pause all" pauses every run that trains and takes the waiting ones out of the scheduler's line (nothing is lost:
Train on a run's page resumes it, or "Resume" here re-queues exactly what Pause all paused).

Cost: the panel is its own fragment, redrawn every REFRESH_S only while a run trains, and never at all
when this browser has no run. It reads a few attributes per run (state, step count, place in line); no history.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from app.i18n import num, texts
from app.pages_index import PAGES, page_title
from app.run_controls import admit, ordinal
from app.session import RunSlots, read_only, run_slots
from engine.run import FAILED, FINISHED, IDLE, PAUSED, RUNNING, STOPPED, Run
from engine.scheduler import job_of, release_run

TEXT = texts("session_runs")
# what a page's second or third slot holds, shown after the page's title ("Contrastive divergence & PCD · sampler")
ROLES = {  # slot → its role's text key (role_<name> in the section session_runs)
    "cd_sample": "sampler", "cd_dimension": "dimension", "dae_sweep": "sigma_sweep",
    "embed_baselines": "baselines", "embed_supervised": "supervised", "embed_sweep": "sweep",
    "iebm_sample": "sampler", "iebm_dimension": "dimension", "runs_continue": "continued",
}
# slot name (or its prefix before "_" / "-") → the page stem it belongs to (app/pages_index.py)
SLOT_PAGES = {
    "ml": "maximum_likelihood", "cd": "contrastive_divergence", "scoreboard": "scoreboard",
    "dae": "denoising_autoencoder", "binary": "binary", "embed": "contrastive_embedding",
    "iebm": "energies_over_images", "runs": "runs",
}
REFRESH_S = 3.0  # the panel's cadence while something trains: slow, it must not compete with the live views
RATE_WINDOW_S = 1.0  # steps/s is measured over at least this long between two looks (else the last measure)
ENDED_SHOWN = 3  # ended runs listed one per line up to this many; beyond, one line counts them
ROOT = Path(__file__).resolve().parent.parent
_PAGE_ICONS = {stem: icon for entries in PAGES.values() for stem, icon in entries}
_RATES = "_session_runs_rates"  # session_state: slot → (id(run), step, time, steps/s) of the last measure
_PAUSED = "_session_runs_paused"  # session_state: [(slot, id(run))] that the last Pause all paused


def _prefixed(slot: str, table: dict[str, str]) -> str | None:
    """table[slot], else table[the longest key that `slot` starts with, followed by "_" or "-"]."""
    if slot in table:
        return table[slot]
    keys = [k for k in table if slot.startswith((f"{k}_", f"{k}-"))]
    return table[max(keys, key=len)] if keys else None


def page_of(slot: str) -> str | None:
    """The page stem (pages/<stem>.py) a slot's run belongs to; None for a slot no page is known for."""
    stem = _prefixed(slot, SLOT_PAGES)
    return stem if stem in _PAGE_ICONS else None


def label_of(slot: str) -> str:
    """The run's name in the list: its page's title, with what the slot holds when it is not the page's main run;
    an unknown slot shows its own name."""
    stem = page_of(slot)
    if stem is None:
        return slot
    role = _prefixed(slot, ROLES)
    title = page_title(stem)
    return f"{title} · {TEXT[f'role_{role}']}" if role else title


@dataclass(frozen=True)
class RunRow:
    """What the panel shows of one run (read once, cheaply)."""

    slot: str
    state: str  # engine.run's state, or "waiting" while the run holds a place in the scheduler's line
    place: int  # its place in line (1: next), 0 when not waiting
    step: int
    rate: float | None  # steps per second while training, else None

    @property
    def active(self) -> bool:
        """Training or waiting in line: what Pause all applies to, and what keeps the panel refreshing."""
        return self.state in (RUNNING, "waiting")

    @property
    def ended(self) -> bool:
        return self.state in (FINISHED, STOPPED, FAILED)


def _rate(slot: str, run: Run, step: int, rates: dict[str, tuple[int, int, float, float]]) -> float:
    """Steps per second since the panel's last measure of this run (at least RATE_WINDOW_S ago): what the run
    does now, sharing the cores. The first look has only the run's average over its training time."""
    now = time.monotonic()
    last = rates.get(slot)
    if last is not None and last[0] == id(run) and step >= last[1]:
        if now - last[2] < RATE_WINDOW_S:
            return last[3]
        rate = (step - last[1]) / (now - last[2])
    else:
        rate = run.steps_per_second()
    rates[slot] = (id(run), step, now, rate)
    return rate


def describe(slot: str, run: Run, rates: dict[str, tuple[int, int, float, float]] | None = None) -> RunRow:
    """One run's row: state, place in line, step count and (while training) speed; no lock held for long."""
    job = job_of(run)
    place = job.position() if job is not None else 0
    state, step = run.state, run.step
    rates = {} if rates is None else rates
    if state == RUNNING and place == 0:
        rate: float | None = _rate(slot, run, step, rates)
    else:
        rate = None
        rates.pop(slot, None)
    return RunRow(slot, "waiting" if place > 0 else state, place, step, rate)


def refresh_every(rows: list[RunRow]) -> float | None:
    """The panel's fragment cadence: REFRESH_S while a run trains, None (no reruns at all) otherwise. A run that
    only waits needs none: its page reruns as a whole when it is admitted (a class of waiting pages each
    redrawing its panel every few seconds took the observer's live view down to ~1 frame/s)."""
    return REFRESH_S if any(r.state == RUNNING for r in rows) else None


def pause_all(slots: RunSlots) -> list[tuple[str, Run]]:
    """Pause every run of `slots` that trains and take the waiting ones out of the line; returns them.

    A waiting run leaves the line first (released before it is admitted, it never starts: an unstarted run stays
    unstarted, a paused one paused), so that the places the training runs give back go to other browsers, not to
    this one's next run. Either kind is resumed by Train on its page (pages with `run_controls`), or by `resume`
    (the only way back for a paused background job: app/jobs.py's Run starts a new one)."""
    rows = [(slot, run, job_of(run)) for slot, run in slots.items()]
    waiting = [(slot, run) for slot, run, job in rows if job is not None and job.position() > 0]
    training = [(slot, run) for slot, run, _ in rows if run.state == RUNNING and (slot, run) not in waiting]
    for _, run in (*waiting, *training):
        if run.state == RUNNING:
            run.pause()
        release_run(run)
        if run.state == RUNNING:  # admitted (and started) between the two reads above: pause it too
            run.pause()
    return [*waiting, *training]


def resumable(slots: RunSlots, paused: list[tuple[str, int]]) -> list[Run]:
    """Of the runs a Pause all paused (slot, id), those still in their slot, paused or unstarted, not in line."""
    current = dict(slots.items())
    runs = [r for slot, run_id in paused if (r := current.get(slot)) is not None and id(r) == run_id]
    return [r for r in runs if r.state in (PAUSED, IDLE) and job_of(r) is None]


def resume(slots: RunSlots, runs: list[Run]) -> bool:
    """Queue `runs` again under this browser (each resumes, or starts, once admitted); False if one was refused
    (the reason is shown: no class code, or the browser's share of jobs)."""
    return all([admit(run, slots.owner) for run in runs])  # a list: every run is tried, not up to a refusal


# ---- drawing ---------------------------------------------------------------------------------------------
def _page_link(slot: str) -> None:
    stem = page_of(slot)
    path = ROOT / "pages" / f"{stem or slot}.py"
    if stem is None or not path.exists():  # main.py registers only the pages whose file exists
        st.markdown(f"**{label_of(slot)}**")
        return
    title, icon = page_title(stem), _PAGE_ICONS[stem]
    # the same Page main.py registers (same path and url_path): the link works before st.navigation has run
    page = st.Page(path, title=title, icon=icon, url_path=stem)
    st.page_link(page, label=label_of(slot), icon=icon)


def _format_rate(rate: float) -> str:
    return num(rate, 1) if rate < 10 else num(rate, 0)


def status_text(row: RunRow) -> str:
    """"Training · step 1,234 · 45 steps/s", "Waiting: 2nd in line · step 0", "Paused · step 300"…"""
    state = TEXT["waiting"].format(place=ordinal(row.place)) if row.state == "waiting" else TEXT.get(row.state,
                                                                                                  row.state)
    parts = [f"**{state}**", TEXT["step"].format(step=num(row.step, 0))]
    if row.rate is not None:
        parts.append(TEXT["rate"].format(rate=_format_rate(row.rate)))
    return " · ".join(parts)


def _ended_lines(rows: list[RunRow]) -> None:
    """Ended runs, dim: one line each up to ENDED_SHOWN, else one line that counts them by state."""
    if len(rows) <= ENDED_SHOWN:
        for r in rows:
            st.caption(TEXT["ended_line"].format(label=label_of(r.slot), state=TEXT[r.state], step=num(r.step, 0)))
        return
    counts = {s: sum(r.state == s for r in rows) for s in (FINISHED, STOPPED, FAILED)}
    states = ", ".join(TEXT["count_state"].format(n=num(n, 0), state=TEXT[s].lower()) for s, n in counts.items() if n)
    st.caption(TEXT["ended_count"].format(n=num(len(rows), 0), states=states))


def _draw(slots: RunSlots, was_live: bool) -> None:
    rates = st.session_state.setdefault(_RATES, {})
    rows = [describe(slot, run, rates) for slot, run in slots.items()]
    for gone in set(rates) - {r.slot for r in rows}:
        del rates[gone]
    live = refresh_every(rows) is not None
    if was_live and not live:
        st.rerun()  # the last run stopped training: redraw the page once, and this panel without its timer
    if not rows:
        return
    st.markdown(f"**{TEXT['title']}**")
    for row in rows:
        if not row.ended:
            _page_link(row.slot)
            st.caption(status_text(row))
    _ended_lines([r for r in rows if r.ended])
    if read_only(slots):  # a follower sees the lecturer's runs, and changes none of them
        return
    if st.button(TEXT["pause_all"], key="session_runs_pause_all", icon=":material/pause:", disabled=not live,
                 help=TEXT["pause_all_help"], width="stretch"):
        st.session_state[_PAUSED] = [(slot, id(run)) for slot, run in pause_all(slots)]
        st.rerun()  # every page's buttons (Train → Resume) and live views follow
    again = resumable(slots, st.session_state.get(_PAUSED, []))
    # forget those resumed since (or replaced): a run paused later on its own page is not offered here
    st.session_state[_PAUSED] = [(slot, id(run)) for slot, run in slots.items() if any(run is r for r in again)]
    if again and st.button(TEXT["resume"].format(n=num(len(again), 0)), key="session_runs_resume",
                           icon=":material/play_arrow:", help=TEXT["resume_help"], width="stretch") \
            and resume(slots, again):  # one refused (it says why): the rest stay offered, pruned as they resume
        st.rerun()


def session_runs_panel() -> None:
    """This browser's runs, at the top of the sidebar on every page; nothing at all while it has none."""
    slots = run_slots()
    if len(slots) == 0:
        return
    every = refresh_every([describe(slot, run) for slot, run in slots.items()])

    @st.fragment(run_every=every)
    def session_runs() -> None:
        _draw(slots, every is not None)

    with st.sidebar:
        session_runs()
        st.divider()
