"""`python -m engine bench`: speed figures, each next to the baseline measured in the same run.

Each experiment package may offer `bench(quick: bool) -> dict` in `engine/<package>/bench.py`;
this command runs them all (or those named with --only) and prints one JSON object.

`seconds_per_call` times a step with the device synchronised; `eager_vs_captured` measures a step op by
op and, where capture is available (a CUDA device, engine/capture.py), captured and replayed, in the same
run. Off CUDA the captured figure is null with the reason, never an estimate.
"""

from __future__ import annotations

import importlib
import importlib.util
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from engine.capture import capture_unavailable
from engine.cli import progress
from engine.device import describe, pick_device
from engine.schema import MAX_SEED, Settings, device_setting, setting

PACKAGES = ("toy", "dae", "binary", "embed", "image_ebm")


@dataclass
class BenchSettings(Settings):
    experiment: ClassVar[str] = "bench"
    quick: bool = setting(False, label="Quick", help="fewer repetitions (a smoke run)")
    only: tuple[str, ...] = setting(PACKAGES, choices=PACKAGES, label="Only", help="the packages to measure")
    seed: int = setting(0, ge=0, le=MAX_SEED, label="Seed", help="random seed of the measured runs")
    device: str = device_setting()


SETTINGS = BenchSettings


def run(args: BenchSettings) -> dict[str, Any]:
    wanted = list(dict.fromkeys(args.only))
    device = pick_device(args.device)
    result: dict[str, Any] = {
        "device": describe(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "capture": capture_unavailable(device) or "CUDA graphs available",
    }
    for name in wanted:
        module = f"engine.{name}.bench"
        try:
            if importlib.util.find_spec(module) is None:
                continue
        except ModuleNotFoundError:
            continue
        progress(f"bench: {name} …")
        result[name] = importlib.import_module(module).bench(args.quick, device=device, seed=args.seed)
    return result


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds_per_call(fn: Callable[[], object], device: torch.device, seconds: float, min_calls: int = 3) -> float:
    """Mean wall time of fn() over at least `min_calls` calls and `seconds`, after one warm-up call (which
    also makes a capture), the device synchronised before and after."""
    fn()
    _sync(device)
    t0, n = time.perf_counter(), 0
    while n < min_calls or time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    _sync(device)
    return (time.perf_counter() - t0) / n


# make(capture) -> (the step to time, a function saying why it is not captured, None while it is), for the
# capture settings "off" and "auto"
StepMaker = Callable[[str], tuple[Callable[[], object], Callable[[], "str | None"]]]


def eager_vs_captured(make: StepMaker, device: torch.device, seconds: float, work: float = 1.0) -> dict[str, Any]:
    """`work` per second (e.g. chains·steps per call; 1: calls) of the step run op by op ("eager") and
    captured ("captured"; None, with "captured_unavailable" saying why, where capture cannot run), and
    their ratio. A capture that fails on its first call reports its error as the reason."""
    eager_fn, _ = make("off")
    eager = work / seconds_per_call(eager_fn, device, seconds)
    out: dict[str, Any] = {"eager": _round(eager), "captured": None, "speedup": None}
    captured_fn, why = make("auto")
    if why() is None:
        captured = work / seconds_per_call(captured_fn, device, seconds)
        if why() is None:
            out.update(captured=_round(captured), speedup=round(captured / eager, 2))
    if out["captured"] is None:
        out["captured_unavailable"] = why()
    return out


def _round(x: float) -> float:
    return round(x) if x >= 100 else round(x, 3)
