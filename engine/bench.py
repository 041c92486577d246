"""`python -m engine bench`: speed figures, each next to the baseline measured in the same run.

Each experiment package may offer `bench(quick: bool) -> dict` in `engine/<package>/bench.py`;
this command runs them all (or those named with --only) and prints one JSON object.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import platform
from typing import Any

import torch

from engine.cli import progress
from engine.device import describe, pick_device

PACKAGES = ["toy", "dae", "binary", "embed"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    p.add_argument("--only", default=",".join(PACKAGES), help=f"comma-separated subset of {PACKAGES}")


def main(args: argparse.Namespace) -> dict[str, Any]:
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = sorted(set(wanted) - set(PACKAGES))
    if unknown:
        raise ValueError(f"unknown bench {unknown}; choose from {PACKAGES}")
    device = pick_device(args.device)
    result: dict[str, Any] = {
        "device": describe(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
    }
    for name in wanted:
        module = f"engine.{name}.bench"
        if importlib.util.find_spec(module) is None:
            continue
        progress(f"bench: {name} …")
        result[name] = importlib.import_module(module).bench(args.quick, device=device, seed=args.seed)
    return result
