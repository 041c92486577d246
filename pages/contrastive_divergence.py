"""Page: contrastive divergence, persistent CD, NCE and DSM: where the contrasted points come from."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.exports import chart, csv_button
from app.form import settings_form, widget_key
from app.jobs import job_controls
from app.live_canvas import live_canvas
from app.run_controls import run_controls, status_line
from app.session import run_slots
from app.toy_views import curves_figure, curves_table, dimension_figure, dimension_table
from engine.run import FAILED, RUNNING, Run, RunOptions
from engine.scheduler import release_run
from engine.toy.config import ToyConfig
from engine.toy.data import DATASETS
from engine.toy.dimension import DimensionConfig, DimensionTrainer, summarise
from engine.toy.objectives import REGISTRY
from engine.toy.samplers import ANALYTIC, TRAINED, SamplingConfig, SamplingTrainer
from engine.toy.trainer import ToyTrainer
from engine.toy.views import dimension_levels, dimension_minutes, mode_table, off_langevin

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
    "not_langevin": (
        "Not true Langevin: with ε = {eps:g} and s = {s:g} the chains sample exp(−E/T) at temperature "
        "T = s²/(2ε) = {T:.3g}, not p_θ itself (true Langevin needs s = {s0:.3g})."
    ),
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
    "loss": "training loss",
    "e_pos": "mean E on data",
    "e_neg": "mean E on contrasted",
    "kl": "KL(p_data‖p_θ) (exact)",
    "mean_energy": "mean energy of the particles",
    "no_run": "Press Train (or Step) to create the model.",
    "source_trained": "the model trained in “Train an energy”",
    "sample": "Sample",
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
    "dim_run": "Run the experiment",
    "dim_stop": "Stop",
    "dim_progress": "Training {current} — {done}/{total} pairs",
    "dim_done": "Done: {n} pairs in {s:.0f} s.",
    "dim_stopped": "Stopped after {n} pairs.",
    "dim_curve": "Sample quality against dimension",
    "dim_table": "Rows",
    "dim_estimate": "About {m:.0f}–{M:.0f} minutes on a 2-core CPU with these settings.",
    # names of the downloaded files (PNG from a chart's camera button, CSV under a chart or table)
    "file_curves": "CD training curves",
    "file_occupancy": "CD sampler mode shares",
    "file_energy": "CD sampler mean energy",
    "file_dim_curve": "PCD vs dimension",
    "file_dim_rows": "PCD vs dimension rows",
}

# every registered method but maximum likelihood (which has a page of its own); a new method file shows here
METHODS = [m for m in REGISTRY.names() if m != "ml"]

st.title(TEXT["title"])
st.markdown(TEXT["intro"])

MODES = {"train": TEXT["mode_train"], "sample": TEXT["mode_sample"], "dimension": TEXT["mode_dimension"]}
mode = st.segmented_control(TEXT["mode"], list(MODES), format_func=MODES.get, default="train",
                            key="cd_mode") or "train"
slots = run_slots()


def langevin_warning(eps: float, noise: float | None) -> None:
    off = off_langevin(eps, noise)
    if off is not None:
        st.sidebar.warning(TEXT["not_langevin"].format(**off))


# ---- train ------------------------------------------------------------------------------------------
def train_section() -> None:
    st.sidebar.subheader(TEXT["settings"])
    st.session_state.setdefault(widget_key("cd", "method"), "pcd")  # the page opens on persistent CD
    config = settings_form(ToyConfig, key="cd", choices={"method": METHODS})
    trail = st.sidebar.slider(TEXT["trail"], 0, 40, 12, key="cd_trail")
    if config is None:
        return
    if "eps" in ToyConfig.method_settings(config.method):
        langevin_warning(config.eps, config.noise)

    def make_run(cfg: ToyConfig) -> Run:
        return Run(ToyTrainer(cfg), RunOptions(max_steps=cfg.steps, snapshot_hz=30, evaluate_every_s=1.0),
                   name="cd")

    run = run_controls(slots, "cd", config, make_run, key="cd")
    live = run is not None and run.state == RUNNING
    box = DATASETS[config.dataset].box
    left, right = st.columns([11, 10], gap="medium")

    @st.fragment(run_every=0.25 if live else None)
    def canvas_fragment() -> None:
        r = slots.get("cd")
        st.caption(TEXT["landscape"])
        live_canvas(r, key="cd_canvas", extent=(-box, box, -box, box), static_points=None,
                    trail=trail if config.method == "pcd" else 0)
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
        lines = {k: TEXT[k] for k in ("loss", "e_pos", "e_neg")}
        metrics = {"kl": TEXT["kl"]}
        chart(curves_figure(r.history, r.evaluations, lines, metrics, revision="cd_curves", y_title="loss / energy",
                            right_axis="KL (nats)"), "cd_curves", TEXT["file_curves"])
        # this fragment redraws once a second (not the canvas's 4 times): a few ms for the CSV is fine
        csv_button(curves_table(r.history, r.evaluations, lines, metrics), TEXT["file_curves"], key="cd_curves_csv")

    with left:
        canvas_fragment()
        st.caption(TEXT.get(f"legend_{config.method}", ""))
    with right:
        curves_fragment()


# ---- freeze the energy and sample ----------------------------------------------------------------
def sample_section() -> None:
    st.markdown(TEXT["sample_intro"])
    train_run = slots.get("cd")
    trained = train_run is not None and train_run.step > 0
    sources = ([TRAINED] if trained else []) + list(ANALYTIC)
    names = {TRAINED: TEXT["source_trained"], **{k: v.label for k, v in ANALYTIC.items()}}
    st.sidebar.subheader(TEXT["settings"])
    if not trained:
        st.sidebar.caption(TEXT["sample_none"])
    with st.sidebar:
        speed = st.slider(TEXT["speed"], 5, 60, 30, key="cds_speed")
        trail = st.slider(TEXT["trail"], 0, 40, 15, key="cds_trail")
    scfg = settings_form(SamplingConfig, key="cds", choices={"source": sources}, formats={"source": names.get},
                         fixed={"rate": float(speed)})
    if scfg is None:
        return
    langevin_warning(scfg.eps, scfg.noise)
    # the frozen model is taken from the training run when the sampling run is created
    config = (scfg, id(train_run) if scfg.source == TRAINED else 0)

    def make_run(cfg: tuple[SamplingConfig, int]) -> Run:
        sc = cfg[0]
        if train_run is not None and train_run.state == RUNNING:
            train_run.pause()  # two runs on two cores: give the sampler the CPU
            release_run(train_run)  # … and its place in line now, not after the step in flight
            st.toast(TEXT["paused_training"])
        if sc.source == TRAINED:
            with train_run.model_lock:
                t = train_run.trainer
                trainer = SamplingTrainer(t.model, t.dataset.box, sc, data_sampler=t.dataset.sample,
                                          device=t.device)
        else:
            spec = ANALYTIC[sc.source]
            trainer = SamplingTrainer(spec.make(), spec.box, sc)
        return Run(trainer, RunOptions(max_steps=sc.frames, snapshot_hz=30, evaluate_every_s=0.5), name="cd_sample")

    run = run_controls(slots, "cd_sample", config, make_run, key="cds", text={"train": TEXT["sample"]})
    live = run is not None and run.state == RUNNING
    box = train_run.trainer.dataset.box if scfg.source == TRAINED else ANALYTIC[scfg.source].box
    left, right = st.columns([11, 10], gap="medium")

    @st.fragment(run_every=0.25 if live else None)
    def canvas_fragment() -> None:
        r = slots.get("cd_sample")
        live_canvas(r, key="cds_canvas", extent=(-box, box, -box, box), trail=trail)
        status_line(r)

    @st.fragment(run_every=1.0 if live else None)
    def occupancy_fragment() -> None:
        r = slots.get("cd_sample")
        mixture = getattr(r.trainer, "mixture", None) if r is not None else None
        table = mode_table(r.last_evaluation(), mixture.weights.tolist()) if mixture is not None else None
        if table is not None:
            st.caption(TEXT["occupancy"].format(w=" / ".join(f"{w:.1f}" for w in table["true weight"])))
            st.dataframe(pd.DataFrame(table), hide_index=True)
            csv_button(table, TEXT["file_occupancy"], key="cds_occupancy_csv")
        if r is not None and r.history:
            lines = {"mean_energy": TEXT["mean_energy"]}
            chart(curves_figure(r.history, [], lines, height=300, revision="cds_energy", title=TEXT["mean_energy"],
                                x_title="frame"), "cds_energy", TEXT["file_energy"])
            csv_button(curves_table(r.history, [], lines), TEXT["file_energy"], key="cds_energy_csv")

    with left:
        canvas_fragment()
    with right:
        occupancy_fragment()


# ---- PCD and dimension --------------------------------------------------------------------------------
def dimension_section() -> None:
    st.sidebar.subheader(TEXT["settings"])
    cfg = settings_form(DimensionConfig, key="cdd")
    if cfg is None:
        return
    exact, uniform = dimension_levels(cfg.dataset, cfg.samples, cfg.hist_grid, cfg.seed)
    st.markdown(TEXT["dimension_intro"].format(spread=cfg.spread, exact=exact, uniform=uniform))
    low, high = dimension_minutes(cfg)
    st.caption(TEXT["dim_estimate"].format(m=low, M=high))

    def make_run() -> Run:
        trainer = DimensionTrainer(cfg)
        return Run(trainer, RunOptions(max_steps=trainer.total_steps, snapshot_hz=2, evaluate_every_s=1.0),
                   name="cd_dimension")

    def results(r: Run) -> None:
        snap = r.latest()
        rows = snap.data["rows"] if snap is not None else []
        trainer: DimensionTrainer = r.trainer
        if r.state == RUNNING:
            st.progress(snap.data["progress"] if snap else 0.0,
                        text=TEXT["dim_progress"].format(current=snap.data["current"] if snap else "…",
                                                         done=len(rows), total=len(trainer.pairs)))
        elif r.state == FAILED:
            st.error(r.message)
        elif trainer.done:
            st.success(TEXT["dim_done"].format(n=len(rows), s=r.elapsed))
        else:
            st.info(TEXT["dim_stopped"].format(n=len(rows)))
        if rows:
            result = summarise(trainer.cfg, rows)
            chart(dimension_figure(result, trainer.cfg.dims, REGISTRY.labels, TEXT["dim_curve"]), "cdd_curve",
                  TEXT["file_dim_curve"])
            csv_button(dimension_table(result), TEXT["file_dim_curve"], key="cdd_curve_csv")
            st.caption(TEXT["dim_table"])
            st.dataframe(pd.DataFrame(result["rows"]), hide_index=True)
            csv_button(result["rows"], TEXT["file_dim_rows"], key="cdd_rows_csv")

    job_controls(slots, "cd_dimension", make_run, key="cdd", run_label=TEXT["dim_run"], stop_label=TEXT["dim_stop"],
                 every=1.0, results=results)


if mode == "train":
    train_section()
elif mode == "sample":
    sample_section()
else:
    dimension_section()
