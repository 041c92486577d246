"""One run per browser session, isolated from other sessions; closing the tab frees it.

The slot lives in a session-scoped `st.cache_resource`, whose `on_release` runs when the session
disconnects: it stops every run the session still owns.
"""

from __future__ import annotations

import threading

import streamlit as st

from engine.run import Run


class RunSlots:
    """The runs of one browser session, by name (one per page)."""

    def __init__(self) -> None:
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Run | None:
        with self._lock:
            return self._runs.get(name)

    def replace(self, name: str, run: Run | None) -> Run | None:
        """Put `run` in the slot (stopping the run it replaces) and return it."""
        with self._lock:
            old = self._runs.pop(name, None)
            if run is not None:
                self._runs[name] = run
        if old is not None and old is not run:
            old.stop()
        return run

    def stop_all(self) -> None:
        with self._lock:
            runs, self._runs = list(self._runs.values()), {}
        for run in runs:
            run.stop()

    def __len__(self) -> int:
        return len(self._runs)


def _release(slots: RunSlots) -> None:
    slots.stop_all()


@st.cache_resource(scope="session", on_release=_release, show_spinner=False)
def run_slots() -> RunSlots:
    return RunSlots()
