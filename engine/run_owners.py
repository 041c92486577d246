"""Saved runs that belong to the browser that made them: safe names, owners, deletion, copies and disk quotas.

A run folder made from a page records its browser in run.json's `owner`: `owner_id(token)`, a one-way hash
of the browser's token (the token itself never reaches the disk). That browser may rename-by-copy, continue
in place and delete it; every other browser may open it (a shared link) read-only, or continue it into a new
folder of its own. A folder with no owner was written outside the browser (the CLI's `--save`): read-only
from every browser. Nothing here trusts a path from a user: names typed on a page go through
`safe_run_name`, and every folder acted on must resolve (symlinks followed) directly under the runs root.

Disk quotas, checked before a page makes or grows a folder: `ENERGY_LAB_BROWSER_QUOTA_MB` per browser and
`ENERGY_LAB_RUNS_QUOTA_MB` for the whole runs folder (`RunStoreSettings`). Pure Python (no Streamlit).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from engine.errors import LabError, SettingError
from engine.runfolder import CHECKPOINT, METRICS, RUN_JSON, SNAPSHOTS, RunInfo, owner_id, read_run, runs_root
from engine.schema import Settings, setting

__all__ = ["ENVIRONMENT", "NotYours", "QuotaExceeded", "RunStoreSettings", "check_owner", "check_quota",
           "delete_run", "disk_usage", "folder_in_root", "is_owner", "new_run_folder", "owner_id", "save_copy",
           "safe_run_name"]

ENVIRONMENT = {"runs_quota_mb": "ENERGY_LAB_RUNS_QUOTA_MB", "browser_quota_mb": "ENERGY_LAB_BROWSER_QUOTA_MB"}
NAME_RULE = ("a run name is 1 to 64 characters, only letters, digits, '-', '_' and '.', and does not start "
             "with a dot")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MB = 1024 * 1024


@dataclass
class RunStoreSettings(Settings):
    """How much disk the saved runs may take; read from the environment (`ENVIRONMENT`)."""

    experiment: ClassVar[str] = "run_store"
    environment: ClassVar[Mapping[str, str]] = ENVIRONMENT

    runs_quota_mb: float = setting(2048.0, gt=0, le=10_000_000, label="Runs folder quota (MB)",
                                   help="disk all run folders together may take before a page makes another",
                                   cli=False)
    browser_quota_mb: float = setting(256.0, gt=0, le=10_000_000, label="Quota per browser (MB)",
                                      help="disk one browser's run folders may take before it makes another",
                                      cli=False)



class NotYours(LabError):
    """A browser asked to change or delete a run folder that is not its own."""

    kind = "forbidden"


class QuotaExceeded(LabError):
    """The runs folder, or this browser's share of it, is full."""

    kind = "quota"


# ---- names and paths ------------------------------------------------------------------------------
def safe_run_name(text: object) -> str:
    """`text` (typed by a user) as a run folder name, or a SettingError that states the rule: nothing that
    could leave the runs folder (`../x`, `a/b`, `..`), hide (a leading dot), or confuse a file system (NUL)."""
    if not isinstance(text, str):
        raise SettingError(f"the run name must be text: {NAME_RULE}", setting="name", value=text)
    name = text.strip()
    if not _NAME.fullmatch(name) or name.startswith("."):
        shown = repr(text) if len(text) <= 80 else repr(text[:77] + "...")
        raise SettingError(f"run name {shown} is refused: {NAME_RULE}", setting="name", value=text)
    return name


def _root(root: str | os.PathLike[str] | None) -> Path:
    return Path(root) if root is not None else runs_root()


def folder_in_root(path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> Path:
    """`path` resolved (symlinks followed), if it is a folder directly under the resolved runs root; a
    SettingError otherwise (a symlink that leads out of the runs folder is outside it)."""
    base = _root(root).resolve()
    given = Path(path)
    resolved = given.resolve()
    if given.is_symlink() or resolved.parent != base or not resolved.is_dir():
        raise SettingError(f"{given} is not a run folder inside the runs folder {base}: refused", setting="run",
                           value=str(given))
    return resolved


# ---- owners ---------------------------------------------------------------------------------------
def is_owner(info: RunInfo, token: str | None) -> bool:
    """Whether the browser with this token made the run (a run with no owner belongs to no browser)."""
    return info.owner is not None and token is not None and info.owner == owner_id(token)


def check_owner(info: RunInfo, token: str | None, action: str = "change") -> None:
    """Nothing if this browser owns the run; a NotYours that says whose it is otherwise."""
    if is_owner(info, token):
        return
    if info.owner is None:
        raise NotYours(f"cannot {action} the run {info.name!r}: it was written outside the browser (from a "
                       "terminal, by `--save`), so it is read-only here; continue it into a new run of yours")
    raise NotYours(f"cannot {action} the run {info.name!r}: it belongs to another browser (you may open it "
                   "read-only, or continue it into a new run of yours)")


# ---- disk use -------------------------------------------------------------------------------------
def _folder_bytes(folder: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(folder):  # os.walk does not follow symlinked folders
        for f in files:
            file = Path(dirpath) / f
            if not file.is_symlink():
                try:
                    total += file.stat().st_size
                except OSError:
                    continue
    return total


def disk_usage(root: str | os.PathLike[str] | None = None, owner: str | None = None) -> int:
    """Bytes the run folders under `root` take; with `owner` (an owner_id), only that browser's."""
    base = _root(root)
    if not base.is_dir():
        return 0
    total = 0
    for child in base.iterdir():
        if child.is_symlink() or not child.is_dir():
            continue
        if owner is not None:
            try:
                if read_run(child).owner != owner:
                    continue
            except LabError:
                continue
        total += _folder_bytes(child)
    return total


def check_quota(token: str | None, root: str | os.PathLike[str] | None = None, adding: int = 0,
                settings: RunStoreSettings | None = None) -> None:
    """Before a page makes (or grows, or copies `adding` bytes into) a run folder: a QuotaExceeded with the
    numbers if this browser's runs, or all runs, already take their quota."""
    limits = settings or RunStoreSettings.from_environ()
    base = _root(root)
    owner = owner_id(token)
    if owner is not None:
        used = disk_usage(base, owner)
        if used + adding > limits.browser_quota_mb * MB:
            raise QuotaExceeded(f"this browser's runs take {_mb(used + adding)} MB of its "
                                f"{limits.browser_quota_mb:g} MB: delete some on the Runs page",
                                setting=ENVIRONMENT["browser_quota_mb"])
    used = disk_usage(base)
    if used + adding > limits.runs_quota_mb * MB:
        raise QuotaExceeded(f"the runs folder takes {_mb(used + adding)} MB of its {limits.runs_quota_mb:g} MB "
                            "(all browsers together): delete some on the Runs page",
                            setting=ENVIRONMENT["runs_quota_mb"])


def _mb(n: int) -> str:
    return f"{n / MB:.1f}"


# ---- making, copying, deleting ----------------------------------------------------------------------
def new_run_folder(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Claim the empty folder <root>/<safe name> with an atomic mkdir; a SettingError if the name is taken
    (whoever's run it is: a name is never reused over another run)."""
    base = _root(root)
    path = base / safe_run_name(name)
    base.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir()
    except FileExistsError:
        raise SettingError(f"a run named {path.name!r} already exists: choose another name", setting="name",
                           value=name) from None
    except OSError as exc:
        raise SettingError(f"cannot make the run folder {path}: {exc}", setting="name", value=name) from None
    return path


def save_copy(path: str | os.PathLike[str], name: str, token: str, root: str | os.PathLike[str] | None = None,
              settings: RunStoreSettings | None = None) -> Path:
    """Copy an ended run (anyone's: a copy of a shared run is how another browser keeps it) into a new folder
    `name` that belongs to this browser; returns its path. The quota counts the copy."""
    source = folder_in_root(path, root)
    info = read_run(source)
    if info.state == "running" and not info.stale:
        raise SettingError(f"the run {info.name!r} is still training: save a copy once it has ended",
                           setting="run", value=info.name)
    safe_run_name(name)  # the rule first, before any disk is read
    check_quota(token, root, adding=_folder_bytes(source), settings=settings)
    target = new_run_folder(name, root)
    try:
        for file in (METRICS, CHECKPOINT):
            src = source / file
            if src.is_file() and not src.is_symlink():
                shutil.copyfile(src, target / file)
        (target / SNAPSHOTS).mkdir()
        if (source / SNAPSHOTS).is_dir() and not (source / SNAPSHOTS).is_symlink():
            for src in (source / SNAPSHOTS).iterdir():
                if src.is_file() and not src.is_symlink() and src.suffix == ".npz":
                    shutil.copyfile(src, target / SNAPSHOTS / src.name)
        data = json.loads((source / RUN_JSON).read_text(encoding="utf-8"))
        now = time.time()
        data.update(name=target.name, owner=owner_id(token), created=now, updated=now, copied_from=info.name,
                    pid=None)
        if data.get("state") == "running":  # a stale folder: its process is gone
            data["state"] = "stopped"
        (target / RUN_JSON).write_text(json.dumps(data, indent=1), encoding="utf-8")
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return target


def delete_run(path: str | os.PathLike[str], token: str | None, root: str | os.PathLike[str] | None = None) -> None:
    """Delete a run folder of this browser. Refused (and nothing deleted): a folder outside the runs root
    (symlinks resolved), another browser's run, a CLI run (no owner), a run still training."""
    folder = folder_in_root(path, root)
    info = read_run(folder)
    check_owner(info, token, "delete")
    if info.state == "running" and not info.stale:
        raise SettingError(f"the run {info.name!r} is still training: stop it before deleting it", setting="run",
                           value=info.name)
    shutil.rmtree(folder)  # rmtree unlinks symlinks inside the folder, it never follows them
