"""`python -m engine …`: every experiment headless, ending with one JSON line of final metrics.

Each experiment lives in its own module with two functions:
    add_arguments(parser: argparse.ArgumentParser) -> None
    main(args: argparse.Namespace) -> dict            # the final metrics (printed as JSON)
Progress goes to stderr; stdout's last line is the JSON object.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
import time
from typing import Any

# name -> (module, one-line help). A module that is not there is not offered.
EXPERIMENTS: dict[str, tuple[str, str]] = {
    "toy": ("engine.toy.cli", "train a 2-D energy (ml, cd, pcd, nce, dsm) and score it exactly on a grid"),
    "scoreboard": ("engine.toy.scoreboard", "train every 2-D method on one data set and compare them"),
    "pcd-dimension": ("engine.toy.dimension", "PCD and CD as the data dimension grows"),
    "dae": ("engine.dae.cli", "denoising autoencoder energy: flat spots vs a latent-variable energy"),
    "binary": ("engine.binary.cli", "binary data: CD (Metropolis), PCD, ratio matching, MPF, NCE, exact NLL"),
    "embed": ("engine.embed.cli", "contrastive embedding of images: SimCLR, MoCo, PIRL, probes"),
    "bench": ("engine.bench", "speed figures, each with its baseline from the same run"),
}


def _available() -> dict[str, tuple[str, str]]:
    found = {}
    for name, (module, help_text) in EXPERIMENTS.items():
        try:
            if importlib.util.find_spec(module) is not None:
                found[name] = (module, help_text)
        except ModuleNotFoundError:
            continue
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m engine",
        description="Energy Lab experiments, headless. Each prints one JSON object as its last line.",
    )
    sub = parser.add_subparsers(dest="experiment", metavar="EXPERIMENT")
    for name, (module, help_text) in _available().items():
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:  # one experiment's missing package must not break the others
            sub.add_parser(name, help=f"(unavailable: {exc})")
            continue
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same numbers on the CPU)")
        p.add_argument("--device", default="auto", help="auto (cuda → mps → cpu), cpu, cuda, cuda:N or mps")
        p.set_defaults(_module=module)
        mod.add_arguments(p)
    return parser


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "experiment", None):
        parser.print_help()
        return 2
    if not hasattr(args, "_module"):
        print(f"error: the experiment {args.experiment!r} cannot run here (a package is missing; see --help)",
              file=sys.stderr)
        return 2
    module = importlib.import_module(args._module)
    t0 = time.perf_counter()
    try:
        result: dict[str, Any] | list[Any] = module.main(args)
    except ValueError as exc:  # bad input: a clear message, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if isinstance(result, dict):
        result.setdefault("seconds", round(time.perf_counter() - t0, 2))
    print(json.dumps(result, default=_jsonable))
    return 0


def _jsonable(x: Any) -> Any:
    if hasattr(x, "item"):
        return x.item()
    if hasattr(x, "tolist"):
        return x.tolist()
    return str(x)
