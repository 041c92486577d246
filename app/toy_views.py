"""Figures the 2-D pages share (maximum likelihood, contrastive divergence): drawn from what the engine
computed (engine/toy/views.py), never computing themselves. Each figure has a `*_table` twin with the
same points, for a CSV download (app/exports.csv_button)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from app.i18n import plotly_separators, texts
from engine.toy.views import thinned

MARGIN = dict(l=10, r=10, t=10, b=10)
TEXT = texts("toy_views")  # read inside the functions, in the session's language


def curves_figure(history: list[dict[str, float]], evaluations: Iterable[dict[str, float]],
                  lines: Mapping[str, str], eval_lines: Mapping[str, str] | None = None, *, revision: str,
                  height: int = 420, y_title: str = "", right_axis: str | None = None,
                  title: str | None = None, x_title: str | None = None) -> go.Figure:
    """Training scalars (`lines`: history key -> name) and exact metrics (`eval_lines`) against the step
    (`x_title`: "step" in the session's language unless given); with `right_axis`, the metrics go on a
    second y axis of that title. The names and titles come translated from the page."""
    fig = go.Figure()
    hist = thinned(history)
    for key, name in lines.items():
        if hist and key in hist[0]:
            fig.add_scatter(x=[h["step"] for h in hist], y=[h[key] for h in hist], name=name, mode="lines")
    ev = list(evaluations)
    for key, name in (eval_lines or {}).items():
        if ev and key in ev[0]:
            fig.add_scatter(x=[e["step"] for e in ev], y=[e[key] for e in ev], name=name, mode="lines",
                            yaxis="y2" if right_axis else "y")
    layout: dict[str, Any] = dict(height=height, margin=dict(MARGIN, t=30 if title else 10), uirevision=revision,
                                  xaxis_title=TEXT["step"] if x_title is None else x_title, yaxis_title=y_title,
                                  legend=dict(orientation="h"), separators=plotly_separators())
    if right_axis:
        layout["yaxis2"] = dict(title=right_axis, overlaying="y", side="right", rangemode="tozero")
    if title:
        layout["title"] = title
    fig.update_layout(**layout)
    return fig


def curves_table(history: list[dict[str, float]], evaluations: Iterable[dict[str, float]],
                 lines: Mapping[str, str], eval_lines: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The points `curves_figure` draws, as one table for a CSV: a row per step (the same thinned
    history steps, plus the evaluation steps), a column per history key and per metric key, blank where a
    step has no value. Columns are the keys ("step", "loss", "nll", ...), not the translated names."""
    hist = thinned(history)
    train = pd.DataFrame({"step": [h["step"] for h in hist],
                          **{k: [h[k] for h in hist] for k in lines if hist and k in hist[0]}})
    ev = list(evaluations)
    keys = [k for k in (eval_lines or {}) if ev and k in ev[0]]
    if not keys:
        return train
    metrics = pd.DataFrame({"step": [e["step"] for e in ev], **{k: [e[k] for e in ev] for k in keys}})
    merged = train.merge(metrics, on="step", how="outer", suffixes=("", "_eval"))
    return merged.sort_values("step", kind="stable").reset_index(drop=True)


def dimension_figure(result: dict[str, Any], dims: Iterable[int], labels: Mapping[str, str], title: str) -> go.Figure:
    """The PCD-vs-dimension curve (summarised by engine.toy.dimension.summarise) with its two references."""
    fig = go.Figure()
    for method, curve in result["hist_kl"].items():
        fig.add_scatter(x=[int(d) for d in curve], y=list(curve.values()), mode="lines+markers",
                        name=labels.get(method, method))
    fig.add_hline(y=result["hist_kl_exact_sample"], line_dash="dot", annotation_text=TEXT["exact_sample"])
    fig.add_hline(y=result["hist_kl_uniform"], line_dash="dash", annotation_text=TEXT["uniform"])
    fig.update_layout(height=380, margin=dict(MARGIN, t=30), title=title,
                      xaxis=dict(title=TEXT["dimension"], type="log", tickvals=list(dims)),
                      yaxis_title=TEXT["dimension_kl"], uirevision="cdd", separators=plotly_separators())
    return fig


def dimension_table(result: dict[str, Any]) -> pd.DataFrame:
    """The points of `dimension_figure`: a row per (method, dimension), with the two reference levels."""
    rows = [{"method": method, "dimension": int(d), "hist_kl": float(v)}
            for method, curve in result["hist_kl"].items() for d, v in curve.items()]
    frame = pd.DataFrame(rows, columns=["method", "dimension", "hist_kl"])
    frame["hist_kl_exact_sample"] = float(result["hist_kl_exact_sample"])
    frame["hist_kl_uniform"] = float(result["hist_kl_uniform"])
    return frame
