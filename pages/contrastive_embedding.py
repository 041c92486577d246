"""Contrastive embedding: SimCLR, MoCo and PIRL trained live on images; the embedding map with its
positive pairs and hardest negatives; and the lecture's three questions as sweeps."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app import embed_map
from app import embed_views as draw
from app.embed_sweeps import sweeps_section
from app.exports import chart, csv_button
from app.form import settings_form
from app.i18n import language, num, t, texts
from app.jobs import job_wait, start_job
from app.run_controls import ordinal, run_controls, status_line, waiting
from app.session import run_slots
from engine.embed import views
from engine.embed.baselines import Baselines, baselines_run, results_of, settings_key
from engine.embed.config import EmbedConfig
from engine.embed.data import missing_files
from engine.embed.project import start_warm_up
from engine.embed.sprites import Sprites, map_sprites
from engine.embed.trainer import DeferredTrainer, SupervisedTrainer
from engine.run import FAILED, FINISHED, PAUSED, RUNNING, Run, RunOptions

TEXT = texts("contrastive_embedding")
MAP_MODES = ("pca", "umap")

SLOT, SUP_SLOT, BASE_SLOT = "embed", "embed_supervised", "embed_baselines"
LIVE_OPTIONS = dict(snapshot_hz=2.0, evaluate_every_s=4.0, frames_kept=8, checkpoint_every_s=30.0)

st.title(TEXT["title"])
st.markdown(TEXT["intro"])
slots = run_slots()
ss = st.session_state
if ss.get("embed_reset"):  # Reset stops the run and its baselines, first thing and all at once
    for started in (slots.get(SLOT), slots.get(BASE_SLOT), slots.get(SUP_SLOT)):
        if started is not None:
            started.stop(timeout=0)  # raise the flags now; run_controls waits for the run
    slots.replace(BASE_SLOT, None)
    slots.replace(SUP_SLOT, None)
warm = start_warm_up()  # numba compiles UMAP's kernels in a background thread, once per server

st.sidebar.subheader(TEXT["settings"])
config: EmbedConfig | None = settings_form(EmbedConfig, key="embed")
if config is not None and (why := missing_files(config.dataset, config.data_dir)):
    st.error(TEXT["missing"].format(why=why))
    config = None


def make_run(cfg: EmbedConfig) -> Run:
    return Run(DeferredTrainer(cfg), RunOptions(**LIVE_OPTIONS), name="embed")


def start_baselines(cfg: EmbedConfig) -> None:
    """The raw-pixel and random-encoder lines: heavy (a probe on every image), so computed only when Train or
    Step is pressed, at most one job per session; a job for other settings is stopped and replaced."""
    job = slots.get(BASE_SLOT)
    same = job is not None and settings_key(job.trainer.config) == settings_key(cfg)  # type: ignore[attr-defined]
    if same and (job.alive or waiting(job)):  # computing (or waiting to) already
        return
    if Baselines(cfg).done:
        slots.replace(BASE_SLOT, None)
    else:
        start_job(slots, BASE_SLOT, baselines_run(cfg))


if config is not None and (ss.get("embed_train") or ss.get("embed_step")):
    # the baselines join the line before the training (Train resumes a run under way with its own settings):
    # on a server that trains one job at a time they take their few seconds first, instead of waiting for a
    # training run that has no step budget to be paused
    under_way = slots.get(SLOT)
    resumes = under_way is not None and under_way.state in (RUNNING, PAUSED) and under_way.step > 0
    start_baselines(under_way.trainer.config if resumes else config)  # type: ignore[union-attr]
run = run_controls(slots, SLOT, config, make_run, key="embed") if config is not None else slots.get(SLOT)
run_config: EmbedConfig | None = run.trainer.config if run is not None else config  # type: ignore[attr-defined]
if st.button(TEXT["supervised"], key="embed_supervised", disabled=run is None or run_config is None) \
        and not waiting(slots.get(SUP_SLOT)):  # a baseline waiting in line keeps its place
    options = RunOptions(max_seconds=max(run.elapsed, 5.0), evaluate_every_s=None, snapshot_hz=0.5)
    start_job(slots, SUP_SLOT, Run(SupervisedTrainer(run_config), options, name="embed-supervised"))


def map_view(r: Run) -> views.MapView:
    """The map of run `r` (a new run starts a new map: its own PCA signs and UMAP layouts)."""
    if ss.get("embed_map_run") != id(r):
        ss["embed_map_run"], ss["embed_map_view"] = id(r), views.MapView(views.metric_of(r.trainer.config.method))
    return ss["embed_map_view"]


@st.fragment(run_every=1.0)
def live_status() -> None:
    r = slots.get(SLOT)
    if r is None:
        st.info(TEXT["idle"])
        return
    status_line(r)
    snap = r.latest()
    if snap is None:
        st.caption(TEXT["loading"])
        return
    state = views.status(snap.data)
    st.caption(TEXT["status"].format(epoch=state["epoch"], ips=num(state["ips"], 0), seconds=num(state["seconds"], 0)),
               help=TEXT["status_help"])
    job = slots.get(BASE_SLOT)
    if waiting(job):
        job_wait(job, "embed_baselines", {"waiting": TEXT["baselines_queued"]})
    elif job is not None and job.alive:
        st.caption(TEXT["baselines_wait"])
    elif job is not None and job.state == FAILED:
        st.warning(TEXT["baselines_failed"].format(why=job.message))
    sup = slots.get(SUP_SLOT)
    job_wait(sup, "embed_supervised", {"waiting": TEXT["supervised_queued"]})
    done = sup.last_evaluation() if sup is not None and sup.state == FINISHED else None
    lines = views.baseline_lines(results_of(r.trainer.config, job), done)
    c = views.curves(r.history[-3000:], list(r.evaluations))
    chart(draw.curves_figure(c, lines, r.step), "embed_curves", "embedding curves", width="stretch")
    csv_button(draw.curves_table(c), "embedding curves", key="embed_curves_csv")


live_status()


# ---- the embedding map -----------------------------------------------------------------------------
def pick_random_anchor() -> None:
    ss["embed_anchor"] = int(np.random.default_rng().integers(0, ss.get("embed_map_points", 100)))


st.subheader(TEXT["map"])
m1, m2 = st.columns([3, 1])
lang = language()  # bound now: a format_func may be called outside this script run (AppTest does)
m1.radio(TEXT["map_mode"], MAP_MODES, horizontal=True, key="embed_map_mode",
         format_func=lambda mode: t(f"contrastive_embedding.map_modes.{mode}", lang=lang))
m2.toggle(TEXT["map_images"], value=True, key="embed_map_images", help=TEXT["map_images_help"])
status_box = st.container()  # the UMAP status goes here, filled after the map is drawn
a1, a2 = st.columns([3, 1])
a1.number_input(TEXT["anchor"], 0, 20_000, 0, key="embed_anchor")
a2.button(TEXT["random_anchor"], key="embed_random_anchor", on_click=pick_random_anchor)


def map_signature() -> tuple:
    """Everything the map depends on. The map is redrawn only when this changes: a 5,000-point WebGL
    scatter re-sent every second would keep the browser (software WebGL on a server) and the CPU busy."""
    r = slots.get(SLOT)
    snap = r.latest() if r is not None else None
    step = snap.data.get("map_step") if snap is not None else None
    view = ss.get("embed_map_view") if r is not None and ss.get("embed_map_run") == id(r) else None
    return (id(r), step, view.layout_version() if view is not None else None, ss.get("embed_map_mode"),
            ss.get("embed_anchor"), ss.get("embed_map_images"), warm.done.is_set())


def caption(p: views.Projection) -> str:
    shown = TEXT["shown_pca"] if p.shown_step is None else TEXT["shown_umap"].format(step=p.shown_step)
    return TEXT[p.kind].format(step=p.step, s=num(p.seconds, 0), sec=num(p.seconds, 1), err=p.error, shown=shown,
                               place=ordinal(p.place))


def map_sprites_of(r: Run, n: int, key: str) -> Sprites:
    """Thumbnails and positive views of the `n` images on run `r`'s map (computed once per run and size)."""
    kept = ss.get("embed_map_sprites")
    if kept is None or kept[0] != key:
        cfg: EmbedConfig = r.trainer.config  # type: ignore[attr-defined]
        atlas = map_sprites(r.trainer.data, n, cfg.dataset, cfg.augment_strength, cfg.seed)  # type: ignore[attr-defined]
        kept = ss["embed_map_sprites"] = (key, atlas)
    return kept[1]


def anchor_from_click() -> None:
    """A click on the map's point i makes it the anchor (runs before the anchor's widget is drawn)."""
    i = embed_map.clicked_index()
    if i is not None:
        ss["embed_anchor"] = i


def live_map() -> None:
    ss["embed_map_drawn"] = map_signature()
    r = slots.get(SLOT)
    snap = r.latest() if r is not None else None
    if snap is None or "map_z" not in snap.data or r.trainer.data is None:
        st.caption(TEXT["map_wait"])
        return
    data, method = snap.data, r.trainer.config.method
    ss["embed_map_points"] = len(data["map_z"])
    anchor, negs, sims = views.neighbours(data, ss.get("embed_anchor", 0), method)
    projection = map_view(r).project(data, ss.get("embed_map_mode", "pca"), warm)
    ss["embed_map_busy"] = projection.kind in ("umap_busy", "umap_queued")
    st.caption(caption(projection))
    images = r.trainer.data
    classes = draw.class_names(images.classes)
    if ss.get("embed_map_images", True):
        n, cfg = len(data["map_z"]), r.trainer.config
        key = f"{id(r)}-{cfg.dataset}-{cfg.seed}-{cfg.augment_strength}-{n}"  # the atlas: this run's n images
        embed_map.embed_map(data, projection.xy, classes, anchor, negs, key,
                            lambda: map_sprites_of(r, n, key), on_click=anchor_from_click)
    else:
        chart(draw.map_figure(data, projection.xy, classes, anchor, negs), "embed_map", "embedding map",
              width="stretch")
    st.markdown(f"**{TEXT['neighbours']}**")
    draw.neighbour_row(images, classes, data["map_labels"], anchor, negs, sims)


live_map()


# a layout under way is looked for more often: the map shows it within ~0.3 s of its end
@st.fragment(run_every=0.3 if ss.get("embed_map_busy") else 1.0)
def umap_status() -> None:
    key = "umap_error" if warm.error else "umap_ready" if warm.done.is_set() else "umap_warming"
    st.caption(TEXT[key].format(err=warm.error, s=num(warm.seconds, 1 if key == "umap_ready" else 0)))
    if ss.get("embed_map_drawn") != map_signature():
        st.rerun()  # the whole page: the map below is drawn by the script, not by a timer


with status_box:
    umap_status()

# ---- positive-pair gallery ---------------------------------------------------------------------------
with st.expander(TEXT["gallery"], expanded=False):
    g1, g2 = st.columns(2)
    show = g1.button(TEXT["gallery_show"], key="embed_gallery_show")
    if g2.button(TEXT["gallery_new"], key="embed_gallery_new"):
        show = True
        ss["embed_gallery_seed"] = ss.get("embed_gallery_seed", 0) + 1
    if show and config is not None:
        # drawn on a click only and kept: a settings change must not load (or download) a data set
        ss["embed_gallery"] = views.gallery(config, ss.get("embed_gallery_seed", 0))
    if isinstance(ss.get("embed_gallery"), np.ndarray):
        st.image(ss["embed_gallery"], caption=TEXT["gallery_caption"])


# ---- sweeps: the lecture's three questions (app/embed_sweeps.py) ------------------------------------------
sweeps_section(slots, config)
