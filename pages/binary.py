"""Page: binary data — CD with Metropolis bit flips, PCD, ratio matching, MPF and NCE, scored exactly."""

from __future__ import annotations

import streamlit as st

from app.binary_views import (
    chain_energy_figure,
    chain_state_figure,
    couplings_figure,
    nll_figure,
    nll_table,
    panels_for,
    patterns_figure,
    samples_figure,
)
from app.exports import chart, csv_button
from app.form import settings_form
from app.run_controls import run_controls, status_line
from app.session import run_slots
from engine.binary.config import BinaryConfig
from engine.binary.data import DATASETS
from engine.binary.models import MODELS
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

TEXT = {
    "title": "Binary data: every contrastive method, scored exactly",
    "intro": (
        "With at most 20 bits the $2^d$ states can be enumerated, so $Z_\\theta$ — and with it every "
        "method's negative log-likelihood — is **exact**. The lecture: *“If the input space is discrete, we "
        "can instead perturb the training sample randomly to modify the energy. If the energy we get is lower, "
        "we keep it. Otherwise, we discard it with some probability.”* That is CD with Metropolis bit flips. "
        "Ratio matching, minimum probability flow and NCE never sample from the model at all."
    ),
    "settings": "Settings",
    "methods": "Methods to compare (exact ML is the reference)",
    "method_settings": "{method} settings",
    "encodings": {"01": "{0, 1}", "pm1": "{−1, +1}"},
    "no_method": "These settings cannot run: choose at least one method.",
    "bad_method": "The {method} settings in the sidebar are not valid.",
    "no_run": "Press Train (or Step) to create the models.",
    "zoom": "Zoom in on the floor",
    "show": "Show",
    "show_samples": "exact samples from each model",
    "show_negatives": "this step's contrasted states ȳ",
    "samples_caption": (
        "Each row: {n} states drawn exactly from the model's enumerated distribution (first row: training "
        "data). With “contrasted states”: the ȳ each method pushed up on this step (CD/PCD: chain states; "
        "NCE: noise). Ratio matching and MPF contrast every one-bit flip of the data, so they have no row."
    ),
    "patterns_caption": (
        "Probability the model gives each of the 30 bars-and-stripes patterns (ideal: 1/30 each, dotted) "
        "and, last, everything else ({n} other states)."
    ),
    "couplings_caption": (
        "Couplings in the {−1,+1} parametrisation (a {0,1} model's J is divided by 4); r: correlation with "
        "the true J over the 120 pairs."
    ),
    "chain_title": "Watch one Metropolis chain",
    "chain_intro": (
        "One chain, one proposal at a time, on the chosen method's current model: flip a random bit; if the "
        "energy falls keep it, otherwise keep it with probability $e^{-\\Delta E}$ (accept iff "
        "$u < \\min(1, e^{-\\Delta E})$). The chain starts at a training sample, as CD's chains do; for the "
        "RBM the energy is its free energy $F(y)$."
    ),
    "chain_model": "Model to sample",
    "chain_source": "Start at",
    "chain_source_data": "a training sample (CD)",
    "chain_source_random": "random bits (PCD)",
    "chain_frozen": "The chain samples the {label} model as it was at step {step}; New chain takes the latest.",
    "chain_new": "New chain",
    "chain_next": "Next proposal",
    "chain_ten": "10 proposals",
    "chain_play": "Play",
    "chain_none": "No proposal yet: press Next proposal.",
    "chain_need_run": "Press Train, Step or Reset first: the chain samples a model being trained.",
    "proposal": (
        "**Proposal {n}**: flip bit {bit} (row {row}, column {col}) · E {e0:.3f} → {e1:.3f} · "
        "ΔE = {de:+.3f} · min(1, e^−ΔE) = {p:.3f} · u = {u:.3f} → **{verdict}**"
    ),
    "accepted": "accepted",
    "rejected": "rejected",
    "chain_rate": "{acc} of {n} proposals accepted ({rate:.0%}).",
    "chain_state": "The chain's state (the proposed bit is outlined: green accepted, red rejected)",
    "csv_when_idle": "The NLL curves' CSV: pause the run or let it finish.",
    # names of the downloaded files (PNG from a chart's camera button, CSV under the NLL curves)
    "file_nll": "binary NLL curves",
    "file_patterns": "binary pattern probabilities",
    "file_couplings": "binary couplings",
    "file_samples": "binary samples",
    "file_chain_state": "Metropolis chain state",
    "file_chain_energy": "Metropolis chain energy",
}

st.title(TEXT["title"])
st.markdown(TEXT["intro"])

# ---- settings: what the methods share, then each chosen method's own (its layered defaults) ---------
METHODS = available()
with st.sidebar:
    st.subheader(TEXT["settings"])
shared = settings_form(BinaryConfig, key="bin", hide=("method", *LANE_SETTINGS),
                       formats={"dataset": DATASETS.get, "model": MODELS.get})
methods = st.sidebar.multiselect(TEXT["methods"], list(METHODS), default=["ml", "cd", "rm", "mpf", "nce"],
                                 format_func=METHODS.get, key="bin_methods")
if shared is None:
    st.stop()
lanes = {m: settings_form(BinaryConfig, key=f"bin.{m}", container=st.sidebar.expander(
            TEXT["method_settings"].format(method=m.upper())), fixed={**shared_settings(shared), "method": m},
            formats={"encoding": TEXT["encodings"].get}, choices={"sampler": sampler_choices(shared.model)})
         for m in methods}
if not lanes:
    st.error(TEXT["no_method"])
    st.stop()
if any(c is None for c in lanes.values()):
    st.error(TEXT["bad_method"].format(method=", ".join(m.upper() for m, c in lanes.items() if c is None)))
    st.stop()
configs = tuple(lanes.values())
st.sidebar.caption(data_for(shared).description)


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
        panel = st.segmented_control("panel", list(panels), format_func=panels.get, default="samples",
                                     key="bin_panel", label_visibility="collapsed") or "samples"
        panel = panel if panel in panels else "samples"
        if snap is None:
            pass
        elif panel == "patterns":
            chart(patterns_figure(r, snap.data), "bin_patterns_chart", TEXT["file_patterns"])
            data = r.trainer.data
            st.caption(TEXT["patterns_caption"].format(n=2**data.d - len(data.patterns)))
        elif panel == "couplings":
            chart(couplings_figure(r, snap.data), "bin_couplings_chart", TEXT["file_couplings"])
            st.caption(TEXT["couplings_caption"])
        else:
            show = st.radio(TEXT["show"], ["samples", "negatives"], key="bin_show", horizontal=True,
                            format_func=lambda v: TEXT[f"show_{v}"])
            chart(samples_figure(r, snap.data, show == "negatives"), "bin_samples_chart", TEXT["file_samples"])
            st.caption(TEXT["samples_caption"].format(n=r.trainer.configs[0].shown_samples))
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
        n=last.number, bit=last.bit, row=last.bit // cols + 1, col=last.bit % cols + 1, e0=last.energy_before,
        e1=last.energy_after, de=last.delta_e, p=last.p_accept, u=last.u,
        verdict=TEXT["accepted"] if last.accepted else TEXT["rejected"]))
    accepted, count = watch.counts
    st.caption(TEXT["chain_rate"].format(acc=accepted, n=count, rate=accepted / count))


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
            table = watch.table()
            table["decision"] = [TEXT["accepted"] if ok else TEXT["rejected"] for ok in table.pop("accepted")]
            st.dataframe(table, hide_index=True, key="bin_chain_table")


chain_view()
