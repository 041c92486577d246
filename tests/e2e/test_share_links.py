"""Share links in a real browser: settings changed through the widgets → the page's link → a fresh browser
context (no cookies, no session) → the same value in every widget; on the maximum-likelihood page the same
seed then trains to the same NLL after 200 steps, in each context through the page's own Train button.

The default run covers the 2-D pages (maximum likelihood with its NLL, contrastive divergence: a method change
and its per-method settings, the denoising autoencoder: two forms on one page); `-m slow` covers every other
page with a settings form. The link is read from the clipboard after a click on the copy button of the first
link box (Chromium with clipboard permissions), and every link box of the page must show the same link.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from app.pages_index import PAGES
from engine.embed.config import EmbedConfig
from engine.image_ebm.config import ImageEBMConfig
from engine.toy.config import ToyConfig
from tests.e2e.conftest import goto

ROOT = Path(__file__).resolve().parents[2]
DONE = "[data-testid='stApp'][data-test-script-state='notRunning']"



def label(cls, method: str) -> str:
    """The method's name as its selectbox shows it."""
    cls.method_registry.names()  # (the registry loads its methods on first use)
    return cls.method_registry.labels[method]


# what each page's test changes, in order (the data set or method first: a new pair resets the others):
# ("select", widget key, option shown) | ("number", widget key, value) | ("open", expander title)
PLANS: dict[str, list[tuple]] = {
    "maximum_likelihood": [("select", "ml.dataset", "rings"), ("number", "ml.seed", 3),
                           ("number", "ml.steps", 200), ("number", "ml.width", 48)],
    "contrastive_divergence": [("select", "cd.method", label(ToyConfig, "cd")),
                               ("number", "cd.k", 5), ("number", "cd.eps", 0.02)],
    "denoising_autoencoder": [("select", "dae.dataset", "spiral"), ("number", "dae.depth", 3),
                              ("number", "dae_sweep.steps", 500)],
    "scoreboard": [("select", "sb.dataset", "rings"), ("number", "sb.steps", 300), ("number", "sb.seed", 4)],
    "binary": [("number", "bin.steps", 500), ("number", "bin.seed", 2), ("open", "CD settings"),
               ("number", "bin.cd.k", 3)],
    "contrastive_embedding": [("select", "embed.method", label(EmbedConfig, "moco")),
                              ("number", "embed.queue_size", 2048), ("number", "embed.seed", 5)],
    "energies_over_images": [("select", "iebm.method", label(ImageEBMConfig, "cd")),
                             ("number", "iebm.width", 8), ("number", "iebm.seed", 2)],
}
QUICK = ("maximum_likelihood", "contrastive_divergence", "denoising_autoencoder")

# every keyed widget's state as shown: its text, its inputs' values, its checked / selected / pressed marks
WIDGETS = """() => {
  const kinds = ['stSelectbox', 'stNumberInput', 'stTextInput', 'stTextArea', 'stMultiSelect', 'stCheckbox',
                 'stRadio', 'stSlider', 'stSelectSlider', 'stButtonGroup', 'stToggle'];
  const out = {};
  for (const el of document.querySelectorAll('[class*="st-key-"]')) {
    const kind = el.firstElementChild && el.firstElementChild.getAttribute('data-testid');
    if (!kinds.includes(kind)) continue;
    const key = [...el.classList].find(c => c.startsWith('st-key-')).slice(7);
    const inputs = [...el.querySelectorAll('input, textarea')].map(i => i.type === 'checkbox' ? i.checked : i.value);
    const marks = [...el.querySelectorAll('[aria-checked], [aria-selected], [aria-pressed], button[kind]')]
      .map(b => (b.getAttribute('aria-checked') || '') + (b.getAttribute('aria-selected') || '') +
                (b.getAttribute('aria-pressed') || '') + (b.getAttribute('kind') || ''));
    out[key] = JSON.stringify([el.textContent, inputs, marks]);
  }
  return out;
}"""


def pages_with_forms() -> set[str]:
    stems = {stem for entries in PAGES.values() for stem, _ in entries}
    return {s for s in stems if (p := ROOT / "pages" / f"{s}.py").exists() and "settings_form(" in p.read_text()}


def box(page, wkey: str):
    return page.locator(f".st-key-{wkey.replace('.', '-')}")


def settled(page) -> None:
    page.wait_for_timeout(150)  # the rerun message reaches the browser
    page.wait_for_selector(DONE, timeout=60_000)


def url_param(page, param: str) -> str | None:
    return page.evaluate("p => new URLSearchParams(location.search).get(p)", param)


def change(page, step: tuple) -> None:
    kind, target, value = (*step, None)[:3]
    if kind == "open":
        page.locator("[data-testid='stExpander'] summary", has_text=target).first.click()
        settled(page)
        return
    if kind == "select":
        select = box(page, target).locator("[data-testid='stSelectbox']")
        select.click()
        option = page.get_by_role("option", name=value, exact=True)
        try:
            option.wait_for(timeout=5_000)
        except PlaywrightTimeout:  # a click that only focused the box (a redraw under it): open it by key
            select.get_by_role("combobox").press("ArrowDown")
        option.click()
    else:
        field = box(page, target).locator("input")
        field.fill(str(value))
        field.press("Enter")
    deadline = time.time() + 30  # the URL holds the new value once the rerun has written it
    while url_param(page, target) is None and time.time() < deadline:
        page.wait_for_timeout(100)
    assert url_param(page, target) is not None, f"{target} did not reach the URL"
    settled(page)


def copied_link(page) -> str:
    """Click the copy button of the page's first link box and read the clipboard."""
    codes = page.locator("[data-testid='stCode']")
    shown = {codes.nth(i).evaluate("e => e.textContent").strip() for i in range(codes.count())}  # (some folded)
    assert len(shown) == 1, f"the link boxes disagree: {shown}"
    codes.first.hover()
    codes.first.get_by_role("button", name="Copy to clipboard").click()
    link = page.evaluate("() => navigator.clipboard.readText()").strip()
    assert link == shown.pop()
    return link


def open_fresh(browser, link: str):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    page.goto(link)
    page.wait_for_selector("[data-testid='stCode']", timeout=90_000)  # the forms are drawn
    page.wait_for_selector(DONE, timeout=90_000)
    assert page.locator("[data-testid='stException']").count() == 0
    return ctx, page


def nll_after_training(page) -> str:
    """Press Train; the status line's NLL once the 200-step budget is reached."""
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text(re.compile(r"200 steps in")).first.wait_for(timeout=120_000)
    status = page.get_by_text(re.compile(r"NLL -?[0-9.]+ nats")).first.inner_text()
    match = re.search(r"step ([0-9,]+).*NLL (-?[0-9.]+) nats", status)
    assert match and match.group(1) == "200", status
    return match.group(2)


def check_page(browser, page, stem: str) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])  # the copy button's clipboard
    goto(page, stem)
    before = page.evaluate(WIDGETS)
    for step in PLANS[stem]:
        change(page, step)
    link = copied_link(page)
    widgets = page.evaluate(WIDGETS)
    changed = {k for k in widgets if widgets[k] != before.get(k)}
    wanted = {s[1].replace(".", "-") for s in PLANS[stem] if s[0] != "open"}
    assert wanted <= changed, f"{stem}: the widgets {wanted - changed} did not change"
    query = dict(parse_qsl(urlsplit(link).query))
    assert {s[1] for s in PLANS[stem] if s[0] != "open"} <= set(query), (stem, link)
    assert urlsplit(link).path.endswith(f"/{stem}")
    ctx, fresh = open_fresh(browser, link)
    try:
        if stem == "binary":  # a lane's widgets sit in an expander: open the same one
            change(fresh, ("open", "CD settings"))
        assert fresh.evaluate(WIDGETS) == widgets, f"{stem}: the link did not reproduce the widgets"
        assert fresh.locator("[data-testid='stAlert']").filter(has_text="ignored").count() == 0
        if stem == "maximum_likelihood":
            first, second = nll_after_training(page), nll_after_training(fresh)
            print(f"\nshare link NLL after 200 steps: {first} (first browser) vs {second} (fresh context)")
            assert first == second
    finally:
        ctx.close()


def test_every_page_with_a_form_has_a_plan():
    assert pages_with_forms() == set(PLANS)


@pytest.mark.e2e
@pytest.mark.parametrize("stem", QUICK)
def test_a_link_reproduces_the_settings(browser, page, stem):
    check_page(browser, page, stem)


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("stem", sorted(set(PLANS) - set(QUICK)))
def test_a_link_reproduces_the_settings_on_every_page(browser, page, stem):
    check_page(browser, page, stem)


@pytest.mark.e2e
def test_a_hostile_link_warns_and_the_page_still_works(browser, server_url):
    link = (f"{server_url}/maximum_likelihood?ml.width=%3Cscript%3Ealert(1)%3C/script%3E&ml.lr=nan"
            "&ml.depth=4&session=kept")
    ctx, page = open_fresh(browser, link)
    try:
        warnings = page.locator("[data-testid='stAlert']").filter(has_text="ignored")
        assert warnings.count() == 2
        assert "ml.width" in warnings.first.inner_text() and "<script>" in warnings.first.inner_text()
        assert box(page, "ml.width").locator("input").input_value() == "64"
        assert box(page, "ml.depth").locator("input").input_value() == "4"
        assert url_param(page, "ml.width") is None and url_param(page, "session") == "kept"
        assert "session" not in page.locator("[data-testid='stCode']").first.inner_text()
    finally:
        ctx.close()
