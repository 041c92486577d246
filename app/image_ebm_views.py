"""Streamlit pieces of the "Energies over images" page (not a page): pictures, figures and tables
drawn from the engine's numbers (engine/image_ebm/views.py computes them). Charts go through
app/exports.chart (PNG/SVG download); the judges' table and the size comparison offer a CSV."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app.exports import chart, csv_button
from app.run_controls import status_line
from app.session import RunSlots
from engine.image_ebm import views
from engine.run import RUNNING, Run, Snapshot

COLOURS = {"data": "#1f77b4", "particles": "#ff7f0e", "noise": "#7f7f7f"}
TEXT = {
    "hist_title": "Energy on held-out data, on the particles and on uniform noise",
    "hist_x": "energy E_θ(x)",
    "hist_means": "Mean energy: data {data:+.4f} · particles {particles:+.4f} · noise {noise:+.4f} "
                  "(noise − data gap {gap:+.4f}, {gap_in_sd:.1f} sd)",
    "judge_row": {"particles": "particles", "noise": "uniform noise", "blobs": "smooth blobs",
                  "held_out": "held-out data"},
    "judge_cols": ("judged", "smallest class share", "classes ≥ 5 %", "mean top probability",
                   "realistic fraction"),
    "shares_title": "Share of each class among the particles (the classifier's vote)",
    "auroc": "Energy AUROC: held-out data vs uniform noise {noise} · vs {other_name} {other}",
    "psnr": "PSNR of the {what}: {before:.2f} → {after:.2f} dB ({gain:+.2f} dB) after {steps} sampler steps",
    "psnr_what": {"noisy": "noisy images (σ = 0.3)", "masked": "masked images (lower half)"},
}


def live_fragment(slots: RunSlots, name: str, *, live: bool, every: float,
                  draw_snapshot: Callable[[Run, Snapshot], None], idle: str | None = None) -> None:
    """A fragment that redraws run `name`'s status and latest snapshot every `every` s while it trains
    (and once more, in full, when it stops)."""

    @st.fragment(run_every=every if live else None)
    def view() -> None:
        r = slots.get(name)
        status_line(r)
        snap = r.latest() if r is not None else None
        if snap is not None:
            draw_snapshot(r, snap)
        elif idle:
            st.info(idle)
        if live and (r is None or r.state != RUNNING):
            st.rerun()

    view()


def picture(images: np.ndarray, *, cols: int | None = None, scale: int = 6, caption: str | None = None) -> None:
    """N×H×W images in [0, 1] as one crisp grey picture."""
    big = views.upscale(views.tile(images, cols=cols), scale)
    st.image(np.clip(big, 0, 1), caption=caption, clamp=True)


def strips(data: dict[str, Any], scale: int = 6, caption: str | None = None) -> None:
    big = views.upscale(views.strips_picture(data["strips"], data["strip_lengths"]), scale)
    st.image(np.clip(big, 0, 1), caption=caption, clamp=True)


def scale_for(size: int) -> int:
    """Enlargement so that a particle is ~48 px wide."""
    return max(1, 48 // size)


def histogram_figure(data: dict[str, Any], key: str) -> dict[str, Any]:
    hist = views.energy_histograms(data["energy_data"], data["energy_particles"], data["energy_noise"])
    centres = 0.5 * (hist["edges"][1:] + hist["edges"][:-1])
    fig = go.Figure()
    for name, counts in hist["counts"].items():
        fig.add_bar(x=centres, y=counts, name=name, marker_color=COLOURS[name], opacity=0.6)
    fig.update_layout(barmode="overlay", height=300, margin=dict(l=10, r=10, t=30, b=10),
                      title=TEXT["hist_title"], xaxis_title=TEXT["hist_x"], legend=dict(orientation="h"))
    chart(fig, key, "image EBM energy histogram")
    st.caption(TEXT["hist_means"].format(**hist["means"], gap=hist["gap"], gap_in_sd=hist["gap_in_sd"]))
    return hist


JUDGE_KEYS = ("min_class_share", "classes_over_5pct", "top_prob", "realistic")
JUDGED = ("particles", "noise", "blobs", "held_out")


def judges_rows(ev: dict[str, float]) -> list[tuple[str, ...]]:
    """(judged, then one score per JUDGE_KEYS) for the particles, noise, blobs and held-out data."""
    return [(ref, *(ev.get(k if ref == "particles" else f"{k}_{ref}") for k in JUDGE_KEYS)) for ref in JUDGED]


def judges_table(ev: dict[str, float], key: str = "iebm_judges") -> None:
    """The judges' scores of the particles beside noise's, blobs' and held-out data's, and their CSV
    (the same rows, with plain keys as column names: the shown names may be translated)."""
    rows = judges_rows(ev)
    shown = [(TEXT["judge_row"][ref], *scores) for ref, *scores in rows]
    st.dataframe(pd.DataFrame(shown, columns=list(TEXT["judge_cols"])), hide_index=True)
    csv_button(rows, "image EBM judges", key=f"{key}_csv", columns=("judged", *JUDGE_KEYS))


def class_shares(ev: dict[str, float], classes: tuple[str, ...], key: str) -> None:
    shares = [ev.get(f"class_{i}", 0.0) for i in range(len(classes))]
    fig = go.Figure(go.Bar(x=list(classes), y=shares, marker_color=COLOURS["particles"]))
    fig.add_hline(y=1 / len(classes), line_dash="dot", annotation_text="uniform")
    fig.add_hline(y=0.05, line_dash="dash", annotation_text="5 %")
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=30, b=10), title=TEXT["shares_title"],
                      yaxis=dict(tickformat=".0%", rangemode="tozero"))
    chart(fig, key, "image EBM class shares")


def auroc_line(ev: dict[str, float], other_name: str) -> None:
    other = ev.get("auroc_other")
    st.caption(TEXT["auroc"].format(noise=f"{ev['auroc_noise']:.3f}", other_name=other_name,
                                    other="(no files)" if other is None else f"{other:.3f}"))


def psnr_lines(ev: dict[str, float], steps: int) -> None:
    for kind in ("noisy", "masked"):
        if f"psnr_{kind}_after" in ev:
            st.markdown(TEXT["psnr"].format(what=TEXT["psnr_what"][kind], before=ev[f"psnr_{kind}_before"],
                                            after=ev[f"psnr_{kind}_after"], gain=ev[f"psnr_{kind}_gain"],
                                            steps=steps))


DIMENSION_LINES = (("min_class_share", "smallest class share"), ("top_prob", "mean top probability"),
                   ("realistic", "realistic fraction"), ("realistic_blobs", "realistic fraction of blobs"))


def dimension_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The points of `dimension_figure`: a row per image size, a column per measure drawn."""
    return pd.DataFrame([{"size": int(r["size"]), **{k: r[k] for k, _ in DIMENSION_LINES}} for r in rows],
                        columns=["size", *(k for k, _ in DIMENSION_LINES)])


def dimension_figure(rows: list[dict[str, Any]], key: str) -> None:
    """The size comparison's measures against the image size, and its CSV."""
    fig = go.Figure()
    sizes = [f"{r['size']}×{r['size']}" for r in rows]
    for k, name in DIMENSION_LINES:
        fig.add_scatter(x=sizes, y=[r[k] for r in rows], mode="lines+markers", name=name)
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="image size (pixels)",
                      yaxis=dict(rangemode="tozero"), legend=dict(orientation="h"), uirevision=key)
    chart(fig, key, "image EBM size comparison")
    csv_button(dimension_table(rows), "image EBM size comparison", key=f"{key}_csv")
