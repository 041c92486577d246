"""Exports for slides and analysis: every Plotly figure through `chart` (its modebar's camera button
downloads a PNG named after what the figure shows, at twice the screen resolution) and every table,
history or sweep through `csv_button` (a CSV file with the rows shown).

PNG is the modebar's default format. SVG: put `"svg"` in `st.session_state[FORMAT_KEY]` (a lecture
setting can bind a widget to that key) and every chart drawn through `chart` downloads SVG instead.
The live canvas has its own PNG and Record buttons (app/live_canvas.py).

CSV is written by pandas with a decimal point and a comma separator whatever the browser's or the
server's language, so a spreadsheet or `pandas.read_csv` reads it back unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app.i18n import texts

TEXT = texts("exports")
PREFIX = "energy-lab"
FORMAT_KEY = "energy_lab_image_format"  # session-state key: "png" (default) or "svg"
IMAGE_FORMATS = ("png", "svg")
SCALE = 2  # PNG pixels per screen pixel: sharp on a projector


def file_stem(name: str) -> str:
    """`name` as a safe file name stem, prefixed with the app's name: "ML curves" → "energy-lab-ml-curves"."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "figure"
    return slug if slug.startswith(PREFIX) else f"{PREFIX}-{slug}"


def image_format() -> str:
    """The format the charts' camera button downloads: the session's choice (FORMAT_KEY), else PNG."""
    fmt = st.session_state.get(FORMAT_KEY, "png")
    return fmt if fmt in IMAGE_FORMATS else "png"


def plotly_config(name: str, fmt: str = "png") -> dict[str, Any]:
    """The Plotly config of a chart named `name`: the modebar (shown on hover, never hidden) downloads
    `<file_stem(name)>.<fmt>` at SCALE× resolution."""
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"image format {fmt!r} is not one of {IMAGE_FORMATS}")
    return {"displaylogo": False, "displayModeBar": "hover",
            "toImageButtonOptions": {"format": fmt, "filename": file_stem(name), "scale": SCALE}}


def chart(fig: go.Figure, key: str, name: str, *, container: Any = None, **kwargs: Any) -> Any:
    """`st.plotly_chart(fig, key=key, config=plotly_config(name))` in `container` (default: here); the
    other keyword arguments (width, on_select, ...) go to st.plotly_chart unchanged."""
    where = container if container is not None else st
    return where.plotly_chart(fig, key=key, config=plotly_config(name, image_format()), **kwargs)


TableLike = pd.DataFrame | Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]]


def as_frame(rows: TableLike, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A table as a DataFrame: a DataFrame, a dict of columns, or a list of row dicts (or of tuples,
    with `columns`)."""
    if isinstance(rows, pd.DataFrame):
        return rows
    return pd.DataFrame(rows, columns=list(columns) if columns is not None else None)


def csv_text(rows: TableLike, columns: Sequence[str] | None = None) -> str:
    """The table as CSV text: a header line, then one line per row; '.' decimals, ',' separators,
    full float precision, no index column."""
    return as_frame(rows, columns).to_csv(index=False, sep=",", decimal=".", lineterminator="\n")


def csv_button(rows: TableLike, file_name: str, label: str | None = None, *, key: str | None = None,
               columns: Sequence[str] | None = None, container: Any = None) -> bool:
    """A small download button for the table `rows` as `<file_stem(file_name)>.csv`. A click downloads
    without rerunning the page (a live view keeps going)."""
    where = container if container is not None else st
    stem = file_stem(file_name.removesuffix(".csv"))
    return where.download_button(label or TEXT["csv"], csv_text(rows, columns).encode("utf-8"),
                                 file_name=f"{stem}.csv", mime="text/csv", key=key or f"csv_{stem}",
                                 help=TEXT["csv_help"], on_click="ignore", icon=":material/download:")
