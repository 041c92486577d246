"""The page's three questions as sweeps, each a `Trainer` so a `Run` can drive it in the background
(pause, resume, stop, progress) exactly like a single training run.

- `why_cosine`: SimCLR (cosine) and its L2 variant trained side by side, step for step: the loss of
  each, the cosine loss's analytic floor, and the mean norm ‖z‖ of the embeddings over time.
- `negatives_and_dimension`: a grid of embedding dimension d × number of negatives K (MoCo's queue
  length by default, so the cost per step does not change with K) at a fixed number of steps per
  cell: probe accuracy, effective rank and uniformity of the embeddings.
- `temperature`: SimCLR at several τ for a fixed number of steps: held-out contrastive accuracy
  against probe accuracy (SimCLR's Table 5: they need not move together).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from engine.embed.config import MAX_BATCH, EmbedConfig
from engine.embed.trainer import FAILURE_ADVICE, EmbedTrainer, dataset_for
from engine.errors import SettingError
from engine.schema import Rule, Settings, setting

# what a sweep takes from the run's settings (each sweep sets its own d, K or τ, and the method)
SHARED = ("dataset", "encoder", "width", "proj_dim", "batch_size", "lr", "weight_decay", "bn_groups",
          "augment_strength", "train_size", "test_size", "data_dir", "download", "map_size", "seed", "device",
          "amp")
MAX_CELL_STEPS = 100_000


@dataclass
class WhyCosineSettings(Settings):
    experiment: ClassVar[str] = "embed_sweep"

    steps: int = setting(200, ge=1, le=MAX_CELL_STEPS, label="Training steps per cell",
                         help="steps of each variant (they train in turn, step for step)")
    temperature: float = setting(0.5, ge=0.005, le=10, label="Temperature τ",
                                 help="the same τ for both, so the cosine loss's floor applies to both", step=0.05)


@dataclass
class NegativesSettings(Settings):
    experiment: ClassVar[str] = "embed_sweep"
    rules: ClassVar[tuple[Rule, ...]] = (
        Rule(("negatives", "method"), lambda c: c.method != "simclr" or all(4 <= k <= MAX_BATCH for k in c.negatives),
             f"SimCLR's negatives come from its batch: each K is a batch size from 4 to {MAX_BATCH}"),
    )

    steps: int = setting(50, ge=1, le=MAX_CELL_STEPS, label="Training steps per cell",
                         help="each cell of the grid trains for this many steps")
    dims: tuple[int, ...] = setting((4, 16, 64), ge=2, le=1024, max_items=8, label="Dimensions d",
                                    help="embedding dimensions, comma-separated")
    negatives: tuple[int, ...] = setting((16, 256, 1024), ge=1, le=16_384, max_items=8,
                                         label="Negatives K (queue length)",
                                         help="MoCo's queue lengths (SimCLR: batch sizes), comma-separated")
    method: str = setting("moco", choices=("moco", "simclr"), label="Method",
                          help="MoCo varies its queue (the cost per step stays the same), SimCLR its batch")


@dataclass
class TemperatureSettings(Settings):
    experiment: ClassVar[str] = "embed_sweep"

    steps: int = setting(100, ge=1, le=MAX_CELL_STEPS, label="Training steps per cell",
                         help="each temperature trains for this many steps")
    temperatures: tuple[float, ...] = setting((0.05, 0.1, 0.2, 0.5, 1.0), ge=0.005, le=10, max_items=12,
                                              label="Temperatures τ", help="SimCLR's τ, comma-separated")


def cell_config(base: EmbedConfig, method: str, **own: Any) -> EmbedConfig:
    """A cell's settings: the run's shared settings, the cell's method and its own values; validated."""
    return EmbedConfig.create(**{**{n: getattr(base, n) for n in SHARED}, "method": method, "budget_seconds": None,
                                 **own})


@dataclass
class Cell:
    label: str
    config: EmbedConfig
    params: dict[str, Any] = field(default_factory=dict)


class Sweep:
    """Trains each cell for `steps_per_cell` steps — in turn ("sequential") or one step each in
    rotation ("round_robin") — evaluates it when done and keeps a row of results per cell."""

    failure_advice = FAILURE_ADVICE

    def __init__(self, name: str, cells: list[Cell], steps_per_cell: int, schedule: str = "sequential",
                 curve_every: int = 1):
        if not cells:
            raise SettingError("a sweep needs at least one cell")
        if steps_per_cell < 1:
            raise SettingError(f"steps = {steps_per_cell} is not allowed: a sweep trains each cell ≥ 1 step",
                               setting="steps")
        if schedule not in ("sequential", "round_robin"):
            raise SettingError(f"schedule = {schedule!r} is not allowed: it must be sequential or round_robin",
                               setting="schedule")
        self.name = name
        self.cells = cells
        self.steps_per_cell = steps_per_cell
        self.schedule = schedule
        self.curve_every = curve_every
        self.step_count = 0
        self.rows: list[dict[str, Any]] = []
        self.curves: dict[str, dict[str, list[float]]] = {c.label: {} for c in cells}
        self._trainers: dict[int, EmbedTrainer] = {}
        self._done_cells: set[int] = set()

    @property
    def total_steps(self) -> int:
        return self.steps_per_cell * len(self.cells)

    def _current(self) -> int:
        if self.schedule == "sequential":
            return self.step_count // self.steps_per_cell
        return self.step_count % len(self.cells)

    def _trainer(self, i: int) -> EmbedTrainer:
        if i not in self._trainers:
            self._trainers[i] = EmbedTrainer(self.cells[i].config, dataset_for(self.cells[i].config))
        return self._trainers[i]

    def step(self) -> dict[str, float]:
        if self.step_count >= self.total_steps:
            raise RuntimeError("the sweep is complete")
        i = self._current()
        tr = self._trainer(i)
        row = tr.step()
        self.step_count += 1
        curve = self.curves[self.cells[i].label]
        if tr.step_count % self.curve_every == 0 or tr.step_count == 1:
            for key in ("loss", "contrastive_acc", "embedding_norm", "loss_floor"):
                if key in row:
                    curve.setdefault(key, []).append(float(row[key]))
            curve.setdefault("step", []).append(float(tr.step_count))
        if tr.step_count >= self.steps_per_cell and i not in self._done_cells:
            self._finish(i)
        return {"loss": row["loss"], "cell": float(i), "progress": self.step_count / self.total_steps}

    def _finish(self, i: int) -> None:
        tr = self._trainers[i]
        ev = tr.evaluate()
        cell = self.cells[i]
        self.rows.append({"label": cell.label, **cell.params, "steps": tr.step_count,
                          "seconds": round(tr.train_seconds, 2),
                          **{k: float(v) for k, v in ev.items()}})
        self._done_cells.add(i)
        if self.schedule == "sequential":
            del self._trainers[i]  # free the model; its row holds what the page needs

    def snapshot(self) -> dict[str, Any]:
        return {"sweep": self.name, "rows": [dict(r) for r in self.rows],
                "curves": {k: {n: np.asarray(v, dtype=np.float32) for n, v in c.items()}
                           for k, c in self.curves.items()},
                "done": len(self._done_cells), "cells": len(self.cells)}

    def evaluate(self) -> dict[str, float]:
        return {"cells_done": float(len(self._done_cells))}

    def result(self) -> dict[str, Any]:
        return {"sweep": self.name, "steps_per_cell": self.steps_per_cell, "rows": self.rows}


def why_cosine(base: EmbedConfig, sweep: WhyCosineSettings) -> Sweep:
    """Both variants at the same τ, so the cosine loss's floor applies to both as a reference line."""
    cells = [Cell(m, cell_config(base, m, temperature=sweep.temperature), {"method": m})
             for m in ("simclr", "simclr_l2")]
    return Sweep("why_cosine", cells, sweep.steps, schedule="round_robin")


def negatives_and_dimension(base: EmbedConfig, sweep: NegativesSettings) -> Sweep:
    """K is MoCo's queue length (or SimCLR's batch size, 2N − 2 negatives, when method='simclr')."""
    cells = []
    for d in sweep.dims:
        for k in sweep.negatives:
            knob = {"queue_size": k} if sweep.method == "moco" else {"batch_size": k}
            cfg = cell_config(base, sweep.method, **{"proj_dim": d, **knob})
            cells.append(Cell(f"d={d}, K={k}", cfg, {"d": d, "K": k if sweep.method == "moco" else 2 * k - 2}))
    return Sweep("negatives_and_dimension", cells, sweep.steps)


def temperature(base: EmbedConfig, sweep: TemperatureSettings) -> Sweep:
    cells = [Cell(f"τ={t}", cell_config(base, "simclr", temperature=t), {"temperature": t})
             for t in sweep.temperatures]
    return Sweep("temperature", cells, sweep.steps)


# name -> (its settings, the builder)
SWEEPS: dict[str, tuple[type[Settings], Callable[[EmbedConfig, Any], Sweep]]] = {
    "why_cosine": (WhyCosineSettings, why_cosine),
    "negatives_and_dimension": (NegativesSettings, negatives_and_dimension),
    "temperature": (TemperatureSettings, temperature),
}


def build_sweep(name: str, base: EmbedConfig, **given: Any) -> Sweep:
    """Sweep `name` with its declared defaults and the `given` sweep settings, on top of `base`."""
    if name not in SWEEPS:
        raise SettingError(f"sweep = {name!r} is not allowed: it must be one of {', '.join(SWEEPS)}",
                           setting="sweep", value=name)
    settings, build = SWEEPS[name]
    return build(base, settings.create(**given))


def summarise_why_cosine(sweep: Sweep) -> dict[str, Any]:
    """The numbers the question needs: norm drift of each variant and the cosine loss vs its floor."""
    out: dict[str, Any] = {}
    for label, curve in sweep.curves.items():
        norm = curve.get("embedding_norm", [])
        loss = curve.get("loss", [])
        if not norm:
            continue
        idx = np.linspace(0, len(norm) - 1, num=min(11, len(norm))).round().astype(int)
        out[label] = {
            "norm_first": round(norm[0], 4), "norm_min": round(min(norm), 4), "norm_last": round(norm[-1], 4),
            "norm_curve": [(int(curve["step"][i]), round(norm[i], 3)) for i in idx],
            "loss_first": round(loss[0], 4), "loss_min": round(min(loss), 4), "loss_last": round(loss[-1], 4),
            "loss_floor": round(curve["loss_floor"][0], 4) if curve.get("loss_floor") else None,
            "steps_below_floor": (int(sum(v < curve["loss_floor"][0] for v in loss))
                                  if curve.get("loss_floor") else None),
        }
    return out


def why_cosine_facts(sweep: Sweep) -> dict[str, Any] | None:
    """What the page says under the why-cosine plots (it builds the sentence): the L2 variant's norm drift
    and lowest loss against the cosine floor, the cosine variant's lowest loss and its raw norm drift.
    None until both variants have curves."""
    s = summarise_why_cosine(sweep)
    if "simclr" not in s or "simclr_l2" not in s:
        return None
    c, l2 = s["simclr"], s["simclr_l2"]
    return {"floor": c["loss_floor"],
            "l2_norm_first": l2["norm_first"], "l2_norm_min": l2["norm_min"], "l2_norm_last": l2["norm_last"],
            "l2_loss_min": l2["loss_min"], "l2_steps_below_floor": l2["steps_below_floor"] or 0,
            "cos_loss_min": c["loss_min"], "cos_norm_first": c["norm_first"], "cos_norm_last": c["norm_last"]}


def negatives_facts(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Does the probe gain more from negatives at large d than at small d? What the page says under the grid:
    `case` "too_few" (fewer than two d or K), "waiting" (fewer than two complete rows) or "measured", with
    K's extremes `lo_k` and `hi_k`, per complete d its probe `gain` (lowest K → highest, a fraction), its
    `uniformity` (lowest K, highest K) and `rank` (at the highest K), whether the gain grew with d
    (`helped`) and the probe's `spread` over the whole grid. None without rows."""
    if not rows:
        return None
    dims = sorted({r["d"] for r in rows})
    ks = sorted({r["K"] for r in rows})
    if len(ks) < 2 or len(dims) < 2:
        return {"case": "too_few"}
    cell = {(r["d"], r["K"]): r for r in rows}
    complete = [d for d in dims if (d, ks[0]) in cell and (d, ks[-1]) in cell]
    if len(complete) < 2:
        return {"case": "waiting"}
    lo_k, hi_k = ks[0], ks[-1]
    gain = {d: cell[(d, hi_k)]["linear_probe_acc"] - cell[(d, lo_k)]["linear_probe_acc"] for d in complete}
    probe = [r["linear_probe_acc"] for r in rows]
    return {"case": "measured", "lo_k": lo_k, "hi_k": hi_k, "gain": gain,
            "helped": gain[complete[-1]] > gain[complete[0]] + 0.01 and gain[complete[-1]] > 0.005,
            "spread": max(probe) - min(probe),
            "uniformity": {d: (cell[(d, lo_k)]["uniformity"], cell[(d, hi_k)]["uniformity"]) for d in complete},
            "rank": {d: cell[(d, hi_k)]["effective_rank"] for d in complete}}


def _ranks(values: list[float]) -> np.ndarray:
    return np.argsort(np.argsort(values)).astype(np.float64)


def temperature_facts(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Do contrastive accuracy and probe accuracy pick the same temperature, and rank τ alike? The best τ
    and accuracy by each, their rank correlation `rho` (NaN with two rows), the `verdict` ("apart": another
    best τ, "reordered": the same best τ but ranked differently, "together") and the probe's `spread`
    (below 0.01: within its noise). None with fewer than two rows."""
    if len(rows) < 2:
        return None
    by_contrastive = max(rows, key=lambda r: r["contrastive_acc_test"])
    by_probe = max(rows, key=lambda r: r["linear_probe_acc"])
    rc = _ranks([r["contrastive_acc_test"] for r in rows])
    rp = _ranks([r["linear_probe_acc"] for r in rows])
    rho = float(np.corrcoef(rc, rp)[0, 1]) if len(rows) > 2 else float("nan")
    probe_spread = max(r["linear_probe_acc"] for r in rows) - min(r["linear_probe_acc"] for r in rows)
    verdict = "apart" if by_contrastive is not by_probe else "reordered" if not rho >= 0.8 else "together"
    return {"contrastive_tau": by_contrastive["temperature"], "contrastive_acc": by_contrastive["contrastive_acc_test"],
            "probe_tau": by_probe["temperature"], "probe_acc": by_probe["linear_probe_acc"], "rho": rho,
            "verdict": verdict, "spread": probe_spread}
