"""The DAE page in a real browser: training runs live, and the reconstruction field's arrows and the
metric values on screen change while it trains."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import goto

READ_FIELD = """() => {
  const plots = Array.from(document.querySelectorAll('.js-plotly-plot'));
  const fig = plots.find(p => (p.data || []).some(t => t.name === 'field'));
  if (!fig) return null;
  // _fullData holds the decoded arrays (numpy arrays travel base64-encoded in fig.data)
  const heads = (fig._fullData || []).find(t => t.name === 'field');
  if (!heads) return null;
  const arr = a => Array.from(a || []).map(Number);
  return {x: arr(heads.x), y: arr(heads.y), angle: arr(heads.marker.angle),
          arrows_drawn: fig.querySelectorAll('.scatterlayer .trace').length};
}"""
READ_METRICS = """() => Array.from(document.querySelectorAll("[data-testid='stMetricValue']")).map(e => e.innerText)"""


def metrics_ready(page) -> bool:
    values = page.evaluate(READ_METRICS)
    return len(values) == 6 and all(v and v != "…" for v in values)


@pytest.mark.e2e
def test_dae_trains_live_and_redraws_field_and_metrics(page):
    goto(page, "denoising_autoencoder")
    # exact: the form's help button is labelled "Help for Step budget"
    box = page.get_by_label("Step budget", exact=True)
    box.fill("100000")
    box.press("Enter")
    page.wait_for_timeout(800)
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_function(f"() => {{ const f = ({READ_FIELD})(); return f && f.x.length > 0; }}", timeout=60_000)
    page.wait_for_function(f"() => {{ const v = ({READ_METRICS})(); return v.length === 6 && "
                           "v.every(s => s && s !== '…'); }", timeout=60_000)
    field_a, metrics_a = page.evaluate(READ_FIELD), page.evaluate(READ_METRICS)
    assert len(field_a["x"]) == 17 * 17 and field_a["arrows_drawn"] > 6

    changed = False
    for _ in range(30):  # up to ~15 s on a busy machine
        page.wait_for_timeout(500)
        field_b, metrics_b = page.evaluate(READ_FIELD), page.evaluate(READ_METRICS)
        if field_b and field_b["angle"] != field_a["angle"] and metrics_b[:2] != metrics_a[:2]:
            changed = True
            break
    assert changed, (metrics_a, metrics_b)
    assert page.locator("[data-testid='stException']").count() == 0
    page.get_by_role("button", name="Pause", exact=True).click()
