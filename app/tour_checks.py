"""The guided lecture's metric readers: a run → the number its stop judges (app/tour.py), and the numbers the
stop's sentence quotes. Nothing here draws; nothing is fitted to a result: the thresholds are the stops'.

`reading(stop, run)` → Reading(value, fields, ready): `value` None until the run has produced the metric;
`ready` once the verdict may be given (a run with a step budget: it has finished; one without: it has made
`min_step` steps; the on-page InfoNCE experiment: every cell is done).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.tour import BINARY_LANE, SHIFT_C, Stop
from engine.run import FAILED, FINISHED, Run


@dataclass
class Reading:
    value: float | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    ready: bool = False


def _finished(stop: Stop, run: Run) -> bool:
    """A run with a budget: it has ended (its last snapshot and evaluation are in); one without: min_step."""
    if run.options.max_steps is None and run.options.max_seconds is None:
        return run.step >= stop.min_step
    return run.state == FINISHED or (run.budget_reached() and not run.alive())


def kl_ratio(stop: Stop, run: Run) -> Reading:
    """KL(p_data ‖ p_θ) at the last evaluation ÷ at the first (the untrained energy): how far training went."""
    rows = [e for e in run.evaluations if "kl" in e]
    if len(rows) < 2:
        return Reading()
    start, end = rows[0]["kl"], rows[-1]["kl"]
    return Reading(end / start if start > 0 else math.inf,
                   {"start": start, "end": end, "step": rows[-1]["step"]}, _finished(stop, run))


def shift(stop: Stop, run: Run) -> Reading:
    """Add c to the energy: log Z moves by −c, every probability and the NLL stay (largest change of either)."""
    if run.step < max(1, stop.min_step) or run.latest() is None:
        return Reading()
    from engine.toy.views import shift_invariance

    trainer = run.trainer
    with run.model_lock:
        s = shift_invariance(trainer.model, trainer.test_x, trainer.view_grid, SHIFT_C)
    dnll = abs(s["nll_shifted"] - s["nll"])
    return Reading(max(s["max_abs_dp"], dnll),
                   {"c": SHIFT_C, "dlogz": s["log_z_shifted"] - s["log_z"], "dp": s["max_abs_dp"], "dnll": dnll,
                    "step": run.step}, True)


def contrastive_acc(stop: Stop, run: Run) -> Reading:
    """Held-out contrastive accuracy: how often a view's positive is the closest of all 2M − 1 other views."""
    rows = [e for e in run.evaluations if "contrastive_acc_test" in e]
    if not rows:
        return Reading()
    from engine.embed.trainer import EVAL_PAIRS

    last = rows[-1]
    return Reading(last["contrastive_acc_test"],
                   {"acc": last["contrastive_acc_test"], "first": rows[0]["contrastive_acc_test"],
                    "chance": 1 / (2 * EVAL_PAIRS - 1), "step": last["step"]},
                   _finished(stop, run) and last["step"] >= stop.min_step)


def _mean_last(rows: list[dict[str, float]], key: str, n: int = 10) -> float | None:
    values = [r[key] for r in rows if key in r][-n:]
    return sum(values) / len(values) if values else None


def l2_floor(stop: Stop, run: Run) -> Reading:
    """The L2 variant's loss (mean of the last 10 steps) minus the floor the cosine loss can never go under."""
    history = run.history
    loss, floor = _mean_last(history, "loss"), _mean_last(history, "loss_floor")
    if loss is None or floor is None:
        return Reading()
    norms = [r["embedding_norm"] for r in history if "embedding_norm" in r]
    return Reading(loss - floor, {"loss": loss, "floor": floor, "norm_min": min(norms) if norms else math.nan,
                                  "norm": norms[-1] if norms else math.nan, "step": run.step},
                   _finished(stop, run))


def probe_gain(stop: Stop, run: Run) -> Reading:
    """Linear-probe accuracy on frozen features: last evaluation minus the first (the untrained encoder)."""
    rows = [e for e in run.evaluations if "linear_probe_acc" in e]
    if len(rows) < 2:
        return Reading()
    first, last = rows[0], rows[-1]
    history = run.history
    negatives = _mean_last(history, "negatives", 1) or _mean_last(history, "queue_filled", 1)
    batch = getattr(getattr(run.trainer, "config", None), "batch_size", None)
    return Reading(last["linear_probe_acc"] - first["linear_probe_acc"],
                   {"first": first["linear_probe_acc"], "last": last["linear_probe_acc"], "step": last["step"],
                    "negatives": "—" if negatives is None else int(negatives), "batch": batch or "—"},
                   _finished(stop, run) and last["step"] >= stop.min_step)


def infonce_cap(stop: Stop, run: Run) -> Reading:
    """Î ÷ log(K+1) at the largest d and the fewest negatives: pinned at the cap while the true MI is far above."""
    snap = run.latest()
    rows = snap.data.get("rows", []) if snap is not None else []
    summary = snap.data.get("summary") if snap is not None else None
    if not summary or not summary.get("complete"):
        return Reading(fields={"done": len(rows), "cells": snap.data.get("cells", 0) if snap else 0})
    p = summary["pinned"]
    k_hi = summary["k_max"]
    best = next((r for r in rows if r["d"] == p["d"] and r["K"] == k_hi), None)
    return Reading(p["share_of_cap"],
                   {"d": p["d"], "k": p["K"], "estimate": p["estimate"], "cap": p["cap"], "mi": p["true_mi"],
                    "k_max": k_hi, "estimate_max": best["estimate"] if best else math.nan,
                    "cap_max": best["cap"] if best else math.nan, "holds": bool(summary["claim_holds"])},
                   True)


def _dae(stop: Stop, run: Run, name: str) -> Reading:
    snap = run.latest()
    d = snap.data if snap is not None else {}
    if f"dae_{name}" not in d:
        return Reading()
    return Reading(d[f"dae_{name}"], {"dae": d[f"dae_{name}"], "latent": d.get(f"latent_{name}", math.nan),
                                      "step": snap.step}, _finished(stop, run))


def dae_growth(stop: Stop, run: Run) -> Reading:
    """Log-log slope of the DAE's energy against the distance to the manifold (2 = a quadratic bowl)."""
    return _dae(stop, run, "growth_exponent")


def dae_midpoint(stop: Stop, run: Run) -> Reading:
    """Energy halfway between two branches ÷ energy at the same distance outside (1 = no flat spot)."""
    return _dae(stop, run, "midpoint_ratio")


def binary_kl(stop: Stop, run: Run) -> Reading:
    """Exact KL(p_data ‖ p_θ) of the stop's method (its lane of the binary run), and of exact ML beside it."""
    lane = BINARY_LANE[stop.id]
    labels = list(getattr(run.trainer, "labels", []))
    label = next((lb for lb in labels if lb == lane or lb.startswith(f"{lane}-")), None)
    rows = [e for e in run.evaluations if label is not None and f"kl/{label}" in e]
    if label is None or not rows:
        return Reading(fields={"method": lane.upper()})
    last = rows[-1]
    return Reading(last[f"kl/{label}"],
                   {"method": label.upper(), "start": rows[0][f"kl/{label}"], "kl": last[f"kl/{label}"],
                    "ml": last.get("kl/ml", math.nan), "nll": last.get(f"nll/{label}", math.nan),
                    "floor": math.log(30), "step": last["step"]}, _finished(stop, run))


def dimension_kl(stop: Stop, run: Run) -> Reading:
    """PCD's samples, projected back on the data's plane: histogram KL at the largest d ÷ at the smallest."""
    snap = run.latest()
    rows = [r for r in (snap.data.get("rows", []) if snap is not None else []) if r.get("method") == "pcd"]
    if len(rows) < 2:
        return Reading(fields={"done": len(rows)})
    lo, hi = min(rows, key=lambda r: r["dim"]), max(rows, key=lambda r: r["dim"])
    from engine.toy.views import dimension_levels

    cfg = run.trainer.cfg
    exact, uniform = dimension_levels(cfg.dataset, cfg.samples, cfg.hist_grid, cfg.seed)
    return Reading(hi["hist_kl"] / lo["hist_kl"] if lo["hist_kl"] > 0 else math.inf,
                   {"d_lo": lo["dim"], "d_hi": hi["dim"], "kl_lo": lo["hist_kl"], "kl_hi": hi["hist_kl"],
                    "exact": exact, "uniform": uniform, "steps": cfg.steps},
                   bool(getattr(run.trainer, "done", False)))


READERS: dict[str, Callable[[Stop, Run], Reading]] = {
    "kl_ratio": kl_ratio, "shift": shift, "contrastive_acc": contrastive_acc, "l2_floor": l2_floor,
    "probe_gain": probe_gain, "infonce_cap": infonce_cap, "dae_growth": dae_growth, "dae_midpoint": dae_midpoint,
    "binary_kl": binary_kl, "dimension_kl": dimension_kl,
}


def reading(stop: Stop, run: Run | None) -> Reading:
    if run is None:
        return Reading()
    try:
        r = READERS[stop.check](stop, run)
    except (KeyError, ValueError, AttributeError, TypeError, IndexError):
        return Reading()
    if run.state == FAILED:
        r.ready = r.value is not None
    return r


def verdict(stop: Stop, r: Reading) -> bool | None:
    """True / False once the reading is ready; None before."""
    if not r.ready or r.value is None or (isinstance(r.value, float) and math.isnan(r.value)):
        return None
    return stop.passes(r.value)
