"""Page: binary data — CD with Metropolis bit flips, PCD, ratio matching, MPF and NCE, scored exactly."""

from __future__ import annotations

import streamlit as st

from app.binary_views import (
    chain_energy_figure,
    chain_state_figure,
    chain_table,
    couplings_figure,
    data_description,
    dataset_name,
    method_name,
    model_name,
    nll_figure,
    nll_table,
    panels_for,
    patterns_figure,
    samples_figure,
    signed,
)
from app.exports import chart, csv_button
from app.form import settings_form
from app.i18n import num, texts
from app.run_controls import run_controls, status_line
from app.session import run_slots
from engine.binary.config import BinaryConfig
from engine.binary.objectives import available
from engine.binary.trainer import BinaryTrainer, data_for
from engine.binary.views import (
    LANE_SETTINGS,
    ChainWatch,
    live_options,
    sampler_choices,
    shared_settings,
    wait_first_snapshot,
)
from engine.run import RUNNING, Run

TEXT = texts("binary")
ENCODINGS = {"01": "{0, 1}", "pm1": "{−1, +1}"}  # formulas: the same in every language

st.title(TEXT["title"])
st.markdown(TEXT["intro"])

# ---- settings: what the methods share, then each chosen method's own (its layered defaults) ---------
METHODS = available()
with st.sidebar:
    st.subheader(TEXT["settings"])
shared = settings_form(BinaryConfig, key="bin", hide=("method", *LANE_SETTINGS),
                       formats={"dataset": dataset_name, "model": model_name})
methods = st.sidebar.multiselect(TEXT["methods"], list(METHODS), default=["ml", "cd", "rm", "mpf", "nce"],
                                 format_func=method_name, key="bin_methods")
if shared is None:
    st.stop()
lanes = {m: settings_form(BinaryConfig, key=f"bin.{m}", container=st.sidebar.expander(
            TEXT["method_settings"].format(method=m.upper())), fixed={**shared_settings(shared), "method": m},
            formats={"encoding": ENCODINGS.get},
            choices={"sampler": sampler_choices(shared.model)})
         for m in methods}
if not lanes:
    st.error(TEXT["no_method"])
    st.stop()
if any(c is None for c in lanes.values()):
    st.error(TEXT["bad_method"].format(method=", ".join(m.upper() for m, c in lanes.items() if c is None)))
    st.stop()
configs = tuple(lanes.values())
st.sidebar.caption(data_description(data_for(shared)))


def make_run(cfgs: tuple[BinaryConfig, ...]) -> Run:
    return Run(BinaryTrainer(list(cfgs)), live_options(cfgs), name="binary")


slots = run_slots()
run = run_controls(slots, "binary", configs, make_run, key="bin")
if run is not None:
    wait_first_snapshot(run)  # a run just started publishes its first picture within milliseconds
live = run is not None and run.state == RUNNING


@st.fragment(run_every=0.5 if live else None)
def live_view() -> None:
    # everything drawn here lives inside the fragment, so each redraw replaces the last
    r = slots.get("binary")
    snap = r.latest() if r is not None else None
    left, right = st.columns([1, 1], gap="medium")
    with left:
        status_line(r)
        if snap is None:
            st.info(TEXT["no_run"])
        else:
            zoom = st.toggle(TEXT["zoom"], key="bin_zoom")
            chart(nll_figure(r, zoom), "bin_nll", TEXT["file_nll"])
            # this fragment redraws twice a second while the run trains: the CSV is built once it stops
            if r.state == RUNNING:
                st.caption(TEXT["csv_when_idle"])
            else:
                csv_button(nll_table(r), TEXT["file_nll"], key="bin_nll_csv")
    with right:
        panels = panels_for(r)
        panel = st.segmented_control(TEXT["panel"], list(panels), format_func=panels.get, default="samples",
                                     key="bin_panel", label_visibility="collapsed") or "samples"
        panel = panel if panel in panels else "samples"
        if snap is None:
            pass
        elif panel == "patterns":
            chart(patterns_figure(r, snap.data), "bin_patterns_chart", TEXT["file_patterns"])
            data = r.trainer.data
            st.caption(TEXT["patterns_caption"].format(n=num(2**data.d - len(data.patterns), 0)))
        elif panel == "couplings":
            chart(couplings_figure(r, snap.data), "bin_couplings_chart", TEXT["file_couplings"])
            st.caption(TEXT["couplings_caption"])
        else:
            show = st.radio(TEXT["show"], ["samples", "negatives"], key="bin_show", horizontal=True,
                            format_func=lambda v: TEXT[f"show_{v}"])
            chart(samples_figure(r, snap.data, show == "negatives"), "bin_samples_chart", TEXT["file_samples"])
            st.caption(TEXT["samples_caption"].format(n=num(r.trainer.configs[0].shown_samples, 0)))
    if live and (r is None or r.state != RUNNING):
        st.rerun()  # the run ended: redraw the page once (buttons, curves) and stop polling


live_view()

# ---- watch one Metropolis chain (engine.binary.views.ChainWatch) ---------------------------------
st.divider()
st.subheader(TEXT["chain_title"])
st.markdown(TEXT["chain_intro"])
# the Play toggle sits outside the fragment: switching it reruns the page, which sets the fragment's timer
play = st.toggle(TEXT["chain_play"], key="bin_chain_play")


def new_watch(r: Run, label: str, source: str) -> ChainWatch:
    n = st.session_state["bin_chain_count"] = st.session_state.get("bin_chain_count", 0) + 1
    watch = st.session_state["bin_chain"] = ChainWatch(r, label, source, number=n)
    return watch


def draw_proposal(watch: ChainWatch) -> None:
    last = watch.last
    if last is None:
        st.caption(TEXT["chain_none"])
        return
    cols = watch.shape[1]
    st.markdown(TEXT["proposal"].format(
        n=last.number, bit=last.bit, row=last.bit // cols + 1, col=last.bit % cols + 1,
        e0=num(last.energy_before, 3), e1=num(last.energy_after, 3), de=signed(last.delta_e, 3),
        p=num(last.p_accept, 3), u=num(last.u, 3), verdict=TEXT["accepted"] if last.accepted else TEXT["rejected"]))
    accepted, count = watch.counts
    st.caption(TEXT["chain_rate"].format(acc=accepted, n=count, rate=num(100 * accepted / count, 0)))


@st.fragment(run_every=0.5 if play else None)
def chain_view() -> None:
    r = slots.get("binary")
    if r is None or r.latest() is None:
        st.info(TEXT["chain_need_run"])
        return
    labels = r.trainer.labels
    default = next((i for i, lb in enumerate(labels) if lb.startswith("cd")), 0)
    c0, c1, c2, c3, c4 = st.columns([2, 2, 2, 2, 2])
    source = c0.radio(TEXT["chain_source"], ["data", "random"], key="bin_chain_source",
                      format_func=lambda v: TEXT[f"chain_source_{v}"])
    label = c1.selectbox(TEXT["chain_model"], labels, index=default, key="bin_chain_method")
    watch: ChainWatch | None = st.session_state.get("bin_chain")
    if c2.button(TEXT["chain_new"], key="bin_chain_new", width="stretch", icon=":material/replay:") or (
            watch is None or not watch.matches(r, label, source)):
        watch = new_watch(r, label, source)
    n_steps = 1 if play else 0
    if c3.button(TEXT["chain_next"], key="bin_chain_next", width="stretch", icon=":material/skip_next:"):
        n_steps = 1
    if c4.button(TEXT["chain_ten"], key="bin_chain_ten", width="stretch", icon=":material/fast_forward:"):
        n_steps = 10
    st.caption(TEXT["chain_frozen"].format(label=label, step=watch.step))
    watch.advance(n_steps)
    draw_proposal(watch)
    a, b = st.columns([1, 2])
    with a:
        st.caption(TEXT["chain_state"])
        chart(chain_state_figure(watch.bits, watch.last, watch.shape), "bin_chain_state_chart",
              TEXT["file_chain_state"])
    with b:
        if watch.log:
            chart(chain_energy_figure(watch), "bin_chain_energy_chart", TEXT["file_chain_energy"])
            st.dataframe(chain_table(watch), hide_index=True, key="bin_chain_table")


chain_view()
