"""Page: a denoising autoencoder as an energy — the quadratic bowl, the vector field and the flat spots
between branches — beside a latent-variable energy that has none.

Binds and draws: the settings come from their declarations (engine/dae/config.py, app/form.py), the
numbers from engine/dae/views.py, the figures from app/dae_views.py."""

from __future__ import annotations

from functools import partial

import numpy as np
import streamlit as st

from app import dae_views as draw
from app.exports import chart, csv_button
from app.form import settings_form
from app.i18n import language, num, t, texts
from app.jobs import active, carry_on, job_wait, start_job, stop_job
from app.run_controls import run_controls, status_line
from app.session import run_slots
from engine.dae import views
from engine.dae.config import DAEConfig
from engine.dae.manifolds import MANIFOLDS
from engine.dae.sweep import SweepConfig
from engine.run import RUNNING, Run

TEXT = texts("denoising_autoencoder")
LIVE_EVERY_S = 1.0
BETAS = [0.3, 1.0, 3.0, 10.0, 30.0, 100.0]

st.title(TEXT["title"])
st.markdown(TEXT["intro"])

st.sidebar.subheader(TEXT["settings"])
config = settings_form(DAEConfig, key="dae")
with st.sidebar:
    st.subheader(TEXT["view"])
    # options' names read now, in this run's language (a format_func is also called outside the run)
    scales = {s: TEXT[f"scale_{s}"] for s in ("linear", "log")}
    log_scale = st.radio(TEXT["scale"], list(scales), key="dae_scale", horizontal=True, format_func=scales.get) == "log"
    latents = {v: TEXT[f"latent_{v}"] for v in ("inf", "beta")}
    latent_view = st.radio(TEXT["latent_view"], list(latents), key="dae_latent_view", format_func=latents.get)
    beta = st.select_slider(TEXT["beta"], BETAS, value=10.0, key="dae_beta", disabled=latent_view != "beta",
                            format_func=partial(draw.plain, lang=language()))
if config is None:
    st.stop()
st.sidebar.caption(t(views.description_key(config.dataset), MANIFOLDS[config.dataset].description))
beta_shown = float(beta) if latent_view == "beta" else None

slots = run_slots()
run = run_controls(slots, "dae", config, views.live_run, key="dae")
live = run is not None and run.state == RUNNING


# ---- the live view -------------------------------------------------------------------------------
def metrics_block(d: dict) -> None:
    st.markdown(f"**{TEXT['metrics']}**")
    rows = [("midpoint_ratio", "m_mid", 3), ("false_low", "m_false", 3), ("growth_exponent", "m_growth", 2)]
    for col, (name, label, digits) in zip(st.columns(3, border=True), rows, strict=True):
        with col:
            st.markdown(f"**{TEXT[label]}**", help=TEXT[f"{label}_help"])
            for sub, who in zip(st.columns(2), ("dae", "latent"), strict=True):
                v = d.get(f"{who}_{name}")
                sub.metric(TEXT[who], "…" if v is None else num(v, digits))
    r = views.readings(d, num)
    if r is None:
        return
    st.markdown("  \n".join([
        TEXT["read_mid"].format(dae=r["mid_dae"],
                                lat=r["mid_latent"] + (TEXT["read_mid_none"] if r["latent_no_flat_spot"] else "")),
        TEXT["read_false"].format(dae=r["false_dae"], lat=r["false_latent"]),
        TEXT["read_growth"].format(dae=num(r["growth_dae"], 2), shape=TEXT[f"shape_{r['shape']}"],
                                   lat=num(r["growth_latent"], 2)),
    ]))


def probes_block(r: Run, d: dict, dataset: str) -> None:
    clicked = st.session_state.get("dae_clicked", views.NO_POINTS)
    c5, c6 = st.columns([3, 2])
    with c5:
        fig = draw.probe_figure(d, clicked, views.reconstruct(r, clicked), dataset, TEXT["probes"])
        event = chart(fig, "dae_probe_chart", TEXT["file_probes"], on_select="rerun",
                      selection_mode=("points", "box", "lasso"))
        picked = draw.picked_points(event)
        if picked is not None and (len(picked) != len(clicked) or not np.allclose(picked, clicked)):
            st.session_state["dae_clicked"] = picked
            st.rerun(scope="fragment")
    with c6:
        st.caption(TEXT["probes_help"])
        split = views.midpoint_split(d, dataset)
        parts = ", ".join(TEXT["split_part"].format(k=k, branch=t(views.branch_key(dataset, i), b))
                          for i, (k, b) in enumerate(split))
        st.markdown(TEXT["split"].format(n=sum(k for k, _ in split), parts=parts))
        if st.button(TEXT["clear"], key="dae_clear", disabled=not len(clicked)):
            st.session_state["dae_clicked"] = views.NO_POINTS
            st.rerun(scope="fragment")


def live_body(r: Run | None) -> None:
    status_line(r)
    snap = r.latest() if r is not None else None
    if snap is None:
        st.info(TEXT["no_run"])
        return
    d, dataset = snap.data, views.dataset_of(r)
    metrics_block(d)
    latent = views.latent_view(r, d, beta_shown)
    c1, c2 = st.columns(2)
    with c1:
        chart(draw.energy_figure(d["energy"], dataset, log_scale, TEXT["energy_dae"], "dae_e"), "dae_energy_chart",
              TEXT["file_energy_dae"])
    with c2:
        if latent is not None:
            name = "F∞" if latent["beta"] is None else f"F_β, β = {draw.short(latent['beta'])}"
            chart(draw.energy_figure(latent["energy"], dataset, log_scale, TEXT["energy_latent"].format(name=name),
                                     "dae_f", d.get("latent_curve")), "dae_latent_chart", TEXT["file_energy_latent"])
    c3, c4 = st.columns(2)
    with c3:
        chart(draw.field_figure(d, dataset, TEXT["field"]), "dae_field_chart", TEXT["file_field"])
    with c4:
        profile = None if latent is None else latent["profile"]
        chart(draw.profile_figure(d, profile, dataset, TEXT), "dae_profile_chart", TEXT["file_profile"])
    probes_block(r, d, dataset)


@st.fragment(run_every=LIVE_EVERY_S if live else None)
def live_fragment() -> None:
    r = slots.get("dae")
    live_body(r)
    if live and (r is None or r.state != RUNNING):
        st.rerun()  # the run ended: redraw the page once (buttons, status) and stop polling


live_fragment()

# ---- the σ sweep -----------------------------------------------------------------------------------
st.divider()
st.subheader(TEXT["sweep"])
st.caption(TEXT["sweep_intro"])
s1, s2, s3 = st.columns([2, 1, 1])
sweep_config = settings_form(SweepConfig, key="dae_sweep", container=s1)
sweep = slots.get("dae_sweep")
if s2.button(TEXT["sweep_run"], key="dae_sweep_run", type="primary", width="stretch", disabled=sweep_config is None) \
        and not carry_on(slots, "dae_sweep"):  # one waiting keeps its place, a paused one goes on
    start_job(slots, "dae_sweep", views.sweep_run(config, sweep_config))
sweep = slots.get("dae_sweep")
if s3.button(TEXT["sweep_stop"], key="dae_sweep_stop", width="stretch", disabled=not active(sweep)):
    stop_job(slots, "dae_sweep")
sweep_live = sweep is not None and sweep.state == RUNNING


@st.fragment(run_every=2.0 if sweep_live else None)
def sweep_fragment() -> None:
    r = slots.get("dae_sweep")
    if job_wait(r, "dae_sweep"):
        return
    snap = r.latest() if r is not None else None
    if snap is None:
        st.info(TEXT["sweep_none"])
        return
    done, step, total = views.sweep_progress(r)
    st.progress(done, text=TEXT["sweep_progress"].format(step=num(step, 0), total=num(total, 0)))
    d, dataset = snap.data, views.dataset_of(r)
    sigmas, middle = views.sweep_pick(d["sigmas"])
    pick_sigma = st.select_slider(TEXT["sweep_pick"], sigmas, value=middle, key="dae_sweep_sigma",
                                  format_func=partial(draw.plain, lang=language()))
    pick = sigmas.index(pick_sigma)
    c1, c2, c3 = st.columns(3)
    with c1:
        chart(draw.energy_figure(d["energy"][pick], dataset, log_scale, TEXT["sweep_energy"].format(sigma=draw.short(pick_sigma)),
                                 "dae_sweep_e"), "dae_sweep_energy", TEXT["file_sweep_energy"])
    with c2:
        chart(draw.sweep_profiles_figure(d, pick, dataset, TEXT), "dae_sweep_profiles", TEXT["file_sweep_profiles"])
    with c3:
        chart(draw.sweep_metrics_figure(d, TEXT), "dae_sweep_metrics", TEXT["file_sweep_metrics"])
        # this fragment redraws every 2 s while the sweep trains: one row per σ, cheap to write
        csv_button(draw.sweep_table(d), TEXT["file_sweep_metrics"], key="dae_sweep_csv")
    if sweep_live and r.state != RUNNING:
        st.rerun()  # the sweep ended: redraw the page once and stop polling


sweep_fragment()
