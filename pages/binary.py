"""Page: binary data — CD with Metropolis bit flips, PCD, ratio matching, MPF and NCE, scored exactly."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from app.run_controls import run_controls, status_line
from app.session import run_slots
from engine.binary.data import DATASETS, get_encoding
from engine.binary.defaults import defaults_for
from engine.binary.models import MODELS, model_from_params
from engine.binary.objectives import available
from engine.binary.samplers import WatchedChain
from engine.binary.trainer import BinaryTrainer, data_for
from engine.binary.views import (
    chain_start,
    curves,
    live_options,
    mosaic,
    page_configs,
    pattern_masses,
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
    "data": "Data set",
    "model": "Model",
    "methods": "Methods to compare",
    "reference": "Exact maximum likelihood as the reference",
    "encoding": "Encoding of a bit",
    "enc_best": "best per method (tuned)",
    "enc_01": "{0, 1}",
    "enc_pm1": "{−1, +1}",
    "k": "Sampler sweeps k (CD, PCD)",
    "lr_scale": "Learning rate × (each method's tuned rate)",
    "batch": "Batch size",
    "chains": "Persistent chains (PCD)",
    "hidden": "Hidden units (RBM)",
    "nu": "Noise samples per data sample ν (NCE)",
    "ising_c": "Coupling strength c (Ising)",
    "steps": "Step budget",
    "seed": "Seed",
    "bad_settings": "These settings cannot run: {why}",
    "no_run": "Press Train (or Step) to create the models.",
    "curves_title": "Exact NLL (nats, log scale)",
    "curves_title_zoom": "Exact NLL (nats), one nat above the floor",
    "zoom": "Zoom in on the floor",
    "entropy": "data entropy {v:.3f} (the floor)",
    "reference_name": "exact ML (reference)",
    "panel_samples": "Samples",
    "panel_patterns": "The 30 patterns vs the rest",
    "panel_couplings": "Learned vs true J",
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
    "chain_energy": "Energy along the chain",
}

st.title(TEXT["title"])
st.markdown(TEXT["intro"])

METHOD_LABELS = available()
CONTRASTIVE = [m for m in METHOD_LABELS if m != "ml"]
ENC_NAMES = {"best": TEXT["enc_best"], "01": TEXT["enc_01"], "pm1": TEXT["enc_pm1"]}
BATCHES = [30, 60, 100, 120, 240, 500, 1000]

with st.sidebar:
    st.subheader(TEXT["settings"])
    data_name = st.selectbox(TEXT["data"], list(DATASETS), format_func=DATASETS.get, key="bin_data")
    model_kind = st.radio(TEXT["model"], list(MODELS), format_func=MODELS.get, key="bin_model", horizontal=True)
    methods = st.multiselect(TEXT["methods"], CONTRASTIVE, default=["cd", "rm", "mpf", "nce"],
                             format_func=METHOD_LABELS.get, key="bin_methods")
    reference = st.checkbox(TEXT["reference"], value=True, key="bin_ml")
    encoding = st.radio(TEXT["encoding"], list(ENC_NAMES), format_func=ENC_NAMES.get, key="bin_encoding")
    k = st.slider(TEXT["k"], 1, 20, 1, key="bin_k")
    lr_scale = st.select_slider(TEXT["lr_scale"], [0.1, 0.3, 0.5, 1.0, 2.0, 3.0], value=1.0, key="bin_lr")
    batch = st.select_slider(TEXT["batch"], BATCHES, value=defaults_for(data_name, "ml").get("batch_size", 120),
                             key=f"bin_batch_{data_name}")
    chains = st.select_slider(TEXT["chains"], [30, 60, 120, 250, 500, 1000], value=120, key="bin_chains")
    hidden = st.slider(TEXT["hidden"], 1, 32, 8, key="bin_hidden", disabled=model_kind != "rbm")
    nu = st.slider(TEXT["nu"], 1, 16, 4, key="bin_nu")
    ising_c = st.slider(TEXT["ising_c"], 0.2, 3.0, 1.0, 0.1, key="bin_c", disabled=data_name != "ising")
    steps = st.number_input(TEXT["steps"], 10, 100_000, 3000, step=500, key="bin_steps")
    seed = st.number_input(TEXT["seed"], 0, 2**31 - 1, 0, key="bin_seed")

try:
    configs = tuple(page_configs(data_name, model_kind, methods, encoding=encoding, k=k, lr_scale=lr_scale,
                                 batch_size=batch, steps=int(steps), seed=int(seed), reference=reference,
                                 chains=chains, hidden=hidden, nce_nu=nu, ising_c=ising_c, device="auto"))
except ValueError as exc:
    st.error(TEXT["bad_settings"].format(why=exc))
    st.stop()


def make_run(cfgs: tuple) -> Run:
    return Run(BinaryTrainer(list(cfgs)), live_options(cfgs), name="binary")


slots = run_slots()
run = run_controls(slots, "binary", configs, make_run, key="bin")
if run is not None:
    wait_first_snapshot(run)  # a run just started publishes its first picture within milliseconds
live = run is not None and run.state == RUNNING
st.sidebar.caption(data_for(configs[0]).description)
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]


def colour(labels: list[str], label: str) -> str:
    return "black" if label == "ml" else COLOURS[labels.index(label) % len(COLOURS)]


# the views draw the run's own data and budget: a run started with other settings keeps its own
def panels_for(r: Run) -> dict[str, str]:
    data = r.trainer.data
    panels = {"samples": TEXT["panel_samples"]}
    if data.patterns is not None:
        panels["patterns"] = TEXT["panel_patterns"]
    if data.true_j is not None and r.trainer.configs[0].model == "fvbm":
        panels["couplings"] = TEXT["panel_couplings"]
    return panels


def nll_figure(r: Run, zoom: bool) -> go.Figure:
    labels, data, budget = r.trainer.labels, r.trainer.data, float(r.options.max_steps or r.step)
    fig = go.Figure()
    for label, (x, y) in curves(list(r.evaluations), labels).items():
        name = TEXT["reference_name"] if label == "ml" else label
        fig.add_scatter(x=x, y=y, mode="lines", name=name,
                        line=dict(color=colour(labels, label), dash="dash" if label == "ml" else "solid"))
    top = data.d * math.log(2) * 1.05
    floor = data.entropy if data.entropy is not None else 1.0
    if data.entropy is not None:
        fig.add_scatter(x=np.array([0.0, budget]), y=np.array([data.entropy] * 2), mode="lines",
                        name=TEXT["entropy"].format(v=data.entropy), line=dict(color="grey", dash="dot"))
    if zoom:  # linear, one nat above the floor: where the methods differ
        yaxis = dict(type="linear", range=[floor - 0.05, floor + 1.0])
    else:
        yaxis = dict(type="log", range=[math.log10(floor * 0.97), math.log10(top)])
    fig.update_layout(title=TEXT["curves_title_zoom" if zoom else "curves_title"], height=420,
                      margin=dict(l=10, r=10, t=40, b=10), uirevision=f"bin_curves_{zoom}",
                      legend=dict(orientation="h", y=-0.2), xaxis=dict(title="step", range=[0, budget]),
                      yaxis=yaxis)
    return fig


def samples_figure(r: Run, snap: dict, negatives: bool) -> go.Figure:
    labels, data = r.trainer.labels, r.trainer.data
    n = r.trainer.configs[0].shown_samples
    rows, names = [data.train[:n].numpy()], ["data"]
    for label in labels:
        key = f"{'negatives' if negatives else 'samples'}/{label}"
        if key in snap:
            rows.append(snap[key][:n])
            names.append(label)
    imgs = np.concatenate([np.asarray(x).reshape(len(x), *data.shape) for x in rows])
    tile = mosaic(imgs, cols=n)
    h = data.shape[0] + 1
    fig = go.Figure(go.Heatmap(z=tile, colorscale="Greys", zmin=0, zmax=1, showscale=False, hoverinfo="skip"))
    fig.update_layout(height=60 + 48 * len(names), margin=dict(l=10, r=10, t=10, b=10), uirevision="bin_samples",
                      yaxis=dict(autorange="reversed", tickvals=[i * h + (h - 2) / 2 for i in range(len(names))],
                                 ticktext=names, scaleanchor="x"),
                      xaxis=dict(visible=False), plot_bgcolor="#f0f2f6")
    return fig


def patterns_figure(r: Run, snap: dict) -> go.Figure:
    labels, data = r.trainer.labels, r.trainer.data
    x = [str(i + 1) for i in range(len(data.patterns))] + ["rest"]
    fig = go.Figure()
    for label, masses in pattern_masses(snap, labels).items():
        fig.add_bar(x=x, y=np.maximum(masses, 1e-6), name=TEXT["reference_name"] if label == "ml" else label,
                    marker_color=colour(labels, label))
    fig.add_hline(y=1 / len(data.patterns), line_dash="dot", line_color="grey")
    fig.update_layout(barmode="group", height=420, margin=dict(l=10, r=10, t=10, b=10), uirevision="bin_patterns",
                      xaxis=dict(type="category"),
                      yaxis=dict(type="log", range=[-4, 0], title="probability"), legend=dict(orientation="h"))
    return fig


def couplings_figure(r: Run, snap: dict) -> go.Figure:
    labels = [lb for lb in r.trainer.labels if f"J/{lb}" in snap]
    ev = r.last_evaluation()
    true_j = r.trainer.data.true_j.numpy()
    m = float(np.abs(true_j).max()) * 1.2
    titles = ["true J"] + [f"{lb}: r = {ev.get(f'j_corr/{lb}', float('nan')):.3f}" for lb in labels]
    cols = 3
    rows = -(-len(titles) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.04,
                        vertical_spacing=0.12)
    for i, j in enumerate([true_j] + [snap[f"J/{lb}"] for lb in labels]):
        row, col = divmod(i, cols)
        fig.add_trace(go.Heatmap(z=j, zmin=-m, zmax=m, colorscale="RdBu", showscale=i == 0,
                                 colorbar=dict(len=0.6)), row + 1, col + 1)
        fig.update_yaxes(autorange="reversed", visible=False, row=row + 1, col=col + 1)
        fig.update_xaxes(visible=False, row=row + 1, col=col + 1)
    fig.update_layout(height=30 + 210 * rows, margin=dict(l=10, r=10, t=30, b=10), uirevision="bin_couplings")
    return fig


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
            st.plotly_chart(nll_figure(r, zoom), key="bin_nll")
    with right:
        panels = panels_for(r) if r is not None else {"samples": TEXT["panel_samples"]}
        panel = st.segmented_control("panel", list(panels), format_func=panels.get, default="samples",
                                     key="bin_panel", label_visibility="collapsed") or "samples"
        panel = panel if panel in panels else "samples"
        if snap is None:
            pass
        elif panel == "patterns":
            st.plotly_chart(patterns_figure(r, snap.data), key="bin_patterns_chart")
            data = r.trainer.data
            st.caption(TEXT["patterns_caption"].format(n=2**data.d - len(data.patterns)))
        elif panel == "couplings":
            st.plotly_chart(couplings_figure(r, snap.data), key="bin_couplings_chart")
            st.caption(TEXT["couplings_caption"])
        else:
            show = st.radio(TEXT["show"], ["samples", "negatives"], key="bin_show", horizontal=True,
                            format_func=lambda v: TEXT["show_samples"] if v == "samples" else TEXT["show_negatives"])
            st.plotly_chart(samples_figure(r, snap.data, show == "negatives"), key="bin_samples_chart")
            st.caption(TEXT["samples_caption"].format(n=r.trainer.configs[0].shown_samples))
    if live and (r is None or r.state != RUNNING):
        st.rerun()  # the run ended: redraw the page once (buttons, curves) and stop polling


live_view()

# ---- watch one Metropolis chain ----------------------------------------------------------------
st.divider()
st.subheader(TEXT["chain_title"])
st.markdown(TEXT["chain_intro"])


def new_chain(r: Run, label: str, source: str) -> dict:
    """A chain on the chosen method's model as of the run's latest snapshot (copied from the snapshot,
    never the training thread's tensors), frozen so that every energy change is the chain's own."""
    n = st.session_state.get("bin_chain_count", 0) + 1
    st.session_state["bin_chain_count"] = n
    cfg = {c.label: c for c in r.trainer.configs}[label]
    snap = r.latest()
    model = model_from_params(cfg.model, snap.data[f"params/{label}"], get_encoding(cfg.encoding))
    start = chain_start(cfg.data, cfg.seed + n, cfg.ising_c, cfg.ising_train, cfg.data_seed, source=source)
    return {"chain": WatchedChain(model, start, seed=cfg.seed + n), "log": [], "label": label, "run": id(r),
            "source": source, "step": snap.step, "shape": r.trainer.data.shape}


def chain_state_figure(bits: np.ndarray, last, shape: tuple[int, int]) -> go.Figure:
    rows, cols = shape
    fig = go.Figure(go.Heatmap(z=bits.reshape(rows, cols).astype(np.float32), zmin=0, zmax=1, showscale=False,
                               colorscale=[[0, "#e6e9ef"], [1, "#111111"]], xgap=2, ygap=2))
    if last is not None:
        r_, c_ = divmod(last.bit, cols)
        fig.add_shape(type="rect", x0=c_ - 0.5, x1=c_ + 0.5, y0=r_ - 0.5, y1=r_ + 0.5,
                      line=dict(color="#2ca02c" if last.accepted else "#d62728", width=5))
    fig.update_layout(height=260, width=260, margin=dict(l=5, r=5, t=5, b=5), uirevision="bin_chain_state",
                      xaxis=dict(visible=False, range=[-0.5, cols - 0.5]),
                      yaxis=dict(visible=False, autorange="reversed", scaleanchor="x"))
    return fig


def chain_energy_figure(log: list) -> go.Figure:
    x = np.array([p.number for p in log], dtype=np.float64)
    e = np.array([p.energy_after if p.accepted else p.energy_before for p in log], dtype=np.float64)
    fig = go.Figure(go.Scatter(x=x, y=e, mode="lines+markers", marker=dict(
        color=np.where([p.accepted for p in log], "#2ca02c", "#d62728"), size=6)))
    fig.update_layout(title=TEXT["chain_energy"], height=260, margin=dict(l=10, r=10, t=40, b=10),
                      uirevision="bin_chain_energy", xaxis_title="proposal", yaxis_title="E(y)")
    return fig


# the Play toggle sits outside the fragment: switching it reruns the page, which sets the fragment's timer
play = st.toggle(TEXT["chain_play"], key="bin_chain_play")


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
    state = st.session_state.get("bin_chain")
    if c2.button(TEXT["chain_new"], key="bin_chain_new", width="stretch", icon=":material/replay:") or (
            state is None or state["label"] != label or state["run"] != id(r) or state["source"] != source):
        state = st.session_state["bin_chain"] = new_chain(r, label, source)
    n_steps = 0
    if c3.button(TEXT["chain_next"], key="bin_chain_next", width="stretch", icon=":material/skip_next:"):
        n_steps = 1
    if c4.button(TEXT["chain_ten"], key="bin_chain_ten", width="stretch", icon=":material/fast_forward:"):
        n_steps = 10
    if play and n_steps == 0:
        n_steps = 1
    chain: WatchedChain = state["chain"]
    st.caption(TEXT["chain_frozen"].format(label=label, step=state["step"]))
    if n_steps:
        state["log"].extend(chain.propose() for _ in range(n_steps))
        del state["log"][:-200]
    log = state["log"]
    last = log[-1] if log else None
    if last is None:
        st.caption(TEXT["chain_none"])
    else:
        cols_ = state["shape"][1]
        st.markdown(TEXT["proposal"].format(
            n=last.number, bit=last.bit, row=last.bit // cols_ + 1, col=last.bit % cols_ + 1, e0=last.energy_before,
            e1=last.energy_after, de=last.delta_e, p=last.p_accept, u=last.u,
            verdict=TEXT["accepted"] if last.accepted else TEXT["rejected"]))
        st.caption(TEXT["chain_rate"].format(acc=chain.accepted, n=chain.count, rate=chain.accepted / chain.count))
    a, b = st.columns([1, 2])
    with a:
        st.caption(TEXT["chain_state"])
        st.plotly_chart(chain_state_figure(chain.bits, last, state["shape"]), key="bin_chain_state_chart")
    with b:
        if log:
            st.plotly_chart(chain_energy_figure(log), key="bin_chain_energy_chart")
            st.dataframe({
                "proposal": [p.number for p in log[-8:]][::-1],
                "bit": [p.bit for p in log[-8:]][::-1],
                "ΔE": [round(p.delta_e, 3) for p in log[-8:]][::-1],
                "min(1, e^−ΔE)": [round(p.p_accept, 3) for p in log[-8:]][::-1],
                "u": [round(p.u, 3) for p in log[-8:]][::-1],
                "decision": [TEXT["accepted"] if p.accepted else TEXT["rejected"] for p in log[-8:]][::-1],
            }, hide_index=True, key="bin_chain_table")


chain_view()
