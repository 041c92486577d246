"""The "Energies over images" page in a real browser: while training, the particle grid changes, a
followed particle's strip grows and the energy histograms move apart (data lower than noise); after
training, "freeze and sample" raises the PSNR of noisy and of half-masked digits (slow)."""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.conftest import goto

GRID = "[data-testid='stImage'] img"


def caption(page, start: str) -> str:
    loc = page.get_by_text(re.compile("^" + re.escape(start)))
    return loc.first.inner_text() if loc.count() else ""


def number_after(text: str, label: str) -> float | None:
    m = re.search(re.escape(label) + r"\s*([+−-]?[\d,]*\.?\d+)", text)
    return float(m.group(1).replace("−", "-").replace(",", "")) if m else None


def step(page) -> int:
    status = page.get_by_text(re.compile(r"· step [\d,]+")).first
    return int(number_after(status.inner_text(), "step") or 0) if status.count() else 0


def wait_until(read, check, what: str, timeout: float = 90.0, every: float = 0.5):
    deadline, value = time.time() + timeout, read()
    while not check(value):
        if time.time() > deadline:
            raise AssertionError(f"{what}: still {value!r} after {timeout} s")
        time.sleep(every)
        value = read()
    return value


def frames(page) -> int:
    text = caption(page, "Followed particles:")
    m = re.search(r"(\d+)–(\d+) frames", text)
    return int(m.group(2)) if m else 0


def gap(page) -> float | None:
    return number_after(caption(page, "Mean energy:"), "noise − data gap")


@pytest.mark.e2e
def test_particles_strips_and_histograms_move_while_training(page):
    goto(page, "energies_over_images")
    page.get_by_role("button", name="Train", exact=True).click()
    grid = page.locator(GRID).first
    grid.wait_for(timeout=60_000)
    wait_until(lambda: step(page), lambda s: s >= 1, "step")
    src_a, frames_a, gap_a = grid.get_attribute("src"), frames(page), gap(page)
    # the grid changes: its picture is replaced by a new one while the particles move
    wait_until(lambda: page.locator(GRID).first.get_attribute("src"), lambda s: s != src_a, "grid picture")
    # a followed particle's strip grows (frames at ages 1, 2, 3, 4, 6, … updates)
    frames_b = wait_until(lambda: frames(page), lambda f: f > max(frames_a, 2), "strip frames")
    # the histograms move apart: the noise's mean energy rises above the data's, and further
    gap_b = wait_until(lambda: gap(page), lambda g: g is not None and g > 0 and (gap_a is None or g > gap_a),
                       "noise − data energy gap", timeout=120)
    page.get_by_role("button", name="Pause", exact=True).click()
    assert frames_b > frames_a and gap_b > 0


@pytest.mark.e2e
@pytest.mark.slow
def test_freeze_and_sample_raises_psnr_by_a_decibel(page):
    goto(page, "energies_over_images")
    page.get_by_role("button", name="Train", exact=True).click()
    # 300 updates: what the CLI's acceptance run trains (~3 min on the busy 2-core CPU)
    wait_until(lambda: step(page), lambda s: s >= 300, "training steps", timeout=900, every=2.0)
    page.get_by_role("button", name="Pause", exact=True).click()
    page.get_by_text("Freeze and sample").click()
    page.get_by_role("button", name="Sample", exact=True).click()
    gains = {}
    for kind in ("noisy", "masked"):
        line = wait_until(lambda k=kind: caption(page, f"PSNR of the {k} images"),
                          lambda t: "after 30 sampler steps" in t, f"PSNR of the {kind} images", timeout=120)
        gains[kind] = number_after(line, "dB (")
    print(f"PSNR gains after 30 sampler steps: {gains}")
    assert gains["noisy"] >= 1 and gains["masked"] >= 1
