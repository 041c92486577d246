"""The lecture's claim that PCD "does not scale well as the dimensionality increases", on images.

The same data set (digits by default) resampled to several sizes — 8×8 (64 pixels), 16×16 (256),
28×28 (784): the upsampled digits hold the same information in more pixels — trained with the same
settings and the same number of updates at each size, each scored by judges fitted at that size on
the real (resampled) training images. The rows put side by side: mode coverage (smallest class
share), the classifier's mean top probability, the density judge's realistic fraction (with uniform
noise's and smooth blobs' beside it), the energy's AUROC against noise, and the time it took.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

from engine.image_ebm.config import ImageEBMConfig
from engine.image_ebm.data import NATIVE_SIZE
from engine.schema import MAX_SEED, Settings, setting
from engine.training import TrainerBase

SIZES = (8, 16, 28)
ROW_KEYS = ("min_class_share", "classes_over_5pct", "top_prob", "realistic", "realistic_noise",
            "realistic_blobs", "top_prob_blobs", "auroc_noise", "auroc_other")


@dataclass
class SizeComparisonSettings(Settings):
    """The page's comparison (the CLI's is `--compare-sizes` with `--max-steps`); the model settings are
    the defaults of `ImageEBMConfig` for digits."""

    experiment: ClassVar[str] = "image-ebm-dimension"

    sizes: tuple[int, ...] = setting(SIZES, ge=4, le=32, max_items=6, label="Image sizes",
                                     help="digits resampled to each size × size (comma-separated)")
    # 300 per size at 8, 16, 28: 30 min on the busy 2-core CPU (0.9, 1.6, 3.4 s per update)
    steps: int = setting(300, ge=1, le=100_000, label="Updates per size", help="the same at every size")
    seed: int = setting(0, ge=0, le=MAX_SEED, label="Seed", help="same seed, same numbers on the CPU")


class SizeComparison(TrainerBase):
    """Train one run per size in turn, `steps` updates each; a row of scores per finished size."""

    failure_advice = "Try a lower learning rate (lr) or a smaller step size ε (eps)."

    def __init__(self, config: ImageEBMConfig, sizes: tuple[int, ...] = SIZES, steps: int = 300):
        self.config, self.sizes, self.steps = config, tuple(sizes), steps
        self.rows: list[dict[str, Any]] = []
        self.total_steps = steps * len(self.sizes)
        self.step_count = 0
        self.seconds = 0.0
        self._start(0)

    def _config_for(self, size: int) -> ImageEBMConfig:
        native = NATIVE_SIZE[self.config.dataset]
        return self.config.with_(image_size=None if size == native else size)

    def _start(self, i: int) -> None:
        from engine.image_ebm.trainer import ImageEBMTrainer

        self.index = i
        self.current = ImageEBMTrainer(self._config_for(self.sizes[i])) if i < len(self.sizes) else None
        self.gen = self.current.gen if self.current is not None else self.gen

    @property
    def done(self) -> bool:
        return self.current is None

    def state_modules(self) -> dict[str, Any]:
        return self.current.state_modules() if self.current is not None else {}

    def checkpoint(self) -> dict[str, Any]:
        state = self.current.checkpoint() if self.current is not None else None
        return {"index": self.index, "state": state, "step": self.step_count}

    def restore(self, state: dict[str, Any]) -> None:
        # a checkpoint of an earlier size cannot be put into this size's model: only this size rolls back
        if state["index"] == self.index and self.current is not None:
            self.current.restore(state["state"])
            self.step_count = state["step"]

    def step(self) -> dict[str, float]:
        if self.current is None:
            return {}
        t0 = time.perf_counter()
        scalars = self.current.step()
        self.seconds += time.perf_counter() - t0
        self.step_count += 1
        if self.current.step_count >= self.steps:
            size = self.sizes[self.index]
            scores = self.current.evaluate()
            self.rows.append({"size": size, "pixels": size * size, "steps": self.current.step_count,
                              "seconds": round(self.seconds, 1), **{k: scores.get(k) for k in ROW_KEYS}})
            self.seconds = 0.0
            self._start(self.index + 1)
        return scalars

    def snapshot(self) -> dict[str, Any]:
        done = self.index if self.current is not None else len(self.sizes)
        current = f"{self.sizes[self.index]}×{self.sizes[self.index]}" if self.current is not None else ""
        return {"progress": self.step_count / max(1, self.total_steps), "current": current, "finished": done}

    def evaluate(self) -> dict[str, float]:
        return {"finished_sizes": float(len(self.rows))}


def compare_sizes(config: ImageEBMConfig, sizes: tuple[int, ...] = SIZES, steps: int = 300,
                  progress: Any = None) -> dict[str, Any]:
    """Headless: the rows for every size, and how the scores change from the smallest to the largest."""
    comparison = SizeComparison(config, sizes, steps)
    on_step = None
    if progress is not None:
        seen = [0]

        def on_step(run: Any) -> None:
            if len(comparison.rows) > seen[0]:
                seen[0] = len(comparison.rows)
                progress(f"size {comparison.rows[-1]['size']}: {comparison.rows[-1]}")
    comparison.headless(max_steps=comparison.total_steps, name="image-ebm-dimension", on_step=on_step)
    return summarise(comparison.rows)


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"rows": rows}
    if len(rows) >= 2:
        first, last = rows[0], rows[-1]
        out["change"] = {k: round(last[k] - first[k], 4) for k in ("min_class_share", "top_prob", "realistic")
                         if first.get(k) is not None and last.get(k) is not None}
    return out
