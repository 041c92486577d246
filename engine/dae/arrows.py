"""Arrow geometry for drawing a 2-D vector field with plotly (which has no coloured quiver).

Arrows are shafts (line segments, NaN-separated so one trace draws many) grouped into bins by length,
so each bin can take one colour, plus a head marker per arrow at its tip with its angle and length.
Lengths drawn are capped at `max_len` (direction kept): the colour carries the true length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ArrowBin:
    lo: float  # true lengths in [lo, hi)
    hi: float
    x: np.ndarray  # shaft vertices with NaN between arrows
    y: np.ndarray


@dataclass
class Arrows:
    bins: list[ArrowBin]
    tip_x: np.ndarray
    tip_y: np.ndarray
    angle: np.ndarray  # degrees clockwise from "up" (plotly's marker.angle)
    length: np.ndarray  # true lengths


def arrow_geometry(xy: np.ndarray, uv: np.ndarray, max_len: float | None = None,
                   edges: np.ndarray | None = None, n_bins: int = 6) -> Arrows:
    """Arrows from xy (N, 2) along uv (N, 2). `edges`: bin edges of the true length (defaults to
    n_bins equal steps from 0 to the longest arrow); lengths past the last edge join the last bin."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    if xy.shape != uv.shape:
        raise ValueError("xy and uv must have the same shape")
    length = np.hypot(uv[:, 0], uv[:, 1])
    shown = uv
    if max_len is not None:
        if max_len <= 0:
            raise ValueError("max_len must be > 0")
        shown = uv * np.minimum(1.0, max_len / np.maximum(length, 1e-12))[:, None]
    tip = xy + shown
    if edges is None:
        top = float(length.max()) if length.size else 1.0
        edges = np.linspace(0.0, max(top, 1e-12), n_bins + 1)
    edges = np.asarray(edges, dtype=np.float64)
    which = np.clip(np.searchsorted(edges, length, side="right") - 1, 0, len(edges) - 2)
    bins = []
    for b in range(len(edges) - 1):
        rows = np.flatnonzero(which == b)
        seg = np.full((rows.size, 3, 2), np.nan)
        seg[:, 0], seg[:, 1] = xy[rows], tip[rows]
        bins.append(ArrowBin(float(edges[b]), float(edges[b + 1]), seg[..., 0].ravel(), seg[..., 1].ravel()))
    angle = np.degrees(np.arctan2(shown[:, 0], shown[:, 1]))
    return Arrows(bins, tip[:, 0], tip[:, 1], angle, length)
