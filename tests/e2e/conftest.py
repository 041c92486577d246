"""End-to-end fixtures: the real server (`streamlit run app/main.py`) and headless Chromium.

The browser is Debian's Chromium at /usr/bin/chromium driven by Playwright. Without it the e2e
tests are skipped on a developer's machine and fail in CI (CI=true), where .ci/run installs it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# the page tests share one server and each closes its browser context, whose runs then train on for the
# session grace period: with the scheduler's default (one job on two cores) the next test's Train would
# wait behind them. The queue itself is tested by tests/e2e/test_load.py and tests/engine/test_scheduler.py.
# A closed context's runs are released 3 s after its last connection (not 10 min), so they do not take the
# cores from the next tests; tests/e2e/test_reconnect.py sets its own grace period.
SERVER_ENV = {"ENERGY_LAB_MAX_JOBS": "8", "ENERGY_LAB_SESSION_GRACE_S": "3"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the server at {url} did not answer /_stcore/health with ok in {timeout} s")


@contextlib.contextmanager
def serve(env: dict[str, str] | None = None, log_name: str = "e2e-server.log") -> Iterator[str]:
    """`streamlit run app/main.py` on a free port (extra environment `env`), yielding its URL once healthy."""
    port = _free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    log_path = ROOT / ".pytest_cache" / log_name  # the server's output, for a failing test
    log_path.parent.mkdir(exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "ENERGY_LAB_E2E": "1", **SERVER_ENV, **(env or {})})
        try:
            wait_healthy(url)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="session")
def server_url():
    with serve() as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: .ci/run must install Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    try:
        yield b
    finally:
        b.close()
        pw.stop()


@pytest.fixture
def page(browser, server_url):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    pg.base_url = server_url  # type: ignore[attr-defined]
    try:
        yield pg
    finally:
        ctx.close()


def goto(page, path: str = "") -> None:
    """Open /<path> and wait until the script has finished its first run, with no exception shown."""
    page.goto(f"{page.base_url}/{path}")
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=60_000)
    assert page.locator("[data-testid='stException']").count() == 0, page.locator(
        "[data-testid='stException']").first.inner_text()


def fill_number(page, label: str, value: int | float) -> None:
    """Type a value into the number input labelled `label` and let the script rerun."""
    box = page.get_by_label(label, exact=True)  # not the "Help for <label>" button beside it
    box.fill(str(value))
    box.press("Enter")
    page.wait_for_timeout(800)


def poll_above(read, above: float, what: str, timeout: float = 60.0, every_ms: int = 200) -> float:
    """Call `read()` until it returns more than `above`; fail with `what` in the message."""
    deadline = time.time() + timeout
    value = read()
    while value <= above:
        if time.time() > deadline:
            raise AssertionError(f"{what} stayed at {value} (wanted > {above})")
        time.sleep(every_ms / 1000)
        value = read()
    return value
