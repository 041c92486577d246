"""The "Binary data" page in a real browser: training runs live (the exact-NLL curves gain points)
and the watched Metropolis chain steps one proposal at a time."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import fill_number, goto, poll_above

# number of points of the first curve of the chart titled "Exact NLL" (plotly keeps the decoded data
# on the graph div as _fullData)
NLL_POINTS = """() => {
  for (const gd of document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')) {
    const t = gd.querySelector('.gtitle');
    if (t && t.textContent.startsWith('Exact NLL') && gd._fullData && gd._fullData.length) {
      return gd._fullData[0].x.length;
    }
  }
  return -1;
}"""


def wait_points(page, above: int, timeout: float = 40.0) -> int:
    return poll_above(lambda: page.evaluate(NLL_POINTS), above, "the NLL curve's point count", timeout, 250)


@pytest.mark.e2e
def test_nll_curves_grow_and_the_chain_steps(page):
    goto(page, "binary")
    fill_number(page, "Step budget", 100_000)
    page.get_by_role("button", name="Train", exact=True).click()
    first = wait_points(page, 1)
    later = wait_points(page, first)  # new exact evaluations arrive while it trains
    assert later > first

    page.get_by_role("button", name="Next proposal", exact=True).click()
    page.get_by_text("Proposal 1", exact=False).first.wait_for(timeout=20_000)
    page.get_by_role("button", name="Next proposal", exact=True).click()
    page.get_by_text("Proposal 2", exact=False).first.wait_for(timeout=20_000)
    text = page.locator("[data-testid='stMarkdownContainer']", has_text="Proposal 2").first.inner_text()
    assert "ΔE" in text and ("accepted" in text or "rejected" in text)
    page.get_by_role("button", name="Pause", exact=True).click()
    assert page.locator("[data-testid='stException']").count() == 0
