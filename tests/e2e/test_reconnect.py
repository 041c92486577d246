"""A run survives the network: its connection cut for 10 s and restored, a page reload, a new tab.

Playwright's `set_offline` leaves open WebSockets alone, so the browser reaches the server through a small
TCP proxy of this test's own, which can close every connection it carries and refuse new ones (a Wi-Fi drop),
then accept again. Before the browser-token registry (app/session.py) the server stopped a session's runs
as soon as its websocket dropped, and a reload found nothing.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time

import pytest

from tests.e2e.conftest import fill_number, goto, poll_above, serve

CUT_S = 10.0


class CuttableProxy:
    """127.0.0.1:<port> → 127.0.0.1:<target>, byte for byte; `cut()` drops everything, `restore()` listens again."""

    def __init__(self, target: int) -> None:
        self.target = target
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listening = threading.Event()
        self._thread: threading.Thread | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)
        self._listening.set()
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()

    def cut(self) -> None:
        """Close every connection, and the port: new ones are refused until `restore()`."""
        self._listening.clear()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _accept(self, listener: socket.socket) -> None:
        with listener:
            while self._listening.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                client.settimeout(None)
                try:
                    upstream = socket.create_connection(("127.0.0.1", self.target))
                except OSError:
                    client.close()
                    continue
                with self._lock:
                    self._conns.update((client, upstream))
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


@pytest.fixture(scope="module")
def proxied_url():
    with serve(env={"ENERGY_LAB_MAX_JOBS": "2", "ENERGY_LAB_SESSION_GRACE_S": "600"},
               log_name="e2e-reconnect-server.log") as url:
        proxy = CuttableProxy(int(url.rsplit(":", 1)[1]))
        try:
            yield f"http://127.0.0.1:{proxy.port}", proxy
        finally:
            proxy.cut()


def shown_step(page) -> float:
    v = page.locator("[data-testid='live-canvas']").first.get_attribute("data-step")
    return float(v) if v not in (None, "") else 0.0


def status(page) -> str:
    return page.locator("[data-testid='stMarkdownContainer']", has_text=re.compile(r"· step ")).first.inner_text()


def steps_per_s(page, over_s: float = 2.0) -> float:
    s0, t0 = shown_step(page), time.perf_counter()
    page.wait_for_timeout(int(over_s * 1000))
    return (shown_step(page) - s0) / (time.perf_counter() - t0)


def assert_resumed(page, since: float, what: str) -> float:
    """The page shows the run training on past `since`, and its step keeps moving."""
    step = poll_above(lambda: shown_step(page), since, f"the step shown {what}", timeout=60)
    poll_above(lambda: shown_step(page), step, f"the step shown {what} (still moving)", timeout=20)
    assert status(page).startswith("Training"), status(page)
    assert page.locator("[data-testid='stException']").count() == 0
    return shown_step(page)


@pytest.mark.e2e
def test_a_run_survives_a_cut_connection_a_reload_and_a_new_tab(browser, proxied_url):
    url, proxy = proxied_url
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    page.base_url = url
    try:
        goto(page, "maximum_likelihood")
        fill_number(page, "Step budget", 1_000_000)
        page.get_by_role("button", name="Train", exact=True).click()
        poll_above(lambda: shown_step(page), 0, "the step shown")
        rate = steps_per_s(page)
        assert rate > 0

        # 1. the network drops for 10 s: every connection closed, new ones refused
        before = shown_step(page)
        proxy.cut()
        page.wait_for_timeout(int(CUT_S * 1000))
        proxy.restore()
        cut_step = assert_resumed(page, before, "after the connection came back")
        # it trained on meanwhile (the page had been ~`rate` steps/s; with nobody watching it is faster)
        assert cut_step - before >= 0.5 * CUT_S * rate, (before, cut_step, rate)

        # 2. a reload: a new session, the same browser token (its cookie), the same run
        page.reload()
        page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=60_000)
        reload_step = assert_resumed(page, cut_step, "after a reload")

        # 3. a new tab of the same browser finds it too
        tab = ctx.new_page()
        tab.base_url = url
        goto(tab, "maximum_likelihood")
        assert_resumed(tab, reload_step, "in a new tab")
        print(f"\nreconnect: {rate:.0f} steps/s before the cut; step {before:.0f} → {cut_step:.0f} across the "
              f"{CUT_S:.0f} s cut; {reload_step:.0f} after the reload; the new tab shows the same run")
    finally:
        ctx.close()
