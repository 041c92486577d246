"""Page: the guided lecture — LeCun's "Contrastive methods in energy-based models", stop by stop.

Each stop quotes the lecture (in the session's language), opens the page that shows it with a preset and its
run starting ("Show me"), says what to look at, and checks the claim on the run's own numbers against a
threshold fixed in app/tour.py. The SimCLR-limits stop runs its experiment here (engine/embed/infonce_cap.py).
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from app import tour_box as box
from app.exports import chart
from app.i18n import num, plotly_separators, texts
from app.session import run_slots
from app.tour import LECTURE, STOPS
from engine.run import FAILED, RUNNING

TEXT = texts("lecture")
TOUR = texts("tour")
box.go_pending()  # Next / Previous in a tour box on another page: open that stop (st.switch_page)

st.title(TEXT["title"])
st.markdown(TEXT["intro"])

slots = run_slots()
i = box.current()
stop = STOPS[i]

st.progress((i + 1) / len(STOPS), text=box.progress_text(i))
st.caption(TEXT[f"section.{stop.section}"])
st.subheader(box.title(stop))
box.claim(stop)


def start_cap() -> None:
    from app.jobs import start_job
    from engine.embed.infonce_cap import InfoNCECapSettings, make_run

    box.prepare(stop, slots)
    started = st.session_state.setdefault(box.STARTED, {})
    run = start_job(slots, stop.slot, make_run(InfoNCECapSettings.create(), name="lecture_cap",
                                              snapshot_hz=2.0, evaluate_every_s=None))
    if run is not None:
        started[stop.signature()] = id(run)


if stop.page == LECTURE and st.session_state.pop("_tour.cap_start", False):
    done = box.stop_run(stop, slots)  # a "show me" from another page's tour box brought us here
    if done is None or done.state == FAILED:  # (an experiment already run keeps its numbers)
        start_cap()

c1, c2, c3 = st.columns([2, 1, 1])
if stop.page == LECTURE:
    if c1.button(TEXT["run_here"], key="lecture_show", type="primary", icon=":material/play_arrow:",
                 width="stretch"):
        start_cap()
elif c1.button(TEXT["show_me"], key="lecture_show", type="primary", icon=":material/visibility:", width="stretch"):
    box.show_me(stop)
if c2.button(TOUR["prev"], key="lecture_prev", disabled=i == 0, icon=":material/arrow_back:", width="stretch"):
    box.set_current(i - 1)
    st.rerun()
if c3.button(TOUR["next"], key="lecture_next", disabled=i == len(STOPS) - 1, icon=":material/arrow_forward:",
             width="stretch"):
    box.set_current(i + 1)
    st.rerun()

st.markdown(f"**{TOUR['look_label']}** {TOUR[f'look.{stop.id}']}")
target = TEXT["here"] if stop.page == LECTURE else TEXT["opens"].format(page=box.page_name(stop.page))
st.caption(target)

run = box.stop_run(stop, slots)
live = run is not None and run.state == RUNNING


def cap_results(r) -> None:
    snap = r.latest() if r is not None else None
    if snap is None:
        return
    d = snap.data
    st.progress(min(1.0, d.get("progress", 0.0)),
                text=TEXT["cap_progress"].format(done=d.get("done", 0), cells=d.get("cells", 0),
                                                 current=d.get("current") or "—"))
    rows = d.get("rows", [])
    if not rows:
        return
    cols = [TEXT["cap_d"], TEXT["cap_k"], TEXT["cap_mi"], TEXT["cap_estimate"], TEXT["cap_cap"], TEXT["cap_optimal"]]
    st.dataframe({c: v for c, v in zip(cols, zip(*[(r_["d"], r_["K"], num(r_["true_mi"], 2), num(r_["estimate"], 2),
                                                     num(r_["cap"], 2), num(r_["optimal"], 2)) for r_ in rows],
                                                  strict=True), strict=True)},
                 hide_index=True)
    fig = go.Figure()
    dims = sorted({r_["d"] for r_ in rows})
    mi = {r_["d"]: r_["true_mi"] for r_ in rows}
    fig.add_scatter(x=dims, y=[mi[x] for x in dims], mode="lines+markers", name=TEXT["cap_mi"],
                    line=dict(color="black", dash="dot"))
    for k in sorted({r_["K"] for r_ in rows}):
        mine = sorted((r_ for r_ in rows if r_["K"] == k), key=lambda r_: r_["d"])
        line = fig.add_scatter(x=[r_["d"] for r_ in mine], y=[r_["estimate"] for r_ in mine], mode="lines+markers",
                               name=TEXT["cap_line"].format(k=k))
        fig.add_hline(y=mine[0]["cap"], line_dash="dash", line_width=1,
                      line_color=line.data[-1].line.color or "grey",
                      annotation_text=TEXT["cap_hline"].format(k=k), annotation_position="top left")
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=40, b=10), separators=plotly_separators(),
                      title=TEXT["cap_title"], xaxis_title=TEXT["cap_d"], yaxis_title=TEXT["cap_nats"])
    chart(fig, "lecture_cap_chart", TEXT["cap_file"])


@st.fragment(run_every=1.0 if live else None)
def check_fragment() -> None:
    r = box.stop_run(stop, slots)
    st.markdown(f"**{TOUR['check_label']}**")
    box.check_view(stop, r, "lecture")
    if stop.page == LECTURE:
        cap_results(r)
    if live and (r is None or r.state != RUNNING):
        st.rerun()  # the run ended: redraw once, without the timer


check_fragment()

# ---- every stop, with this session's verdicts ---------------------------------------------------------------
with st.expander(TEXT["all_stops"], expanded=False):
    results = st.session_state.get(box.RESULTS, {})
    table = {TEXT["col_k"]: [], TEXT["col_section"]: [], TEXT["col_stop"]: [], TEXT["col_check"]: [],
             TEXT["col_verdict"]: []}
    for n, s in enumerate(STOPS):
        res = results.get(s.id)
        table[TEXT["col_k"]].append(n + 1)
        table[TEXT["col_section"]].append(TEXT[f"section.{s.section}"])
        table[TEXT["col_stop"]].append(box.title(s))
        table[TEXT["col_check"]].append(res["text"] if res else "")
        table[TEXT["col_verdict"]].append("" if not res else TOUR["passed" if res["passed"] else "failed"])
    st.dataframe(table, hide_index=True)
    st.session_state["lecture_jump"] = i
    st.selectbox(TEXT["jump"], range(len(STOPS)), format_func=lambda n: f"{n + 1}. {box.title(STOPS[n])}",
                 key="lecture_jump", on_change=lambda: box.set_current(st.session_state["lecture_jump"]))
