"""Page: energies over images — persistent CD with a replay buffer, its fantasy particles live."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app import image_ebm_views as draw
from app.exports import csv_button
from app.form import settings_form
from app.i18n import num, texts
from app.jobs import job_controls
from app.run_controls import failure_message, run_controls
from app.session import run_slots
from engine.image_ebm import views
from engine.image_ebm.config import ImageEBMConfig
from engine.image_ebm.data import OTHER, missing_folder
from engine.image_ebm.dimension import SizeComparison, SizeComparisonSettings, summarise
from engine.image_ebm.judges import fit_judges
from engine.image_ebm.sampler import Langevin
from engine.image_ebm.trainer import ImageEBMTrainer
from engine.run import FAILED, RUNNING, Run, RunOptions, Snapshot
from engine.scheduler import release_run

TEXT = texts("energies_over_images")
MODES = ("train", "sample", "dimension")
MEASURED: list[dict] = [
    {"size": "8×8", "min_class_share": 0.070, "top_prob": 0.63, "realistic": 0.106,
     "realistic_blobs": 0.021, "realistic_noise": 0.0, "auroc_noise": 1.0, "seconds": 277},
    {"size": "16×16", "min_class_share": 0.068, "top_prob": 0.65, "realistic": 0.0,
     "realistic_blobs": 0.129, "realistic_noise": 0.0, "auroc_noise": 1.0, "seconds": 482},
    {"size": "28×28", "min_class_share": 0.067, "top_prob": 0.74, "realistic": 0.0,
     "realistic_blobs": 0.181, "realistic_noise": 0.0, "auroc_noise": 1.0, "seconds": 1025},
]  # what they say: TEXT["measured_verdict"]

st.title(TEXT["title"])
st.markdown(TEXT["intro"])
mode = st.segmented_control(TEXT["mode"], MODES, format_func=lambda m: TEXT[f"modes.{m}"], default="train",
                            key="iebm_mode") or "train"
slots = run_slots()


def make_train_run(cfg: ImageEBMConfig) -> Run:
    return Run(ImageEBMTrainer(cfg), RunOptions(snapshot_hz=2, evaluate_every_s=3.0), name="iebm")


def train_section() -> None:
    config = settings_form(ImageEBMConfig, key="iebm")
    if config is None:
        return
    folder = missing_folder(config.dataset, config.data_dir)
    if folder is not None:
        st.warning(TEXT["missing"].format(name=draw.dataset_name(config.dataset), folder=folder))
        return
    departures = Langevin(config.k, config.eps, config.noise, config.clip_grad).departures()
    if departures:
        st.warning(TEXT["not_langevin"].format(why=draw.not_langevin(departures)))
    run = run_controls(slots, "iebm", config, make_train_run, key="iebm")
    live = run is not None and run.state == RUNNING

    def train_view(r: Run, snap: Snapshot) -> None:
        data, ev = snap.data, r.last_evaluation()
        scale = draw.scale_for(data["grid"].shape[-1])
        left, right = st.columns(2, gap="medium")
        with left:
            draw.picture(data["grid"], cols=8, scale=scale, caption=TEXT["grid"].format(step=snap.step))
            draw.strips(data, scale=scale, caption=TEXT["strips"])
            st.caption(TEXT["followed"].format(**views.followed_ranges(data["strip_lengths"], data["strip_ages"])))
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
                st.caption(TEXT["fresh_scores"].format(m=draw.percent(ev["fresh_min_class_share"]),
                                                       t=num(ev["fresh_top_prob"], 2),
                                                       r=draw.percent(ev["fresh_realistic"])))
        with right:
            draw.psnr_lines(ev, snap.step)
            for kind in ("noisy", "masked"):
                rows = d[f"{kind}_before"][:8], d[kind][:8], d["clean"][:8]
                draw.picture(np.concatenate(rows), cols=8, scale=scale,
                             caption=f"{draw.psnr_what(kind)} — {TEXT['rows']}")

    draw.live_fragment(slots, "iebm_sample", live=live, every=0.5, draw_snapshot=sample_view)


def dimension_section() -> None:
    st.markdown(TEXT["dim_intro"])
    if MEASURED:
        st.caption(TEXT["measured"].format(verdict=TEXT["measured_verdict"]))
        st.dataframe(draw.shown_table(MEASURED), hide_index=True)
        csv_button(MEASURED, TEXT["file_measured"], key="iebd_measured_csv")
    settings = settings_form(SizeComparisonSettings, key="iebd")
    if settings is None:
        return
    sizes = tuple(sorted(settings.sizes))
    per_update_s = sum(0.75 + 0.0035 * s * s for s in sizes)  # measured: 0.9 s (8×8), 1.6 s (16×16), 3.4 s (28×28)
    st.caption(TEXT["dim_estimate"].format(m=num(max(1.0, settings.steps * per_update_s / 60), 0)))

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
            st.error(failure_message(r, r.message))
        rows = list(comparison.rows)
        if rows:
            table = summarise(rows)["rows"]
            st.dataframe(draw.shown_table(table), hide_index=True)
            csv_button(table, TEXT["file_dim_rows"], key="iebd_rows_csv")
            draw.dimension_figure(rows, key="iebd_fig")

    job_controls(slots, "iebm_dimension", make_run, key="iebd", run_label=TEXT["dim_run"], stop_label=TEXT["dim_stop"],
                 every=2.0, results=results)


{"train": train_section, "sample": sample_section, "dimension": dimension_section}[mode]()
