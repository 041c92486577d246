"""The figures of the "Binary data" page (plotly), drawn from a run and its snapshot.

The numbers come from engine.binary.views (curves, mosaics, pattern masses, couplings, the watched
chain); this module only turns them into figures. Each figure reads the run's own data and budget, so
a run started with other settings keeps drawing its own. `nll_table` holds the comparison's points for
a CSV download (app/exports.csv_button). Every text comes from the catalogue sections `binary_views`
(the figures and the chain's table) and `binary_engine` (the engine's data sets, models, methods and
samplers, said in the session's language); numbers through `num`, and every figure's separators follow it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.declared_texts import method_label
from app.i18n import num, plotly_separators, texts
from engine.binary.data import DATASETS, BinaryData
from engine.binary.models import MODELS
from engine.binary.objectives import REGISTRY
from engine.binary.samplers import Proposal
from engine.binary.views import ChainWatch, coupling_panels, curves, pattern_masses, samples_mosaic
from engine.run import Run

TEXT = texts("binary_views")
ENGINE = texts("binary_engine")
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
ACCEPTED, REJECTED = "#2ca02c", "#d62728"


def colour(labels: list[str], label: str) -> str:
    return "black" if label == "ml" else COLOURS[labels.index(label) % len(COLOURS)]


def name(label: str) -> str:
    return TEXT["reference_name"] if label == "ml" else label


def signed(value: float, digits: int = 3) -> str:
    """`value` with its sign always shown (+0.120, −0.120 in the session's way)."""
    text = num(value, digits)
    return text if text.startswith("-") else f"+{text}"


def short(value: float, significant: int = 6) -> str:
    """`value` as Python's `g` format writes it (1, 0.25, 1.5e-06), in the session's way."""
    mantissa, _, exponent = f"{value:.{significant}g}".partition("e")
    digits = len(mantissa.split(".")[1]) if "." in mantissa else 0
    text = num(float(mantissa), digits)
    return f"{text}e{exponent}" if exponent else text


def _named(kind: str, value: str, default: str) -> str:
    try:
        return ENGINE[f"{kind}.{value}"]
    except KeyError:  # a choice the catalogue does not know yet: its engine name
        return default


def dataset_name(dataset: str) -> str:
    return _named("dataset", dataset, DATASETS.get(dataset, dataset))


def model_name(model: str) -> str:
    return _named("model", model, MODELS.get(model, model))


def method_name(method: str) -> str:
    """A method's name as the settings forms show it (its registry's label in English)."""
    return method_label(REGISTRY, method)


def data_description(data: BinaryData) -> str:
    """The data set in a sentence (the sidebar's caption), from its numbers."""
    params = {k: num(v, 0) if isinstance(v, int) else short(v) for k, v in data.params.items()}
    try:
        return ENGINE[f"data.{data.name}"].format(**params)
    except KeyError:
        return data.description


def figure_language(fig: go.Figure) -> go.Figure:
    fig.update_layout(separators=plotly_separators())
    return fig


def panels_for(r: Run | None) -> dict[str, str]:
    """The right-hand panels this run's data has (patterns: bars-and-stripes; couplings: Ising, FVBM)."""
    panels = {"samples": TEXT["panel_samples"]}
    if r is None:
        return panels
    data = r.trainer.data
    if data.patterns is not None:
        panels["patterns"] = TEXT["panel_patterns"]
    if data.true_j is not None and r.trainer.configs[0].model == "fvbm":
        panels["couplings"] = TEXT["panel_couplings"]
    return panels


def nll_figure(r: Run, zoom: bool) -> go.Figure:
    labels, data, budget = r.trainer.labels, r.trainer.data, float(r.options.max_steps or r.step)
    fig = go.Figure()
    for label, (x, y) in curves(list(r.evaluations), labels).items():
        fig.add_scatter(x=x, y=y, mode="lines", name=name(label),
                        line=dict(color=colour(labels, label), dash="dash" if label == "ml" else "solid"))
    top = data.d * math.log(2) * 1.05
    floor = data.entropy if data.entropy is not None else 1.0
    if data.entropy is not None:
        fig.add_scatter(x=np.array([0.0, budget]), y=np.array([data.entropy] * 2), mode="lines",
                        name=TEXT["entropy"].format(v=num(data.entropy, 3)), line=dict(color="grey", dash="dot"))
    if zoom:  # linear, one nat above the floor: where the methods differ
        yaxis = dict(type="linear", range=[floor - 0.05, floor + 1.0])
    else:
        yaxis = dict(type="log", range=[math.log10(floor * 0.97), math.log10(top)])
    fig.update_layout(title=TEXT["curves_title_zoom" if zoom else "curves_title"], height=420,
                      margin=dict(l=10, r=10, t=40, b=10), uirevision=f"bin_curves_{zoom}",
                      legend=dict(orientation="h", y=-0.2), xaxis=dict(title=TEXT["step"], range=[0, budget]),
                      yaxis=yaxis)
    return figure_language(fig)


def nll_table(r: Run) -> pd.DataFrame:
    """The methods' exact NLL curves of `nll_figure` side by side: a row per evaluated step, a column
    `nll_<method>` per method (`nll_ml`: the exact-ML reference), blank where a method has no value, and
    the data entropy (the floor) when it is known."""
    frame = pd.DataFrame({"step": pd.Series([], dtype=np.int64)})
    for label, (x, y) in curves(list(r.evaluations), r.trainer.labels).items():
        part = pd.DataFrame({"step": x.astype(np.int64), f"nll_{label}": y})
        frame = frame.merge(part, on="step", how="outer")
    frame = frame.sort_values("step", kind="stable").reset_index(drop=True)
    if r.trainer.data.entropy is not None:
        frame["data_entropy"] = float(r.trainer.data.entropy)
    return frame


def samples_figure(r: Run, snap: dict[str, Any], negatives: bool) -> go.Figure:
    data, n = r.trainer.data, r.trainer.configs[0].shown_samples
    tile, names = samples_mosaic(snap, r.trainer.labels, data.train, data.shape, n, negatives)
    names = [TEXT["row_data"] if i == 0 else label for i, label in enumerate(names)]  # first row: the data
    h = data.shape[0] + 1
    fig = go.Figure(go.Heatmap(z=tile, colorscale="Greys", zmin=0, zmax=1, showscale=False, hoverinfo="skip"))
    fig.update_layout(height=60 + 48 * len(names), margin=dict(l=10, r=10, t=10, b=10), uirevision="bin_samples",
                      yaxis=dict(autorange="reversed", tickvals=[i * h + (h - 2) / 2 for i in range(len(names))],
                                 ticktext=names, scaleanchor="x"),
                      xaxis=dict(visible=False), plot_bgcolor="#f0f2f6")
    return figure_language(fig)


def patterns_figure(r: Run, snap: dict[str, Any]) -> go.Figure:
    labels, data = r.trainer.labels, r.trainer.data
    x = [str(i + 1) for i in range(len(data.patterns))] + [TEXT["rest"]]
    fig = go.Figure()
    for label, masses in pattern_masses(snap, labels).items():
        fig.add_bar(x=x, y=np.maximum(masses, 1e-6), name=name(label), marker_color=colour(labels, label))
    fig.add_hline(y=1 / len(data.patterns), line_dash="dot", line_color="grey")
    fig.update_layout(barmode="group", height=420, margin=dict(l=10, r=10, t=10, b=10), uirevision="bin_patterns",
                      xaxis=dict(type="category"),
                      yaxis=dict(type="log", range=[-4, 0], title=TEXT["probability"]), legend=dict(orientation="h"))
    return figure_language(fig)


def couplings_figure(r: Run, snap: dict[str, Any]) -> go.Figure:
    panels = coupling_panels(snap, r.last_evaluation(), r.trainer.labels, r.trainer.data.true_j)
    m = float(np.abs(panels[0][2]).max()) * 1.2
    titles = [TEXT["true_j"] if i == 0 else f"{label}: r = {num(corr, 3)}" for i, (label, corr, _) in enumerate(panels)]
    cols = 3
    rows = -(-len(panels) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.04, vertical_spacing=0.12)
    for i, (_, _, j) in enumerate(panels):
        row, col = divmod(i, cols)
        fig.add_trace(go.Heatmap(z=j, zmin=-m, zmax=m, colorscale="RdBu", showscale=i == 0,
                                 colorbar=dict(len=0.6)), row + 1, col + 1)
        fig.update_yaxes(autorange="reversed", visible=False, row=row + 1, col=col + 1)
        fig.update_xaxes(visible=False, row=row + 1, col=col + 1)
    fig.update_layout(height=30 + 210 * rows, margin=dict(l=10, r=10, t=30, b=10), uirevision="bin_couplings")
    return figure_language(fig)


def chain_state_figure(bits: np.ndarray, last: Proposal | None, shape: tuple[int, int]) -> go.Figure:
    """The chain's state as a little image; the proposed bit outlined (green accepted, red rejected)."""
    rows, cols = shape
    fig = go.Figure(go.Heatmap(z=bits.reshape(rows, cols).astype(np.float32), zmin=0, zmax=1, showscale=False,
                               colorscale=[[0, "#e6e9ef"], [1, "#111111"]], xgap=2, ygap=2))
    if last is not None:
        r_, c_ = divmod(last.bit, cols)
        fig.add_shape(type="rect", x0=c_ - 0.5, x1=c_ + 0.5, y0=r_ - 0.5, y1=r_ + 0.5,
                      line=dict(color=ACCEPTED if last.accepted else REJECTED, width=5))
    fig.update_layout(height=260, width=260, margin=dict(l=5, r=5, t=5, b=5), uirevision="bin_chain_state",
                      xaxis=dict(visible=False, range=[-0.5, cols - 0.5]),
                      yaxis=dict(visible=False, autorange="reversed", scaleanchor="x"))
    return figure_language(fig)


def chain_energy_figure(watch: ChainWatch) -> go.Figure:
    x, e, accepted = watch.energy_trace()
    fig = go.Figure(go.Scatter(x=x, y=e, mode="lines+markers", name=TEXT["chain_energy_trace"],
                               marker=dict(color=np.where(accepted, ACCEPTED, REJECTED), size=6)))
    fig.update_layout(title=TEXT["chain_energy"], height=260, margin=dict(l=10, r=10, t=40, b=10),
                      uirevision="bin_chain_energy", xaxis_title=TEXT["proposal"], yaxis_title="E(y)")
    return figure_language(fig)


def chain_table(watch: ChainWatch) -> pd.DataFrame:
    """The last proposals, newest first, with the columns named in the session's language."""
    table = watch.table()
    decision = [TEXT["accepted"] if ok else TEXT["rejected"] for ok in table.pop("accepted")]
    frame = pd.DataFrame({TEXT["col_proposal"]: table["proposal"], TEXT["col_bit"]: table["bit"],
                          "ΔE": [signed(v, 3) for v in table["ΔE"]],
                          "min(1, e^−ΔE)": [num(v, 3) for v in table["min(1, e^−ΔE)"]],
                          "u": [num(v, 3) for v in table["u"]]})
    frame[TEXT["col_decision"]] = decision
    return frame
