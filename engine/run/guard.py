"""The divergence guard: spot non-finite numbers, keep only finite checkpoints, roll back, say why."""

from __future__ import annotations

import cmath
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

DEFAULT_ADVICE = "Try a lower learning rate."


def first_non_finite(values: Mapping[str, Any]) -> str | None:
    """Name of the first entry that holds a NaN or infinity (numbers and numpy arrays), else None."""
    for name, value in values.items():
        if value is None or isinstance(value, bool | str | int | np.integer):  # integers are always finite
            continue
        if isinstance(value, float | complex | np.inexact):
            if not cmath.isfinite(value):
                return name
        elif isinstance(value, np.ndarray) and value.dtype.kind in "fc" and not np.isfinite(value).all():
            return name
    return None


def _leaves(state: Any) -> Iterator[Any]:
    """The non-container values inside dicts / lists / tuples, depth first."""
    if isinstance(state, Mapping):
        for value in state.values():
            yield from _leaves(value)
    elif isinstance(state, list | tuple):
        for value in state:
            yield from _leaves(value)
    else:
        yield state


def is_finite_state(state: Any) -> bool:
    """True when every floating tensor, array and float inside `state` is finite."""
    # torch is looked up, not imported: if nobody imported it, `state` cannot hold a tensor
    torch = sys.modules.get("torch")
    flags: dict[Any, list[Any]] = {}  # device -> 0-d "all finite" tensors, synchronised once per device
    for leaf in _leaves(state):
        if isinstance(leaf, float | complex | np.inexact):
            if not cmath.isfinite(leaf):
                return False
        elif isinstance(leaf, np.ndarray):
            if leaf.dtype.kind in "fc" and not np.isfinite(leaf).all():
                return False
        elif torch is not None and isinstance(leaf, torch.Tensor) and (leaf.is_floating_point() or leaf.is_complex()):
            flags.setdefault(leaf.device, []).append(torch.isfinite(leaf).all())
    return all(bool(torch.stack(group).all()) for group in flags.values())


class Guard:
    """Keeps the trainer's last finite checkpoint and rolls back to it when the run diverges."""

    def __init__(self, trainer: Any, model_lock: threading.Lock) -> None:
        self.trainer = trainer
        self.model_lock = model_lock
        self.refused = 0  # checkpoints refused because they held a NaN or an infinity
        self._checkpoint: tuple[int, Any] | None = None

    @property
    def can_roll_back(self) -> bool:
        return hasattr(self.trainer, "checkpoint") and hasattr(self.trainer, "restore")

    @property
    def checkpoint_step(self) -> int | None:
        """Step of the checkpoint a rollback would restore, or None."""
        return None if self._checkpoint is None else self._checkpoint[0]

    def latest(self) -> tuple[int, Any] | None:
        """The kept checkpoint, (step, state), or None (a run folder writes it to disk)."""
        return self._checkpoint

    def save(self) -> bool:
        """Checkpoint the trainer if its state is finite; otherwise keep the previous good one."""
        if not self.can_roll_back:
            return False
        with self.model_lock:
            step, state = self.trainer.step_count, self.trainer.checkpoint()
        if not is_finite_state(state):
            # weights can go bad before any loss does; a rollback to them would be no rollback
            self.refused += 1
            return False
        self._checkpoint = (step, state)
        return True

    def rollback(self) -> int | None:
        """Restore the last good checkpoint under the model lock; returns its step, or None if there is none."""
        if self._checkpoint is None or not self.can_roll_back:
            return None
        step, state = self._checkpoint
        with self.model_lock:
            self.trainer.restore(state)
        return step

    def fail(self, why: str) -> str:
        """Roll back, then the message that says why the run stopped and what the experiment advises."""
        step = self.rollback()
        restored = "" if step is None else f"; rolled back to the last good checkpoint (step {step})"
        advice = getattr(self.trainer, "failure_advice", DEFAULT_ADVICE)
        return f"Stopped: {why}{restored}. {advice}"
