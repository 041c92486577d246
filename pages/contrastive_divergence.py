"""Page: contrastive divergence, persistent CD, NCE and DSM: where the contrasted points come from."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app.live_canvas import live_canvas
from app.run_controls import run_controls, status_line
from app.session import run_slots
from engine.run import RUNNING, Run, RunOptions
from engine.toy.config import ToyConfig
from engine.toy.data import DATASETS
from engine.toy.defaults import defaults_for
from engine.toy.dimension import DimensionConfig, DimensionTrainer, summarise
from engine.toy.objectives import available
from engine.toy.objectives.nce import NOISE_KINDS
from engine.toy.samplers import ANALYTIC, SamplingConfig, SamplingTrainer, temperature, true_langevin_noise
from engine.toy.trainer import ToyTrainer

TEXT = {
    "title": "Contrastive divergence & PCD",
    "intro": (
        "Contrastive methods push the energy **down on the data** (blue) and **up on contrasted points** "
        "(red). They differ in *where the contrasted points come from*: CD-k slides each data point k "
        "Langevin steps downhill, persistent CD keeps a buffer of chains alive across updates (orange, "
        "with their tails), NCE draws them from a fixed noise distribution, and denoising score matching "
        "corrupts the data and learns to point back."
    ),
    "mode": "What to do",
    "mode_train": "Train an energy",
    "mode_sample": "Freeze the energy and just sample",
    "mode_dimension": "PCD and dimension",
    "settings": "Settings",
    "dataset": "Data set",
    "method": "Method",
    "k": "Langevin steps k",
    "eps": "Gradient step ε",
    "true_noise": "True Langevin noise s = √(2ε)",
    "noise": "Noise s",
    "not_langevin": (
        "Not true Langevin: with ε = {eps:g} and s = {s:g} the chains sample exp(−E/T) at temperature "
        "T = s²/(2ε) = {T:.3g}, not p_θ itself (true Langevin needs s = {s0:.3g})."
    ),
    "buffer": "Replay buffer (chains)",
    "reinit": "Re-initialise from noise (probability per use)",
    "nce_noise": "Noise distribution q",
    "sigma": "Noise level σ",
    "alpha": "Energy² regulariser α",
    "clip": "Clip the input gradient",
    "clip_value": "Gradient norm cap",
    "lr": "Learning rate",
    "steps": "Step budget",
    "seed": "Seed",
    "trail": "Tail length (frames)",
    "legend_cd": "Red: this step's negatives, k Langevin steps from each data point (blue).",
    "legend_pcd": (
        "Orange: persistent chains followed from step to step, with their tails; red: this step's chains; "
        "a white ring marks a chain re-initialised from uniform noise this step."
    ),
    "legend_nce": "Red: noise samples from q, which the model must tell apart from the data (blue).",
    "legend_dsm": "Red: corrupted points ỹ = y + σξ; the model's score −∇E learns to point back to the data.",
    "landscape": "Energy landscape (bright = high energy)",
    "curves": "Loss, energies and exact metrics",
    "no_run": "Press Train (or Step) to create the model.",
    "source": "Energy to sample from",
    "source_trained": "the model trained in “Train an energy”",
    "particles": "Particles",
    "sample": "Sample",
    "start": "Start particles from",
    "start_uniform": "uniform noise on the box",
    "start_data": "the data",
    "steps_per_frame": "Langevin steps per frame",
    "speed": "Frames per second",
    "sample_intro": (
        "The energy is frozen: no parameter moves, only the particles, by Langevin dynamics "
        "y ← y − ε∇E(y) + sξ. Watch them flow downhill. On two **overlapping** modes they cross the "
        "low barrier and settle in proportion to the weights (0.3 / 0.7); on two **separated** modes "
        "each particle stays on the side where it started — the mixing problem PCD has to live with."
    ),
    "occupancy": "Share of particles per mode (true weights: {w})",
    "paused_training": "Training paused so the sampler gets the CPU; resume it under “Train an energy”.",
    "sample_none": "Train a model first to sample from it; the analytic energies are always available.",
    "dimension_intro": (
        "The lecture: PCD *does not scale* as the dimension grows. Here the 2-D data are embedded in d "
        "dimensions (a random rotation plus Gaussian noise coordinates of std {spread}); PCD and CD-k train "
        "with the same budget for every d, then Langevin samples of each learned energy, started from "
        "uniform noise on the d-box, are projected back onto the data's plane and compared with the data: "
        "KL between the data's exact cell probabilities and the samples' histogram (lower is better; an "
        "exact data sample scores {exact:.2f}, uniform noise {uniform:.2f})."
    ),
    "dims": "Dimensions d",
    "dim_steps": "Training steps per (method, d)",
    "dim_run": "Run the experiment",
    "dim_stop": "Stop",
    "dim_progress": "Training {current} — {done}/{total} pairs",
    "dim_done": "Done: {n} pairs in {s:.0f} s.",
    "dim_stopped": "Stopped after {n} pairs.",
    "dim_curve": "Sample quality against dimension",
    "dim_table": "Rows",
    "dim_estimate": "About {m:.0f}–{M:.0f} minutes on a 2-core CPU with these settings.",
}

METHODS = ["cd", "pcd", "nce", "dsm"]
LEGEND_TEXT = {m: TEXT[f"legend_{m}"] for m in METHODS}

st.title(TEXT["title"])
st.markdown(TEXT["intro"])

MODES = {"train": TEXT["mode_train"], "sample": TEXT["mode_sample"], "dimension": TEXT["mode_dimension"]}
mode = st.segmented_control(TEXT["mode"], list(MODES), format_func=MODES.get, default="train",
                            key="cd_mode") or "train"
slots = run_slots()


@st.cache_data(show_spinner=False)
def data_points(name: str, n: int = 512) -> np.ndarray:
    import torch

    return DATASETS[name].sample(n, torch.Generator().manual_seed(123)).numpy()


def langevin_knobs(prefix: str, eps_default: float) -> tuple[float, float | None]:
    eps = st.select_slider(TEXT["eps"], [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1], value=eps_default,
                           key=f"{prefix}_eps")
    true_noise = st.checkbox(TEXT["true_noise"], value=True, key=f"{prefix}_true_noise")
    noise = None
    if not true_noise:
        noise = st.select_slider(TEXT["noise"], [0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5],
                                 value=0.01, key=f"{prefix}_noise")
        st.warning(TEXT["not_langevin"].format(eps=eps, s=noise, T=temperature(eps, noise),
                                               s0=true_langevin_noise(eps)))
    return eps, noise


def curves_figure(r: Run) -> go.Figure:
    fig = go.Figure()
    hist = r.history[:: max(1, len(r.history) // 600)]
    for key, name in (("loss", "training loss"), ("e_pos", "mean E on data"), ("e_neg", "mean E on contrasted")):
        if hist and key in hist[0]:
            fig.add_scatter(x=[h["step"] for h in hist], y=[h[key] for h in hist], name=name, mode="lines")
    ev = list(r.evaluations)
    if ev and "kl" in ev[0]:
        fig.add_scatter(x=[e["step"] for e in ev], y=[e["kl"] for e in ev], name="KL(p_data‖p_θ) (exact)",
                        mode="lines", yaxis="y2")
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=10, b=10), uirevision="cd_curves",
                      xaxis_title="step", yaxis_title="loss / energy",
                      yaxis2=dict(title="KL (nats)", overlaying="y", side="right", rangemode="tozero"),
                      legend=dict(orientation="h"))
    return fig


# ---- train ------------------------------------------------------------------------------------------
def train_section() -> None:
    with st.sidebar:
        st.subheader(TEXT["settings"])
        dataset = st.selectbox(TEXT["dataset"], sorted(DATASETS), index=sorted(DATASETS).index("eight_gaussians"),
                               key="cd_dataset")
        labels = available()
        method = st.selectbox(TEXT["method"], METHODS, format_func=labels.get, index=1, key="cd_method")
        d = {**ToyConfig().as_dict(), **defaults_for(dataset, method)}
        knobs: dict = {}
        if method in ("cd", "pcd"):
            knobs["k"] = st.slider(TEXT["k"], 1, 60, int(d["k"]), key="cd_k")
            knobs["eps"], knobs["noise"] = langevin_knobs("cd", float(d["eps"]))
        if method == "pcd":
            knobs["buffer"] = st.select_slider(TEXT["buffer"], [256, 1024, 4096, 8192, 16384],
                                               value=int(d["buffer"]), key="cd_buffer")
            knobs["reinit"] = st.select_slider(TEXT["reinit"], [0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0],
                                               value=float(d["reinit"]), key="cd_reinit")
        if method == "nce":
            knobs["nce_noise"] = st.selectbox(TEXT["nce_noise"], list(NOISE_KINDS), format_func=NOISE_KINDS.get,
                                              index=list(NOISE_KINDS).index(d["nce_noise"]), key="cd_nce_noise")
        if method == "dsm":
            knobs["sigma"] = st.select_slider(TEXT["sigma"], [0.02, 0.05, 0.1, 0.2, 0.3, 0.5],
                                              value=float(d["sigma"]), key="cd_sigma")
        knobs["alpha"] = st.select_slider(TEXT["alpha"], [0.0, 0.01, 0.03, 0.1, 0.3, 1.0],
                                          value=float(d["alpha"]), key="cd_alpha")
        if method in ("cd", "pcd") and st.checkbox(TEXT["clip"], value=False, key="cd_clip"):
            knobs["clip_grad"] = st.select_slider(TEXT["clip_value"], [0.1, 0.3, 1.0, 3.0, 10.0], value=1.0,
                                                  key="cd_clip_value")
        knobs["lr"] = st.select_slider(TEXT["lr"], [1e-4, 3e-4, 1e-3, 3e-3, 1e-2], value=float(d["lr"]),
                                       key="cd_lr")
        steps = st.number_input(TEXT["steps"], 10, 100_000, 2000, step=500, key="cd_steps")
        seed = st.number_input(TEXT["seed"], 0, 2**31 - 1, 0, key="cd_seed")
        trail = st.slider(TEXT["trail"], 0, 40, 12, key="cd_trail")

    try:
        config = ToyConfig(dataset=dataset, method=method, steps=int(steps), seed=int(seed), device="auto", **knobs)
    except ValueError as exc:
        st.error(str(exc))
        return

    def make_run(cfg: ToyConfig) -> Run:
        return Run(ToyTrainer(cfg), RunOptions(max_steps=cfg.steps, snapshot_hz=30, evaluate_every_s=1.0),
                   name="cd")

    run = run_controls(slots, "cd", config, make_run, key="cd")
    live = run is not None and run.state == RUNNING
    box = DATASETS[dataset].box
    left, right = st.columns([11, 10], gap="medium")

    @st.fragment(run_every=0.25 if live else None)
    def canvas_fragment() -> None:
        r = slots.get("cd")
        st.caption(TEXT["landscape"])
        live_canvas(r, key="cd_canvas", extent=(-box, box, -box, box), static_points=None,
                    trail=trail if method == "pcd" else 0)
        status_line(r)
        if live and (r is None or r.state != RUNNING):
            st.rerun()

    @st.fragment(run_every=1.0 if live else None)
    def curves_fragment() -> None:
        r = slots.get("cd")
        if r is None or not r.history:
            st.info(TEXT["no_run"])
            return
        st.caption(TEXT["curves"])
        st.plotly_chart(curves_figure(r), key="cd_curves")

    with left:
        canvas_fragment()
        st.caption(LEGEND_TEXT[method])
    with right:
        curves_fragment()


# ---- freeze the energy and sample ----------------------------------------------------------------
def sample_section() -> None:
    st.markdown(TEXT["sample_intro"])
    train_run = slots.get("cd")
    trained = train_run is not None and train_run.step > 0
    sources = (["trained"] if trained else []) + list(ANALYTIC)
    names = {"trained": TEXT["source_trained"], **{k: v.label for k, v in ANALYTIC.items()}}
    with st.sidebar:
        st.subheader(TEXT["settings"])
        source = st.selectbox(TEXT["source"], sources, format_func=names.get,
                              index=sources.index("separated_modes"), key="cds_source")
        if not trained:
            st.caption(TEXT["sample_none"])
        particles = st.select_slider(TEXT["particles"], [64, 128, 256, 512, 1024, 2048], value=512,
                                     key="cds_particles")
        starts = ["uniform", "data"] if source == "trained" else ["uniform"]
        start = st.radio(TEXT["start"], starts, key="cds_start", horizontal=True,
                         format_func=lambda s: TEXT[f"start_{s}"])
        eps, noise = langevin_knobs("cds", 0.01)
        per_frame = st.slider(TEXT["steps_per_frame"], 1, 50, 5, key="cds_per_frame")
        speed = st.slider(TEXT["speed"], 5, 60, 30, key="cds_speed")
        trail = st.slider(TEXT["trail"], 0, 40, 15, key="cds_trail")
        seed = st.number_input(TEXT["seed"], 0, 2**31 - 1, 0, key="cds_seed")
    try:
        scfg = SamplingConfig(particles=particles, start=start, steps_per_frame=per_frame, eps=eps, noise=noise,
                              rate=float(speed), seed=int(seed))
    except ValueError as exc:
        st.error(str(exc))
        return
    # the frozen model is taken from the training run when the sampling run is created
    config = (source, scfg, id(train_run) if source == "trained" else 0)

    def make_run(cfg) -> Run:
        src, sc, _ = cfg
        if train_run is not None and train_run.state == RUNNING:
            train_run.pause()  # two runs on two cores: give the sampler the CPU
            st.toast(TEXT["paused_training"])
        if src == "trained":
            with train_run.model_lock:
                t = train_run.trainer
                trainer = SamplingTrainer(t.model, t.dataset.box, sc, data_sampler=t.dataset.sample,
                                          device=t.device)
        else:
            spec = ANALYTIC[src]
            trainer = SamplingTrainer(spec.make(), spec.box, sc)
        return Run(trainer, RunOptions(snapshot_hz=30, evaluate_every_s=0.5), name="cd_sample")

    run = run_controls(slots, "cd_sample", config, make_run, key="cds", text={"train": TEXT["sample"]})
    live = run is not None and run.state == RUNNING
    box = train_run.trainer.dataset.box if source == "trained" else ANALYTIC[source].box
    left, right = st.columns([11, 10], gap="medium")

    @st.fragment(run_every=0.25 if live else None)
    def canvas_fragment() -> None:
        r = slots.get("cd_sample")
        live_canvas(r, key="cds_canvas", extent=(-box, box, -box, box), trail=trail)
        status_line(r)

    @st.fragment(run_every=1.0 if live else None)
    def occupancy_fragment() -> None:
        r = slots.get("cd_sample")
        ev = r.last_evaluation() if r is not None else {}
        if "mode_0" in ev:
            weights = [round(w, 3) for w in r.trainer.mixture.weights.tolist()]
            st.caption(TEXT["occupancy"].format(w=" / ".join(f"{w:.1f}" for w in weights)))
            st.dataframe(pd.DataFrame({"mode": [f"mode {i + 1}" for i in range(len(weights))],
                                       "particles": [ev[f"mode_{i}"] for i in range(len(weights))],
                                       "true weight": weights}), hide_index=True)
        if r is not None and r.history:
            hist = r.history[:: max(1, len(r.history) // 600)]
            fig = go.Figure(go.Scatter(x=[h["step"] for h in hist], y=[h["mean_energy"] for h in hist],
                                       mode="lines", name="mean energy of the particles"))
            fig.update_layout(height=300, margin=dict(l=10, r=10, t=30, b=10), uirevision="cds_energy",
                              title="mean energy of the particles", xaxis_title="frame")
            st.plotly_chart(fig, key="cds_energy")

    with left:
        canvas_fragment()
    with right:
        occupancy_fragment()


# ---- PCD and dimension --------------------------------------------------------------------------------
def dimension_section() -> None:
    base = DimensionConfig()
    c1, c2, c3, c4 = st.columns(4)
    dataset = c1.selectbox(TEXT["dataset"], sorted(DATASETS), index=sorted(DATASETS).index(base.dataset),
                           key="cdd_dataset")
    dims = c2.multiselect(TEXT["dims"], [2, 4, 8, 16, 32, 64], default=list(base.dims), key="cdd_dims")
    methods = c3.multiselect(TEXT["method"], list(base.methods), default=list(base.methods),
                             format_func=available().get, key="cdd_methods")
    steps = c4.select_slider(TEXT["dim_steps"], [100, 200, 300, 600, 1000, 2000], value=base.steps,
                             key="cdd_steps")
    try:
        cfg = DimensionConfig(dataset=dataset, dims=tuple(sorted(dims)), methods=tuple(methods), steps=steps)
    except ValueError as exc:
        st.error(str(exc))
        return
    refs = reference_levels(cfg.dataset, cfg.samples, cfg.hist_grid)
    st.markdown(TEXT["dimension_intro"].format(spread=cfg.spread, exact=refs[0], uniform=refs[1]))
    pairs = len(cfg.dims) * len(cfg.methods)
    minutes = pairs * cfg.steps * 0.025 / 60  # ~25 ms per CD-10/PCD step with d ≤ 32 on one core
    st.caption(TEXT["dim_estimate"].format(m=max(minutes, 0.1), M=max(2 * minutes, 0.2)))
    b1, b2 = st.columns(2)
    if b1.button(TEXT["dim_run"], key="cdd_run", type="primary", icon=":material/play_arrow:"):
        trainer = DimensionTrainer(cfg)
        slots.replace("cd_dimension", Run(trainer, RunOptions(max_steps=trainer.total_steps, snapshot_hz=2,
                                                               evaluate_every_s=1.0), name="cd_dimension").start())
    run = slots.get("cd_dimension")
    if b2.button(TEXT["dim_stop"], key="cdd_stop", disabled=run is None or run.state != RUNNING):
        run.stop()
    live = run is not None and run.state == RUNNING

    @st.fragment(run_every=1.0 if live else None)
    def results() -> None:
        r = slots.get("cd_dimension")
        if r is None:
            return
        snap = r.latest()
        rows = snap.data["rows"] if snap is not None else []
        trainer: DimensionTrainer = r.trainer
        if r.state == RUNNING:
            st.progress(snap.data["progress"] if snap else 0.0,
                        text=TEXT["dim_progress"].format(current=snap.data["current"] if snap else "…",
                                                         done=len(rows), total=len(trainer.pairs)))
        elif r.state == "failed":
            st.error(r.message)
        elif trainer.done:
            st.success(TEXT["dim_done"].format(n=len(rows), s=r.elapsed))
        else:
            st.info(TEXT["dim_stopped"].format(n=len(rows)))
        if rows:
            result = summarise(trainer.cfg, rows)
            fig = go.Figure()
            for m, curve in result["hist_kl"].items():
                fig.add_scatter(x=[int(d) for d in curve], y=list(curve.values()), mode="lines+markers",
                                name=available()[m])
            fig.add_hline(y=result["hist_kl_exact_sample"], line_dash="dot", annotation_text="exact data sample")
            fig.add_hline(y=result["hist_kl_uniform"], line_dash="dash", annotation_text="uniform noise")
            fig.update_layout(height=380, margin=dict(l=10, r=10, t=30, b=10), title=TEXT["dim_curve"],
                              xaxis=dict(title="dimension d", type="log", tickvals=list(trainer.cfg.dims)),
                              yaxis_title="KL(data ‖ samples) on the plane (nats)", uirevision="cdd")
            st.plotly_chart(fig, key="cdd_curve")
            st.caption(TEXT["dim_table"])
            st.dataframe(pd.DataFrame(result["rows"]), hide_index=True)

    results()


@st.cache_data(show_spinner=False)
def reference_levels(dataset: str, samples: int, hist_grid: int) -> tuple[float, float]:
    from engine.toy.dimension import reference_kl

    cfg = DimensionConfig(dataset=dataset, samples=samples, hist_grid=hist_grid)
    return reference_kl(cfg), reference_kl(cfg, "uniform")


if mode == "train":
    train_section()
elif mode == "sample":
    sample_section()
else:
    dimension_section()
