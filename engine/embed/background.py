"""Background threads of this package (UMAP warm-up and layouts), started as daemons and wound down
at interpreter exit. (The baseline probes are Runs: engine/embed/baselines.py.)

A daemon thread that is inside torch or numba native code when the interpreter finalises can abort
the process ("terminate called without an active exception", exit status 134). So every thread
started here is registered with a way to stop it; at exit they are asked to stop (cooperative jobs
stop at their next check) and joined for a bounded time. Training runs are wound down the same way
by engine.run itself.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Callable

EXIT_WAIT_S = 60.0  # the longest exit waits in total (a cold numba compile can take this long)

_threads: list[tuple[threading.Thread, Callable[[], object] | None]] = []
_lock = threading.Lock()


def start(target: Callable[[], None], name: str, cancel: threading.Event | None = None) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    track(thread, cancel.set if cancel is not None else None)
    thread.start()
    return thread


def track(thread: threading.Thread, stop: Callable[[], object] | None = None) -> None:
    """Wind `thread` down at exit: call `stop` (e.g. a Run's stop), then join it."""
    with _lock:
        _threads[:] = [(t, c) for t, c in _threads if t.is_alive() or not t.ident]
        _threads.append((thread, stop))


@atexit.register
def _wind_down() -> None:
    with _lock:
        alive = [(t, c) for t, c in _threads if t.is_alive()]
    for _, stop in alive:
        if stop is not None:
            stop()
    deadline = time.monotonic() + EXIT_WAIT_S
    for thread, _ in alive:
        thread.join(max(0.0, deadline - time.monotonic()))
