"""The embedding map shows images, in a real browser: after one Step on digits, hovering a point of the
map (app/embed_map.js) shows that point's own image — its 8×8 pixels, read back from the panel's PNG —
and a positive view of it; hovering another point changes both; clicking a point makes it the anchor."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from engine.embed.config import EmbedConfig
from engine.embed.trainer import dataset_for
from tests.e2e.conftest import goto

pytestmark = pytest.mark.e2e

MAP = "[data-testid='embed-map']"
HOVER_IMAGE = "[data-testid='embed-map-hover-image']"
HOVER_VIEW = "[data-testid='embed-map-hover-view']"
CANDIDATES = 300  # points searched for two clear ones (the map's first images: test images, 539 on digits)


def points(page) -> list[dict]:
    """Every map image's position in viewport pixels and its class (the component's window helper)."""
    return page.evaluate(
        "() => { const m = window.energyLabEmbedMap; const out = [];"
        " for (let i = 0; i < m.n(); i++) { const p = m.point(i); out.push({i, x: p.x, y: p.y, c: m.label(i)}); }"
        " return out; }")


def two_clear_points(page, limit: int) -> tuple[dict, dict]:
    """Two points of different classes, each at least 3 px from every other point (hovering its centre
    picks it) and 60 px apart, inside the canvas, among the points 1 … limit − 1 (0 is the anchor now)."""
    box = page.get_by_test_id("embed-map-canvas").bounding_box()
    pts = points(page)
    xy = np.array([[p["x"], p["y"]] for p in pts])
    dist = np.linalg.norm(xy[:, None] - xy[None], axis=2)
    np.fill_diagonal(dist, np.inf)
    inside = (xy[:, 0] > box["x"] + 5) & (xy[:, 0] < box["x"] + box["width"] - 5) & \
             (xy[:, 1] > box["y"] + 5) & (xy[:, 1] < box["y"] + box["height"] - 5)
    clear = [p for p in pts[1:limit] if dist[p["i"]].min() >= 3 and inside[p["i"]]]
    for a in clear:
        for b in clear:
            if a["c"] != b["c"] and np.hypot(a["x"] - b["x"], a["y"] - b["y"]) > 60:
                return a, b
    raise AssertionError(f"no two clear points of different classes among the first {limit}")


def panel_pixels(page, selector: str, side: int) -> np.ndarray:
    """The panel image (a PNG data URL of the sprite scaled up, nearest neighbour) back at side×side:
    the centre pixel of each block, grayscale."""
    src = page.locator(selector).get_attribute("src")
    assert src and src.startswith("data:image/png;base64,"), src
    img = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("L")
    a = np.asarray(img)
    step = a.shape[0] / side
    centres = (np.arange(side) * step + step / 2).astype(int)
    return a[np.ix_(centres, centres)]


def centre_map(page) -> None:
    """Scroll the map to the middle of the viewport (clear of Streamlit's header)."""
    page.get_by_test_id("embed-map-canvas").evaluate("el => el.scrollIntoView({block: 'center'})")


def at_point(page, i: int) -> tuple[float, float]:
    """Point i's position in viewport pixels now (the page above the map may have grown since)."""
    centre_map(page)
    q = page.evaluate(f"window.energyLabEmbedMap.point({i})")
    return q["x"], q["y"]


def hover(page, i: int) -> None:
    """Move the mouse onto point i until the map reports hovering it (a rerun may move the map between
    reading its position and moving there: then read it again)."""
    for _ in range(3):
        page.mouse.move(*at_point(page, i))
        try:
            expect(page.locator(MAP)).to_have_attribute("data-hover-index", str(i), timeout=2_000)
            return
        except AssertionError:
            continue
    expect(page.locator(MAP)).to_have_attribute("data-hover-index", str(i), timeout=1)


def test_hovering_points_shows_their_images_and_a_click_makes_the_anchor(page):
    digits = dataset_for(EmbedConfig(**EmbedConfig.defaults_for("digits")))  # what the page trains on
    goto(page, "contrastive_embedding")
    page.get_by_role("button", name="Step", exact=True).click()
    expect(page.get_by_text("PCA of step 1.")).to_be_visible(timeout=40_000)
    root = page.locator(MAP)
    root.scroll_into_view_if_needed()
    # the atlas arrived and the browser reported holding it (data-sprites: the images held)
    expect(page.locator(f"{MAP}:not([data-sprites='0'])")).to_have_count(1, timeout=20_000)
    n = int(root.get_attribute("data-n"))
    assert int(root.get_attribute("data-sprites")) == n == len(digits.x_test) + len(digits.x_train)
    page.wait_for_timeout(500)  # the rerun after the atlas was acknowledged has redrawn the map
    centre_map(page)

    a, b = two_clear_points(page, min(CANDIDATES, len(digits.x_test)))
    hover(page, a["i"])
    image_a, view_a = (page.locator(s).get_attribute("src") for s in (HOVER_IMAGE, HOVER_VIEW))
    assert root.get_attribute("data-hover-class") == a["c"]
    # the panel shows point a's own pixels (the map's order: test split first)
    expected_a = digits.x_test[a["i"]][0].numpy()
    np.testing.assert_array_equal(panel_pixels(page, HOVER_IMAGE, 8), expected_a)
    assert view_a and view_a != image_a  # a positive view, not the image again

    hover(page, b["i"])
    image_b, view_b = (page.locator(s).get_attribute("src") for s in (HOVER_IMAGE, HOVER_VIEW))
    assert image_b != image_a and view_b != view_a  # the hovered image changes with the point
    np.testing.assert_array_equal(panel_pixels(page, HOVER_IMAGE, 8), digits.x_test[b["i"]][0].numpy())
    assert not np.array_equal(panel_pixels(page, HOVER_IMAGE, 8), expected_a)
    assert root.get_attribute("data-hover-class") == b["c"]
    assert digits.classes[int(digits.y_test[b["i"]])] == b["c"]

    # a click makes the hovered point the anchor: the number input and the map's star follow
    anchor = page.get_by_label("Anchor image (index on the map)")
    assert anchor.input_value() != str(b["i"])
    page.mouse.click(*at_point(page, b["i"]))
    expect(anchor).to_have_value(str(b["i"]), timeout=10_000)
    expect(root).to_have_attribute("data-anchor", str(b["i"]), timeout=10_000)
    expect(page.get_by_text(f"anchor · {b['c']}", exact=True)).to_be_visible()
    assert page.locator("[data-testid='stException']").count() == 0
