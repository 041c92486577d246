"""The CD & PCD page in a real browser: persistent particles move between frames and their tails
grow while training; with the energy frozen, the picture changes only because the particles move."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import fill_number, goto, poll_above

ROOT_SEL = "[data-testid='live-canvas']"


def attr(page, name: str) -> float:
    v = page.locator(ROOT_SEL).first.get_attribute(f"data-{name}")
    return float(v) if v not in (None, "") else 0.0


def wait_attr(page, name: str, above: float, timeout: float = 60.0) -> float:
    return poll_above(lambda: attr(page, name), above, f"data-{name}", timeout)


@pytest.mark.e2e
def test_pcd_particles_move_and_tails_grow(page):
    goto(page, "contrastive_divergence")
    fill_number(page, "Step budget", 100_000)
    page.get_by_role("button", name="Train", exact=True).click()
    page.locator(f"{ROOT_SEL}[data-step]").first.wait_for(timeout=60_000)
    wait_attr(page, "step", 0)
    trail_a, step_a = attr(page, "trail"), attr(page, "step")
    canvas = page.locator(f"{ROOT_SEL} canvas").first
    shot_a = canvas.screenshot()
    page.wait_for_timeout(600)
    trail_b = wait_attr(page, "trail", trail_a)  # the tails hold more past positions
    assert attr(page, "step") > step_a and canvas.screenshot() != shot_a
    assert 1 <= trail_a < trail_b <= 12
    page.get_by_role("button", name="Pause", exact=True).click()


@pytest.mark.e2e
def test_frozen_energy_particles_flow(page):
    goto(page, "contrastive_divergence")
    page.get_by_text("Freeze the energy and just sample").click()
    page.get_by_role("button", name="Sample", exact=True).wait_for()
    page.get_by_role("button", name="Sample", exact=True).click()
    page.locator(f"{ROOT_SEL}[data-step]").first.wait_for(timeout=60_000)
    wait_attr(page, "step", 1)
    canvas = page.locator(f"{ROOT_SEL} canvas").first
    trail_a = attr(page, "trail")
    shot_a = canvas.screenshot()
    page.wait_for_timeout(500)
    # the energy is frozen (the same heatmap every frame): a changed picture means moved particles
    assert canvas.screenshot() != shot_a
    if trail_a < 15:  # the default tail length: once full, it stays full
        assert wait_attr(page, "trail", trail_a) > trail_a
    page.get_by_role("button", name="Pause", exact=True).click()
