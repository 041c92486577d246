"""Streamlit pieces of the "Energies over images" page (not a page): pictures, figures and tables
drawn from the engine's numbers (engine/image_ebm/views.py computes them). Charts go through
app/exports.chart (PNG/SVG download); the judges' table and the size comparison offer a CSV."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app.declared_texts import choice_label
from app.exports import chart, csv_button
from app.i18n import num, plotly_separators, texts
from app.run_controls import status_line
from app.session import RunSlots
from engine.image_ebm import views
from engine.image_ebm.config import ImageEBMConfig
from engine.run import RUNNING, Run, Snapshot

COLOURS = {"data": "#1f77b4", "particles": "#ff7f0e", "noise": "#7f7f7f"}
TEXT = texts("image_ebm_views")
ENGINE = texts("image_ebm_engine")


def _or(section: Mapping[str, str], key: str, default: str) -> str:
    try:
        return section[key]
    except KeyError:  # a name the catalogue does not know (yet): the engine's own
        return default


def short(value: float, significant: int = 6) -> str:
    """`value` as Python's `g` format writes it (10, 0.005, 1.25e-06), in the session's way."""
    mantissa, _, exponent = f"{value:.{significant}g}".partition("e")
    digits = len(mantissa.split(".")[1]) if "." in mantissa else 0
    text = num(float(mantissa), digits)
    return f"{text}e{exponent}" if exponent else text


def signed(value: float, digits: int) -> str:
    text = num(value, digits)
    return text if text.startswith("-") else f"+{text}"


def percent(share: float, digits: int = 1) -> str:
    """0.106 → "10.6 %"-style digits, without the sign: the catalogue's text puts the "%"."""
    return num(100 * share, digits)


def dataset_name(name: str) -> str:
    """A data set's name as the settings form shows it."""
    return choice_label(ImageEBMConfig, "dataset", name)


def class_name(name: str) -> str:
    return _or(ENGINE, f"class.{name}", name)


def not_langevin(departures: list[tuple[str, dict[str, float]]]) -> str:
    """engine.image_ebm.sampler.Langevin.departures in a sentence of the session's language."""
    parts = []
    for reason, numbers in departures:
        if reason == "noise":
            parts.append(ENGINE["langevin.noise"].format(s=short(numbers["s"]), root=short(numbers["root"], 3),
                                                         temperature=short(numbers["temperature"], 3)))
        elif reason == "clip":
            parts.append(ENGINE["langevin.clip"].format(clip=short(numbers["clip"])))
        elif reason == "eps":
            parts.append(ENGINE["langevin.eps"].format(eps=short(numbers["eps"])))
    return "; ".join(parts)


def figure_language(fig: go.Figure) -> go.Figure:
    fig.update_layout(separators=plotly_separators())
    return fig


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
        fig.add_bar(x=centres, y=counts, name=TEXT[f"hist_name.{name}"], marker_color=COLOURS[name], opacity=0.6)
    fig.update_layout(barmode="overlay", height=300, margin=dict(l=10, r=10, t=30, b=10),
                      title=TEXT["hist_title"], xaxis_title=TEXT["hist_x"], yaxis_title=TEXT["hist_y"],
                      legend=dict(orientation="h"))
    chart(figure_language(fig), key, TEXT["file_histogram"])
    means = {k: signed(v, 4) for k, v in hist["means"].items()}
    st.caption(TEXT["hist_means"].format(**means, gap=signed(hist["gap"], 4), gap_in_sd=num(hist["gap_in_sd"], 1)))
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
    shown = [(TEXT[f"judge_row.{ref}"], *scores) for ref, *scores in rows]
    columns = [TEXT[f"judge_col.{c}"] for c in ("judged", *JUDGE_KEYS)]
    st.dataframe(pd.DataFrame(shown, columns=columns), hide_index=True)
    csv_button(rows, TEXT["file_judges"], key=f"{key}_csv", columns=("judged", *JUDGE_KEYS))


def class_shares(ev: dict[str, float], classes: tuple[str, ...], key: str) -> None:
    shares = [ev.get(f"class_{i}", 0.0) for i in range(len(classes))]
    fig = go.Figure(go.Bar(x=[class_name(c) for c in classes], y=shares, marker_color=COLOURS["particles"],
                           name=TEXT["shares_name"]))
    fig.add_hline(y=1 / len(classes), line_dash="dot", annotation_text=TEXT["shares_uniform"])
    fig.add_hline(y=0.05, line_dash="dash", annotation_text=TEXT["shares_five"])
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=30, b=10), title=TEXT["shares_title"],
                      yaxis=dict(tickformat=".0%", rangemode="tozero"))
    chart(figure_language(fig), key, TEXT["file_shares"])


def auroc_line(ev: dict[str, float], other_name: str) -> None:
    other = ev.get("auroc_other")
    st.caption(TEXT["auroc"].format(noise=num(ev["auroc_noise"], 3), other_name=dataset_name(other_name),
                                    other=TEXT["no_files"] if other is None else num(other, 3)))


def psnr_lines(ev: dict[str, float], steps: int) -> None:
    for kind in ("noisy", "masked"):
        if f"psnr_{kind}_after" in ev:
            st.markdown(TEXT["psnr"].format(what=TEXT[f"psnr_what.{kind}"], before=num(ev[f"psnr_{kind}_before"], 2),
                                            after=num(ev[f"psnr_{kind}_after"], 2),
                                            gain=signed(ev[f"psnr_{kind}_gain"], 2), steps=steps))


def psnr_what(kind: str) -> str:
    """What the noisy / masked rows are, in words."""
    return TEXT[f"psnr_what.{kind}"]


DIMENSION_LINES = ("min_class_share", "top_prob", "realistic", "realistic_blobs")


def column_name(key: str) -> str:
    """A size-comparison table's column (a row key of engine.image_ebm.dimension) in words."""
    return _or(TEXT, f"col.{key}", key)


def shown_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows of plain keys (as their CSV has them) with the columns named in the session's language."""
    frame = pd.DataFrame(rows)
    return frame.rename(columns={c: column_name(c) for c in frame.columns})


def dimension_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The points of `dimension_figure`: a row per image size, a column per measure drawn."""
    return pd.DataFrame([{"size": int(r["size"]), **{k: r[k] for k in DIMENSION_LINES}} for r in rows],
                        columns=["size", *DIMENSION_LINES])


def dimension_figure(rows: list[dict[str, Any]], key: str) -> None:
    """The size comparison's measures against the image size, and its CSV."""
    fig = go.Figure()
    sizes = [f"{r['size']}×{r['size']}" for r in rows]
    for k in DIMENSION_LINES:
        fig.add_scatter(x=sizes, y=[r[k] for r in rows], mode="lines+markers", name=TEXT[f"line.{k}"])
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=30, b=10), xaxis_title=TEXT["size_axis"],
                      yaxis=dict(rangemode="tozero"), legend=dict(orientation="h"), uirevision=key)
    chart(figure_language(fig), key, TEXT["file_sizes"])
    csv_button(dimension_table(rows), TEXT["file_sizes"], key=f"{key}_csv")
