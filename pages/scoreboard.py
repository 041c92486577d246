"""Page: every 2-D method on the same data set, seed and step budget, scored exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from app.declared_texts import choice_label, method_label
from app.exports import chart, csv_button
from app.form import settings_form
from app.i18n import num, plotly_separators, texts
from app.jobs import active, carry_on, job_wait, start_job, stop_job
from app.session import run_slots
from engine.run import FAILED, RUNNING, Run, RunOptions
from engine.toy.config import ToyConfig
from engine.toy.data import DATASETS
from engine.toy.objectives import REGISTRY
from engine.toy.scoreboard import DEFAULT_STEPS, ENTRY_KEYS, BoardTrainer, ScoreboardConfig, rounded

TEXT = texts("scoreboard")
COLUMNS = {"method": "col_method", "label": "col_label", "nll": "col_nll", "kl": "col_kl",
           "kl_floor": "col_floor", "mass_off_data": "col_mass", "steps_per_s": "col_sps",
           "seconds": "col_seconds", "status": "col_status"}
LOGP_RANGE = 12.0  # nats shown below the highest log-density

st.title(TEXT["title"])
st.markdown(TEXT["intro"])
slots = run_slots()

st.sidebar.subheader(TEXT["settings"])
config = settings_form(ScoreboardConfig, key="sb")
st.caption(TEXT["estimate"].format(steps=DEFAULT_STEPS))

b1, b2, _ = st.columns([1, 1, 4])
run = slots.get("scoreboard")
if b1.button(TEXT["run"], key="sb_run", type="primary", icon=":material/play_arrow:", disabled=config is None) \
        and not carry_on(slots, "scoreboard"):  # one waiting keeps its place, a paused one goes on
    board = BoardTrainer(config)
    start_job(slots, "scoreboard", Run(board, RunOptions(max_steps=board.total_steps, snapshot_hz=4,
                                                         evaluate_every_s=1.0), name="scoreboard"))
run = slots.get("scoreboard")
if b2.button(TEXT["stop"], key="sb_stop", icon=":material/stop:", disabled=not active(run)):
    stop_job(slots, "scoreboard")
live = run is not None and run.state == RUNNING


def short(x: float) -> str:
    """A setting's value as few digits as it needs ("0.1", "10"), with the language's decimal mark."""
    text = f"{x:g}"
    return text if "e" in text else num(x, len(text.partition(".")[2]))


def entry(key: str) -> str:
    """A board entry's name ("ml", "cd-1", ...) as the form's methods list shows it."""
    return choice_label(ScoreboardConfig, "methods", key)


def label(row: dict) -> str:
    """A row's details in the session's language: "<method>, k=10", "<method>, σ=0.1", "<method>, noise: …"."""
    details = row.get("details") or {}
    if "method" not in details:
        return row.get("label", "")
    method = details["method"]
    parts = [method_label(REGISTRY, method)]
    if "k" in details:
        parts.append(f"k={details['k']}")
    if "sigma" in details:
        parts.append(f"σ={short(details['sigma'])}")
    if "noise" in details:
        parts.append(TEXT["noise"].format(noise=choice_label(ToyConfig, "nce_noise", details["noise"])))
    return ", ".join(parts)


def status(row: dict) -> str:
    """A row's status in the session's language ("ok", "diverged at step 12", "error at step 3: …")."""
    failure = row.get("failure")
    if not failure:
        return TEXT["status_ok"] if row.get("status") == "ok" else str(row.get("status", ""))
    key = "status_diverged" if failure["kind"] == "diverged" else "status_error"
    return TEXT[key].format(step=failure["step"], error=failure.get("error", ""))


def table(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame([{**rounded(r), "method": entry(r["method"]), "label": label(r), "status": status(r)}
                       for r in rows])
    df = df[[c for c in COLUMNS if c in df.columns]]
    return df.rename(columns={c: TEXT[k] for c, k in COLUMNS.items()})


def surfaces_figure(surfaces: dict[str, np.ndarray], box: float) -> go.Figure:
    keys = ["data"] + [k for k in ENTRY_KEYS if k in surfaces]
    top = max(float(np.max(surfaces[k])) for k in keys)
    fig = make_subplots(rows=1, cols=len(keys), subplot_titles=[TEXT["data"] if k == "data" else entry(k) for k in keys],
                        horizontal_spacing=0.01)
    for i, k in enumerate(keys, start=1):
        z = np.maximum(surfaces[k], top - LOGP_RANGE)
        n = z.shape[0]
        axis = np.linspace(-box + box / n, box - box / n, n)
        fig.add_trace(go.Heatmap(z=z, x=axis, y=axis, zmin=top - LOGP_RANGE, zmax=top, colorscale="Viridis",
                                 showscale=i == len(keys), colorbar=dict(title="log p")), row=1, col=i)
        fig.update_xaxes(showticklabels=False, row=1, col=i)
        fig.update_yaxes(showticklabels=False, scaleanchor=f"x{i if i > 1 else ''}", row=1, col=i)
    fig.update_layout(height=260, margin=dict(l=5, r=5, t=30, b=5), uirevision="sb_surfaces",
                      separators=plotly_separators())
    return fig


@st.fragment(run_every=0.5 if live else None)
def board_view() -> None:
    r = slots.get("scoreboard")
    if r is None:
        st.info(TEXT["empty"])
        return
    if job_wait(r, "sb"):
        return
    snap = r.latest()
    board: BoardTrainer = r.trainer
    data = snap.data if snap is not None else {"rows": [], "surfaces": {}, "progress": 0.0, "current": None}
    rows, total = data["rows"], len(board.entries)
    if r.state == RUNNING:
        st.progress(data["progress"], text=TEXT["progress"].format(current=entry(data["current"]) if data["current"] else "…",
                                                                   done=len(rows), total=total))
    elif r.state == FAILED:
        st.error(r.message)
    elif board.done:
        st.success(TEXT["done"].format(n=len(rows), s=num(r.elapsed, 0)))
    else:
        st.info(TEXT["stopped"].format(n=len(rows), total=total))
    if rows:
        st.caption(TEXT["table"])
        df = table(rows)
        st.dataframe(df, hide_index=True, key="sb_table")
        csv_button(df, TEXT["file_table"].format(dataset=board.dataset), TEXT["csv"], key="sb_csv")
        st.caption(TEXT["surfaces"])
        chart(surfaces_figure(data["surfaces"], DATASETS[board.dataset].box), "sb_surfaces",
              TEXT["file_surfaces"].format(dataset=board.dataset))
    if live and r.state != RUNNING:
        st.rerun()  # the board ended: redraw the buttons once and stop polling


board_view()
