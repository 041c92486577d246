"""The scoreboard page in a real browser: a small board runs in the background and fills its table."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import fill_number, goto


@pytest.mark.e2e
def test_board_fills_its_table(page):
    goto(page, "scoreboard")
    fill_number(page, "Steps per method", 10)
    page.get_by_role("button", name="Run the board").click()
    page.get_by_text("Done:").wait_for(timeout=90_000)
    table = page.locator("[data-testid='stDataFrame']").first
    table.wait_for()
    # the grid paints on a canvas; its accessible copy (role=gridcell) holds the values, and it can
    # trail the canvas by a render: poll it
    cells = table.locator("[role='gridcell']")
    keys = ("ml", "cd-1", "cd-10", "pcd", "nce", "dsm")
    text = ""
    for _ in range(50):
        text = " ".join(cells.all_text_contents())
        if all(k in text.split() for k in keys):
            break
        page.wait_for_timeout(200)
    assert all(k in text.split() for k in keys), text
    assert page.locator("[data-testid='stPlotlyChart']").count() >= 1
    assert page.get_by_role("button", name="Download CSV").count() == 1
    assert page.locator("[data-testid='stException']").count() == 0
