"""Process-wide settings applied once when the app starts."""

from __future__ import annotations

import os

import torch


def limit_threads() -> None:
    """Leave a core to the server (and the browser, on a laptop): training threads share the rest.

    On a 2-core machine two torch threads next to Streamlit's own work made each step many times
    slower than one thread; ENERGY_LAB_THREADS overrides.
    """
    if getattr(limit_threads, "done", False):
        return
    cores = os.cpu_count() or 2
    n = int(os.environ.get("ENERGY_LAB_THREADS", max(1, cores // 2)))
    torch.set_num_threads(max(1, n))
    limit_threads.done = True  # type: ignore[attr-defined]
