"""Drawing for the contrastive-embedding page (pages/contrastive_embedding.py): Plotly figures and small
Streamlit pieces built from what engine/embed/views.py computed. Nothing here computes a number.
The sweep views draw their charts through app/exports.chart (PNG/SVG) and offer their rows as CSV."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app.exports import chart, csv_button
from engine.embed import views
from engine.embed.data import thumbnail
from engine.embed.sweeps import Sweep, describe_negatives, describe_temperature, describe_why_cosine
from engine.embed.views import map_image, map_points
from engine.run import FAILED, Run

LABELS = {
    "loss": "loss", "contrastive_batch": "contrastive acc (batch)", "probe": "linear probe (test)",
    "knn": "kNN (test)", "floor": "cosine loss floor", "accuracy": "accuracy", "pairs": "positive pairs (two views)",
    "hardest": "hardest negatives", "anchor": "anchor #{i}", "norm_plot": "Mean embedding norm ‖z‖",
    "loss_plot": "Loss", "probe_acc": "probe accuracy", "eff_rank": "effective rank", "uniformity": "uniformity",
    "contrastive_test": "contrastive acc (held-out views)", "anchor_caption": "anchor · {cls}",
    "sweep_progress": "{done}/{cells} cells · step {step}/{total}", "sweep_idle":
        "Not started. The sweep runs in the background; the page stays usable.",
    "baselines": {"raw_pixels_acc": "raw pixels", "random_encoder_acc": "random encoder",
                  "supervised_acc": "supervised"},
}
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]
BASELINE_COLOURS = {"raw_pixels_acc": "#d62728", "random_encoder_acc": "#ff7f0e", "supervised_acc": "#1f77b4"}
NEGATIVES_PANELS = (("linear_probe_acc", "probe_acc", "Greens"), ("effective_rank", "eff_rank", "Blues"),
                    ("uniformity", "uniformity", "Purples_r"))


def curves_figure(c: dict[str, Any], lines: dict[str, float], last_step: int) -> go.Figure:
    fig = go.Figure()
    if c["step"] is not None:
        fig.add_scatter(x=c["step"], y=c["loss"], name=LABELS["loss"], line=dict(color="#444"))
        if c["contrastive_acc"] is not None:
            fig.add_scatter(x=c["step"], y=c["contrastive_acc"], name=LABELS["contrastive_batch"], yaxis="y2",
                            line=dict(color="#9467bd"))
        if c["loss_floor"] is not None:
            fig.add_hline(y=c["loss_floor"], line_dash="dot", line_color="#444", annotation_text=LABELS["floor"],
                          annotation_position="bottom left")
    if c["eval_step"] is not None:
        fig.add_scatter(x=c["eval_step"], y=c["probe"], name=LABELS["probe"], yaxis="y2", mode="lines+markers",
                        line=dict(color="#2ca02c", width=3))
        fig.add_scatter(x=c["eval_step"], y=c["knn"], name=LABELS["knn"], yaxis="y2", mode="lines+markers",
                        line=dict(color="#17becf"))
    for key, value in lines.items():
        fig.add_scatter(x=[0, max(last_step, 1)], y=[value, value], yaxis="y2", mode="lines",
                        name=f"{LABELS['baselines'][key]} {100 * value:.1f} %",
                        line=dict(dash="dash", color=BASELINE_COLOURS[key]))
    fig.update_layout(height=330, margin=dict(l=10, r=10, t=30, b=10), uirevision="embed-curves",
                      xaxis_title="step", yaxis=dict(title=LABELS["loss"], rangemode="tozero"),
                      yaxis2=dict(title=LABELS["accuracy"], overlaying="y", side="right", range=[0, 1.01],
                                  tickformat=".0%", dtick=0.2, showgrid=False),
                      legend=dict(orientation="h", y=-0.25))
    return fig


def curves_table(c: dict[str, Any]) -> pd.DataFrame:
    """The points of `curves_figure` (the output of engine.embed.views.curves) for a CSV: a row per step,
    training columns (loss, contrastive_acc) and evaluation columns (linear_probe_acc, knn_acc), blank
    where a step has no value."""
    train = pd.DataFrame({"step": [] if c["step"] is None else np.asarray(c["step"]).astype(np.int64)})
    if c["step"] is not None:
        train["loss"] = c["loss"]
        if c["contrastive_acc"] is not None:
            train["contrastive_acc"] = c["contrastive_acc"]
    if c["eval_step"] is None:
        return train
    evals = pd.DataFrame({"step": np.asarray(c["eval_step"]).astype(np.int64), "linear_probe_acc": c["probe"],
                          "knn_acc": c["knn"]})
    if c["step"] is None:
        return evals
    return train.merge(evals, on="step", how="outer").sort_values("step", kind="stable").reset_index(drop=True)


def why_table(curves: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """The points of `why_figures`, long format: variant, step, embedding_norm, loss."""
    parts = [pd.DataFrame({"variant": label, "step": np.asarray(step).astype(np.int64),
                           "embedding_norm": norm, "loss": loss}) for label, step, norm, loss in curves]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["variant", "step", "embedding_norm", "loss"])


def sweep_table(rows: list[dict[str, Any]], order: tuple[str, ...]) -> pd.DataFrame:
    """A sweep's finished cells, one row each (settings, steps, seconds, measures), sorted by `order`."""
    frame = pd.DataFrame([dict(r) for r in rows])
    keys = [k for k in order if k in frame.columns]
    return frame.sort_values(keys, kind="stable").reset_index(drop=True) if keys else frame


def map_figure(snap: dict[str, Any], xy: np.ndarray, classes: tuple[str, ...], anchor: int,
               negs: np.ndarray) -> go.Figure:
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
    fig.add_trace(go.Scatter(x=seg_x, y=seg_y, mode="lines+markers", name=LABELS["pairs"],
                             line=dict(color="rgba(0,0,0,0.55)", width=1), marker=dict(size=5, symbol="x"),
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=xy[negs, 0], y=xy[negs, 1], mode="markers", name=LABELS["hardest"],
                             marker=dict(size=13, symbol="circle-open", color="#d62728", line=dict(width=2)),
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[xy[anchor, 0]], y=[xy[anchor, 1]], mode="markers",
                             name=LABELS["anchor"].format(i=anchor),
                             marker=dict(size=18, symbol="star", color="gold", line=dict(width=1, color="black"))))
    fig.update_layout(height=520, margin=dict(l=10, r=10, t=10, b=10), uirevision="embed-map",
                      legend=dict(orientation="h", y=-0.05), xaxis=dict(showticklabels=False),
                      yaxis=dict(showticklabels=False, scaleanchor="x"))
    return fig


def neighbour_row(data: Any, labels: np.ndarray, anchor: int, negs: np.ndarray, sims: np.ndarray) -> None:
    """The anchor's thumbnail, then its hardest negatives with their class and similarity."""
    cols = st.columns(len(negs) + 1)
    cols[0].image(thumbnail(map_image(data, anchor)),
                  caption=LABELS["anchor_caption"].format(cls=data.classes[labels[anchor]]))
    for col, i, s in zip(cols[1:], negs, sims, strict=True):
        col.image(thumbnail(map_image(data, int(i))), caption=f"{data.classes[labels[i]]} · {s:.2f}")


def sweep_progress(r: Run | None, error_prefix: str) -> dict[str, Any] | None:
    """The sweep's progress bar (or why it stopped); its latest snapshot's data once it has rows."""
    if r is None:
        st.caption(LABELS["sweep_idle"])
        return None
    if r.state == FAILED:
        st.error(error_prefix + r.message)
    snap = r.latest()
    if snap is None or "rows" not in snap.data:
        st.progress(0.0)
        return None
    d, total = snap.data, r.options.max_steps or 1
    st.progress(min(r.step / total, 1.0), text=LABELS["sweep_progress"].format(
        done=d["done"], cells=d["cells"], step=r.step, total=total))
    return d


def why_figures(curves: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], floor: float | None
                ) -> tuple[go.Figure, go.Figure]:
    norm_fig, loss_fig = go.Figure(), go.Figure()
    for label, step, norm, loss in curves:
        norm_fig.add_scatter(x=step, y=norm, name=label)
        loss_fig.add_scatter(x=step, y=loss, name=label)
    if floor is not None:
        loss_fig.add_hline(y=floor, line_dash="dot", annotation_text=LABELS["floor"])
    for fig, title in ((norm_fig, LABELS["norm_plot"]), (loss_fig, LABELS["loss_plot"])):
        fig.update_layout(height=300, title=title, margin=dict(l=10, r=10, t=40, b=10), xaxis_title="step",
                          uirevision=f"embed-why-{title}")
    return norm_fig, loss_fig


def negatives_figures(ds: list[int], ks: list[int], grids: dict[str, np.ndarray]) -> list[tuple[str, go.Figure]]:
    out = []
    for key, title, scale in NEGATIVES_PANELS:
        fig = go.Figure(go.Heatmap(z=grids[key], x=[str(k) for k in ks], y=[str(x) for x in ds], colorscale=scale,
                                   texttemplate="%{z:.3g}", showscale=False))
        fig.update_layout(height=300, title=LABELS[title], xaxis_title="K", yaxis_title="d",
                          margin=dict(l=10, r=10, t=40, b=10), uirevision=f"embed-neg-{key}")
        out.append((key, fig))
    return out


def temperature_figure(arrays: dict[str, np.ndarray]) -> go.Figure:
    fig = go.Figure()
    fig.add_scatter(x=arrays["temperature"], y=arrays["contrastive_acc_test"], name=LABELS["contrastive_test"],
                    mode="lines+markers")
    fig.add_scatter(x=arrays["temperature"], y=arrays["linear_probe_acc"], name=LABELS["probe_acc"],
                    mode="lines+markers")
    fig.update_layout(height=320, xaxis=dict(title="τ", type="log"),
                      yaxis=dict(title=LABELS["accuracy"], range=[0, 1.01]),
                      margin=dict(l=10, r=10, t=10, b=10), uirevision="embed-temp")
    return fig


def why_view(d: dict[str, Any], sweep: Sweep) -> None:
    c1, c2 = st.columns(2)
    curves, floor = views.why_curves(d)
    norm_fig, loss_fig = why_figures(curves, floor)
    chart(norm_fig, "embed_why_norm", "embedding why-cosine norm", container=c1, width="stretch")
    chart(loss_fig, "embed_why_loss", "embedding why-cosine loss", container=c2, width="stretch")
    if curves:
        csv_button(why_table(curves), "embedding why-cosine sweep curves", key="embed_why_csv")
    if d["done"] == d["cells"]:
        st.info(describe_why_cosine(sweep))


def negatives_view(d: dict[str, Any], sweep: Sweep) -> None:
    if not d["rows"]:
        return
    keys = tuple(k for k, _, _ in NEGATIVES_PANELS)
    for col, (key, fig) in zip(st.columns(3), negatives_figures(*views.negatives_grids(d["rows"], keys)),
                               strict=True):
        chart(fig, f"embed_neg_{key}", f"embedding negatives sweep {key}", container=col, width="stretch")
    csv_button(sweep_table(d["rows"], ("d", "K")), "embedding negatives sweep", key="embed_neg_csv")
    st.info(describe_negatives(d["rows"]))


def temperature_view(d: dict[str, Any], sweep: Sweep) -> None:
    if not d["rows"]:
        return
    rows, arrays = views.temperature_curve(d["rows"])
    chart(temperature_figure(arrays), "embed_temp_fig", "embedding temperature sweep", width="stretch")
    csv_button(sweep_table(rows, ("temperature",)), "embedding temperature sweep", key="embed_temp_csv")
    st.info(describe_temperature(rows))


SWEEP_VIEWS = {"why": why_view, "neg": negatives_view, "temp": temperature_view}
