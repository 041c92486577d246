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
from app.i18n import num, plotly_separators, t, texts
from engine.embed import views
from engine.embed.data import thumbnail
from engine.embed.sweeps import Sweep, negatives_facts, temperature_facts, why_cosine_facts
from engine.embed.views import map_image, map_points
from engine.run import FAILED, Run

LABELS = texts("embed_views")  # read inside functions only: the session's language at each call
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
                        name=LABELS["baseline_line"].format(name=LABELS[f"baselines.{key}"], pct=num(100 * value, 1)),
                        line=dict(dash="dash", color=BASELINE_COLOURS[key]))
    fig.update_layout(height=330, margin=dict(l=10, r=10, t=30, b=10), uirevision="embed-curves",
                      separators=plotly_separators(), xaxis_title=LABELS["step"],
                      yaxis=dict(title=LABELS["loss"], rangemode="tozero"),
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
                      separators=plotly_separators(),
                      legend=dict(orientation="h", y=-0.05), xaxis=dict(showticklabels=False),
                      yaxis=dict(showticklabels=False, scaleanchor="x"))
    return fig


def class_names(classes: tuple[str, ...]) -> tuple[str, ...]:
    """A data set's class names in the session's language (digits stay digits)."""
    return tuple(t(f"embed_engine.class.{c}", c) for c in classes)


def neighbour_row(data: Any, classes: tuple[str, ...], labels: np.ndarray, anchor: int, negs: np.ndarray,
                  sims: np.ndarray) -> None:
    """The anchor's thumbnail, then its hardest negatives with their class (`classes`: their names as
    shown) and similarity."""
    cols = st.columns(len(negs) + 1)
    cols[0].image(thumbnail(map_image(data, anchor)),
                  caption=LABELS["anchor_caption"].format(cls=classes[labels[anchor]]))
    for col, i, s in zip(cols[1:], negs, sims, strict=True):
        col.image(thumbnail(map_image(data, int(i))),
                  caption=LABELS["neighbour_caption"].format(cls=classes[labels[i]], sim=num(s, 2)))


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
    for fig, name in ((norm_fig, "norm_plot"), (loss_fig, "loss_plot")):
        title = LABELS[name]
        fig.update_layout(height=300, title=title, margin=dict(l=10, r=10, t=40, b=10), xaxis_title=LABELS["step"],
                          uirevision=f"embed-why-{name}", separators=plotly_separators())
    return norm_fig, loss_fig


def negatives_figures(ds: list[int], ks: list[int], grids: dict[str, np.ndarray]) -> list[tuple[str, go.Figure]]:
    out = []
    for key, title, scale in NEGATIVES_PANELS:
        fig = go.Figure(go.Heatmap(z=grids[key], x=[str(k) for k in ks], y=[str(x) for x in ds], colorscale=scale,
                                   texttemplate="%{z:.3g}", showscale=False))
        fig.update_layout(height=300, title=LABELS[title], xaxis_title="K", yaxis_title="d",
                          margin=dict(l=10, r=10, t=40, b=10), uirevision=f"embed-neg-{key}",
                          separators=plotly_separators())
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
                      margin=dict(l=10, r=10, t=10, b=10), uirevision="embed-temp",
                      separators=plotly_separators())
    return fig


# ---- the sentences under the sweeps' results (the numbers: engine/embed/sweeps.py *_facts) ---------------
def signed(x: float, digits: int = 1) -> str:
    """x with its sign: "+12.0", "-0.5" ("+12,0" in Portuguese)."""
    return ("+" if x >= 0 else "") + num(x, digits)


def tau(x: float) -> str:
    """A temperature as it was typed (0.05, 1.0), in the session's decimal mark."""
    decimals = repr(float(x)).partition(".")[2]  # the settings allow τ ≥ 0.005: no exponent
    return num(x, min(max(len(decimals), 1), 4))


def describe_why_cosine(f: dict[str, Any] | None) -> str:
    """What the why-cosine curves measured (`why_cosine_facts`), one paragraph."""
    if f is None or f["floor"] is None:
        return ""
    w = lambda key: LABELS[f"why.{key}"]  # noqa: E731
    floor = num(f["floor"], 3)
    l2 = w("l2").format(first=num(f["l2_norm_first"], 2), lowest=num(f["l2_norm_min"], 2),
                        last=num(f["l2_norm_last"], 2), loss=num(f["l2_loss_min"], 3))
    l2 += (w("below").format(floor=floor, steps=f["l2_steps_below_floor"]) if f["l2_steps_below_floor"]
           else w("above").format(floor=floor))
    cosine = w("cosine").format(loss=num(f["cos_loss_min"], 3), floor=floor, first=num(f["cos_norm_first"], 2),
                                last=num(f["cos_norm_last"], 2))
    return f"{l2} {cosine}"


def describe_negatives(f: dict[str, Any] | None) -> str:
    """What the negatives × dimension grid measured (`negatives_facts`)."""
    if f is None:
        return ""
    w = lambda key: LABELS[f"neg.{key}"]  # noqa: E731
    if f["case"] != "measured":
        return w(f["case"])
    lo, hi = f["lo_k"], f["hi_k"]
    gains = "; ".join(w("gain_item").format(d=d, points=signed(100 * g)) for d, g in f["gain"].items())
    verdict = w("helped") if f["helped"] else w("flat").format(points=num(100 * f["spread"], 1))
    uni = "; ".join(f"d={d} {num(a, 2)} → {num(b, 2)}" for d, (a, b) in f["uniformity"].items())
    rank = ", ".join(w("rank_item").format(d=d, rank=num(r, 1)) for d, r in f["rank"].items())
    return " ".join((w("gain").format(lo=lo, hi=hi, gains=gains), verdict,
                     w("uniformity").format(lo=lo, hi=hi, items=uni), w("rank").format(hi=hi, items=rank)))


def describe_temperature(f: dict[str, Any] | None) -> str:
    """Whether contrastive and probe accuracy pick the same temperature (`temperature_facts`)."""
    if f is None:
        return ""
    w = lambda key: LABELS[f"temp.{key}"]  # noqa: E731
    rho = num(f["rho"], 2) if np.isfinite(f["rho"]) else "—"
    text = w("best").format(tau_c=tau(f["contrastive_tau"]), acc_c=num(100 * f["contrastive_acc"], 1),
                            tau_p=tau(f["probe_tau"]), acc_p=num(100 * f["probe_acc"], 1), rho=rho)
    text += " " + w(f["verdict"])
    if f["spread"] < 0.01:
        text += " " + w("noise").format(points=num(100 * f["spread"], 1))
    return text


def why_view(d: dict[str, Any], sweep: Sweep) -> None:
    c1, c2 = st.columns(2)
    curves, floor = views.why_curves(d)
    norm_fig, loss_fig = why_figures(curves, floor)
    chart(norm_fig, "embed_why_norm", "embedding why-cosine norm", container=c1, width="stretch")
    chart(loss_fig, "embed_why_loss", "embedding why-cosine loss", container=c2, width="stretch")
    if curves:
        csv_button(why_table(curves), "embedding why-cosine sweep curves", key="embed_why_csv")
    if d["done"] == d["cells"] and (text := describe_why_cosine(why_cosine_facts(sweep))):
        st.info(text)


def negatives_view(d: dict[str, Any], sweep: Sweep) -> None:
    if not d["rows"]:
        return
    keys = tuple(k for k, _, _ in NEGATIVES_PANELS)
    for col, (key, fig) in zip(st.columns(3), negatives_figures(*views.negatives_grids(d["rows"], keys)),
                               strict=True):
        chart(fig, f"embed_neg_{key}", f"embedding negatives sweep {key}", container=col, width="stretch")
    csv_button(sweep_table(d["rows"], ("d", "K")), "embedding negatives sweep", key="embed_neg_csv")
    if text := describe_negatives(negatives_facts(d["rows"])):
        st.info(text)


def temperature_view(d: dict[str, Any], sweep: Sweep) -> None:
    if not d["rows"]:
        return
    rows, arrays = views.temperature_curve(d["rows"])
    chart(temperature_figure(arrays), "embed_temp_fig", "embedding temperature sweep", width="stretch")
    csv_button(sweep_table(rows, ("temperature",)), "embedding temperature sweep", key="embed_temp_csv")
    if text := describe_temperature(temperature_facts(rows)):
        st.info(text)


SWEEP_VIEWS = {"why": why_view, "neg": negatives_view, "temp": temperature_view}
