"""Runs: the run folders under $ENERGY_LAB_RUNS (default runs/), written by the CLI (`--save`), torchrun
and the pages. Follow one live (its curves, its latest embedding map, its state and speed), open a finished
one (settings and result), or compare several on shared axes. A run this browser made is marked "yours":
it may be continued in place, saved under a new name or deleted; anyone else's opens read-only (Continue
and Save run make a copy of one's own; app/saved_runs.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from app import runs_views as draw
from app import saved_runs
from app.exports import chart, csv_button
from app.i18n import message, num, texts
from app.session import run_slots
from engine.errors import DataError
from engine.runfolder import RunInfo, latest_snapshot, list_runs, read_run, runs_root

TEXT = texts("runs")
FOLLOW_EVERY_S, LIST_EVERY_S, MAP_EVERY_S = 1.0, 2.0, 3.0
COMMANDS = (  # --save takes a folder name (made in the runs folder) or an absolute path
    "python -m engine embed --dataset digits --max-steps 300 --save my-run\n"
    "torchrun --standalone --nproc-per-node 2 -m engine embed --dataset digits --max-steps 300 --save my-run-2"
)

ss = st.session_state
st.title(TEXT["title"])
st.markdown(TEXT["intro"])
root = runs_root()
slots = run_slots()  # this browser: its token says which runs are its own
infos = {i.name: i for i in list_runs(root)}
tails: dict[str, draw.MetricsTail] = ss.setdefault("runs_tails", {})


@st.fragment(run_every=LIST_EVERY_S)
def run_table() -> None:
    """The folders' table, re-read every few seconds; a folder that appears or goes reruns the page (the
    run picker below must offer it)."""
    now = list_runs(root)
    if {i.name for i in now} != set(infos):
        st.rerun()
    st.caption(TEXT["root"].format(root=root.resolve()))
    if not now:
        st.info(TEXT["empty"])
        st.code(COMMANDS, language="bash")
        st.caption(TEXT["empty_pages"])
        return
    rows = draw.table_rows(now, slots.owner)
    st.dataframe(rows, hide_index=True, width="stretch", key="runs_table")
    csv_button(rows, TEXT["file_table"], key="runs_table_csv")


run_table()
saved_runs.take_pick("run")
chosen = st.multiselect(TEXT["pick"], list(infos), key="run", bind="query-params",
                        help=TEXT["pick_help"]) if infos else []


def fresh(info: RunInfo) -> RunInfo | None:
    """The folder's run.json as it is now (None, with a warning, if it went away)."""
    try:
        return read_run(info.path)
    except DataError as exc:
        st.warning(TEXT["unreadable"].format(name=info.name, why=message(exc)))
        return None


def live(info: RunInfo) -> bool:
    return info.state == "running" and not info.stale


def status(info: RunInfo) -> None:
    c = st.columns(5)
    c[0].metric(TEXT["state"], draw.state_of(info))
    c[1].metric(TEXT["step"], num(info.step, 0))
    c[2].metric(TEXT["speed"], num(info.steps_per_s, 1))
    c[3].metric(TEXT["updated"], draw.ago(info.updated))
    c[4].metric(TEXT["world"], num(info.world_size, 0))
    if info.stale:
        st.warning(TEXT["stale"])
    elif info.message:
        (st.error if info.state == "failed" else st.caption)(TEXT["message"].format(state=draw.state_of(info),
                                                                                     message=info.message))


def charts(figures: list, key: str, file_name: str) -> None:
    """The figures two by two; each one's PNG is named `file_name` and the figure's name."""
    cols = st.columns(2)
    for i, (name, fig) in enumerate(figures):
        chart(fig, f"{key}_{name}", f"{file_name} {name}", container=cols[i % 2], width="stretch")


def history_csv(table: Callable[[], Any], running: bool, file_name: str, key: str) -> None:
    """The CSV of the curves above, built by `table()` only once nothing shown is running: a long run's rows
    (up to MAX_STEP_ROWS per folder) would be written again at every redraw while it runs."""
    if running:
        st.caption(TEXT["csv_when_idle"])
    else:
        csv_button(table(), file_name, key=key)


def follow(first: RunInfo) -> None:
    """One run: its state and speed, its curves and latest map, live while it runs; then its settings and
    result."""

    @st.fragment(run_every=FOLLOW_EVERY_S if live(first) else None)
    def progress() -> None:
        info = fresh(first)
        if info is None:
            return
        if live(first) and not live(info):
            st.rerun()  # it ended: redraw the whole page once (result, no more polling)
        status(info)
        st.subheader(TEXT["curves"])
        tail = draw.tail_of(tails, info)
        figures = draw.run_figures(tail, f"runs-{info.name}")
        if not figures:
            st.caption(TEXT["no_curves"])
        charts(figures, "runs_curve", TEXT["file_curves"].format(name=info.name))
        if figures:
            history_csv(lambda: draw.metrics_table(tail), live(info), TEXT["file_history"].format(name=info.name),
                        "runs_history_csv")

    @st.fragment(run_every=MAP_EVERY_S if live(first) else None)
    def embedding_map() -> None:
        try:
            snap = latest_snapshot(first.path)
        except DataError as exc:
            st.warning(message(exc))
            return
        if snap is None or "map_z" not in snap[1] or "map_labels" not in snap[1]:
            return
        step, arrays = snap
        cached = ss.get("runs_map")
        if cached is None or cached[0] != (str(first.path), step):
            cached = ss["runs_map"] = ((str(first.path), step), draw.principal_plane(arrays["map_z"]),
                                       arrays["map_labels"])
        st.subheader(TEXT["map"].format(step=num(step, 0)))
        chart(draw.map_figure(cached[1], cached[2], f"runs-map-{first.name}"), "runs_map_chart",
              TEXT["file_map"].format(name=first.name), width="stretch")

    progress()
    embedding_map()
    saved_runs.run_actions(first, slots, root, live(first), chosen)
    left, right = st.columns(2)
    with left.expander(TEXT["settings"], expanded=not live(first)):
        st.json(first.settings)
    if first.result is not None:
        with right.expander(TEXT["result"], expanded=True):
            st.json(first.result)


def compare(picked: list[RunInfo]) -> None:
    """Several runs: each chosen metric on one chart, a trace per run (and per run name in a folder)."""
    for info in picked:
        draw.tail_of(tails, info)
    names = [m for info in picked for m in draw.metric_names(tails[str(info.path)].rows)]
    available = list(dict.fromkeys(names))
    if not available:
        st.caption(TEXT["no_metrics"])
        return
    default = [m for m in ("loss", "linear_probe_acc", "kl") if m in available] or available[:1]
    metrics = st.multiselect(TEXT["compare_metrics"], available, default=default, key="runs_compare_metrics")
    running = any(live(i) for i in picked)

    @st.fragment(run_every=FOLLOW_EVERY_S if running else None)
    def overlay() -> None:
        now = [i for i in (fresh(info) for info in picked) if i is not None]
        if running and not any(live(i) for i in now):
            st.rerun()
        by_name = {i.name: draw.tail_of(tails, i) for i in now}
        charts([(m, draw.compare_figure(m, by_name)) for m in metrics], "runs_compare", TEXT["file_compare"])
        history_csv(lambda: draw.compare_table(by_name), any(live(i) for i in now), TEXT["file_compare_rows"],
                    "runs_compare_csv")

    overlay()


saved_runs.show_notice()
picked = [infos[name] for name in chosen if name in infos]
if not picked and infos:
    st.caption(TEXT["none_picked"])
elif len(picked) == 1:
    follow(picked[0])
elif picked:
    compare(picked)
