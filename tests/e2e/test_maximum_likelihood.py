"""The maximum-likelihood page in a real browser: training starts, the step and the picture change,
and the live view's frame rate and lag are measured — the smooth canvas and, for comparison, plain
Plotly polling. The figures go to stdout and to .pytest_cache/e2e-frame-rate.json."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import fill_number, goto, poll_above

ROOT = Path(__file__).resolve().parents[2]
MEASURE_S = 6.0
# the acceptance target is 24 frames/s on a quiet 2-core machine; CI shares its 2 cores with the
# browser and the test runner, so the floor asserted there can be lowered by ENERGY_LAB_MIN_FPS
MIN_FPS = float(os.environ.get("ENERGY_LAB_MIN_FPS", "24"))
MAX_LAG_S = 1.0

COUNT_TITLES = """() => {
  window.__titles = []; let last = null;
  const poll = () => {
    const t = document.querySelector('[data-testid="stPlotlyChart"] .gtitle');
    const v = t ? t.textContent : null;
    if (v && v !== last) { last = v; window.__titles.push([performance.now(), v]); }
    window.__raf = requestAnimationFrame(poll);
  };
  poll();
}"""


def canvas_attr(page, name: str) -> float:
    v = page.locator("[data-testid='live-canvas']").first.get_attribute(f"data-{name}")
    return float(v) if v not in (None, "") else 0.0


def start_training(page) -> None:
    fill_number(page, "Step budget", 100_000)
    page.get_by_role("button", name="Train", exact=True).click()


def record(result: dict) -> None:
    path = ROOT / ".pytest_cache" / "e2e-frame-rate.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    print("\nlive view:", json.dumps(result))


@pytest.mark.e2e
def test_ml_trains_live_and_reports_frame_rate(page):
    goto(page, "maximum_likelihood")
    start_training(page)
    canvas = page.locator("[data-testid='live-canvas'] canvas").first
    # the component lives in a shadow root: poll through Playwright's locators, which pierce it
    root = page.locator("[data-testid='live-canvas'][data-step]").first
    root.wait_for(timeout=60_000)
    poll_above(lambda: canvas_attr(page, "step"), 0, "the step shown")
    first_step = canvas_attr(page, "step")
    picture_a = canvas.screenshot()
    page.wait_for_timeout(2500)  # let playback settle
    assert canvas_attr(page, "step") > first_step, "the step shown does not advance"
    assert canvas.screenshot() != picture_a, "the energy picture does not change"

    f0, s0, t0, lags = canvas_attr(page, "frames"), canvas_attr(page, "step"), time.perf_counter(), []
    while time.perf_counter() - t0 < MEASURE_S:
        page.wait_for_timeout(250)
        lags.append(canvas_attr(page, "lag"))
    elapsed = time.perf_counter() - t0
    smooth_fps = (canvas_attr(page, "frames") - f0) / elapsed
    steps_per_s = (canvas_attr(page, "step") - s0) / elapsed
    shown_fps = page.locator("[data-testid='live-canvas'] .lc-fps").inner_text()

    # the same run, drawn by plain polling (st.fragment redrawing a Plotly heatmap)
    page.get_by_text("Plain polling").click()
    page.wait_for_selector("[data-testid='stPlotlyChart'] .gtitle", timeout=30_000)
    page.wait_for_timeout(1500)
    page.evaluate(COUNT_TITLES)
    page.wait_for_timeout(int(MEASURE_S * 1000))
    titles = page.evaluate("() => { cancelAnimationFrame(window.__raf); return window.__titles; }")
    plain_fps = max(0, len(titles) - 1) / MEASURE_S

    result = {"smooth_fps": round(smooth_fps, 1), "engine_steps_per_s": round(steps_per_s, 1),
              "smooth_max_lag_s": round(max(lags), 3),
              "smooth_fps_label": shown_fps, "plain_polling_fps": round(plain_fps, 1), "min_fps_asserted": MIN_FPS}
    record(result)
    assert page.locator("[data-testid='stException']").count() == 0
    assert smooth_fps >= MIN_FPS, result
    assert max(lags) <= MAX_LAG_S, result
    assert smooth_fps > plain_fps, result
