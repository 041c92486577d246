"""Every page in Portuguese shows no English sentence, and in English no Portuguese one (tests/e2e/screen_text.py
says what counts and what is allowed: proper names, symbols, Streamlit's and Plotly's own chrome)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.i18n import t
from app.pages_index import PAGES
from tests.e2e.conftest import goto
from tests.e2e.screen_text import foreign_lines, screen_lines

ROOT = Path(__file__).resolve().parents[2]
STEMS = [stem for entries in PAGES.values() for stem, _ in entries if (ROOT / "pages" / f"{stem}.py").exists()]
REPORT = ROOT / ".pytest_cache" / "languages.json"
LECTURE = ROOT / "assets" / "lecture" / "week08-1-contrastive-methods-{lang}.md"


def quoted(line: str, lang: str) -> bool:
    """A line quoted from the lecture's own text in this language (the Portuguese translation keeps a few English
    words, e.g. "State of the Art"): the translator's words, allowed as they are."""
    path = Path(str(LECTURE).format(lang=lang))
    return line.strip("“”\"' ") in " ".join(path.read_text().split())


def page_lines(page, stem: str, lang: str) -> list[str]:
    """The page as it opens, then (where it trains) after one Step: its status line, curves and pictures."""
    goto(page, f"{'' if stem == STEMS[0] else stem}?lang={lang}")  # the first page is the app's root
    page.wait_for_timeout(1500)  # components (live canvas, map) draw their own labels after the script
    lines = screen_lines(page)
    step = page.get_by_role("button", name=t("run_controls.step", lang=lang), exact=True)
    if step.count() and step.first.is_enabled():
        step.first.click()
        page.wait_for_timeout(500)
        page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=60_000)
        page.wait_for_timeout(2500)
        lines += screen_lines(page)
    return lines


def stop_lines(page, lang: str) -> dict[str, list[str]]:
    """Every stop of the guided lecture as its page shows it (claim, what to look at, buttons), in turn."""
    from app.tour import STOPS

    goto(page, f"lecture?lang={lang}")
    seen = {}
    for k, stop in enumerate(STOPS):
        page.wait_for_timeout(300)
        seen[f"lecture:{stop.id}"] = screen_lines(page)
        if k + 1 < len(STOPS):
            page.locator(".st-key-lecture_next").get_by_role("button").click()
            page.wait_for_timeout(500)
            page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=60_000)
    return seen


@pytest.mark.e2e
@pytest.mark.parametrize("lang", ["pt", "en"])
def test_no_sentence_of_the_other_language_on_any_page(page, lang):
    found: dict[str, list[str]] = {}
    shown = 0
    seen: dict[str, list[str]] = {}
    shots = {stem: page_lines(page, stem, lang) for stem in STEMS} | stop_lines(page, lang)
    for where, lines in shots.items():
        seen[where] = sorted(set(lines))
        shown += len(lines)
        bad = [line for line in foreign_lines(lines, lang) if not quoted(line, lang)]
        if bad:
            found[where] = bad
    REPORT.parent.mkdir(exist_ok=True)
    old = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    report = {**old, lang: {"lines": shown, "foreign": found, "seen": seen}}
    REPORT.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    assert shown > 100 * len(STEMS) // 10, shown  # the pages did draw
    assert not found, json.dumps(found, indent=1, ensure_ascii=False)[:6000]
