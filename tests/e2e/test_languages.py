"""Every page in Portuguese shows no English sentence, and in English no Portuguese one (tests/e2e/screen_text.py
says what counts and what is allowed: proper names, symbols, Streamlit's and Plotly's own chrome)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.pages_index import PAGES
from tests.e2e.conftest import goto
from tests.e2e.screen_text import foreign_lines, screen_lines

ROOT = Path(__file__).resolve().parents[2]
STEMS = [stem for entries in PAGES.values() for stem, _ in entries if (ROOT / "pages" / f"{stem}.py").exists()]
REPORT = ROOT / ".pytest_cache" / "languages.json"


def page_lines(page, stem: str, lang: str) -> list[str]:
    goto(page, f"{stem}?lang={lang}")
    page.wait_for_timeout(1500)  # components (live canvas, map) draw their own labels after the script
    return screen_lines(page)


@pytest.mark.e2e
@pytest.mark.parametrize("lang", ["pt", "en"])
def test_no_sentence_of_the_other_language_on_any_page(page, lang):
    found: dict[str, list[str]] = {}
    shown = 0
    for stem in STEMS:
        lines = page_lines(page, stem, lang)
        shown += len(lines)
        bad = foreign_lines(lines, lang)
        if bad:
            found[stem] = bad
    REPORT.parent.mkdir(exist_ok=True)
    old = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    REPORT.write_text(json.dumps({**old, lang: {"lines": shown, "foreign": found}}, indent=1, ensure_ascii=False))
    assert shown > 100 * len(STEMS) // 10, shown  # the pages did draw
    assert not found, json.dumps(found, indent=1, ensure_ascii=False)[:6000]
