"""The divergence guard: spot non-finite numbers, keep only finite checkpoints, roll back, say why, and
what to continue with (a smaller learning rate, applied to the optimisers only when the user accepts)."""

from __future__ import annotations

import cmath
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from engine.errors import Text

DEFAULT_ADVICE = "Try a lower learning rate."
LR_CUT = 0.5  # a diverged run is offered to continue at this fraction of its learning rate


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
    """Keeps the trainer's last finite checkpoints and rolls back to a good one when the run diverges.

    Finite is not enough: the state a step started from, when that step's loss came out non-finite, is
    finite but bad (training on from it repeats the same non-finite step, whatever the learning rate). So
    the newest `KEPT` checkpoints are kept, and a rollback takes the newest one older than the first state
    known bad. With steps slower than the checkpoint cadence (an image encoder on a CPU) every step is
    checkpointed, and the newest checkpoint is exactly that state.
    """

    KEPT = 2

    def __init__(self, trainer: Any, model_lock: threading.Lock) -> None:
        self.trainer = trainer
        self.model_lock = model_lock
        self.refused = 0  # checkpoints refused because they held a NaN or an infinity
        self.rolled_back_to: int | None = None  # the step `fail` restored, None until a rollback happened
        self.failure: Text | None = None  # `fail`'s message as a Text (a page shows it in its language)
        self._kept: list[tuple[int, Any]] = []  # (step, state), oldest first

    @property
    def can_roll_back(self) -> bool:
        return hasattr(self.trainer, "checkpoint") and hasattr(self.trainer, "restore")

    @property
    def checkpoint_step(self) -> int | None:
        """Step of the newest kept checkpoint, or None."""
        return self._kept[-1][0] if self._kept else None

    def latest(self) -> tuple[int, Any] | None:
        """The newest kept checkpoint, (step, state), or None (a run folder writes it to disk)."""
        return self._kept[-1] if self._kept else None

    def save(self) -> bool:
        """Checkpoint the trainer if its state is finite; otherwise keep the previous good ones."""
        if not self.can_roll_back:
            return False
        with self.model_lock:
            step, state = self.trainer.step_count, self.trainer.checkpoint()
        if not is_finite_state(state):
            # weights can go bad before any loss does; a rollback to them would be no rollback
            self.refused += 1
            return False
        self._kept = ([c for c in self._kept if c[0] != step] + [(step, state)])[-self.KEPT:]
        return True

    def rollback(self, bad_from: int | None = None) -> int | None:
        """Restore, under the model lock, the newest checkpoint taken before step `bad_from` (the first state
        known bad; None: the newest), or the oldest kept if none is; returns its step, or None if there is none.
        Newer checkpoints are dropped."""
        if not self._kept or not self.can_roll_back:
            return None
        older = [c for c in self._kept if bad_from is None or c[0] < bad_from]
        step, state = older[-1] if older else self._kept[0]
        self._kept = [c for c in self._kept if c[0] <= step]
        with self.model_lock:
            self.trainer.restore(state)
        return step

    def fail(self, why: str, bad_from: int | None = None) -> str:
        """Roll back to before `bad_from`, then the message that says why the run stopped and what the
        experiment advises."""
        step = self.rolled_back_to = self.rollback(bad_from)
        restored = "" if step is None else Text("errors.diverged.restored",
                                                "; rolled back to the last good checkpoint (step {step})", step=step)
        self.failure = Text("errors.diverged.stopped", "Stopped: {why}{restored}. {advice}", why=why_text(why),
                            restored=restored, advice=advice_text(self.trainer))
        return str(self.failure)


# what engine/run/control.py says made a run fail: "the model's weights became non-finite at step 12"
_WHY = (("model", re.compile(r"the model's (?P<what>.+) became non-finite at step (?P<step>\d+)")),
        ("metric", re.compile(r"the metric (?P<what>.+) became non-finite at step (?P<step>\d+)")),
        ("value", re.compile(r"the (?P<what>.+) became non-finite at step (?P<step>\d+)")))


def why_text(why: str) -> Text | str:
    """Why a run failed, as a message piece (catalogue errors.diverged.<kind>) when it is one the run says."""
    for kind, pattern in _WHY:
        found = pattern.fullmatch(why)
        if found is not None:
            english = pattern.pattern.replace("(?P<what>.+)", "{what}").replace("(?P<step>\\d+)", "{step}")
            return Text(f"errors.diverged.{kind}", english, what=found["what"], step=found["step"])
    return why


def advice_text(trainer: Any) -> Text:
    """The experiment's advice after a divergence (`failure_advice`) as a message piece: its catalogue key is the
    trainer's `failure_advice_key` when the class that declares the advice (or a subclass of it) names one, else
    errors.advice.<the class that declares it> (errors.advice.default for the default advice)."""
    advice = getattr(trainer, "failure_advice", DEFAULT_ADVICE)
    for cls in type(trainer).__mro__:
        own = vars(cls)
        if own.get("failure_advice_key"):
            return Text(own["failure_advice_key"], advice)
        if "failure_advice" in own:
            if advice != DEFAULT_ADVICE:
                return Text(f"errors.advice.{cls.__name__}", advice)
            break
    return Text("errors.advice.default", advice)


def optimisers(trainer: Any) -> list[Any]:
    """The optimisers among what the trainer checkpoints (`state_modules()`): objects with param_groups."""
    modules = getattr(trainer, "state_modules", None)
    if modules is None:
        return []
    try:
        found = modules().values()
    except NotImplementedError:
        return []
    return [m for m in found if hasattr(m, "param_groups")]


def learning_rate(trainer: Any) -> float | None:
    """The learning rate of the trainer's first optimiser (its first parameter group), or None."""
    found = optimisers(trainer)
    return float(found[0].param_groups[0]["lr"]) if found and found[0].param_groups else None


def lr_cut(trainer: Any) -> float:
    """The fraction of its learning rate a diverged run continues with: the experiment's own
    `divergence_lr_cut` (a trainer attribute), else `LR_CUT`."""
    return float(getattr(trainer, "divergence_lr_cut", LR_CUT))


def scale_learning_rates(trainer: Any, factor: float) -> None:
    """Multiply the learning rate of every parameter group of every optimiser by `factor` (under the
    model lock, between steps: `run.call`). Optimiser moments are kept."""
    for opt in optimisers(trainer):
        for group in opt.param_groups:
            group["lr"] = group["lr"] * factor
