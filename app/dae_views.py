"""The Plotly figures of the "Denoising autoencoder" page (pages/denoising_autoencoder.py).

Drawing only: every number comes from a snapshot or from engine/dae/views.py. Titles and legend names
come from the page's TEXT (passed in as `t`), the figures' own words (axes, trace names, hover) from the
"dae_views" section, read when a figure is drawn; numbers follow the session's language (`short`, `plain`,
the figures' `separators`). `sweep_table` holds the σ sweep's measures for a CSV download
(app/exports.csv_button), its columns the engine's keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.i18n import LOCALES, language, num, plotly_separators, texts
from engine.dae import views
from engine.dae.manifolds import get_manifold

ARROW_COLOURS = ("#440154", "#414487", "#2a788e", "#22a884", "#7ad151", "#fde725")  # viridis, one per bin
MARGIN = dict(l=10, r=10, t=40, b=10)
TEXT = texts("dae_views")


def short(x: float, digits: int = 6, lang: str | None = None) -> str:
    """x as f"{x:g}" writes it (at most `digits` significant digits), in the language (the session's)."""
    from babel.numbers import format_decimal

    if x == 0:
        return "0"
    return format_decimal(float(x), format="@" + "#" * (digits - 1), locale=LOCALES[lang or language()])


def plain(x: float, lang: str | None = None) -> str:
    """x as str(x) writes a float ("0.5", "1.0"), in the language (the session's)."""
    text = repr(float(x))
    if "e" in text or "n" in text:  # 1e-05, inf, nan: no plainer way
        return short(x, lang=lang)
    return num(float(x), len(text.split(".")[1]), lang=lang)


def point(xy: tuple[float, float]) -> str:
    """A point of the plane, "(0.0, -2.5)" ("(0,0; -2,5)" where the decimal mark is a comma)."""
    return TEXT["point"].format(x=plain(xy[0]), y=plain(xy[1]))


def _title(text: str) -> dict[str, Any]:
    return dict(text=text, font=dict(size=13))


def _numbers(fig: go.Figure) -> go.Figure:
    """Ticks and hover numbers in the session's language."""
    fig.update_layout(separators=plotly_separators())
    return fig


def _square(fig: go.Figure, scale: views.Scale, title: str, rev: str, height: int = 430) -> go.Figure:
    box = scale.box
    fig.update_layout(title=_title(title), uirevision=rev, height=height, margin=MARGIN, showlegend=False,
                      xaxis=dict(range=[-box, box], constrain="domain"),
                      yaxis=dict(range=[-box, box], scaleanchor="x", constrain="domain"))
    return _numbers(fig)


def _add_manifold(fig: go.Figure, dataset: str, colour: str = "white", width: float = 1.5) -> None:
    for line in views.branch_lines(dataset):
        fig.add_scatter(x=line[:, 0], y=line[:, 1], mode="lines", line=dict(color=colour, width=width),
                        hoverinfo="skip")


def energy_figure(e: np.ndarray, dataset: str, log: bool, title: str, rev: str,
                  curve: np.ndarray | None = None) -> go.Figure:
    """An energy heatmap on the shared colour scale, the manifold in white, a decoder curve in cyan."""
    scale = views.scale_for(dataset)
    axis = views.grid_axis(e.shape[0], scale.box)
    z, lo, hi, label = views.shown_energy(e, scale, log)
    fig = go.Figure(go.Heatmap(z=z, x=axis, y=axis, zmin=lo, zmax=hi, colorscale="Viridis",
                               colorbar=dict(title=label, thickness=12)))
    _add_manifold(fig, dataset)
    for branch in curve if curve is not None else ():
        fig.add_scatter(x=branch[:, 0], y=branch[:, 1], mode="lines", hoverinfo="skip",
                        line=dict(color="cyan", width=1.5, dash="dot"))
    return _square(fig, scale, title, rev)


def field_figure(d: dict[str, Any], dataset: str, title: str) -> go.Figure:
    scale = views.scale_for(dataset)
    arrows = views.field_arrows(d, scale)
    fig = go.Figure()
    _add_manifold(fig, dataset, "#888", 1.0)
    for b, colour in zip(arrows.bins, ARROW_COLOURS, strict=True):
        fig.add_scatter(x=b.x, y=b.y, mode="lines", line=dict(color=colour, width=1.6), hoverinfo="skip",
                        name=f"{num(b.lo, 2)}–{num(b.hi, 2)}")
    fig.add_scatter(x=arrows.tip_x, y=arrows.tip_y, mode="markers", name=TEXT["field"],
                    marker=dict(symbol="arrow", size=8, angle=arrows.angle, color=arrows.length,
                                colorscale="Viridis", cmin=0, cmax=scale.arrow_top,
                                colorbar=dict(title="‖r(y) − y‖", thickness=12)),
                    customdata=arrows.length, hovertemplate=TEXT["length_hover"] + "<extra></extra>")
    return _square(fig, scale, title, "dae_field")


def profile_figure(d: dict[str, Any], profile_latent: np.ndarray | None, dataset: str,
                   t: Mapping[str, str]) -> go.Figure:
    s = d["profile_s"]
    fig = go.Figure()
    if profile_latent is not None:
        fig.add_scatter(x=s, y=profile_latent, name=t["profile_latent"], mode="lines",
                        line=dict(color="cyan", width=4), opacity=0.55)
    fig.add_scatter(x=s, y=d["profile_dae"], name=t["profile_dae"], mode="lines", line=dict(color="#ff7f0e"))
    fig.add_scatter(x=s, y=d["profile_d2"], name=t["profile_d2"], mode="lines",
                    line=dict(color="#bbb", dash="dash", width=1.2))
    a, b = get_manifold(dataset).profile_ends
    fig.update_layout(title=_title(f"{t['profile']} {point(a)} → {point(b)}"), height=430, uirevision="dae_profile",
                      margin=MARGIN, xaxis_title=TEXT["position"],
                      yaxis=dict(range=[0, views.scale_for(dataset).top], title=TEXT["energy"]),
                      legend=dict(orientation="h", y=-0.15))
    return _numbers(fig)


def _add_moves(fig: go.Figure, start: np.ndarray, end: np.ndarray, colour: str, name: str) -> None:
    if len(start) == 0:
        return
    x, y = views.moves(start, end)
    fig.add_scatter(x=x, y=y, mode="lines", line=dict(color=colour, width=1.3), hoverinfo="skip", name=name)
    fig.add_scatter(x=start[:, 0], y=start[:, 1], mode="markers", marker=dict(color=colour, size=7), name=name)
    fig.add_scatter(x=end[:, 0], y=end[:, 1], mode="markers", name=name,
                    marker=dict(color=colour, size=7, symbol="x-thin", line=dict(width=2, color=colour)))


def probe_figure(d: dict[str, Any], clicked: np.ndarray, clicked_out: np.ndarray, dataset: str,
                 title: str) -> go.Figure:
    """Corrupted points and where the DAE sends them; trace 0 is the grid of pickable points."""
    scale = views.scale_for(dataset)
    fig = go.Figure()
    tx, ty = views.click_targets(scale.box)
    fig.add_scatter(x=tx, y=ty, mode="markers", name=TEXT["pick"], marker=dict(color="#999", size=6, opacity=0.25),
                    hovertemplate=TEXT["point_hover"] + "<extra></extra>")
    _add_manifold(fig, dataset, "#bbb", 2.0)
    _add_moves(fig, d["probe_in"], d["probe_out"], "#ff7f0e", TEXT["corrupted"])
    _add_moves(fig, d["midpoint_probe_in"], d["midpoint_probe_out"], "#e040fb", TEXT["near_midpoint"])
    if "midpoint_probe_path" in d:
        x, y = views.paths(d["midpoint_probe_path"])
        fig.add_scatter(x=x, y=y, mode="lines", name=TEXT["repeated"], line=dict(color="#e040fb", width=1, dash="dot"),
                        hoverinfo="skip")
    _add_moves(fig, clicked, clicked_out, "#00e5ff", TEXT["yours"])
    fig.update_layout(dragmode="select", clickmode="event+select")
    return _square(fig, scale, title, "dae_probes", height=480)


def picked_points(event: Any) -> np.ndarray | None:
    """Points of the pickable grid (trace 0) chosen by a click, a box or a lasso; None if none."""
    try:
        points = event.selection.points
    except AttributeError:
        return None
    picked = [(p["x"], p["y"]) for p in points if p.get("curve_number") == 0]
    return np.array(picked, dtype=np.float32) if picked else None


def sweep_metrics_figure(d: dict[str, Any], t: Mapping[str, str]) -> go.Figure:
    fig = go.Figure()
    sig = d["sigmas"]
    if "midpoint_ratio" in d:
        fig.add_scatter(x=sig, y=d["midpoint_ratio"], name=f"{t['m_mid']} · {t['dae']}", mode="lines+markers")
        fig.add_scatter(x=sig, y=d["false_low"], name=f"{t['m_false']} · {t['dae']}", mode="lines+markers")
    fig.add_scatter(x=[sig[0], sig[-1]], y=[1, 1], name=f"{t['m_mid']} · {t['latent']}", mode="lines",
                    line=dict(color="cyan", dash="dot"))
    fig.update_layout(title=_title(t["sweep_metrics"]), height=380, uirevision="dae_sweep_m", margin=MARGIN,
                      xaxis_title="σ", yaxis=dict(range=[0, 1.1]), legend=dict(orientation="h", y=-0.2))
    return _numbers(fig)


def sweep_table(d: dict[str, Any]) -> pd.DataFrame:
    """The σ sweep's measures drawn by `sweep_metrics_figure`: a row per σ (midpoint energy ratio and
    false-low fraction of the DAE, blank before the sweep has measured them)."""
    frame = pd.DataFrame({"sigma": np.asarray(d["sigmas"], dtype=np.float64)})
    for key in ("midpoint_ratio", "false_low"):
        frame[key] = np.asarray(d[key], dtype=np.float64) if key in d else np.nan
    return frame


def sweep_profiles_figure(d: dict[str, Any], pick: int, dataset: str, t: Mapping[str, str]) -> go.Figure:
    fig = go.Figure()
    fig.add_scatter(x=d["profile_s"], y=d["profile_d2"], name=t["profile_d2"], mode="lines",
                    line=dict(color="#aaa", dash="dash"))
    for i, s in enumerate(d["sigmas"]):
        fig.add_scatter(x=d["profile_s"], y=d["profile_dae"][i], name=f"σ = {short(s)}", mode="lines",
                        line=dict(width=3.5 if i == pick else 1.2), opacity=1.0 if i == pick else 0.6)
    fig.update_layout(title=_title(t["sweep_profiles"]), height=380, uirevision="dae_sweep_p", margin=MARGIN,
                      yaxis=dict(range=[0, views.scale_for(dataset).top]), legend=dict(orientation="h", y=-0.2))
    return _numbers(fig)
