"""Page: energies over images — persistent CD with a replay buffer, its fantasy particles live."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app import image_ebm_views as draw
from app.exports import csv_button
from app.form import settings_form
from app.jobs import job_controls
from app.run_controls import run_controls
from app.session import run_slots
from engine.image_ebm import views
from engine.image_ebm.config import ImageEBMConfig
from engine.image_ebm.data import OTHER, missing
from engine.image_ebm.dimension import SizeComparison, SizeComparisonSettings, summarise
from engine.image_ebm.judges import fit_judges
from engine.image_ebm.sampler import Langevin
from engine.image_ebm.trainer import ImageEBMTrainer
from engine.run import FAILED, RUNNING, Run, RunOptions, Snapshot
from engine.scheduler import release_run

TEXT = {
    "title": "Energies over images",
    "intro": (
        "Persistent contrastive divergence on images. A **replay buffer** of particles starts as uniform noise; "
        "every update takes a batch of them, moves them k steps down the energy, and pushes the energy **up** "
        "where they landed and **down** on a batch of real images. The particles \"find low energy places in "
        "our energy surface and … cause them to be pushed up\": the noise turns into digits while the energy "
        "learns to tell them from the data. Judges that never see the particles in training score them: a "
        "classifier fitted on the real images (which class? how sure?) and a density model fitted on them (as "
        "likely as typical held-out data?), each beside its score for uniform noise and smooth blobs."
    ),
    "mode": "What to do",
    "modes": {"train": "Train", "sample": "Freeze and sample", "dimension": "PCD and dimension"},
    "missing": "{why}. Put the IDX files there (see README) or choose digits or shapes.",
    "not_langevin": "Not true Langevin: {why}. The chains are a noisy, clipped gradient descent on the energy "
                    "(the image recipe's choice); set the noise s to none for s = √(2ε).",
    "idle": "Press **Train** (or **Step**) to start: the buffer is drawn at once, the judges after the first "
            "evaluation (fitting them takes a few seconds the first time).",
    "grid": "The first 64 particles of the buffer at step {step}",
    "strips": "Followed particles, one per row, from their (re)start (left: uniform noise) to now",
    "followed": "Followed particles: {summary}. They are in every batch, so they age faster than the others; "
                "each restarts from noise with the re-initialisation probability.",
    "judges_wait": "The judges' scores appear after the first evaluation.",
    "sample_intro": (
        "**Freeze and sample.** The energy stops learning; only images move, by the training sampler: fresh "
        "chains from uniform noise, and held-out images corrupted by Gaussian noise (σ = 0.3 of the pixel range) "
        "or with their lower half replaced by noise (the upper half held: inpainting). If the energy is low on "
        "digits, the sampler pulls the corrupted ones back towards them: the PSNR against the clean images rises."
    ),
    "sample_none": "Train a model first (Train tab): the sampler uses its energy as it is now.",
    "sample": "Sample",
    "paused_training": "Training paused so the sampler gets the CPU.",
    "fresh": "Fresh chains from uniform noise, step {step}",
    "rows": "Rows: corrupted · now · clean",
    "fresh_scores": "Fresh chains, judged: smallest class share {m:.1%}, mean top probability {t:.2f}, "
                    "realistic {r:.1%}",
    "dim_intro": (
        "The lecture: persistent CD \"does not scale well as the dimensionality increases\". The digits, "
        "resampled to each size (the same information in more pixels), train with the same settings and the "
        "same number of updates at every size; judges fitted at each size score the particles."
    ),
    "dim_run": "Run the comparison",
    "dim_stop": "Stop",
    "dim_estimate": "About {m:.0f} minutes on a busy 2-core CPU (a 28×28 update takes ~3.7× as long as an 8×8 one).",
    "dim_progress": "Training {current}: {done} of {total} sizes done",
    "measured": "Measured on the shared 2-core CPU (digits, seed 0, 300 updates per size, the defaults). {verdict}",
    # names of the downloaded CSV files (under each table)
    "file_measured": "image EBM size comparison measured",
    "file_dim_rows": "image EBM size comparison rows",
}
# python -m engine image-ebm --dataset digits --max-steps 300 --seed 0 --compare-sizes 8,16,28 (issue 13's note;
# one thread, load 3–8): the density judge's share of realistic particles, smallest class share, top probability
MEASURED: list[dict] = [
    {"size": "8×8", "smallest class share": 0.070, "mean top probability": 0.63, "realistic": 0.106,
     "realistic (blobs)": 0.021, "realistic (noise)": 0.0, "AUROC data vs noise": 1.0, "seconds": 277},
    {"size": "16×16", "smallest class share": 0.068, "mean top probability": 0.65, "realistic": 0.0,
     "realistic (blobs)": 0.129, "realistic (noise)": 0.0, "AUROC data vs noise": 1.0, "seconds": 482},
    {"size": "28×28", "smallest class share": 0.067, "mean top probability": 0.74, "realistic": 0.0,
     "realistic (blobs)": 0.181, "realistic (noise)": 0.0, "AUROC data vs noise": 1.0, "seconds": 1025},
]
MEASURED_VERDICT = (
    "With the same 300 updates, every size still covers all ten classes (smallest share 7.0 → 6.7 %) and the energy "
    "still separates data from noise perfectly, but the density judge finds 10.6 % of the 8×8 particles as likely as "
    "held-out digits and none at 16×16 or 28×28 (where even smooth blobs reach 13–18 %): in more pixels the "
    "particles stay rough where the digits are smooth. The classifier's rising confidence (0.63 → 0.74) is not "
    "a better sample: it is as sure of blobs (0.81 → 0.91). Each 28×28 update took 3.7× as long as an 8×8 one."
)

st.title(TEXT["title"])
st.markdown(TEXT["intro"])
mode = st.segmented_control(TEXT["mode"], list(TEXT["modes"]), format_func=TEXT["modes"].get, default="train",
                            key="iebm_mode") or "train"
slots = run_slots()


def make_train_run(cfg: ImageEBMConfig) -> Run:
    return Run(ImageEBMTrainer(cfg), RunOptions(snapshot_hz=2, evaluate_every_s=3.0), name="iebm")


def train_section() -> None:
    config = settings_form(ImageEBMConfig, key="iebm")
    if config is None:
        return
    why = missing(config.dataset, config.data_dir)
    if why is not None:
        st.warning(TEXT["missing"].format(why=why))
        return
    note = Langevin(config.k, config.eps, config.noise, config.clip_grad).not_true_langevin()
    if note is not None:
        st.warning(TEXT["not_langevin"].format(why=note))
    run = run_controls(slots, "iebm", config, make_train_run, key="iebm")
    live = run is not None and run.state == RUNNING

    def train_view(r: Run, snap: Snapshot) -> None:
        data, ev = snap.data, r.last_evaluation()
        scale = draw.scale_for(data["grid"].shape[-1])
        left, right = st.columns(2, gap="medium")
        with left:
            draw.picture(data["grid"], cols=8, scale=scale, caption=TEXT["grid"].format(step=snap.step))
            draw.strips(data, scale=scale, caption=TEXT["strips"])
            st.caption(TEXT["followed"].format(summary=views.followed_summary(data["strip_lengths"],
                                                                             data["strip_ages"])))
        with right:
            draw.histogram_figure(data, key="iebm_hist")
            if "top_prob" in ev:
                draw.judges_table(ev)
                draw.class_shares(ev, r.trainer.images.classes, key="iebm_shares")
                draw.auroc_line(ev, OTHER[r.trainer.config.dataset])
            else:
                st.caption(TEXT["judges_wait"])

    draw.live_fragment(slots, "iebm", live=live, every=1.0, draw_snapshot=train_view, idle=TEXT["idle"])


def sample_section() -> None:
    st.markdown(TEXT["sample_intro"])
    train_run = slots.get("iebm")
    if train_run is None or train_run.step == 0:
        st.info(TEXT["sample_none"])
        return
    settings = settings_form(views.SampleSettings, key="iebs")
    if settings is None:
        return
    config = (id(train_run), train_run.step, settings)

    def make_run(cfg: tuple) -> Run:
        if train_run.state == RUNNING:
            train_run.pause()  # two runs on two cores: give the sampler the CPU
            release_run(train_run)  # … and its place in line now, not after the step in flight
            st.toast(TEXT["paused_training"])
        t = train_run.trainer
        judge = fit_judges(t.config.dataset, t.config.image_size, t.config.data_dir)
        with train_run.model_lock:
            sampler = views.FreezeAndSample(t.model, t.images, t.sampler, seed=t.config.seed, device=t.device,
                                            judge=judge, per_step=cfg[2].per_frame)
        return Run(sampler, RunOptions(max_steps=cfg[2].steps, snapshot_hz=4, evaluate_every_s=0.5),
                   name="iebm_sample")

    run = run_controls(slots, "iebm_sample", config, make_run, key="iebs", text={"train": TEXT["sample"]})
    live = run is not None and run.state == RUNNING

    def sample_view(r: Run, snap: Snapshot) -> None:
        d, ev = snap.data, r.last_evaluation()
        scale = draw.scale_for(d["clean"].shape[-1])
        left, right = st.columns(2, gap="medium")
        with left:
            draw.picture(d["fresh"], cols=8, scale=scale, caption=TEXT["fresh"].format(step=snap.step))
            if "fresh_top_prob" in ev:
                st.caption(TEXT["fresh_scores"].format(m=ev["fresh_min_class_share"], t=ev["fresh_top_prob"],
                                                       r=ev["fresh_realistic"]))
        with right:
            draw.psnr_lines(ev, snap.step)
            for kind in ("noisy", "masked"):
                rows = d[f"{kind}_before"][:8], d[kind][:8], d["clean"][:8]
                draw.picture(np.concatenate(rows), cols=8, scale=scale,
                             caption=f"{draw.TEXT['psnr_what'][kind]} — {TEXT['rows']}")

    draw.live_fragment(slots, "iebm_sample", live=live, every=0.5, draw_snapshot=sample_view)


def dimension_section() -> None:
    st.markdown(TEXT["dim_intro"])
    if MEASURED:
        st.caption(TEXT["measured"].format(verdict=MEASURED_VERDICT))
        st.dataframe(pd.DataFrame(MEASURED), hide_index=True)
        csv_button(MEASURED, TEXT["file_measured"], key="iebd_measured_csv")
    settings = settings_form(SizeComparisonSettings, key="iebd")
    if settings is None:
        return
    sizes = tuple(sorted(settings.sizes))
    per_update_s = sum(0.75 + 0.0035 * s * s for s in sizes)  # measured: 0.9 s (8×8), 1.6 s (16×16), 3.4 s (28×28)
    st.caption(TEXT["dim_estimate"].format(m=max(1.0, settings.steps * per_update_s / 60)))

    def make_run() -> Run:
        model = ImageEBMConfig.create(dataset="digits", seed=settings.seed)
        comparison = SizeComparison(model, sizes, settings.steps)
        return Run(comparison, RunOptions(max_steps=comparison.total_steps, snapshot_hz=1, evaluate_every_s=None),
                   name="iebm_dimension")

    def results(r: Run) -> None:
        comparison: SizeComparison = r.trainer
        snap = r.latest()
        if r.state == RUNNING and snap is not None:
            st.progress(snap.data["progress"], text=TEXT["dim_progress"].format(
                current=snap.data["current"], done=snap.data["finished"], total=len(comparison.sizes)))
        elif r.state == FAILED:
            st.error(r.message)
        rows = list(comparison.rows)
        if rows:
            table = summarise(rows)["rows"]
            st.dataframe(pd.DataFrame(table), hide_index=True)
            csv_button(table, TEXT["file_dim_rows"], key="iebd_rows_csv")
            draw.dimension_figure(rows, key="iebd_fig")

    job_controls(slots, "iebm_dimension", make_run, key="iebd", run_label=TEXT["dim_run"], stop_label=TEXT["dim_stop"],
                 every=2.0, results=results)


{"train": train_section, "sample": sample_section, "dimension": dimension_section}[mode]()
