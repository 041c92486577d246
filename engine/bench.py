"""`python -m engine bench`: speed figures, each next to the baseline measured in the same run.

Each experiment package may offer `bench(quick: bool) -> dict` in `engine/<package>/bench.py`;
this command runs them all (or those named with --only) and prints one JSON object.
"""

from __future__ import annotations

import importlib
import importlib.util
import platform
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

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
