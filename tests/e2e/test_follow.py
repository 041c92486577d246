"""Follow the lecturer in a real browser: two browser contexts on one server (two browsers: no shared cookie).

The lecturer trains on the maximum-likelihood page, opens "Share my live view" and reads the read-only link; the
student's context opens it, sees the live canvas's step advance, finds no button that drives the run, and clicks
around (its own settings, the view switch, another page and back) while the lecturer's run trains on untouched.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import fill_number, goto, poll_above

pytestmark = pytest.mark.e2e

RUN_BUTTONS = ("Train", "Resume", "Pause", "Step", "Reset")
STATUS = re.compile(r"(Training|Paused|Finished|Stopped|Failed|Waiting) · step ([\d,]+)")


def canvas_step(page) -> float:
    """The step of the frame the live canvas shows (its root's data-step; the component sits in a shadow root,
    which Playwright's locators pierce)."""
    v = page.locator("[data-testid='live-canvas']").first.get_attribute("data-step")
    return float(v) if v not in (None, "") else 0.0


def status(page) -> tuple[str, int]:
    """The main column's status line: ("Training", 1234)."""
    line = page.locator("[data-testid='stMain'] [data-testid='stMarkdownContainer']", has_text=STATUS).first
    found = STATUS.search(line.inner_text())
    assert found, line.inner_text()
    return found.group(1), int(found.group(2).replace(",", ""))


def read_link(page) -> str:
    """Open the sidebar's "Share my live view", make the link, and read it from its code box."""
    sidebar = page.locator("section[data-testid='stSidebar']")
    sidebar.get_by_text("Share my live view").click()
    code_box = sidebar.locator("[data-testid='stCode']", has_text="?follow=").first
    make = sidebar.get_by_role("button", name=re.compile("Make a read-only link"))
    for _ in range(3):  # a click that lands while the live page redraws can be lost: look, and click again
        if make.count():
            make.click()
        try:
            expect(code_box).to_be_visible(timeout=10_000)
            break
        except AssertionError:
            if not make.count():  # the expander closed on a redraw: open it again
                sidebar.get_by_text("Share my live view").click()
    expect(code_box).to_be_visible(timeout=10_000)
    link = code_box.inner_text().strip()
    assert re.search(r"/maximum_likelihood\?follow=[A-Za-z0-9_-]{16}$", link), link
    return link


def switch_page(page, title: str, path: str) -> None:
    """Click the sidebar navigation's `title` and wait until that page's script has run."""
    page.locator("[data-testid='stSidebarNav']").get_by_text(title, exact=True).click()
    page.wait_for_url(re.compile(rf"/{path}\b"), timeout=30_000)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=60_000)
    assert page.locator("[data-testid='stException']").count() == 0


def test_a_student_follows_the_lecturers_live_view_read_only(page, browser):
    # the lecturer: a run with a budget it will not reach during the test
    goto(page, "maximum_likelihood")
    fill_number(page, "Step budget", 1_000_000)
    page.get_by_role("button", name="Train", exact=True).click()
    page.locator("[data-testid='live-canvas'][data-step]").first.wait_for(timeout=60_000)
    poll_above(lambda: canvas_step(page), 0, "the lecturer's step")
    link = read_link(page)
    assert status(page)[0] == "Training"

    # the student: another browser context (its own cookie jar: another browser to the server)
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    student = ctx.new_page()
    student.set_default_timeout(30_000)
    try:
        student.goto(link)
        student.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=60_000)
        assert student.locator("[data-testid='stException']").count() == 0
        main = student.locator("[data-testid='stMain']")
        expect(main.get_by_text(re.compile("You are following the lecturer's live view"))).to_be_visible()
        expect(main.get_by_text("Following the lecturer's run (read only)")).to_be_visible()

        # the lecturer's live view, advancing on the student's screen
        student.locator("[data-testid='live-canvas'][data-step]").first.wait_for(timeout=60_000)
        first = poll_above(lambda: canvas_step(student), 0, "the step the student sees")
        poll_above(lambda: canvas_step(student), first + 5, "the step the student sees, later")

        # nothing on the student's page drives a run: no run buttons, no "Pause all" for the lecturer's runs
        for name in RUN_BUTTONS:
            assert student.get_by_role("button", name=name, exact=True).count() == 0, name
        assert student.get_by_role("button", name=re.compile("Pause all")).count() == 0
        assert student.get_by_role("button", name=re.compile("Undo reset")).count() == 0

        # the student clicks around: its own settings, the view switch, the keyboard, another page and back
        before = status(page)[1]
        fill_number(student, "Step budget", 10)
        student.get_by_text("Plain polling").click()
        student.wait_for_timeout(1000)
        student.locator("[data-testid='stMain'] h1").first.click()
        student.keyboard.press(" ")
        student.keyboard.press("r")
        switch_page(student, "Contrastive divergence & PCD", "contrastive_divergence")
        expect(main.get_by_text(re.compile("You are following the lecturer's live view"))).to_be_visible()
        # put back into the URL after the page switch (which drops it): a reload keeps following
        expect(student).to_have_url(re.compile(r"[?&]follow="), timeout=30_000)
        switch_page(student, "Maximum likelihood", "maximum_likelihood")
        expect(main.get_by_text("Following the lecturer's run (read only)")).to_be_visible()
        assert student.get_by_role("button", name="Train", exact=True).count() == 0
        assert student.locator("[data-testid='stException']").count() == 0

        # the lecturer's run trained on, with the lecturer's budget, its buttons still the lecturer's
        page.wait_for_timeout(1500)
        state, after = status(page)
        assert state == "Training" and after > before, (state, before, after)
        expect(page.get_by_role("button", name="Pause", exact=True)).to_be_enabled()
        assert page.get_by_label("Step budget", exact=True).input_value().replace(",", "") == "1000000"

        # "Stop sharing": the student's next look says the link ended and gives the student's own page back
        page.locator("section[data-testid='stSidebar']").get_by_role(
            "button", name=re.compile("Stop sharing")).click()
        expect(main.get_by_text(re.compile("This follow link has ended or is not valid"))).to_be_visible(
            timeout=30_000)
        expect(student.get_by_role("button", name="Train", exact=True)).to_be_visible(timeout=30_000)
        assert status(page)[0] == "Training"
    finally:
        ctx.close()
