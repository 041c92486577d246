"""Every page opens in a real browser without an exception."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.pages_index import PAGES, page_title
from tests.e2e.conftest import goto

ROOT = Path(__file__).resolve().parents[2]
STEMS = [stem for entries in PAGES.values() for stem, _ in entries if (ROOT / "pages" / f"{stem}.py").exists()]


@pytest.mark.e2e
def test_every_page_opens(page):
    for stem in STEMS:
        goto(page, stem)
        assert page.locator("h1").count() >= 1, stem
    # the navigation shows every page
    nav = page.locator("[data-testid='stSidebarNav']").inner_text()
    for entries in PAGES.values():
        for stem, _ in entries:
            if stem in STEMS:
                assert page_title(stem, "en") in nav


@pytest.mark.e2e
def test_the_top_bar_has_no_deploy_button(page):
    goto(page, STEMS[0])
    page.wait_for_selector("[data-testid='stToolbar'], [data-testid='stHeader']", timeout=20_000)
    header = page.locator("[data-testid='stHeader']").inner_text()
    assert "Deploy" not in header and page.get_by_role("button", name="Deploy").count() == 0
