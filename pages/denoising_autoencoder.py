"""Page: a denoising autoencoder as an energy — the quadratic bowl, the vector field and the flat spots
between branches — beside a latent-variable energy that has none."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app.run_controls import run_controls, status_line
from app.session import run_slots
from engine.dae.arrows import arrow_geometry
from engine.dae.config import DAEConfig
from engine.dae.manifolds import MANIFOLDS, get_manifold
from engine.dae.sweep import DEFAULT_SIGMAS, SigmaSweepTrainer
from engine.dae.trainer import DAETrainer
from engine.run import RUNNING, Run, RunOptions

TEXT = {
    "title": "Denoising autoencoder: the quadratic bowl and the flat spots",
    "intro": (
        "A denoising autoencoder $r$ learns to send a corrupted point $\\tilde y$ back to the data $y$ by "
        "minimising $\\|y - r(\\tilde y)\\|^2$. Its reconstruction error $E(y) = \\|y - r(y)\\|^2$ is an "
        "energy that should grow **quadratically** as points move away from the data manifold, and "
        "$r(y) - y$ is a vector field that points back to it. But a corrupted point **halfway between two "
        "branches** came from either side, so $r$ sends such points to both sides and leaves a **flat "
        "spot** there: low energy where there is no data. A latent-variable energy "
        "$F(y) = \\min_z \\|y - g(z)\\|^2$, whose decoder $g$ traces the manifold, has none."
    ),
    "settings": "Settings",
    "dataset": "Data set",
    "corruption": "Corruption",
    "corruption_gaussian": "Gaussian noise σ",
    "corruption_masking": "Masking (dropout) p",
    "sigma": "Noise σ",
    "drop": "Masking probability p",
    "width": "Hidden width",
    "steps": "Step budget",
    "seed": "Seed",
    "scale": "Colour scale",
    "scale_linear": "linear (clipped)",
    "scale_log": "log₁₀",
    "latent_view": "Latent energy drawn",
    "latent_inf": "F∞ = min_z E(y, z)",
    "latent_beta": "F_β (relaxed)",
    "beta": "β",
    "no_run": "Press Train (or Step) to create the models.",
    "metrics": "The three measurements (exact, on a grid)",
    "m_mid": "Midpoint ratio",
    "m_false": "False-low fraction",
    "m_growth": "Growth exponent",
    "dae": "DAE",
    "latent": "latent model",
    "m_mid_help": "energy halfway between two branches ÷ energy at the same distance outside (1 = no flat spot)",
    "m_false_help": ("share of grid points 0.25–1 away from the manifold whose energy is below the 95th "
                     "percentile of the energy on the manifold (0 = none)"),
    "m_growth_help": "slope of log E against log distance for distances 0.1–0.4 (2 = quadratic bowl)",
    "read_mid": ("**Flat spot:** halfway between the branches the DAE's energy is **{dae}** of the energy at "
                 "the same distance outside; the latent model's is {lat}."),
    "read_mid_none": "no flat spot",
    "read_false": ("**False lows:** {dae} of the points 0.25–1 away from the data score as low as the data "
                   "itself; the latent model: {lat}."),
    "read_growth": ("**Bowl:** near the data the DAE's energy grows like d^{dae:.2f} ({shape}); the latent "
                    "model's like d^{lat:.2f}."),
    "shape_quadratic": "a quadratic bowl",
    "shape_flat": "flatter than a bowl: the noise blurs it",
    "shape_steep": "steeper than a bowl",
    "energy_dae": "DAE energy E(y) = ‖y − r(y)‖², manifold in white",
    "energy_latent": "Latent-variable energy {name} (same colour scale), decoder curve g(z) in cyan",
    "field": "Reconstruction field r(y) − y (colour = length; long arrows drawn shortened)",
    "profile": "Energy along a line crossing the branches",
    "profile_dae": "DAE E",
    "profile_latent": "latent F",
    "profile_d2": "squared distance d²",
    "probes": "Corrupted points and where the DAE sends them",
    "probes_help": ("Orange: corrupted training points, ● where they are, × where the DAE sends them. Magenta: "
                    "points near the midpoints; the dotted line follows y ← r(y) twenty times. Click a faint "
                    "grey dot, or drag a box / lasso over the dots, to add your own points (cyan)."),
    "split": "Of the {n} points near the midpoints, the DAE sent {parts}.",
    "split_part": "{k} to the {branch}",
    "clear": "Clear my points",
    "sweep": "How the flat spots grow with noise: a σ sweep",
    "sweep_intro": ("One DAE per σ, trained side by side from the same start on the same batches (data set and "
                    "width from the settings). Watch the midpoint ratio fall and the false lows spread as σ grows."),
    "sweep_steps": "Sweep steps",
    "sweep_run": "Run σ sweep",
    "sweep_stop": "Stop sweep",
    "sweep_none": "Press “Run σ sweep” to train one DAE per σ.",
    "sweep_progress": "σ sweep: step {step:,} of {total:,}",
    "sweep_pick": "Show σ",
    "sweep_metrics": "Measurements against σ",
    "sweep_energy": "DAE energy at σ = {sigma:g}",
    "sweep_profiles": "Energy profiles for every σ",
    "invalid": "Invalid settings: {err}",
}
LIVE_EVERY_S = 1.0
BETAS = [0.3, 1.0, 3.0, 10.0, 30.0, 100.0]

st.title(TEXT["title"])
st.markdown(TEXT["intro"])

with st.sidebar:
    st.subheader(TEXT["settings"])
    names = sorted(MANIFOLDS)
    dataset = st.selectbox(TEXT["dataset"], names, index=names.index("two_circles"), key="dae_dataset")
    st.caption(MANIFOLDS[dataset].description)
    corruption = st.radio(TEXT["corruption"], ["gaussian", "masking"], key="dae_corruption",
                          format_func=lambda c: TEXT[f"corruption_{c}"], horizontal=True)
    sigma = st.slider(TEXT["sigma"], 0.05, 1.5, 0.5, 0.05, key="dae_sigma", disabled=corruption != "gaussian")
    drop = st.slider(TEXT["drop"], 0.1, 0.9, 0.5, 0.05, key="dae_drop", disabled=corruption != "masking")
    width = st.select_slider(TEXT["width"], [16, 32, 64, 128, 256], value=128, key="dae_width")
    steps = st.number_input(TEXT["steps"], 10, 100_000, 3000, step=500, key="dae_steps")
    seed = st.number_input(TEXT["seed"], 0, 2**31 - 1, 0, key="dae_seed")
    scale = st.radio(TEXT["scale"], ["linear", "log"], key="dae_scale", horizontal=True,
                     format_func=lambda s: TEXT[f"scale_{s}"])
    latent_view = st.radio(TEXT["latent_view"], ["inf", "beta"], key="dae_latent_view",
                           format_func=lambda v: TEXT[f"latent_{v}"])
    beta = st.select_slider(TEXT["beta"], BETAS, value=10.0, key="dae_beta", disabled=latent_view != "beta")

try:
    config = DAEConfig(dataset=dataset, corruption=corruption, sigma=float(sigma), drop=float(drop),
                       width=int(width), steps=int(steps), seed=int(seed))
except ValueError as err:
    st.error(TEXT["invalid"].format(err=err))
    st.stop()

manifold = get_manifold(dataset)
box = manifold.box
half_gap = manifold.half_gap()
E_TOP = 4 * half_gap**2  # energies drawn up to (twice the half gap)²
view_beta = float(beta) if latent_view == "beta" else None


def make_run(cfg: DAEConfig) -> Run:
    return Run(DAETrainer(cfg), RunOptions(max_steps=cfg.steps, snapshot_hz=4, evaluate_every_s=1.0), name="dae")


slots = run_slots()
run = run_controls(slots, "dae", config, make_run, key="dae")
if run is not None:
    run.trainer.view_beta = view_beta  # the next frame draws the chosen latent energy
live = run is not None and run.state == RUNNING


@st.cache_data(show_spinner=False)
def branch_lines(name: str) -> list[np.ndarray]:
    return [b.numpy() for b in get_manifold(name).branches(256)]


# ---- drawing --------------------------------------------------------------------------------------
def _square(fig: go.Figure, title: str, rev: str, height: int = 430) -> go.Figure:
    fig.update_layout(title=dict(text=title, font=dict(size=13)), uirevision=rev, height=height,
                      margin=dict(l=10, r=10, t=40, b=10), showlegend=False,
                      xaxis=dict(range=[-box, box], constrain="domain"),
                      yaxis=dict(range=[-box, box], scaleanchor="x", constrain="domain"))
    return fig


def _add_manifold(fig: go.Figure, colour: str = "white", w: float = 1.5) -> None:
    for line in branch_lines(dataset):
        fig.add_scatter(x=line[:, 0], y=line[:, 1], mode="lines", line=dict(color=colour, width=w),
                        hoverinfo="skip")


def _shown(e: np.ndarray) -> tuple[np.ndarray, float, float, str]:
    if scale == "log":
        return np.log10(np.maximum(e, 1e-4)), -3.0, float(np.log10(E_TOP)), "log₁₀ E"
    return np.minimum(e, E_TOP), 0.0, E_TOP, "E"


def energy_figure(e: np.ndarray, title: str, rev: str, curve: np.ndarray | None = None) -> go.Figure:
    n = e.shape[0]
    axis = -box + (np.arange(n) + 0.5) * 2 * box / n
    z, lo, hi, label = _shown(e)
    fig = go.Figure(go.Heatmap(z=z, x=axis, y=axis, zmin=lo, zmax=hi, colorscale="Viridis",
                               colorbar=dict(title=label, thickness=12)))
    _add_manifold(fig)
    if curve is not None:
        for branch in curve:
            fig.add_scatter(x=branch[:, 0], y=branch[:, 1], mode="lines", hoverinfo="skip",
                            line=dict(color="cyan", width=1.5, dash="dot"))
    return _square(fig, title, rev)


def field_figure(d: dict) -> go.Figure:
    xy, uv = d["field_xy"], d["field_uv"]
    spacing = float(xy[1, 0] - xy[0, 0]) if len(xy) > 1 else 1.0
    top = 2 * half_gap
    arrows = arrow_geometry(xy, uv, max_len=0.9 * spacing, edges=np.linspace(0, top, 7))
    fig = go.Figure()
    _add_manifold(fig, "#888", 1.0)
    colours = ["#440154", "#414487", "#2a788e", "#22a884", "#7ad151", "#fde725"]
    for b, colour in zip(arrows.bins, colours, strict=True):
        fig.add_scatter(x=b.x, y=b.y, mode="lines", line=dict(color=colour, width=1.6), hoverinfo="skip",
                        name=f"{b.lo:.2f}–{b.hi:.2f}")
    fig.add_scatter(x=arrows.tip_x, y=arrows.tip_y, mode="markers", name="field",
                    marker=dict(symbol="arrow", size=8, angle=arrows.angle, color=arrows.length,
                                colorscale="Viridis", cmin=0, cmax=top,
                                colorbar=dict(title="‖r(y) − y‖", thickness=12)),
                    customdata=arrows.length, hovertemplate="length %{customdata:.3f}<extra></extra>")
    return _square(fig, TEXT["field"], "dae_field")


def profile_figure(d: dict) -> go.Figure:
    s = d["profile_s"]
    fig = go.Figure()
    if "profile_latent" in d:
        fig.add_scatter(x=s, y=d["profile_latent"], name=TEXT["profile_latent"], mode="lines",
                        line=dict(color="cyan", width=4), opacity=0.55)
    fig.add_scatter(x=s, y=d["profile_dae"], name=TEXT["profile_dae"], mode="lines", line=dict(color="#ff7f0e"))
    fig.add_scatter(x=s, y=d["profile_d2"], name=TEXT["profile_d2"], mode="lines",
                    line=dict(color="#bbb", dash="dash", width=1.2))
    a, b = manifold.profile_ends
    fig.update_layout(title=dict(text=f"{TEXT['profile']} {a} → {b}", font=dict(size=13)), height=430,
                      uirevision="dae_profile", margin=dict(l=10, r=10, t=40, b=10),
                      xaxis_title="position along the line", yaxis=dict(range=[0, E_TOP], title="energy"),
                      legend=dict(orientation="h", y=-0.15))
    return fig


def _segments(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    seg = np.full((len(a), 3, 2), np.nan)
    seg[:, 0], seg[:, 1] = a, b
    return seg[..., 0].ravel(), seg[..., 1].ravel()


def _add_moves(fig: go.Figure, start: np.ndarray, end: np.ndarray, colour: str, name: str) -> None:
    if len(start) == 0:
        return
    x, y = _segments(start, end)
    fig.add_scatter(x=x, y=y, mode="lines", line=dict(color=colour, width=1.3), hoverinfo="skip", name=name)
    fig.add_scatter(x=start[:, 0], y=start[:, 1], mode="markers", marker=dict(color=colour, size=7), name=name)
    fig.add_scatter(x=end[:, 0], y=end[:, 1], mode="markers", name=name,
                    marker=dict(color=colour, size=7, symbol="x-thin", line=dict(width=2, color=colour)))


TARGET_N = 25


def probe_figure(d: dict, clicked: np.ndarray, clicked_out: np.ndarray) -> go.Figure:
    fig = go.Figure()
    t = np.linspace(-box, box, TARGET_N + 2)[1:-1]
    tx, ty = np.meshgrid(t, t)
    # trace 0: the click targets (selection events report points of this trace)
    fig.add_scatter(x=tx.ravel(), y=ty.ravel(), mode="markers", name="pick",
                    marker=dict(color="#999", size=6, opacity=0.25), hovertemplate="(%{x:.2f}, %{y:.2f})<extra></extra>")
    _add_manifold(fig, "#bbb", 2.0)
    _add_moves(fig, d["probe_in"], d["probe_out"], "#ff7f0e", "corrupted")
    _add_moves(fig, d["midpoint_probe_in"], d["midpoint_probe_out"], "#e040fb", "near the midpoint")
    path = d.get("midpoint_probe_path")
    if path is not None:  # (steps + 1, n, 2): NaN-separated polylines, one per point
        seg = np.concatenate([path, np.full((1,) + path.shape[1:], np.nan)]).transpose(1, 0, 2).reshape(-1, 2)
        fig.add_scatter(x=seg[:, 0], y=seg[:, 1], mode="lines", name="repeated r",
                        line=dict(color="#e040fb", width=1, dash="dot"), hoverinfo="skip")
    _add_moves(fig, clicked, clicked_out, "#00e5ff", "yours")
    fig.update_layout(dragmode="select", clickmode="event+select")
    return _square(fig, TEXT["probes"], "dae_probes", height=480)


# ---- the live view -------------------------------------------------------------------------------
def _pct(v: float) -> str:
    return f"{100 * v:.0f} %" if v >= 0.1 else f"{100 * v:.1f} %"


def metrics_block(d: dict) -> None:
    st.markdown(f"**{TEXT['metrics']}**")
    rows = [("midpoint_ratio", "m_mid", "{:.3f}"), ("false_low", "m_false", "{:.3f}"),
            ("growth_exponent", "m_growth", "{:.2f}")]
    for col, (name, label, fmt) in zip(st.columns(3, border=True), rows, strict=True):
        with col:
            st.markdown(f"**{TEXT[label]}**", help=TEXT[f"{label}_help"])
            for sub, who in zip(st.columns(2), ("dae", "latent"), strict=True):
                v = d.get(f"{who}_{name}")
                sub.metric(TEXT[who], "…" if v is None else fmt.format(v))
    if "dae_midpoint_ratio" not in d:
        return
    lat_mid = d["latent_midpoint_ratio"]
    g = d["dae_growth_exponent"]
    shape = TEXT["shape_quadratic"] if 1.6 <= g <= 2.5 else TEXT["shape_flat"] if g < 1.6 else TEXT["shape_steep"]
    st.markdown("  \n".join([
        TEXT["read_mid"].format(dae=_pct(d["dae_midpoint_ratio"]),
                                lat=_pct(lat_mid) + (f" ({TEXT['read_mid_none']})" if abs(lat_mid - 1) < 0.1 else "")),
        TEXT["read_false"].format(dae=_pct(d["dae_false_low"]), lat=_pct(d["latent_false_low"])),
        TEXT["read_growth"].format(dae=g, shape=shape, lat=d["latent_growth_exponent"]),
    ]))


def _clicked_points(event) -> np.ndarray | None:
    """Points of the click-target trace picked by a click, a box or a lasso; None if nothing new."""
    try:
        points = event.selection.points
    except AttributeError:
        return None
    picked = [(p["x"], p["y"]) for p in points if p.get("curve_number") == 0]
    return np.array(picked, dtype=np.float32) if picked else None


def live_body(r: Run | None) -> None:
    status_line(r)
    snap = r.latest() if r is not None else None
    if snap is None:
        st.info(TEXT["no_run"])
        return
    d = snap.data
    metrics_block(d)
    trainer: DAETrainer = r.trainer
    latent_e = d.get("latent_energy")
    shown_beta = d.get("latent_beta", 0.0) or None
    if latent_e is not None and shown_beta != view_beta and r.state != RUNNING:
        with r.model_lock:  # paused: draw the newly chosen latent energy now, not at the next frame
            latent_e = trainer.latent_grid(view_beta)
    c1, c2 = st.columns(2)
    with c1:
        st.plotly_chart(energy_figure(d["energy"], TEXT["energy_dae"], "dae_e"), key="dae_energy_chart")
    with c2:
        if latent_e is not None:
            name = "F∞" if view_beta is None else f"F_β, β = {view_beta:g}"
            st.plotly_chart(energy_figure(latent_e, TEXT["energy_latent"].format(name=name), "dae_f",
                                          d.get("latent_curve")), key="dae_latent_chart")
    c3, c4 = st.columns(2)
    with c3:
        st.plotly_chart(field_figure(d), key="dae_field_chart")
    with c4:
        st.plotly_chart(profile_figure(d), key="dae_profile_chart")
    clicked = st.session_state.get("dae_clicked", np.zeros((0, 2), np.float32))
    clicked_out = np.zeros((0, 2), np.float32)
    if len(clicked):
        with r.model_lock:
            clicked_out = trainer.reconstruct(clicked)
    c5, c6 = st.columns([3, 2])
    with c5:
        event = st.plotly_chart(probe_figure(d, clicked, clicked_out), key="dae_probe_chart", on_select="rerun",
                                selection_mode=("points", "box", "lasso"))
        picked = _clicked_points(event)
        if picked is not None and (len(picked) != len(clicked) or not np.allclose(picked, clicked)):
            st.session_state["dae_clicked"] = picked
            st.rerun(scope="fragment")
    with c6:
        st.caption(TEXT["probes_help"])
        split = d["midpoint_split"]
        parts = ", ".join(TEXT["split_part"].format(k=int(k), branch=b)
                          for k, b in zip(split, manifold.branch_names, strict=True))
        st.markdown(TEXT["split"].format(n=int(split.sum()), parts=parts))
        if st.button(TEXT["clear"], key="dae_clear", disabled=not len(clicked)):
            st.session_state["dae_clicked"] = np.zeros((0, 2), np.float32)
            st.rerun(scope="fragment")


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
st.caption(TEXT["sweep_intro"] + f" σ ∈ {{{', '.join(f'{s:g}' for s in DEFAULT_SIGMAS)}}}.")
s1, s2, s3 = st.columns([2, 1, 1])
sweep_steps = s1.number_input(TEXT["sweep_steps"], 10, 20_000, 1500, step=250, key="dae_sweep_steps")
if s2.button(TEXT["sweep_run"], key="dae_sweep_run", type="primary", width="stretch"):
    sweep_config = DAEConfig(dataset=dataset, width=int(width), seed=int(seed), steps=int(sweep_steps),
                             view_grid=48, probes=0)
    slots.replace("dae_sweep", Run(SigmaSweepTrainer(sweep_config),
                                   RunOptions(max_steps=int(sweep_steps), snapshot_hz=2, evaluate_every_s=2.0),
                                   name="dae_sweep").start())
sweep = slots.get("dae_sweep")
if s3.button(TEXT["sweep_stop"], key="dae_sweep_stop", width="stretch",
             disabled=sweep is None or sweep.state != RUNNING):
    sweep.stop()
sweep_live = sweep is not None and sweep.state == RUNNING


def sweep_metrics_figure(d: dict) -> go.Figure:
    fig = go.Figure()
    sig = d["sigmas"]
    if "midpoint_ratio" in d:
        fig.add_scatter(x=sig, y=d["midpoint_ratio"], name=f"{TEXT['m_mid']} · {TEXT['dae']}", mode="lines+markers")
        fig.add_scatter(x=sig, y=d["false_low"], name=f"{TEXT['m_false']} · {TEXT['dae']}", mode="lines+markers")
    fig.add_scatter(x=[sig[0], sig[-1]], y=[1, 1], name=f"{TEXT['m_mid']} · {TEXT['latent']}", mode="lines",
                    line=dict(color="cyan", dash="dot"))
    fig.update_layout(title=dict(text=TEXT["sweep_metrics"], font=dict(size=13)), height=380,
                      uirevision="dae_sweep_m", margin=dict(l=10, r=10, t=40, b=10), xaxis_title="σ",
                      yaxis=dict(range=[0, 1.1]), legend=dict(orientation="h", y=-0.2))
    return fig


def sweep_profiles_figure(d: dict, pick: int) -> go.Figure:
    fig = go.Figure()
    fig.add_scatter(x=d["profile_s"], y=d["profile_d2"], name=TEXT["profile_d2"], mode="lines",
                    line=dict(color="#aaa", dash="dash"))
    for i, s in enumerate(d["sigmas"]):
        fig.add_scatter(x=d["profile_s"], y=d["profile_dae"][i], name=f"σ = {s:g}", mode="lines",
                        line=dict(width=3.5 if i == pick else 1.2), opacity=1.0 if i == pick else 0.6)
    fig.update_layout(title=dict(text=TEXT["sweep_profiles"], font=dict(size=13)), height=380,
                      uirevision="dae_sweep_p", margin=dict(l=10, r=10, t=40, b=10),
                      yaxis=dict(range=[0, E_TOP]), legend=dict(orientation="h", y=-0.2))
    return fig


@st.fragment(run_every=2.0 if sweep_live else None)
def sweep_fragment() -> None:
    r = slots.get("dae_sweep")
    snap = r.latest() if r is not None else None
    if snap is None:
        st.info(TEXT["sweep_none"])
        return
    total = r.options.max_steps or 1
    st.progress(min(1.0, r.step / total), text=TEXT["sweep_progress"].format(step=r.step, total=total))
    d = snap.data
    sigmas = [float(s) for s in d["sigmas"]]
    pick_sigma = st.select_slider(TEXT["sweep_pick"], sigmas, value=sigmas[len(sigmas) // 2], key="dae_sweep_sigma")
    pick = sigmas.index(pick_sigma)
    c1, c2, c3 = st.columns(3)
    with c1:
        st.plotly_chart(energy_figure(d["energy"][pick], TEXT["sweep_energy"].format(sigma=pick_sigma),
                                      "dae_sweep_e"), key="dae_sweep_energy")
    with c2:
        st.plotly_chart(sweep_profiles_figure(d, pick), key="dae_sweep_profiles")
    with c3:
        st.plotly_chart(sweep_metrics_figure(d), key="dae_sweep_metrics")
    if sweep_live and r.state != RUNNING:
        st.rerun()  # the sweep ended: redraw the page once and stop polling


sweep_fragment()
