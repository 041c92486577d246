"""The embedding map with images: a `st.components.v2` canvas (app/embed_map.js) that draws the map's
points by class, the positive pairs, the anchor and its hardest negatives, and shows the image under
the mouse (and one positive view of it) in a corner panel, as the Embedding Projector does with its
sprites. A click on a point makes it the anchor (the trigger value "click" → `on_click`).

Plotly's hover labels cannot hold images, hence a component. What it is sent per map: the xy of every
point (float32, base64), the class of each map image (uint8), the anchor and its negatives. The sprite
atlas (engine/embed/sprites.py: thumbnails and views, uint8) is sent once per run and map size: the
browser keeps it and reports the atlas it holds through the state value "sprites"; the page sends it
again when that differs (a new run, a reloaded tab).

The component root carries, for the e2e tests: data-n (map images), data-step, data-anchor,
data-hover-index (-1 before any hover), data-hover-class, data-sprites (images held) and data-sprite-key;
`window.energyLabEmbedMap` gives point i's position in client (viewport) pixels (`point(i)`), the number
of map images (`n()`) and the class of point i (`label(i)`).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from app.embed_views import PALETTE  # the Plotly map's class colours
from app.i18n import texts
from engine.embed.sprites import Sprites
from engine.embed.views import map_points

KEY = "embed_map_canvas"
_JS = "\n".join((Path(__file__).parent / name).read_text() for name in ("components_shared.js", "embed_map.js"))
_CSS = """
.em-root { font: 12px/1.4 sans-serif; color: var(--st-text-color, #333); }
.em-stage { position: relative; }
.em-canvas { display: block; border-radius: 6px; cursor: crosshair; }
.em-panel { position: absolute; top: 8px; right: 8px; display: flex; gap: 6px; padding: 6px;
  background: rgba(255, 255, 255, 0.92); border: 1px solid rgba(128, 128, 128, 0.5); border-radius: 6px;
  color: #222; pointer-events: none; }
.em-panel figure { margin: 0; text-align: center; }
.em-panel img { display: block; width: 96px; height: 96px; image-rendering: pixelated; background: #000; }
.em-panel figcaption { font-size: 11px; margin-top: 2px; }
.em-panel[data-empty="1"] { display: none; }
.em-legend { display: flex; flex-wrap: wrap; gap: 4px 12px; margin-top: 4px; }
.em-legend i { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 4px; }
.em-info { opacity: 0.7; margin-top: 2px; font-variant-numeric: tabular-nums; }
"""
_component = st.components.v2.component("energy_lab_embed_map", js=_JS, css=_CSS)

# the component's words (assets/locales/<lang>/embed_map.toml; {i}: index, {cls}: class), read per call
TEXT = texts("embed_map")
HEIGHT = 520  # canvas height in CSS pixels (the width follows the page, at most MAX_WIDTH)
MAX_WIDTH = 900


def b64(a: np.ndarray) -> str:
    """The array's bytes (C order) as base64 text."""
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def sprite_payload(sprites: Sprites) -> dict[str, Any]:
    """The sprite atlas as JSON-ready data: row-major uint8 images, N×side×side×channels each."""
    return {"count": sprites.count, "side": sprites.side, "channels": sprites.channels,
            "images": b64(sprites.images), "views": b64(sprites.views)}


def map_payload(snap: dict[str, Any], xy: np.ndarray, classes: tuple[str, ...], anchor: int, negs: np.ndarray,
                sprite_key: str, sprites: Sprites | None) -> dict[str, Any]:
    """What the component draws: every point's xy (map images, then the pairs' two views), the classes,
    the anchor and its negatives; the sprite atlas when `sprites` is given (None: the browser has it)."""
    _, n, p = map_points(snap)
    if len(xy) != n + 2 * p:
        raise ValueError(f"the map has {n + 2 * p} points but {len(xy)} coordinates")
    return {
        "step": int(snap["map_step"]), "n": n, "pairs": p,
        "xy": b64(np.asarray(xy, dtype=np.float32)),
        "labels": b64(np.asarray(snap["map_labels"][:n], dtype=np.uint8)),
        "classes": list(classes), "palette": PALETTE,
        "anchor": int(anchor), "negs": [int(i) for i in negs],
        "sprite_key": sprite_key, "sprites": sprite_payload(sprites) if sprites is not None else None,
        "config": {"height": HEIGHT, "max_width": MAX_WIDTH, "labels": dict(TEXT)},  # the session's words
    }


def held_sprites(key: str = KEY) -> str | None:
    """The sprite key the browser reported holding (None: none yet, or it lost them)."""
    state = st.session_state.get(key)
    held = state.get("sprites") if hasattr(state, "get") else None
    return held if isinstance(held, str) else None


def clicked_index(key: str = KEY) -> int | None:
    """The index of the point clicked in this rerun (the trigger value "click"), if any."""
    state = st.session_state.get(key)
    value = state.get("click") if hasattr(state, "get") else None
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else None


def embed_map(snap: dict[str, Any], xy: np.ndarray, classes: tuple[str, ...], anchor: int, negs: np.ndarray,
              sprite_key: str, sprites: Callable[[], Sprites], on_click: Callable[[], None],
              key: str = KEY) -> Any:
    """Mount the map. `sprites` is called (and its atlas sent) only when the browser does not hold the
    atlas `sprite_key`; `on_click` runs before the rerun a click causes (read `clicked_index()` there)."""
    atlas = None if held_sprites(key) == sprite_key else sprites()
    data = map_payload(snap, xy, classes, anchor, negs, sprite_key, atlas)
    return _component(key=key, data=data, height="content", on_click_change=on_click,
                      on_sprites_change=lambda: None)
