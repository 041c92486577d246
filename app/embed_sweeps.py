"""The contrastive-embedding page's sweeps: the lecture's three questions (why cosine, negatives and dimension,
temperature), each a background job in the scheduler's line with its settings form, Start / Stop and its view."""

from __future__ import annotations

import streamlit as st

from app import embed_views as draw
from app.form import settings_form
from app.i18n import message, texts
from app.jobs import carry_on, job_wait, start_job, stop_job
from app.session import RunSlots
from engine.embed.config import EmbedConfig
from engine.embed.sweeps import (
    NegativesSettings,
    TemperatureSettings,
    WhyCosineSettings,
    negatives_and_dimension,
    temperature,
    why_cosine,
)
from engine.errors import SettingError
from engine.run import Run, RunOptions

TEXT = texts("embed_sweeps")
SWEEPS = {"why": (WhyCosineSettings, why_cosine), "neg": (NegativesSettings, negatives_and_dimension),
          "temp": (TemperatureSettings, temperature)}


def sweep_controls(slots: RunSlots, config: EmbedConfig | None, key: str, box) -> None:
    """The sweep's settings (declared in engine/embed/sweeps.py), Start and Stop."""
    settings_cls, build = SWEEPS[key]
    settings = settings_form(settings_cls, key=f"embed_{key}", container=box)
    c1, c2 = box.columns(2)
    if c1.button(TEXT["start"], key=f"embed_{key}_start", disabled=config is None or settings is None) \
            and not carry_on(slots, f"embed_sweep_{key}"):  # one waiting keeps its place, a paused one goes on
        try:
            sweep = build(config, settings)
        except SettingError as exc:  # a cell the settings above do not allow (e.g. a batch > the data)
            box.error(message(exc))
        else:
            options = RunOptions(max_steps=sweep.total_steps, snapshot_hz=1.0, evaluate_every_s=None)
            start_job(slots, f"embed_sweep_{key}", Run(sweep, options, name=f"embed-{key}"))
    if c2.button(TEXT["stop"], key=f"embed_{key}_stop"):
        stop_job(slots, f"embed_sweep_{key}")


@st.fragment(run_every=1.0)
def sweep_view(slots: RunSlots, key: str) -> None:
    r = slots.get(f"embed_sweep_{key}")
    if job_wait(r, f"embed_{key}"):
        return
    if d := draw.sweep_progress(r, TEXT["error_prefix"]):
        draw.SWEEP_VIEWS[key](d, r.trainer)


def sweeps_section(slots: RunSlots, config: EmbedConfig | None) -> None:
    """One tab per sweep: its question, its controls and its results."""
    for key, tab in zip(SWEEPS, st.tabs([TEXT[f"{k}_title"] for k in SWEEPS]), strict=True):
        with tab:
            st.markdown(TEXT[f"{key}_intro"])
            sweep_controls(slots, config, key, tab)
            sweep_view(slots, key)
