"""Cooperative cancellation: a Stop reaches work in flight between two of its chunks.

A `Run` (or a background job) does its work inside `scope(cancelled)`, where `cancelled()` turns true
once it is stopped. Long work anywhere below it (an evaluation's feature extraction, a probe's fit) calls
`check()` between its chunks; `check()` raises `Cancelled` once the scope's flag is up, and the Run ends
STOPPED (no failure, no traceback). Outside any scope `check()` does nothing, so the same functions run
unchanged from the CLI, benchmarks and tests.

Why a context variable and not a parameter: the chunked loops sit several calls below the trainer
(trainer → evaluate → features → extract → encoder blocks), in trainers, sweeps and baselines alike; a
parameter would have to be threaded through every Trainer, and trainers that know nothing of it (the
Trainer protocol is unchanged) would silently drop it. Each thread starts with an empty context, so a
scope never leaks into another thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_CANCELLED: ContextVar[Callable[[], bool] | None] = ContextVar("energy_lab_cancelled", default=None)


class Cancelled(Exception):
    """Raised by `check()` inside work whose run or job was stopped."""


@contextmanager
def scope(cancelled: Callable[[], bool]) -> Iterator[None]:
    """Within this block (and this thread), `check()` raises once `cancelled()` is true.

    A scope inside another one is cancelled when either is.
    """
    outer = _CANCELLED.get()
    token = _CANCELLED.set(cancelled if outer is None else (lambda: cancelled() or outer()))
    try:
        yield
    finally:
        _CANCELLED.reset(token)


def active() -> bool:
    """True inside a scope (work that can be cancelled)."""
    return _CANCELLED.get() is not None


def requested() -> bool:
    """True once the enclosing scope's run or job was stopped."""
    cancelled = _CANCELLED.get()
    return cancelled is not None and cancelled()


def check(what: str = "the work") -> None:
    """Raise `Cancelled` if the enclosing scope was stopped; call it between chunks of long work."""
    if requested():
        raise Cancelled(f"{what} was cancelled")
