"""Drawing for the Runs page (pages/runs.py): the table of run folders, a run's curves and embedding map,
and the comparison charts, from what engine/runfolder.py reads.

A page follows a run by reading only the lines its metrics.jsonl gained since the last look: `MetricsTail`
keeps the byte offset and the rows read so far (step rows thinned beyond a bound, evaluation rows kept),
one per run folder, in the browser session's state.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.i18n import num, plotly_separators, texts
from engine.run.recording import thin
from engine.run_owners import is_owner
from engine.runfolder import RunInfo, read_metrics

LABELS = texts("runs_views")  # read in the session's language at each lookup
BOOKKEEPING = frozenset({"kind", "run", "step", "t", "seconds"})  # fields of a metrics row that are not metrics
MAX_STEP_ROWS = 20_000  # per run folder kept in the session; beyond it every other row is dropped
MAX_POINTS = 2_000  # per trace sent to the browser
MAX_MAP_POINTS = 3_000
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]


# ---- the table ----------------------------------------------------------------------------------------
def state_of(info: RunInfo) -> str:
    """The state shown: a running folder whose process stopped writing is "not responding"."""
    return LABELS["stale"] if info.stale else LABELS.get(f"states.{info.state}", info.state)


def method_and_data(settings: Mapping[str, Any]) -> str:
    """"simclr / digits" from a folder's settings (the first block that names a method or a data set)."""
    for block in settings.values():
        if isinstance(block, Mapping) and ("method" in block or "dataset" in block):
            return " / ".join(str(block[k]) for k in ("method", "dataset") if block.get(k) is not None)
    return LABELS["never"]


def ago(t: float | None, now: float | None = None) -> str:
    if not t:
        return LABELS["never"]
    n = max(0.0, (now or time.time()) - t)
    if n < 60:
        return LABELS["ago_s"].format(n=num(n, 0))
    if n < 3600:
        return LABELS["ago_min"].format(n=num(n / 60, 0))
    if n < 86_400:
        return LABELS["ago_h"].format(n=num(n / 3600, 1))
    return LABELS["ago_d"].format(n=num(n / 86_400, 0))


def whose(info: RunInfo, token: str | None) -> str:
    """"yours" for this browser's runs, else another browser's or a terminal's (read-only)."""
    if is_owner(info, token):
        return LABELS["yours"]
    return LABELS["cli"] if info.owner is None else LABELS["others"]


def table_rows(infos: Iterable[RunInfo], token: str | None = None) -> list[dict[str, Any]]:
    """The Runs table; with this browser's `token`, a column that marks its own runs "yours"."""
    now = time.time()
    return [{LABELS["name"]: i.name, LABELS["experiment"]: i.experiment, LABELS["what"]: method_and_data(i.settings),
             LABELS["state"]: state_of(i), LABELS["step"]: i.step, LABELS["speed"]: round(i.steps_per_s, 1),
             LABELS["updated"]: ago(i.updated, now), LABELS["world"]: i.world_size,
             **({LABELS["owner"]: whose(i, token)} if token is not None else {})} for i in infos]


# ---- reading metrics incrementally ------------------------------------------------------------------
@dataclass
class MetricsTail:
    """The rows of one folder's metrics.jsonl read so far and where the next read starts."""

    created: float
    offset: int = 0
    steps: list[dict[str, Any]] = field(default_factory=list)
    evals: list[dict[str, Any]] = field(default_factory=list)

    def read_new(self, path: Path) -> int:
        """Read the lines appended since the last call; return how many rows came."""
        rows, self.offset = read_metrics(path, self.offset)
        for row in rows:
            (self.evals if row.get("kind") == "eval" else self.steps).append(row)
        if len(self.steps) > MAX_STEP_ROWS:
            self.steps = thin(self.steps)
        return len(rows)

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.steps + self.evals


def tail_of(store: MutableMapping[str, MetricsTail], info: RunInfo) -> MetricsTail:
    """The session's tail of `info`'s folder, brought up to date (started afresh for a folder made again)."""
    key = str(info.path)
    tail = store.get(key)
    if tail is None or tail.created != info.created:
        tail = store[key] = MetricsTail(created=info.created)
    tail.read_new(info.path)
    return tail


# ---- the rows as a table (a CSV download) -------------------------------------------------------------
LEADING = ("folder", "run", "kind", "step")  # a history table's first columns, when present


def metrics_table(tail: MetricsTail) -> pd.DataFrame:
    """Every metrics row read from a folder (step rows, thinned as kept, and evaluation rows), sorted by step:
    a column per field of the rows, blank where a row has no value."""
    frame = pd.DataFrame(tail.rows)
    if frame.empty:
        return frame
    frame = frame.sort_values("step", kind="stable") if "step" in frame else frame
    first = [c for c in LEADING if c in frame.columns]
    return frame[first + [c for c in frame.columns if c not in first]].reset_index(drop=True)


def compare_table(tails: Mapping[str, MetricsTail]) -> pd.DataFrame:
    """The rows of several folders (name → tail) in one table, the folder's name in a first column."""
    frames = [metrics_table(tail).assign(folder=name) for name, tail in tails.items() if tail.rows]
    if not frames:
        return pd.DataFrame(columns=["folder"])
    frame = pd.concat(frames, ignore_index=True)
    first = [c for c in LEADING if c in frame.columns]
    return frame[first + [c for c in frame.columns if c not in first]]


# ---- curves -------------------------------------------------------------------------------------------
def family(metric: str) -> str:
    """The chart a metric goes to: losses together, accuracies together, KL and NLL together."""
    parts = metric.lower().split("_")
    if "loss" in parts:
        return "loss"
    if any(p.startswith("acc") for p in parts):
        return "accuracy"
    if metric in ("kl", "nll"):
        return "nats"
    return metric


def family_title(name: str) -> str:
    return LABELS.get(f"families.{name}", name)


def metric_names(rows: Iterable[Mapping[str, Any]], kind: str | None = None) -> list[str]:
    """The numeric fields of the rows (of one kind, "step" or "eval", if given), in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        if kind is None or row.get("kind") == kind:
            seen.update((k, None) for k, v in row.items() if k not in BOOKKEEPING and _is_number(v))
    return list(seen)


def shown_families(tail: MetricsTail) -> dict[str, list[str]]:
    """A run's charts: its loss (from the step rows) and every evaluation metric, grouped by family."""
    out: dict[str, list[str]] = {}
    step_losses = [m for m in metric_names(tail.steps) if family(m) == "loss"]
    for m in step_losses + metric_names(tail.evals):
        out.setdefault(family(m), [])
        if m not in out[family(m)]:
            out[family(m)].append(m)
    return out


def series(rows: Iterable[Mapping[str, Any]], metric: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per run name inside the folder (simclr, supervised, …): (steps, values) of `metric`, sorted by step."""
    points: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        v = row.get(metric)
        if _is_number(v) and _is_number(row.get("step")):
            points.setdefault(str(row.get("run") or ""), []).append((float(row["step"]), float(v)))
    out = {}
    for name, pts in points.items():
        a = np.array(sorted(pts))
        stride = max(1, -(-len(a) // MAX_POINTS))
        a = np.concatenate([a[:-1][::stride], a[-1:]]) if stride > 1 else a
        out[name] = (a[:, 0], a[:, 1])
    return out


def curves_figure(title: str, traces: list[tuple[str, np.ndarray, np.ndarray, bool]], key: str) -> go.Figure:
    """One chart; `traces` are (legend name, steps, values, evaluation: markers on the line)."""
    fig = go.Figure()
    for i, (name, x, y, markers) in enumerate(traces):
        fig.add_scatter(x=np.asarray(x).tolist(), y=np.asarray(y).tolist(), name=name,
                        mode="lines+markers" if markers and len(x) < 200 else "lines",
                        line=dict(color=PALETTE[i % len(PALETTE)]))
    fig.update_layout(title=title, height=300, margin=dict(l=10, r=10, t=40, b=10), xaxis_title=LABELS["x_step"],
                      separators=plotly_separators(), uirevision=key, showlegend=True,
                      legend=dict(orientation="h", y=-0.25))
    return fig


def run_figures(tail: MetricsTail, key: str) -> list[tuple[str, go.Figure]]:
    """One chart per metric family of one folder (a trace per metric and run name inside it)."""
    figures = []
    for fam, metrics in shown_families(tail).items():
        traces = []
        for m in metrics:
            rows = tail.steps if family(m) == "loss" and m in metric_names(tail.steps) else tail.evals
            for name, (x, y) in series(rows, m).items():
                traces.append((_trace_name(m, name, len(metrics) > 1), x, y, rows is tail.evals))
        figures.append((fam, curves_figure(family_title(fam), traces, f"{key}-{fam}")))
    return figures


def compare_figure(metric: str, tails: Mapping[str, MetricsTail]) -> go.Figure:
    """`metric` of several folders on one chart, a trace per folder (and per run name inside it)."""
    traces = []
    for folder, tail in tails.items():
        in_evals = metric in metric_names(tail.evals)
        per_run = series(tail.evals if in_evals else tail.steps, metric)
        for name, (x, y) in per_run.items():
            traces.append((f"{folder} · {name}" if len(per_run) > 1 else folder, x, y, in_evals))
    return curves_figure(metric, traces, f"compare-{metric}")


def _trace_name(metric: str, run: str, several: bool) -> str:
    return " · ".join(p for p in (run, metric if several or not run else "") if p) or metric


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)


# ---- the embedding map --------------------------------------------------------------------------------
def principal_plane(z: np.ndarray) -> np.ndarray:
    """The points' coordinates on their first two principal components (numpy SVD of the centred points)."""
    z = np.asarray(z, dtype=np.float64).reshape(len(z), -1)
    centred = z - z.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    # a fixed sign per axis (its largest loading positive): the picture does not flip between snapshots
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    xy = centred @ (axes.T * np.where(signs == 0, 1.0, signs))
    if xy.shape[1] < 2:  # one-dimensional embeddings: a flat second axis
        xy = np.column_stack([xy, np.zeros(len(xy))])
    return xy


def map_figure(xy: np.ndarray, labels: np.ndarray, key: str) -> go.Figure:
    """The embedding map, a colour per label (at most MAX_MAP_POINTS points, evenly taken)."""
    keep = np.linspace(0, len(xy) - 1, min(len(xy), MAX_MAP_POINTS)).astype(int) if len(xy) else np.arange(0)
    xy, labels = xy[keep], np.asarray(labels).reshape(-1)[keep]
    fig = go.Figure()
    for i, c in enumerate(np.unique(labels)):
        sel = labels == c
        fig.add_trace(go.Scattergl(x=xy[sel, 0], y=xy[sel, 1], mode="markers", name=str(c),
                                   marker=dict(size=4, opacity=0.7, color=PALETTE[i % len(PALETTE)])))
    fig.update_layout(height=460, margin=dict(l=10, r=10, t=10, b=10), uirevision=key, separators=plotly_separators(),
                      xaxis_title=LABELS["map_pc"].format(i=1), yaxis=dict(title=LABELS["map_pc"].format(i=2),
                                                                       scaleanchor="x"))
    return fig
