"""Continue a saved run from its checkpoint — the path the CLI's `--resume` takes, for a page.

Like `python -m engine <experiment> --save DIR --resume`: the folder is reopened with `RunFolder.create(...,
resume=True)` (same experiment, the same settings except the budgets), the trainer is built from run.json's
settings, restored from checkpoint.pt (read with `torch.load(weights_only=True)`: a tampered file is refused
with a DataError and nothing in it runs), the metrics after the checkpoint's step are dropped and the run's
new rows are appended. Differences: the budget is "N more steps" from the checkpoint, the run is returned
unstarted (a page queues it in the process scheduler), and the folder must be this browser's — another
browser's run (or a CLI run) is first copied into a new folder of this browser (engine/run_owners.py).

Experiments the pages train and that can be continued this way: `RESUMERS`.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import DataError, LabError, SettingError
from engine.run import Run, RunOptions
from engine.run_owners import check_quota, folder_in_root, is_owner, safe_run_name, save_copy
from engine.runfolder import (
    CHECKPOINT,
    RESUMABLE_CHANGES,
    RunFolder,
    attach,
    load_checkpoint_file,
    read_metrics,
    read_run,
)

MAX_MORE_STEPS = 1_000_000


@dataclass(frozen=True)
class Resumer:
    """How to rebuild one experiment's trainer from a folder's settings (each block: a `to_dict()`)."""

    build: Callable[[Mapping[str, Mapping[str, Any]], Any], Any]  # (settings, checkpoint) → restored trainer
    name: str  # the run name used when the folder's metrics name none
    evaluate_every_s: float = 1.0


def _blocks(settings: Mapping[str, Any], experiment: str) -> list[Mapping[str, Any]]:
    """The settings blocks of `experiment` ("toy", or "binary.cd", "binary.rm" for a page with several)."""
    found = [v for k, v in settings.items() if k == experiment or k.startswith(f"{experiment}.")]
    if not found:
        raise SettingError(f"the saved settings hold no {experiment!r} block: this run cannot be rebuilt",
                           setting="run")
    return found


def _one(cls: type, settings: Mapping[str, Any]) -> Any:
    return cls.from_dict(_blocks(settings, cls.experiment)[0])


def _restored(trainer: Any, state: Any) -> Any:
    trainer.restore(state)
    return trainer


def _toy(settings: Mapping[str, Any], state: Any) -> Any:
    from engine.toy.config import ToyConfig
    from engine.toy.trainer import ToyTrainer

    return _restored(ToyTrainer(_one(ToyConfig, settings)), state)


def _dae(settings: Mapping[str, Any], state: Any) -> Any:
    from engine.dae.config import DAEConfig
    from engine.dae.trainer import DAETrainer

    return _restored(DAETrainer(_one(DAEConfig, settings)), state)


def _binary(settings: Mapping[str, Any], state: Any) -> Any:
    from engine.binary.config import BinaryConfig
    from engine.binary.trainer import BinaryTrainer

    return _restored(BinaryTrainer([BinaryConfig.from_dict(b) for b in _blocks(settings, "binary")]), state)


def _image_ebm(settings: Mapping[str, Any], state: Any) -> Any:
    from engine.image_ebm.config import ImageEBMConfig
    from engine.image_ebm.trainer import ImageEBMTrainer

    return _restored(ImageEBMTrainer(_one(ImageEBMConfig, settings)), state)


def _embed(settings: Mapping[str, Any], state: Any) -> Any:
    from engine.embed.config import EmbedConfig
    from engine.embed.trainer import DeferredTrainer

    class RestoredDeferred(DeferredTrainer):
        """The page's lazily built trainer (its data loads in the run's thread), restored once built."""

        def _get(self) -> Any:
            if self.inner is None:
                super()._get().restore(state)
            return self.inner

    return RestoredDeferred(_one(EmbedConfig, settings))


RESUMERS: dict[str, Resumer] = {
    "toy": Resumer(_toy, "toy"),
    "dae": Resumer(_dae, "dae"),
    "binary": Resumer(_binary, "binary"),
    "embed": Resumer(_embed, "embed", evaluate_every_s=4.0),
    "image-ebm": Resumer(_image_ebm, "iebm", evaluate_every_s=3.0),
}


@dataclass
class Continued:
    """A continued run (not started), the folder it writes, and whether that folder is a new copy."""

    run: Run
    folder: RunFolder
    copied: bool

    @property
    def path(self) -> Path:
        return self.folder.path


def main_run_name(path: Path, step: int, default: str) -> str:
    """The name of the folder's main run: the first run whose step rows reach the folder's step (a page's
    folder has one; a CLI call's may also hold baselines), else `default`."""
    rows, _ = read_metrics(path)
    reached: dict[str, int] = {}
    for row in rows:
        if row.get("kind") == "step" and isinstance(row.get("step"), int):
            name = str(row.get("run") or "")
            reached[name] = max(reached.get(name, 0), row["step"])
    for name, last in reached.items():
        if last >= step:
            return name
    return next(iter(reached), default)


def can_continue(experiment: str) -> bool:
    return experiment in RESUMERS


def continue_run(path: str | os.PathLike[str], token: str, more_steps: int, *,
                 root: str | os.PathLike[str] | None = None, copy_name: str | None = None) -> Continued:
    """Rebuild the run saved in `path` from its checkpoint, to train `more_steps` more steps into the same
    folder (this browser's run) or into a new folder of this browser named `copy_name` (default
    "<name>-cont-<time>") when the run is another browser's or a CLI run. The run is returned unstarted.

    Raises SettingError (an unknown experiment, a live run, no checkpoint, bad settings, a taken name),
    DataError (a tampered checkpoint: refused unread), QuotaExceeded (no disk left for this browser).
    """
    if isinstance(more_steps, bool) or not isinstance(more_steps, int) or not 1 <= more_steps <= MAX_MORE_STEPS:
        raise SettingError(f"more steps = {more_steps!r}: give a whole number from 1 to {MAX_MORE_STEPS:,}",
                           setting="steps", value=more_steps)
    source = folder_in_root(path, root)
    info = read_run(source)
    resumer = RESUMERS.get(info.experiment)
    if resumer is None:
        raise SettingError(f"a {info.experiment or 'unknown'} run cannot be continued from the browser (the "
                           f"pages continue {', '.join(RESUMERS)} runs); use `python -m engine … --save DIR "
                           "--resume`", setting="run", value=info.experiment)
    if info.state == "running" and not info.stale:
        raise SettingError(f"the run {info.name!r} is still training: continue it once it has ended",
                           setting="run", value=info.name)
    if not (source / CHECKPOINT).is_file():
        raise SettingError(f"the run {info.name!r} holds no checkpoint ({CHECKPOINT}) to continue from: it "
                           "stopped before its first one was written", setting="run", value=info.name)
    state = load_checkpoint_file(source / CHECKPOINT)  # a DataError, before anything is built or written
    if not isinstance(state, dict) or not isinstance(state.get("step"), int):
        raise DataError(f"{source / CHECKPOINT} is not a checkpoint this version of Energy Lab can continue from")
    start = int(state["step"])
    settings = copy.deepcopy(info.settings)
    for block in settings.values():  # the budget, like the CLI's --steps on a resume: absolute
        if isinstance(block, dict) and "steps" in block:
            block["steps"] = start + more_steps
    try:
        trainer = resumer.build(settings, state)
    except LabError:
        raise
    except (KeyError, RuntimeError, ValueError, TypeError, IndexError) as exc:
        # a checkpoint of other shapes than the settings build (edited run.json, another version)
        raise DataError(f"the checkpoint of {info.name!r} does not fit the model its settings build: {exc}") from None
    own = is_owner(info, token)
    if own:
        check_quota(token, root)
        target = source
    else:
        name = safe_run_name(copy_name) if copy_name else f"{info.name[:40]}-cont-{time.strftime('%Y%m%d-%H%M%S')}"
        target = save_copy(source, name, token, root)
    label = main_run_name(target, start, resumer.name)
    folder = RunFolder.create(target, info.experiment, settings, resume=True, budgets=RESUMABLE_CHANGES)
    run = Run(trainer, RunOptions(max_steps=start + more_steps, snapshot_hz=2.0,
                                  evaluate_every_s=resumer.evaluate_every_s), name=label)
    t0 = folder.rewind(label, start, keep_others=True)
    folder.update(resumed_from=start, step=start)
    attach(run, folder, label, main=True, closes=True, t0=t0)
    return Continued(run, folder, copied=not own)
