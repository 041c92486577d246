"""The guided lecture in a real browser, in Portuguese: from the first stop, "Mostre-me" opens the stop's page
and starts its run; the tour box on that page reports the check (its number and pass / fail against the fixed
threshold); "Próxima parada" in the box opens the next stop. Every stop's number goes to
.pytest_cache/lecture-tour.json. The whole tour is marked slow (≤ 10 min on a 2-core CPU); the first three
stops run in the default suite, in presenter view (the key n goes to the next stop)."""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import expect

from app import tour
from tests.e2e.conftest import ROOT, goto

pytestmark = pytest.mark.e2e
REPORT = ROOT / ".pytest_cache" / "lecture-tour.json"
STOP_TIMEOUT_S = 180  # one stop: the page opens, its run trains to its budget (or min step), the check is read
SETTLED = "[data-testid='stApp'][data-test-script-state='notRunning']"


def verdict_of(page, stop_id: str, timeout_s: float) -> dict:
    """Wait for the stop's check to give its verdict (the hidden span the check draws) and read it."""
    span = page.locator(f".tour-verdict[data-stop='{stop_id}']:not([data-state='pending'])").first
    span.wait_for(state="attached", timeout=timeout_s * 1000)
    result = {"state": span.get_attribute("data-state"), "value": float(span.get_attribute("data-value")),
              "where": span.get_attribute("data-key")}
    alert = page.locator("[data-testid='stAlert']", has_text="desta vez").first  # the sentence, in Portuguese
    result["text"] = alert.inner_text().split("\n\n", 1)[-1] if alert.count() else ""  # (after the icon's name)
    return result


def click(page, name: str, scope=None) -> None:
    where = scope if scope is not None else page.locator("[data-testid='stMain']")
    where.get_by_role("button", name=name).first.click()
    page.wait_for_timeout(500)
    page.wait_for_selector(SETTLED, timeout=60_000)


def drive_tour(page, n_stops: int, present: bool = False) -> dict[str, dict]:
    """Show me the first stop, then Next from each stop's box (in presenter view: the key n) up to `n_stops`."""
    goto(page, "lecture?lang=pt" + ("&present=1" if present else ""))
    expect(page.get_by_text(f"Parada 1 de {len(tour.STOPS)}")).to_be_visible(timeout=30_000)
    # the pt file's text, not the English
    expect(page.locator("blockquote").first).to_contain_text("Maximum Likelihood probabilísticamente diminui")
    click(page, "Mostre-me")
    results: dict[str, dict] = {}
    for k, stop in enumerate(tour.STOPS[:n_stops]):
        t0 = time.time()
        if stop.page == tour.LECTURE:
            page.wait_for_url(lambda url: "/lecture" in url, timeout=60_000)
        else:
            page.wait_for_url(lambda url, s=stop: f"/{s.page}" in url, timeout=60_000)
            box = page.locator(".st-key-tour_box")
            box.wait_for(timeout=60_000)
            # (a stop on the same page as the last: the URL is already there, the box changes once it switched)
            expect(box).to_contain_text(f"Parada {k + 1} de {len(tour.STOPS)}", timeout=60_000)
        result = verdict_of(page, stop.id, STOP_TIMEOUT_S)
        result["seconds"] = round(time.time() - t0, 1)
        results[stop.id] = result
        assert result["state"] in ("pass", "fail"), result
        assert "desta vez" in result["text"] and "limiar" in result["text"], result  # number, verdict, threshold
        REPORT.parent.mkdir(exist_ok=True)
        REPORT.write_text(json.dumps(results, indent=1, ensure_ascii=False))
        if k + 1 == n_stops:
            break
        nxt = tour.STOPS[k + 1]
        if stop.page == tour.LECTURE:  # the lecture page: Next moves the page on; Show me opens the stop
            click(page, "Próxima parada")
            click(page, "Rodar o experimento aqui" if nxt.page == tour.LECTURE else "Mostre-me")
        elif present:  # presenter view: n presses the box's "Próxima parada", as a click would
            page.locator("[data-testid='stMain'] h1").first.click()
            page.keyboard.press("n")
            page.wait_for_timeout(500)
        else:
            click(page, "Próxima parada", page.locator(".st-key-tour_box"))
    return results


def test_lecture_tour_first_stops(page):
    results = drive_tour(page, 3, present=True)
    assert list(results) == [s.id for s in tour.STOPS[:3]]
    # the third stop's embedding run has no step budget: pause it from the box, as a lecturer leaving would,
    # so it does not share the cores with the next tests while the server's grace period runs
    pause = page.locator(".st-key-tour_box_pause").get_by_role("button")
    if pause.count():
        pause.click()
        page.wait_for_timeout(500)
        page.wait_for_selector(SETTLED, timeout=60_000)


@pytest.mark.slow
def test_lecture_tour_whole(page):
    t0 = time.time()
    results = drive_tour(page, len(tour.STOPS))
    assert list(results) == [s.id for s in tour.STOPS]
    assert time.time() - t0 < 600, f"the tour took {time.time() - t0:.0f} s"
