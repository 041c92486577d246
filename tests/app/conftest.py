"""AppTest helpers: run a page through app/main.py's navigation, with a clean resource cache."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "app" / "main.py")


@pytest.fixture(autouse=True)
def _clear_caches():
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()  # runs the session slots' on_release: no training thread outlives a test


@pytest.fixture(autouse=True)
def _fresh_scheduler(monkeypatch):
    """Each test gets its own process scheduler with room for a page's jobs side by side (the server's default
    on a 2-core machine is one at a time: tests/app/test_jobs.py tests that line with its own one-place one)."""
    import engine.scheduler as scheduler

    monkeypatch.setattr(scheduler, "_DEFAULT", scheduler.Scheduler(max_jobs=4, session_jobs=8))


def open_page(stem: str, timeout: float = 60, lang: str | None = None) -> AppTest:
    """AppTest of app/main.py switched to pages/<stem>.py and run once (`lang`: opened as a `?lang=` link)."""
    at = AppTest.from_file(MAIN, default_timeout=timeout)
    if lang is not None:
        at.query_params["lang"] = lang
    at.run()
    at.switch_page(str(ROOT / "pages" / f"{stem}.py"))
    at.run()
    return at


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def wait_for(at: AppTest, cond, timeout: float = 20.0, every: float = 0.3) -> AppTest:
    """Rerun `at` until `cond(at)` holds (each rerun costs the training thread CPU: do not poll too fast)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        at.run()
        if cond(at):
            return at
        time.sleep(every)
    return at


def until_success(at: AppTest, timeout: float = 40.0) -> AppTest:
    """Rerun until the page shows a success message (a finished board or sweep), at most `timeout` seconds."""
    return wait_for(at, lambda a: bool(a.success), timeout, every=0.4)


def settle(cond: Callable[[], bool], timeout: float = 20.0, every: float = 0.05) -> bool:
    """Wait until `cond()` holds (a run's thread reaching a state), at most `timeout` seconds; its last value."""
    deadline = time.time() + timeout
    while time.time() < deadline and not cond():
        time.sleep(every)
    return cond()


def set_numbers(at: AppTest, form: str, **values: float) -> AppTest:
    """Set number inputs of form `form` (keys `<form>.<setting>`), then run the page once."""
    for name, value in values.items():
        at.number_input(key=f"{form}.{name}").set_value(value)
    return at.run()
