"""The smooth live view: a `st.components.v2` canvas that plays a run's snapshots in the browser.

Plain `st.fragment` polling that redraws a Plotly heatmap reaches ~8 frames/s on a 2-core machine
(DESIGN.md). Here the fragment only ships, every ~0.25 s, the frames the engine published since the
last call (energies as uint8, points as float32, base64); the browser queues them and paints each at
its own time, a fraction of a second behind, so every published frame (~30/s) reaches the screen.

Snapshot keys drawn: "energy" (n×n, rows = y, ascending), "positives" / "negatives" / "particles"
(N×2), "reinit" (bool N: particles re-initialised this step, ringed). The component root carries
data-fps, data-lag, data-step, data-frames and data-trail attributes (used by the e2e tests).

Exports, for slides: the toolbar under the picture has a "PNG" button (the canvas as it is, downloaded as
<prefix>-step-<step>.png) and a "Record"/"Stop" button that records the canvas as a WebM video
(captureStream + MediaRecorder, vp8 where the browser has it) from the click until Stop, at most
MAX_RECORD_S, downloaded as <prefix>-step-<first>-<last>.webm. Recording from the click, not a rolling
"last N seconds" buffer: MediaRecorder's stream cannot be cut at an arbitrary point. The root then also
carries data-recording ("1"/"0"), data-recorded-bytes, data-recorded-s (after Stop), data-record-type,
data-record-supported, data-downloads and data-last-download.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from app.i18n import plotly_separators, texts
from engine.run import RUNNING, Run, Snapshot

_JS = "\n".join((Path(__file__).parent / name).read_text() for name in ("components_shared.js", "live_canvas.js"))
_CSS = """
.lc-root { font: 12px/1.4 sans-serif; color: var(--st-text-color, #ddd); }
.lc-canvas { display: block; border-radius: 6px; }
.lc-bar { display: flex; align-items: center; gap: 6px; max-width: 520px; margin-top: 4px; }
.lc-ramp { flex: 1; height: 8px; border-radius: 4px;
  background: linear-gradient(90deg, #440154, #3b528b, #21908d, #5dc963, #fde725); }
.lc-legend { display: flex; gap: 14px; margin-top: 4px; }
.lc-legend i { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 4px; }
.lc-info { opacity: 0.65; margin-top: 2px; font-variant-numeric: tabular-nums; }
.lc-tools { display: flex; align-items: center; gap: 6px; margin-top: 4px; font-variant-numeric: tabular-nums; }
.lc-tools button { font: inherit; color: inherit; background: transparent; cursor: pointer; padding: 1px 9px;
  border: 1px solid rgba(128, 128, 128, 0.55); border-radius: 4px; }
.lc-tools button:hover { border-color: currentColor; }
.lc-tools button:disabled { opacity: 0.4; cursor: default; }
.lc-tools button[data-on="1"] { color: #ff5252; border-color: #ff5252; }
.lc-rec-info { opacity: 0.65; }
"""
_component = st.components.v2.component("energy_lab_live_canvas", js=_JS, css=_CSS)

# the point layers the canvas draws, with their legend's colour; the legend's words are TEXT["legend_<layer>"],
# looked up by the JS (LEGEND_LABELS) in the labels shipped with the data
LEGEND = {"positives": "#4fc3f7", "negatives": "#ff5252", "particles": "#ffb74d"}
FIRST_BATCH_S = 1.0  # on (re)mount, send only the last second of frames
# every word the canvas shows (toolbar, legend, the step/frames/lag line; {s}: seconds recorded, {kb}: size
# so far), in the session's language: read at each call (never here, at import), shipped as config.labels
TEXT = texts("live_canvas")
MAX_RECORD_S = 120  # a recording stops itself after this long (the video is held in the browser's memory)


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def encode_frame(snap: Snapshot) -> dict[str, Any]:
    """One snapshot as JSON-ready data: energies normalised to uint8 (E − min over a robust range)."""
    out: dict[str, Any] = {"frame": snap.frame, "step": snap.step, "t": snap.t}
    energy = snap.data.get("energy")
    if energy is not None:
        e = np.asarray(energy, dtype=np.float32)
        lo, hi = float(e.min()), float(np.percentile(e, 98))
        hi = max(hi, lo + 1e-6)
        out.update(n=int(e.shape[0]), lo=lo, hi=hi,
                   grid=_b64((np.clip((e - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)))
    out["pts"] = {name: _b64(np.asarray(snap.data[name], dtype=np.float32)[:, :2])
                  for name in LEGEND if snap.data.get(name) is not None}
    reinit = snap.data.get("reinit")
    if reinit is not None:
        out["reinit"] = np.flatnonzero(np.asarray(reinit)).tolist()
    return out


def frames_to_send(run: Run, last_sent: int) -> list[Snapshot]:
    frames = run.frames_since(last_sent)
    if last_sent == 0 and frames:  # a fresh mount: start from the last second only
        newest = frames[-1].t
        frames = [f for f in frames if f.t >= newest - FIRST_BATCH_S] or frames[-1:]
    return frames


def file_prefix(key: str) -> str:
    """The downloads' name prefix: "ml_canvas" → "energy-lab-ml"."""
    return "energy-lab-" + key.removesuffix("_canvas").replace("_", "-")


def live_canvas(run: Run | None, *, key: str, extent: tuple[float, float, float, float],
                static_points: np.ndarray | None = None, trail: int = 0, size: int = 520) -> dict[str, Any]:
    """Ship new frames of `run` to the canvas `key`. Call it inside an `st.fragment(run_every=...)`."""
    sent_key = f"_lc_sent_{key}"
    run_key = f"_lc_run_{key}"
    run_id = id(run) if run is not None else 0
    if st.session_state.get(run_key) != run_id:
        st.session_state[run_key] = run_id
        st.session_state[sent_key] = 0
    frames = frames_to_send(run, st.session_state[sent_key]) if run is not None else []
    if frames:
        st.session_state[sent_key] = frames[-1].frame
    latest = frames[-1] if frames else (run.latest() if run is not None else None)
    layers = [[n, LEGEND[n]] for n in LEGEND if latest is not None and latest.data.get(n) is not None]
    data = {
        "run_id": run_id,
        "server_time": time.time(),
        "frames": [encode_frame(f) for f in frames],
        "static": _b64(np.asarray(static_points, np.float32)[:, :2]) if static_points is not None else None,
        "config": {"extent": list(extent), "trail": int(trail), "size": int(size),
                   "running": bool(run is not None and run.state == RUNNING), "legend": layers,
                   "labels": dict(TEXT), "decimal": plotly_separators()[0], "file_prefix": file_prefix(key),
                   "max_record_s": MAX_RECORD_S},
    }
    return _component(key=key, data=data, height="content")
