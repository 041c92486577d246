"""Presenter view in a real browser: the settings hidden, and the keyboard drives the run (never while typing)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import goto

pytestmark = pytest.mark.e2e


def main(page):
    """The page's main column (the sidebar, hidden in presenter view, lists the same runs)."""
    return page.locator("[data-testid='stMain']")


def status(page) -> str:
    line = main(page).locator("[data-testid='stMarkdownContainer']", has_text=re.compile(r" · step "))
    return line.first.inner_text()


def test_presenter_view_hides_the_settings_and_keys_drive_the_run(page):
    goto(page, "maximum_likelihood?present=1")
    expect(page.locator("section[data-testid='stSidebar']")).to_be_hidden()
    expect(page.get_by_role("button", name=re.compile("Exit presenter view"))).to_be_visible()
    expect(page.locator("body[data-presenter='on']")).to_have_count(1)

    # typing in a field never triggers a shortcut
    page.evaluate("""() => { const i = document.createElement('input'); i.id = 'typing-here';
                             document.querySelector('[data-testid="stMain"]').prepend(i); }""")
    page.locator("#typing-here").focus()
    page.keyboard.press("r")
    page.keyboard.press(" ")
    page.wait_for_timeout(1500)
    expect(page.get_by_text("Ready: press Train.")).to_be_visible()  # no run was made
    assert main(page).locator("[data-testid='stMarkdownContainer']", has_text=re.compile(r" · step ")).count() == 0
    page.locator("#typing-here").evaluate("el => el.remove()")

    page.locator("[data-testid='stMain'] h1").first.click()  # focus back on the page
    page.keyboard.press("ArrowRight")  # one step
    expect(main(page).get_by_text(re.compile(r"Paused · step 1\b")).first).to_be_visible(timeout=30_000)
    page.keyboard.press(" ")  # train
    expect(main(page).get_by_text(re.compile(r"Training · step")).first).to_be_visible(timeout=30_000)
    page.wait_for_timeout(1500)
    page.keyboard.press(" ")  # pause
    expect(main(page).get_by_text(re.compile(r"Paused · step \d")).first).to_be_visible(timeout=30_000)
    page.wait_for_timeout(1000)  # the pause lands after the step in flight: read the step it settled on
    page.reload()  # a redraw of the whole page: the status as the run now is
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=60_000)
    paused_at = int(re.search(r"step ([\d,]+)", status(page)).group(1).replace(",", ""))
    assert paused_at > 1 and "Paused" in status(page)
    page.locator("[data-testid='stMain'] h1").first.click()
    page.keyboard.press("r")  # reset, then undo it
    expect(main(page).get_by_text(re.compile(r"Paused · step 0\b")).first).to_be_visible(timeout=30_000)
    page.get_by_role("button", name=re.compile(r"Undo reset \(back to step")).click()
    expect(main(page).get_by_text(re.compile(rf"Paused · step {paused_at:,}\b")).first).to_be_visible(timeout=30_000)

    page.keyboard.press("Escape")  # leave: the settings come back, the keys stop
    expect(page.locator("section[data-testid='stSidebar']")).to_be_visible(timeout=30_000)
    expect(page.locator("body[data-presenter='off']")).to_have_count(1)
    page.locator("[data-testid='stMain'] h1").first.click()
    page.keyboard.press(" ")
    page.wait_for_timeout(1500)
    assert "Paused" in status(page), status(page)
    assert page.locator("[data-testid='stException']").count() == 0
