"""`python -m engine …`: every experiment headless, ending with one JSON line of final metrics.

Each experiment lives in its own module that declares its settings and runs them:

    SETTINGS = ToyConfig                         # a Settings dataclass (or a tuple of them)
    def run(config: ToyConfig) -> dict: ...       # the final metrics (printed as JSON)

Its flags come from the declarations (`--name`, with range and help). A command without settings
(prepare) keeps `add_arguments(parser)` / `main(args)`; an int from `main` is its exit status (it printed its
own report).

Every experiment with settings also takes the `Output` flags: `--save DIR` writes a run folder
(engine/runfolder.py) while it runs — every headless run of the call logs its rows there, the first one
is the main run whose checkpoint goes to disk — and `--resume` continues the run saved in DIR from its
checkpoint. Under torchrun only rank 0 writes, and prints the JSON line (`run` returns None elsewhere).

Progress goes to stderr; stdout's last line is the JSON object. A failure — a bad value, an unknown
device, out of memory, divergence, a bad data file, a missing package — prints one line on stderr and,
as the last stdout line, `{"error": …, "kind": …, "setting"?: …}`, with exit status 2 (`--debug`
shows the traceback too).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from engine import runfolder
from engine.errors import LabError, MissingPackage, OutOfMemory, SettingError
from engine.schema import PATH_PATTERN, Settings, setting

# name -> (module, one-line help). A module that is not there is not offered.
EXPERIMENTS: dict[str, tuple[str, str]] = {
    "toy": ("engine.toy.cli", "train a 2-D energy (ml, cd, pcd, nce, dsm) and score it exactly on a grid"),
    "scoreboard": ("engine.toy.scoreboard", "train every 2-D method on one data set and compare them"),
    "pcd-dimension": ("engine.toy.dimension", "PCD and CD as the data dimension grows"),
    "dae": ("engine.dae.cli", "denoising autoencoder energy: flat spots vs a latent-variable energy"),
    "binary": ("engine.binary.cli", "binary data: CD (Metropolis), PCD, ratio matching, MPF, NCE, exact NLL"),
    "embed": ("engine.embed.cli", "contrastive embedding of images: SimCLR, MoCo, PIRL, probes"),
    "image-ebm": ("engine.image_ebm.cli", "persistent CD on images: fantasy particles, judged by classifiers"),
    "bench": ("engine.bench", "speed figures, each with its baseline from the same run"),
    "prepare": ("engine.prepare", "before class: check, warm up and smoke-test every page; a readiness report"),
}


RANK_EXIT_GRACE_S = 2.0



@dataclass
class Output(Settings):
    """Where a CLI call writes its run folder (every experiment with settings takes these flags)."""

    experiment: ClassVar[str] = "output"

    save: str | None = setting(None, pattern=PATH_PATTERN, none="no run folder", label="Run folder",
                               help="write a run folder here: a plain name (made in $ENERGY_LAB_RUNS, default "
                                    "runs/) or an absolute path", form=False)
    resume: bool = setting(False, label="Resume",
                           help="continue the run saved in --save from its checkpoint", form=False)
    checkpoint_every_s: float = setting(10.0, ge=0.5, le=86_400, label="Checkpoint every (s)",
                                        help="seconds between the checkpoints written to the run folder",
                                        form=False)


class _Parser(argparse.ArgumentParser):
    """argparse that raises (so the CLI can print its JSON line) instead of exiting, and takes whole flags
    only (an abbreviation would silently pick a setting after a rename)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise SettingError(f"{self.prog}: {message}")


def _available() -> dict[str, tuple[str, str]]:
    found = {}
    for name, (module, help_text) in EXPERIMENTS.items():
        try:
            if importlib.util.find_spec(module) is not None:
                found[name] = (module, help_text)
        except ModuleNotFoundError:
            continue
    return found


def settings_classes(module: Any) -> tuple[type[Settings], ...]:
    declared = getattr(module, "SETTINGS", ())
    return declared if isinstance(declared, tuple) else (declared,)


def add_setting_flags(parser: argparse.ArgumentParser, cls: type[Settings]) -> None:
    """One flag per declared setting (cli=True); values stay text until the declaration parses them."""
    layered = cls.layers
    for name, spec in cls.specs().items():
        if not spec.cli:
            continue
        default = spec.default
        if name not in (layered.dataset_key, layered.method_key) and _is_layered(cls, name):
            default = f"{default!r} unless the data set or method sets another"
        help_text = f"{spec.help or spec.label} [{spec.allowed()}; default {default}]"
        # a bare boolean flag (`--quick`) means true
        extra: dict[str, Any] = {"nargs": "?", "const": "true"} if spec.kind is bool and not spec.many else {}
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None, metavar=spec.kind.__name__.upper(),
                            help=help_text.replace("%", "%%"), **extra)


def _is_layered(cls: type[Settings], name: str) -> bool:
    lay = cls.layers
    return any(name in layer for group in (lay.dataset, lay.method, lay.pair) for layer in group.values())


def settings_from_args(cls: type[Settings], args: argparse.Namespace) -> Any:
    """The settings the flags name, on top of the layered defaults for the chosen data set and method."""
    texts = {n: getattr(args, n) for n, s in cls.specs().items() if s.cli and getattr(args, n, None) is not None}
    return cls.from_text(texts)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m engine",
                     description="Energy Lab experiments, headless. Each prints one JSON object as its last line.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    sub = parser.add_subparsers(dest="experiment", metavar="EXPERIMENT", parser_class=_Parser)
    for name, (module, help_text) in _available().items():
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:  # one experiment's missing package must not break the others
            p = sub.add_parser(name, help=f"(unavailable: {exc})")
            p.set_defaults(_missing=str(exc))
            continue
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the traceback of a failure")
        p.set_defaults(_module=module)
        for cls in settings_classes(mod):
            add_setting_flags(p, cls)
        if settings_classes(mod):
            add_setting_flags(p, Output)
        else:  # a command without declared settings (bench)
            mod.add_arguments(p)
    return parser


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _as_lab_error(exc: BaseException) -> LabError:
    """Map an exception to the user-facing error kinds; anything unknown is an 'internal' error."""
    from engine.run import Diverged

    if isinstance(exc, LabError):
        return exc
    if isinstance(exc, Diverged):
        err = LabError(str(exc))
        err.kind = "diverged"
        return err
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc):
        return OutOfMemory(f"out of memory: {exc}. Try a smaller batch, width or grid.")
    if isinstance(exc, ImportError):
        return MissingPackage(f"a package this experiment needs is missing: {exc}")
    if isinstance(exc, ValueError):  # an engine check that is not a declaration
        err = LabError(str(exc))
        err.kind = "invalid_setting"
        return err
    err = LabError(f"{type(exc).__name__}: {exc} (an error in Energy Lab itself; --debug shows where)")
    err.kind = "internal"
    return err


def _rank() -> str:
    return os.environ.get("RANK", "0")


def _fail(exc: BaseException, debug: bool) -> int:
    err = _as_lab_error(exc)
    if debug:
        traceback.print_exception(exc)
    if _rank() != "0":  # torchrun: rank 0 prints the JSON line; the others say only why they stopped
        print(f"rank {_rank()}: error: {err}", file=sys.stderr, flush=True)
        # torchrun ends every process as soon as one exits with an error: give rank 0, which usually
        # fails the same way a moment later, the time to print the JSON line
        time.sleep(RANK_EXIT_GRACE_S)
        return 2
    print(f"error: {err}", file=sys.stderr, flush=True)
    print(json.dumps(err.as_json(), default=_jsonable), flush=True)
    return 2


def open_run_folder(experiment: str, configs: Sequence[Settings], output: Output) -> runfolder.RunFolder | None:
    """The run folder `--save` names (None without it), checked against `--resume`."""
    if output.save is None:
        if output.resume:
            raise SettingError("--resume continues the run saved in a folder: give that folder with --save DIR",
                               setting="resume")
        return None
    names = {name for cfg in configs for name in cfg.specs()}
    settings = {cfg.experiment: cfg.to_dict() for cfg in configs}
    path = runfolder.run_path(output.save)
    # torchrun's elastic restart runs the same command again: it continues from the checkpoint it left
    restarted = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") not in ("", "0")
    resume = output.resume or (restarted and (path / runfolder.CHECKPOINT).is_file())
    folder = runfolder.RunFolder.create(path, experiment, settings, resume=resume, writer=runfolder.is_writer(),
                                        budgets=tuple(n for n in runfolder.RESUMABLE_CHANGES if n in names))
    folder.checkpoint_every_s = output.checkpoint_every_s
    return folder


def _terminated(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt("terminated")


@contextlib.contextmanager
def _writing(folder: runfolder.RunFolder | None) -> Iterator[None]:
    """Make `folder` active for train_headless; record a failure or an interruption (Ctrl-C, or the
    SIGTERM torchrun sends the other ranks when one fails) in it."""
    if folder is None:
        yield
        return
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if in_main else None
    try:
        with runfolder.activate(folder):
            yield
    except KeyboardInterrupt as exc:
        folder.finish("stopped", message=str(exc) or "interrupted")
        raise
    except Exception as exc:
        folder.finish("failed", message=str(_as_lab_error(exc)))
        raise
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "experiment", None):
            parser.print_help()
            return 2
        if hasattr(args, "_missing"):
            raise MissingPackage(f"the experiment {args.experiment!r} cannot run here: {args._missing}")
        module = importlib.import_module(args._module)
        t0 = time.perf_counter()
        classes = settings_classes(module)
        if classes:
            configs = [settings_from_args(cls, args) for cls in classes]
            folder = open_run_folder(args.experiment, configs, settings_from_args(Output, args))
            with _writing(folder):
                result: dict[str, Any] | list[Any] | None = module.run(*configs)
                if isinstance(result, dict):
                    result.setdefault("seconds", round(time.perf_counter() - t0, 2))
                if folder is not None:
                    folder.finish("finished", result if isinstance(result, dict) or result is None
                                  else {"rows": result})
        else:
            result = module.main(args)
            if isinstance(result, int):  # a command that printed its own report (prepare): its exit status
                return result
    except KeyboardInterrupt as exc:
        return _fail(LabError(str(exc) or "interrupted"), debug)
    except Exception as exc:  # every failure: one line, one JSON object, exit 2
        return _fail(exc, debug)
    if result is None:  # torchrun's ranks other than 0: rank 0 prints the result
        return 0
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
