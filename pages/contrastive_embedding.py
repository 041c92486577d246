"""Contrastive embedding: SimCLR, MoCo and PIRL trained live on images; the embedding map with its
positive pairs and hardest negatives; and the lecture's three questions as sweeps."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app.session import run_slots
from engine.embed.augment import Augmenter, default_augment, positive_pair_gallery
from engine.embed.baselines import BaselineJob
from engine.embed.config import DATASET_DEFAULTS, METHOD_DEFAULTS, EmbedConfig, make_config
from engine.embed.data import DATASETS, missing_files, thumbnail
from engine.embed.objectives.simclr import nt_xent_lower_bound
from engine.embed.project import MapProjector, hardest_negatives, pca_2d, start_warm_up
from engine.embed.sweeps import (
    describe_negatives,
    describe_temperature,
    describe_why_cosine,
    negatives_and_dimension,
    temperature,
    why_cosine,
)
from engine.embed.trainer import DeferredTrainer, SupervisedTrainer, cached_dataset, start_run
from engine.run import Run, RunOptions

TEXT = {
    "title": "Contrastive embedding",
    "intro": (
        "An image x and a content-preserving transformation y of it form a **positive pair**; a network maps "
        "both to vectors h and h′, and a loss built on their cosine similarity lowers the pair's energy while "
        "raising it for **negative pairs** (views of other images). SimCLR takes its negatives from the batch, "
        "MoCo from a queue filled by a slowly moving key encoder, PIRL from a memory bank. The **linear probe** "
        "asks whether the frozen features separate the classes the training never saw."
    ),
    "dataset": "Data set",
    "method": "Method",
    "encoder": "Encoder",
    "seed": "Seed",
    "batch": "Batch size (SimCLR: 2N−2 negatives)",
    "temperature": "Temperature τ",
    "dim": "Embedding dimension d",
    "strength": "Augmentation strength",
    "queue": "MoCo queue (negatives)",
    "bank": "PIRL negatives from the bank",
    "lr": "Learning rate",
    "map_size": "Images on the map",
    "train": "Train",
    "pause": "Pause",
    "step": "Step",
    "reset": "Reset",
    "supervised": "Supervised baseline (same time)",
    "methods": {"simclr": "SimCLR (NT-Xent)", "moco": "MoCo (queue + momentum encoder)",
                "pirl": "PIRL (NCE, heads f and g, memory bank)", "simclr_l2": "SimCLR with L2 energy"},
    "missing": "{why}. Put the files there (see README) or choose digits or shapes.",
    "idle": "Press **Train** (or **Step**) to start. The first evaluation draws the map.",
    "loading": "Loading the data and building the model…",
    "status": "{state} · step {step} · epoch {epoch} · {ips:,.0f} images/s · {seconds:.0f} s of training",
    "curves": "Loss, contrastive accuracy and probe accuracy",
    "loss": "loss",
    "contrastive_batch": "contrastive acc (batch)",
    "probe": "linear probe (test)",
    "knn": "kNN (test)",
    "floor": "cosine loss floor",
    "raw": "raw pixels",
    "random": "random encoder",
    "sup_line": "supervised",
    "baselines_wait": "Baselines (raw pixels, random encoder) are being computed in the background…",
    "map": "Embedding map",
    "map_mode": "Projection",
    "map_pca": "PCA (at once)",
    "map_umap": "UMAP (when ready)",
    "warming": "UMAP is warming up (numba compiles its kernels once per server: {s:.0f} s so far) — showing PCA.",
    "umap_ready": "UMAP ready (warm-up took {s:.1f} s).",
    "umap_warming": "UMAP warming up: {s:.0f} s so far.",
    "umap_busy": "Computing UMAP of step {step}… (showing {shown})",
    "umap_of": "UMAP of step {step} ({sec:.1f} s).",
    "umap_error": "UMAP failed: {err}. Showing PCA.",
    "pca_of": "PCA of step {step}.",
    "map_wait": "The map appears after the first evaluation.",
    "pairs": "positive pairs (two views)",
    "anchor": "Anchor image (index on the map)",
    "random_anchor": "Random anchor",
    "neighbours": "Anchor and its hardest negatives (closest other images; same class = a 'false' negative)",
    "gallery": "Positive pairs: an image and random views of it",
    "gallery_show": "Show positive pairs",
    "gallery_new": "New views",
    "why_title": "Why cosine?",
    "why_intro": (
        "The lecture: with an L2 distance the network can make positives similar by making vectors short, and "
        "negatives dissimilar by making them long. Here SimCLR (cosine) and its L2 variant train side by side "
        "at the same τ; the plot shows the mean norm ‖z‖ of their embeddings and their losses against the "
        "lowest value the cosine loss can take."
    ),
    "neg_title": "Negatives and dimension",
    "neg_intro": (
        "The lecture: in a higher-dimensional embedding there are more places to push up, so contrastive "
        "methods need more negatives. This grid trains MoCo for the same number of steps at each embedding "
        "dimension d and queue length K, and measures probe accuracy, the effective rank of the embeddings "
        "and their uniformity on the sphere (lower = more uniform)."
    ),
    "temp_title": "Temperature",
    "temp_intro": (
        "SimCLR's Table 5: the temperature that makes the pretext task easiest (highest contrastive accuracy: "
        "is my positive the closest view?) is not the one that gives the best features (probe accuracy)."
    ),
    "steps_per_cell": "Training steps per cell",
    "dims": "Dimensions d",
    "ks": "Negatives K (queue length)",
    "taus": "Temperatures τ",
    "start": "Start sweep",
    "stop": "Stop sweep",
    "sweep_progress": "{done}/{cells} cells · step {step}/{total}",
    "sweep_idle": "Not started. The sweep runs in the background; the page stays usable.",
    "norm_plot": "Mean embedding norm ‖z‖",
    "loss_plot": "Loss",
    "probe_acc": "probe accuracy",
    "eff_rank": "effective rank",
    "uniformity": "uniformity",
    "contrastive_test": "contrastive acc (held-out views)",
    "error_prefix": "Stopped: ",
    "status_help": "The probe is refitted every few seconds on frozen features of the whole training split.",
    "choose_dk": "Choose at least one d and one K.",
    "choose_tau": "Choose at least one temperature.",
    "accuracy": "accuracy",
    "hardest": "hardest negatives",
    "gallery_caption": "x | five random views (any two tiles of a row make a positive pair)",
}

SLOT, SUP_SLOT = "embed", "embed_supervised"
SWEEP_SLOTS = {"why": "embed_sweep_why", "neg": "embed_sweep_neg", "temp": "embed_sweep_temp"}
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]
LIVE_OPTIONS = dict(snapshot_hz=2.0, evaluate_every_s=4.0, frames_kept=8, checkpoint_every_s=30.0)

st.title(TEXT["title"])
st.markdown(TEXT["intro"])
slots = run_slots()
warm = start_warm_up()  # numba compiles UMAP's kernels in a background thread, once per server
ss = st.session_state


# ---- controls ----------------------------------------------------------------------------------
def controls() -> EmbedConfig | None:
    c1, c2, c3, c4 = st.columns(4)
    dataset = c1.selectbox(TEXT["dataset"], DATASETS, key="embed_dataset")
    method = c2.selectbox(TEXT["method"], list(TEXT["methods"]), format_func=TEXT["methods"].get, key="embed_method")
    encoder = c3.selectbox(TEXT["encoder"], ["small_cnn", "resnet18"], key="embed_encoder")
    seed = c4.number_input(TEXT["seed"], 0, 10_000, 0, key="embed_seed")
    base = {**DATASET_DEFAULTS.get(dataset, {}), **METHOD_DEFAULTS.get(method, {})}
    c1, c2, c3, c4 = st.columns(4)
    batch = c1.select_slider(TEXT["batch"], [32, 64, 128, 256, 512], value=base.get("batch_size", 256),
                             key=f"embed_batch_{dataset}")
    tau = c2.select_slider(TEXT["temperature"], [0.05, 0.07, 0.1, 0.2, 0.5, 1.0],
                           value=base.get("temperature", 0.2), key=f"embed_tau_{method}")
    dim = c3.select_slider(TEXT["dim"], [4, 8, 16, 32, 64, 128, 256], value=base.get("proj_dim", 64),
                           key="embed_dim")
    strength = c4.slider(TEXT["strength"], 0.0, 2.0, 1.0, 0.1, key="embed_strength")
    c1, c2, c3, c4 = st.columns(4)
    queue = c1.select_slider(TEXT["queue"], [64, 256, 1024, 4096, 16384], value=base.get("queue_size", 4096),
                             key=f"embed_queue_{dataset}", disabled=method != "moco")
    bank = c2.select_slider(TEXT["bank"], [64, 256, 1024, 4096], value=1024, key="embed_bank",
                            disabled=method != "pirl")
    lr = c3.select_slider(TEXT["lr"], [3e-4, 1e-3, 2e-3, 3e-3, 1e-2], value=base.get("lr", 2e-3), key="embed_lr")
    map_size = c4.select_slider(TEXT["map_size"], [500, 1000, 2000, 5000], value=2000, key="embed_map_size")
    why = missing_files(dataset)
    if why:
        st.error(TEXT["missing"].format(why=why))
        return None
    try:
        return make_config(dataset, method, encoder=encoder, seed=int(seed), batch_size=batch, temperature=tau,
                           proj_dim=dim, augment_strength=strength, queue_size=queue, bank_negatives=bank, lr=lr,
                           map_size=map_size, budget_seconds=None, bn_groups=2 if batch % 2 == 0 else 1)
    except ValueError as exc:
        st.error(str(exc))
        return None


config = controls()
run: Run | None = slots.get(SLOT)


def new_run(cfg: EmbedConfig, paused: bool) -> Run:
    ss["embed_projector"] = MapProjector(metric="l2" if cfg.method == "simclr_l2" else "cosine")
    ss["embed_umap_versions"] = {}
    ss["embed_pca"] = {}
    ss["embed_run_config"] = cfg
    return slots.replace(SLOT, start_run(DeferredTrainer(cfg), RunOptions(**LIVE_OPTIONS), "embed", paused))


b1, b2, b3, b4, b5 = st.columns([1, 1, 1, 1, 2])
if b1.button(TEXT["train"], key="embed_train", type="primary", disabled=config is None):
    same = run is not None and ss.get("embed_run_config") == config
    if same and run.state == "paused":
        run.resume()
    elif not (same and run.state == "running"):
        run = new_run(config, paused=False)
if b2.button(TEXT["pause"], key="embed_pause", disabled=run is None or run.state != "running"):
    run.pause()
if b3.button(TEXT["step"], key="embed_step", disabled=config is None):
    if run is None or run.state not in ("running", "paused") or ss.get("embed_run_config") != config:
        run = new_run(config, paused=True)
    run.step_once()
if b4.button(TEXT["reset"], key="embed_reset"):
    slots.replace(SLOT, None)
    slots.replace(SUP_SLOT, None)
    run = None
    for k in ("embed_projector", "embed_umap_versions", "embed_pca", "embed_run_config"):
        ss.pop(k, None)
if b5.button(TEXT["supervised"], key="embed_supervised", disabled=run is None or config is None):
    seconds = max(run.elapsed, 5.0)
    sup = start_run(SupervisedTrainer(ss.get("embed_run_config", config)),
                    RunOptions(max_steps=10**9, evaluate_every_steps=10**9, snapshot_hz=0.5), "embed-supervised")
    sup.add_callback("on_step", lambda r, s=seconds: r.stop() if r.elapsed >= s else None)
    slots.replace(SUP_SLOT, sup)

run_config: EmbedConfig | None = ss.get("embed_run_config")
baselines = BaselineJob.for_config(run_config or config) if (run_config or config) is not None else None


# ---- live: status and curves -------------------------------------------------------------------
def curves_figure(r: Run, cfg: EmbedConfig) -> go.Figure:
    hist = r.history[-3000:]
    fig = go.Figure()
    if hist:
        steps = np.array([h["step"] for h in hist], dtype=np.float32)
        fig.add_scatter(x=steps, y=np.array([h["loss"] for h in hist], dtype=np.float32), name=TEXT["loss"],
                        line=dict(color="#444"))
        if "contrastive_acc" in hist[-1]:
            acc = np.array([h.get("contrastive_acc", np.nan) for h in hist], dtype=np.float64)
            width = max(1, len(acc) // 50)  # trailing mean over ~2 % of the curve
            csum = np.concatenate([[0.0], np.cumsum(acc)])
            lo = np.maximum(np.arange(1, len(acc) + 1) - width, 0)
            smooth = ((csum[1:] - csum[lo]) / (np.arange(1, len(acc) + 1) - lo)).astype(np.float32)
            fig.add_scatter(x=steps, y=smooth, name=TEXT["contrastive_batch"], yaxis="y2", line=dict(color="#9467bd"))
        if cfg.method in ("simclr", "simclr_l2"):
            fig.add_hline(y=nt_xent_lower_bound(cfg.batch_size, cfg.temperature), line_dash="dot",
                          line_color="#444", annotation_text=TEXT["floor"], annotation_position="bottom left")
    evals = list(r.evaluations)
    if evals:
        es = np.array([e["step"] for e in evals], dtype=np.float32)
        fig.add_scatter(x=es, y=np.array([e["linear_probe_acc"] for e in evals], dtype=np.float32),
                        name=TEXT["probe"], yaxis="y2", mode="lines+markers", line=dict(color="#2ca02c", width=3))
        fig.add_scatter(x=es, y=np.array([e["knn_acc"] for e in evals], dtype=np.float32), name=TEXT["knn"],
                        yaxis="y2", mode="lines+markers", line=dict(color="#17becf"))
    lines = dict(baselines.results) if baselines is not None else {}
    sup = slots.get(SUP_SLOT)
    if sup is not None and sup.state in ("stopped", "finished") and sup.evaluations:
        lines["supervised_acc"] = sup.last_evaluation()["linear_probe_acc"]
    names = {"raw_pixels_acc": TEXT["raw"], "random_encoder_acc": TEXT["random"], "supervised_acc": TEXT["sup_line"]}
    colours = {"raw_pixels_acc": "#d62728", "random_encoder_acc": "#ff7f0e", "supervised_acc": "#1f77b4"}
    for key, value in lines.items():
        fig.add_scatter(x=[0, max(r.step, 1)], y=[value, value], name=f"{names[key]} {100 * value:.1f} %",
                        yaxis="y2", mode="lines", line=dict(dash="dash", color=colours[key]))
    fig.update_layout(height=330, margin=dict(l=10, r=10, t=30, b=10), uirevision="embed-curves",
                      xaxis_title="step", yaxis=dict(title=TEXT["loss"], rangemode="tozero"),
                      yaxis2=dict(title=TEXT["accuracy"], overlaying="y", side="right", range=[0, 1.01],
                                  tickformat=".0%", dtick=0.2, showgrid=False),
                      legend=dict(orientation="h", y=-0.25))
    return fig


@st.fragment(run_every=1.0)
def live_status() -> None:
    r = slots.get(SLOT)
    cfg = ss.get("embed_run_config")
    if r is None or cfg is None:
        st.info(TEXT["idle"])
        return
    if r.state == "failed":
        st.error(TEXT["error_prefix"] + r.message)
    trainer: DeferredTrainer = r.trainer  # type: ignore[assignment]
    if not trainer.ready:
        st.caption(TEXT["loading"])
        return
    inner = trainer.inner
    st.caption(TEXT["status"].format(state=r.state, step=r.step, epoch=inner.sampler.epoch,
                                     ips=inner.images_per_second(), seconds=r.elapsed),
               help=TEXT["status_help"])
    if baselines is not None and not baselines.done.is_set():
        st.caption(TEXT["baselines_wait"])
    elif baselines is not None and baselines.error:
        st.warning(baselines.error)
    st.plotly_chart(curves_figure(r, cfg), key="embed_curves", width="stretch")


live_status()


# ---- live: the embedding map -------------------------------------------------------------------
def map_points(snap: dict) -> tuple[np.ndarray, int, int]:
    """The map's input: the map set's z, then the two views of the first pairs (same projection)."""
    z = snap["map_z"]
    pa, pb = snap["map_pair_a"], snap["map_pair_b"]
    return np.concatenate([z, pa, pb]), len(z), len(pa)


def projected(snap: dict, mode: str) -> tuple[np.ndarray, str]:
    """xy for every map point, and a caption; PCA at once, UMAP from the background projector."""
    step = int(snap["map_step"])
    allz, _, _ = map_points(snap)
    pcas: dict = ss.setdefault("embed_pca", {})
    if step not in pcas:
        previous = pcas.get("last")
        pcas.clear()
        pcas[step] = pca_2d(allz, previous if previous is not None and len(previous) == len(allz) else None)
        pcas["last"] = pcas[step]
    pca_xy, pca_caption = pcas[step], TEXT["pca_of"].format(step=step)
    if mode != "umap":
        return pca_xy, pca_caption
    if not warm.done.is_set():
        return pca_xy, TEXT["warming"].format(s=warm.seconds)
    if warm.error:
        return pca_xy, TEXT["umap_error"].format(err=warm.error)
    projector: MapProjector = ss["embed_projector"]
    versions: dict = ss.setdefault("embed_umap_versions", {})
    latest = projector.latest()
    shown_step = versions.get(latest.version) if latest is not None else None
    if shown_step != step and step not in versions.values() and not projector.busy:
        versions[projector.submit(allz)] = step
    if projector.error:
        return pca_xy, TEXT["umap_error"].format(err=projector.error)
    if latest is None or len(latest.xy) != len(allz):
        return pca_xy, TEXT["umap_busy"].format(step=step, shown="PCA")
    if shown_step != step:
        return latest.xy, TEXT["umap_busy"].format(step=step, shown=f"UMAP of step {shown_step}")
    return latest.xy, TEXT["umap_of"].format(step=step, sec=latest.seconds)


def map_figure(snap: dict, xy: np.ndarray, classes: tuple[str, ...], anchor: int, negs: np.ndarray) -> go.Figure:
    _, n, p = map_points(snap)
    labels = snap["map_labels"]
    fig = go.Figure()
    for c in range(len(classes)):
        sel = np.flatnonzero(labels == c)
        fig.add_trace(go.Scattergl(x=xy[sel, 0], y=xy[sel, 1], mode="markers", name=classes[c],
                                   marker=dict(size=4, color=PALETTE[c % len(PALETTE)], opacity=0.6),
                                   customdata=sel, hovertemplate=f"{classes[c]} · #%{{customdata}}<extra></extra>"))
    a, b = xy[n : n + p], xy[n + p : n + 2 * p]
    seg_x = np.stack([a[:, 0], b[:, 0], np.full(p, np.nan)], 1).ravel()
    seg_y = np.stack([a[:, 1], b[:, 1], np.full(p, np.nan)], 1).ravel()
    fig.add_trace(go.Scatter(x=seg_x, y=seg_y, mode="lines+markers", name=TEXT["pairs"],
                             line=dict(color="rgba(0,0,0,0.55)", width=1), marker=dict(size=5, symbol="x"),
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=xy[negs, 0], y=xy[negs, 1], mode="markers", name=TEXT["hardest"],
                             marker=dict(size=13, symbol="circle-open", color="#d62728", line=dict(width=2)),
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[xy[anchor, 0]], y=[xy[anchor, 1]], mode="markers", name=f"anchor #{anchor}",
                             marker=dict(size=18, symbol="star", color="gold", line=dict(width=1, color="black"))))
    fig.update_layout(height=520, margin=dict(l=10, r=10, t=10, b=10), uirevision="embed-map",
                      legend=dict(orientation="h", y=-0.05), xaxis=dict(showticklabels=False),
                      yaxis=dict(showticklabels=False, scaleanchor="x"))
    return fig


def pick_random_anchor() -> None:
    size = ss.get("embed_map_points", 100)
    ss["embed_anchor"] = int(np.random.default_rng().integers(0, size))


st.subheader(TEXT["map"])
mode = st.radio(TEXT["map_mode"], ["pca", "umap"], horizontal=True, key="embed_map_mode",
                format_func=lambda m: TEXT["map_pca"] if m == "pca" else TEXT["map_umap"])


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
    projector = ss.get("embed_projector")
    layout = projector.latest() if projector is not None else None
    return (id(r), step, layout.version if layout is not None else None, ss.get("embed_map_mode"),
            ss.get("embed_anchor"), warm.done.is_set())


@st.fragment(run_every=1.0)
def umap_status() -> None:
    if warm.error:
        st.caption(TEXT["umap_error"].format(err=warm.error))
    elif warm.done.is_set():
        st.caption(TEXT["umap_ready"].format(s=warm.seconds))
    else:
        st.caption(TEXT["umap_warming"].format(s=warm.seconds))
    if ss.get("embed_map_drawn") != map_signature():
        st.rerun()  # the whole page: the map below is drawn by the script, not by a timer


def live_map() -> None:
    ss["embed_map_drawn"] = map_signature()
    r = slots.get(SLOT)
    snap = r.latest() if r is not None else None
    if snap is None or "map_z" not in snap.data:
        st.caption(TEXT["map_wait"])
        return
    data = snap.data
    inner = r.trainer.inner  # type: ignore[attr-defined]
    n_map = len(data["map_z"])
    ss["embed_map_points"] = n_map
    anchor = min(int(ss.get("embed_anchor", 0)), n_map - 1)
    metric = "l2" if inner.config.method == "simclr_l2" else "cosine"
    negs, sims = hardest_negatives(data["map_z"], anchor, 8, metric)
    xy, caption = projected(data, ss.get("embed_map_mode", "pca"))
    st.caption(caption)
    st.plotly_chart(map_figure(data, xy, inner.data.classes, anchor, negs), key="embed_map", width="stretch")
    st.markdown(f"**{TEXT['neighbours']}**")
    labels = data["map_labels"]
    cols = st.columns(len(negs) + 1)
    cols[0].image(thumbnail(inner.map_image(anchor)), caption=f"anchor · {inner.data.classes[labels[anchor]]}")
    for col, i, s in zip(cols[1:], negs, sims, strict=True):
        col.image(thumbnail(inner.map_image(int(i))), caption=f"{inner.data.classes[labels[i]]} · {s:.2f}")


live_map()


with status_box:
    umap_status()


# ---- positive-pair gallery ---------------------------------------------------------------------
with st.expander(TEXT["gallery"], expanded=False):
    g1, g2 = st.columns(2)
    if g1.button(TEXT["gallery_show"], key="embed_gallery_show") and config is not None:
        ss["embed_gallery"] = True
    if g2.button(TEXT["gallery_new"], key="embed_gallery_new"):
        ss["embed_gallery"] = True
        ss["embed_gallery_seed"] = ss.get("embed_gallery_seed", 0) + 1
    if ss.get("embed_gallery") and config is not None:
        import torch

        data = cached_dataset(config.dataset, None, False, config.train_size, config.test_size)
        aug = Augmenter(default_augment(config.dataset, strength=config.augment_strength), data.channels)
        gen = torch.Generator().manual_seed(ss.get("embed_gallery_seed", 0))
        pick = torch.randperm(len(data.x_train), generator=gen)[:6]
        grid = positive_pair_gallery(data.x_train[pick], aug, 5, gen, scale=max(1, 64 // data.size))
        st.image(grid.numpy(), caption=TEXT["gallery_caption"])


# ---- sweeps --------------------------------------------------------------------------------------
def sweep_overrides(cfg: EmbedConfig) -> dict:
    """What the sweeps take from the controls above (each sweep sets its own d, K or τ)."""
    return {"encoder": cfg.encoder, "batch_size": cfg.batch_size, "lr": cfg.lr,
            "augment_strength": cfg.augment_strength, "bn_groups": cfg.bn_groups}


def sweep_controls(key: str, build) -> Run | None:
    c1, c2 = st.columns(2)
    if c1.button(TEXT["start"], key=f"embed_{key}_start", disabled=config is None):
        sweep = build()
        options = RunOptions(max_steps=sweep.total_steps, snapshot_hz=1.0, evaluate_every_s=1e9,
                             checkpoint_every_s=1e9)
        slots.replace(SWEEP_SLOTS[key], start_run(sweep, options, f"embed-{key}"))
    if c2.button(TEXT["stop"], key=f"embed_{key}_stop"):
        r = slots.get(SWEEP_SLOTS[key])
        if r is not None:
            r.stop()
    return slots.get(SWEEP_SLOTS[key])


def sweep_progress(r: Run | None) -> dict | None:
    if r is None:
        st.caption(TEXT["sweep_idle"])
        return None
    if r.state == "failed":
        st.error(TEXT["error_prefix"] + r.message)
    snap = r.latest()
    if snap is None or "rows" not in snap.data:
        st.progress(0.0)
        return None
    d = snap.data
    total = r.options.max_steps or 1
    st.progress(min(r.step / total, 1.0), text=TEXT["sweep_progress"].format(
        done=d["done"], cells=d["cells"], step=r.step, total=total))
    return d


tab_why, tab_neg, tab_temp = st.tabs([TEXT["why_title"], TEXT["neg_title"], TEXT["temp_title"]])

with tab_why:
    st.markdown(TEXT["why_intro"])
    why_steps = st.select_slider(TEXT["steps_per_cell"], [50, 100, 200, 400, 800], value=200, key="embed_why_steps")
    sweep_controls("why", lambda: why_cosine(config.dataset, why_steps, config.seed, **sweep_overrides(config)))

    @st.fragment(run_every=1.0)
    def why_view() -> None:
        d = sweep_progress(slots.get(SWEEP_SLOTS["why"]))
        if not d:
            return
        norm_fig, loss_fig = go.Figure(), go.Figure()
        floor = None
        for label, curve in d["curves"].items():
            if "step" not in curve or not len(curve["step"]):
                continue
            norm_fig.add_scatter(x=curve["step"], y=curve["embedding_norm"], name=label)
            loss_fig.add_scatter(x=curve["step"], y=curve["loss"], name=label)
            if "loss_floor" in curve and len(curve["loss_floor"]):
                floor = float(curve["loss_floor"][0])
        if floor is not None:
            loss_fig.add_hline(y=floor, line_dash="dot", annotation_text=TEXT["floor"])
        for fig, title in ((norm_fig, TEXT["norm_plot"]), (loss_fig, TEXT["loss_plot"])):
            fig.update_layout(height=300, title=title, margin=dict(l=10, r=10, t=40, b=10), xaxis_title="step",
                              uirevision=f"embed-why-{title}")
        c1, c2 = st.columns(2)
        c1.plotly_chart(norm_fig, key="embed_why_norm", width="stretch")
        c2.plotly_chart(loss_fig, key="embed_why_loss", width="stretch")
        r = slots.get(SWEEP_SLOTS["why"])
        if r is not None and d["done"] == d["cells"]:
            st.info(describe_why_cosine(r.trainer))  # type: ignore[arg-type]

    why_view()

with tab_neg:
    st.markdown(TEXT["neg_intro"])
    n1, n2, n3 = st.columns(3)
    dims = n1.multiselect(TEXT["dims"], [2, 4, 8, 16, 32, 64, 128], default=[4, 16, 64], key="embed_neg_dims")
    ks = n2.multiselect(TEXT["ks"], [8, 16, 64, 256, 1024, 4096], default=[16, 256, 1024],
                        key="embed_neg_ks")
    neg_steps = n3.select_slider(TEXT["steps_per_cell"], [25, 50, 100, 200, 400], value=50, key="embed_neg_steps")
    if not dims or not ks:
        st.error(TEXT["choose_dk"])
    else:
        sweep_controls("neg", lambda: negatives_and_dimension(config.dataset, tuple(sorted(dims)), tuple(sorted(ks)),
                                                              neg_steps, seed=config.seed, **sweep_overrides(config)))

    @st.fragment(run_every=1.0)
    def neg_view() -> None:
        d = sweep_progress(slots.get(SWEEP_SLOTS["neg"]))
        if not d or not d["rows"]:
            return
        rows = d["rows"]
        ds = sorted({r["d"] for r in rows})
        kk = sorted({r["K"] for r in rows})
        cols = st.columns(3)
        for col, key, title, scale in ((cols[0], "linear_probe_acc", TEXT["probe_acc"], "Greens"),
                                       (cols[1], "effective_rank", TEXT["eff_rank"], "Blues"),
                                       (cols[2], "uniformity", TEXT["uniformity"], "Purples_r")):
            grid = np.full((len(ds), len(kk)), np.nan, dtype=np.float32)
            for r in rows:
                grid[ds.index(r["d"]), kk.index(r["K"])] = r[key]
            fig = go.Figure(go.Heatmap(z=grid, x=[str(k) for k in kk], y=[str(x) for x in ds], colorscale=scale,
                                       texttemplate="%{z:.3g}", showscale=False))
            fig.update_layout(height=300, title=title, xaxis_title="K", yaxis_title="d",
                              margin=dict(l=10, r=10, t=40, b=10), uirevision=f"embed-neg-{key}")
            col.plotly_chart(fig, key=f"embed_neg_{key}", width="stretch")
        st.info(describe_negatives(rows))

    neg_view()

with tab_temp:
    st.markdown(TEXT["temp_intro"])
    t1, t2 = st.columns(2)
    taus = t1.multiselect(TEXT["taus"], [0.05, 0.1, 0.2, 0.5, 1.0, 2.0], default=[0.05, 0.1, 0.2, 0.5, 1.0],
                          key="embed_taus")
    temp_steps = t2.select_slider(TEXT["steps_per_cell"], [25, 50, 100, 200, 400], value=100, key="embed_temp_steps")
    if not taus:
        st.error(TEXT["choose_tau"])
    else:
        sweep_controls("temp", lambda: temperature(config.dataset, tuple(sorted(taus)), temp_steps, seed=config.seed,
                                                   **sweep_overrides(config)))

    @st.fragment(run_every=1.0)
    def temp_view() -> None:
        d = sweep_progress(slots.get(SWEEP_SLOTS["temp"]))
        if not d or not d["rows"]:
            return
        rows = sorted(d["rows"], key=lambda r: r["temperature"])
        t = np.array([r["temperature"] for r in rows], dtype=np.float32)
        fig = go.Figure()
        fig.add_scatter(x=t, y=np.array([r["contrastive_acc_test"] for r in rows], dtype=np.float32),
                        name=TEXT["contrastive_test"], mode="lines+markers")
        fig.add_scatter(x=t, y=np.array([r["linear_probe_acc"] for r in rows], dtype=np.float32),
                        name=TEXT["probe_acc"], mode="lines+markers")
        fig.update_layout(height=320, xaxis=dict(title="τ", type="log"), yaxis=dict(title=TEXT["accuracy"], range=[0, 1.01]),
                          margin=dict(l=10, r=10, t=10, b=10), uirevision="embed-temp")
        st.plotly_chart(fig, key="embed_temp_fig", width="stretch")
        st.info(describe_temperature(rows))

    temp_view()
