"""Page: maximum likelihood pushes the energy down on the data and up everywhere else."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app.exports import chart, csv_button
from app.form import settings_form
from app.i18n import num, plotly_separators, t, texts
from app.live_canvas import live_canvas
from app.run_controls import run_controls, status_line
from app.session import run_slots
from app.toy_views import curves_figure, curves_table
from engine.run import RUNNING, Run, RunOptions
from engine.toy.config import ToyConfig
from engine.toy.data import CLOSED_FORM, DATASETS
from engine.toy.trainer import ToyTrainer, data_log_density_on_grid
from engine.toy.views import data_points, push_field, shift_invariance

TEXT = texts("maximum_likelihood")


def short(x: float) -> str:
    """A setting's value as few digits as it needs ("5", "-2.5"), with the language's decimal mark."""
    text = f"{x:g}"
    return text if "e" in text else num(x, len(text.partition(".")[2]))


def tiny(x: float) -> str:
    """A small number in scientific notation ("1.2e-07"), with the language's decimal mark."""
    mantissa, _, exponent = f"{x:.1e}".partition("e")
    return f"{num(float(mantissa), 1)}e{exponent}"


st.title(TEXT["title"])
st.markdown(TEXT["intro"])

# The page starts narrower than the CLI (width 64 trains ~54 steps/s against ~23 at 128 on the shared
# 2-core CPU, and the live view shows one frame per step, so it keeps ≥ 24 frames/s).
PAGE_DEFAULTS = {"width": 64}

st.sidebar.subheader(TEXT["settings"])
config = settings_form(ToyConfig, key="ml", fixed={"method": "ml"}, defaults=PAGE_DEFAULTS)
# the words read now, in this run's language: a widget's format_func may be called later, outside the run
VIEWS = {"smooth": TEXT["view_smooth"], "plain": TEXT["view_plain"]}
with st.sidebar:
    view = st.radio(TEXT["view"], list(VIEWS), key="ml_view", format_func=VIEWS.__getitem__)
if config is None:
    st.stop()
dataset = config.dataset
ds = DATASETS[dataset]
st.sidebar.caption(TEXT["density_exact" if ds.density_kind == CLOSED_FORM else "density"].format(
    description=t(ds.text_key, ds.description), kind=t(ds.density_key, ds.density_kind)))


def make_run(cfg: ToyConfig) -> Run:
    return Run(ToyTrainer(cfg), RunOptions(max_steps=cfg.steps, snapshot_hz=40, evaluate_every_s=1.0), name="ml")


slots = run_slots()
run = run_controls(slots, "ml", config, make_run, key="ml")
box = ds.box
extent = (-box, box, -box, box)
live = run is not None and run.state == RUNNING
left, right = st.columns([11, 10], gap="medium")


def end_check(r: Run | None) -> None:
    status_line(r)
    if live and (r is None or r.state != RUNNING):
        st.rerun()  # the run ended: redraw the whole page once (curves, buttons) and stop polling


@st.fragment(run_every=0.25 if live else None)
def smooth_fragment() -> None:
    r = slots.get("ml")
    st.caption(TEXT["landscape"])
    live_canvas(r, key="ml_canvas", extent=extent, static_points=data_points(dataset))
    end_check(r)


def plain_view(r: Run | None) -> None:
    snap = r.latest() if r is not None else None
    if snap is None:
        st.info(TEXT["no_run"])
        return
    energy = snap.data["energy"]
    cell = 2 * box / energy.shape[0]  # cell centres, as on the engine's grid
    fig = go.Figure(go.Heatmap(z=energy, x0=-box + cell / 2, dx=cell, y0=-box + cell / 2, dy=cell,
                               colorscale="Viridis", showscale=False))
    pts = data_points(dataset)
    fig.add_scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", marker=dict(size=3, color="white", opacity=0.4))
    fig.update_layout(title=TEXT["fps_plain"].format(step=snap.step), uirevision="plain", height=520, width=540,
                      margin=dict(l=10, r=10, t=40, b=10), showlegend=False,
                      xaxis=dict(range=[-box, box]), yaxis=dict(range=[-box, box], scaleanchor="x"),
                      separators=plotly_separators())
    chart(fig, "ml_plain", TEXT["file_plain"])


@st.fragment(run_every=0.1 if live else None)
def plain_fragment() -> None:
    r = slots.get("ml")
    plain_view(r)
    end_check(r)


with left:
    if view == "smooth":
        smooth_fragment()
    else:
        plain_fragment()


def surface_figure(energy: np.ndarray) -> go.Figure:
    n = energy.shape[0]
    axis = np.linspace(-box, box, n)
    fig = go.Figure(go.Surface(z=energy - energy.min(), x=axis, y=axis, colorscale="Viridis", showscale=False))
    fig.update_layout(height=460, margin=dict(l=0, r=0, t=10, b=0), uirevision="surface",
                      scene=dict(zaxis_title="E − min E", xaxis_title="y₁", yaxis_title="y₂"),
                      separators=plotly_separators())
    return fig


def push_figure(energy: np.ndarray) -> go.Figure:
    n = energy.shape[0]
    field = push_field(energy, data_log_density_on_grid(dataset, box, n))
    m = float(np.abs(field).max()) or 1.0
    axis = np.linspace(-box, box, n)
    fig = go.Figure(go.Heatmap(z=field, x=axis, y=axis, colorscale="RdBu", zmin=-m, zmax=m,
                               colorbar=dict(title="P_data − P_θ")))
    fig.update_layout(height=460, margin=dict(l=10, r=10, t=10, b=10), uirevision="push",
                      yaxis=dict(scaleanchor="x"), separators=plotly_separators())
    return fig


# the side panel redraws less often than the live view: a Plotly redraw blocks the browser's main
# thread (and the canvas animation with it) for tens of milliseconds on a CPU-only machine
SIDE_PANEL_S = 2.0
# the words read now, in this run's language: a widget's format_func may be called later, outside the run
PANELS = {"surface": TEXT["tab_surface"], "push": TEXT["tab_push"], "curves": TEXT["tab_curves"],
          "shift": TEXT["tab_shift"]}


@st.fragment(run_every=SIDE_PANEL_S if live else None)
def side_panel(panel: str) -> None:
    # one panel at a time: the fragments share the session's script thread with the live view
    r = slots.get("ml")
    snap = r.latest() if r is not None else None
    if snap is None:
        st.info(TEXT["no_run"])
        return
    if panel == "surface":
        chart(surface_figure(snap.data["energy"]), "ml_surface", TEXT["file_surface"])
    elif panel == "push":
        chart(push_figure(snap.data["energy"]), "ml_push", TEXT["file_push"])
        st.caption(TEXT["push_caption"])
    elif panel == "curves":
        lines, metrics = {"loss": TEXT["loss"]}, {"nll": TEXT["nll"], "kl": TEXT["kl"]}
        chart(curves_figure(r.history, r.evaluations, lines, metrics, revision="curves", height=460,
                           y_title=TEXT["nats"]),
              "ml_curves", TEXT["file_curves"])
        # here, not in the live view's fragment: this panel redraws every SIDE_PANEL_S, and a thinned
        # history's CSV takes a few milliseconds
        csv_button(curves_table(r.history, r.evaluations, lines, metrics), TEXT["file_curves"], key="ml_curves_csv")
    else:
        c = st.slider(TEXT["shift_label"], -20.0, 20.0, 5.0, 0.5, key="ml_shift")
        trainer = r.trainer
        with r.model_lock:
            check = shift_invariance(trainer.model, trainer.test_x, trainer.view_grid, c)
        st.dataframe(
            {"": ["log Z", TEXT["shift_nll"]],
             "E_θ": [check["log_z"], check["nll"]],
             f"E_θ + {short(c)}": [check["log_z_shifted"], check["nll_shifted"]]},
            hide_index=True)
        st.caption(TEXT["shift_caption"] + " " + TEXT["shift_change"].format(value=tiny(check["max_abs_dp"])))


with right:
    panel = st.segmented_control(TEXT["panel"], list(PANELS), format_func=PANELS.get, default="curves",
                                 key="ml_panel", label_visibility="collapsed") or "curves"
    side_panel(panel)
