"""Run folders: a run's settings, live metrics, snapshots and checkpoint on disk, in a format that outlives it.

A run folder is a directory (the format is described in the README, "Run folders"):

    run.json          who and what: experiment, settings (each with its schema_version), state, step, speed,
                      result; rewritten atomically (a temporary file, then os.replace)
    metrics.jsonl     one JSON object per line, appended live: {"kind": "step"|"eval", "run", "step", "t", ...}
    snapshots/step-000000300.npz    the numeric arrays of an evaluation's snapshot (np.load, allow_pickle=False)
    checkpoint.pt     torch.save of trainer.checkpoint(), loaded ONLY with torch.load(weights_only=True):
                      a file that would run code when unpickled is refused with a DataError, and does not run

The CLI (`--save`), the pages and torchrun's rank 0 write folders through `RunFolder` and `attach` (which
hooks a `engine.run.Run`'s callbacks); the Runs page reads them with `list_runs`, `read_run`,
`read_metrics` (an incremental tail) and `latest_snapshot`, while the run that writes them is still going.
Only a writer folder touches the disk: under torchrun, every rank holds a folder but rank 0 alone writes.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import math
import os
import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import DataError, SettingError

if TYPE_CHECKING:
    from engine.run import Run

FORMAT = 1
RUN_JSON, METRICS, SNAPSHOTS, CHECKPOINT = "run.json", "metrics.jsonl", "snapshots", "checkpoint.pt"
STALE_AFTER_S = 60.0  # a "running" folder not updated for this long: its process is gone
FLUSH_EVERY_S = 0.5  # metrics rows are buffered and appended at most this often (and at the end)
STATUS_EVERY_S = 1.0  # run.json's step and speed are rewritten at most this often
HEARTBEAT_S = 15.0  # while a CLI call holds a folder, run.json's `updated` is refreshed this often
STATES = ("running", "finished", "stopped", "failed")
# settings that may change when a saved run is resumed (`--resume`, the Runs page's Continue): budgets (absolute:
# a resumed run to N steps ends at step N), and where it runs
RESUMABLE_CHANGES = ("steps", "max_steps", "budget_seconds", "supervised_seconds", "device", "threads")
_SNAPSHOT_NAME = re.compile(r"step-(\d+)\.npz")
OWNER_HEX = 32  # hex digits of sha256(browser token) kept in run.json's `owner`


def owner_id(token: str | None) -> str | None:
    """What run.json's `owner` holds for a browser: a one-way hash of its token (never the token itself, which
    would let anyone who reads the folder act as that browser); None for no browser (a CLI run)."""
    if not token:
        return None
    return hashlib.sha256(f"energy-lab-owner:{token}".encode()).hexdigest()[:OWNER_HEX]


def runs_root() -> Path:
    """Where run folders live: $ENERGY_LAB_RUNS, or ./runs."""
    return Path(os.environ.get("ENERGY_LAB_RUNS") or "runs")


def run_path(name: str | os.PathLike[str], root: Path | None = None) -> Path:
    """The folder for `name`: an absolute path as given; a plain name (one path component, not `..`) is a
    folder directly under `root` (default runs_root()), where `list_runs` finds it; anything else, which
    could leave it or hide below it, is refused with a SettingError."""
    text = os.fspath(name)
    if not text.strip():
        raise SettingError("a run folder needs a name", setting="save", value=text)
    path = Path(text).expanduser()
    if path.is_absolute():
        return path
    base = Path(root) if root is not None else runs_root()
    if len(path.parts) != 1 or path.name in (".", ".."):
        raise SettingError(f"run folder {text!r}: give a plain name (the folder is made in the runs folder {base}, "
                           "where the Runs page lists it; no / or ..), or an absolute path", setting="save",
                           value=text)
    return base / path


def is_writer() -> bool:
    """Whether this process writes run folders: rank 0 under torchrun, always otherwise."""
    return os.environ.get("RANK", "0") == "0"


def _clean(value: Any) -> Any:
    """JSON-able and strict: numpy scalars and arrays to Python, tuples to lists, NaN / infinities to None."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, np.generic):
        return _clean(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    if hasattr(value, "item"):  # a 0-d tensor
        with contextlib.suppress(Exception):
            return _clean(value.item())
    return str(value)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


# ---- reading ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunInfo:
    """What run.json says, plus `stale`: state "running" but not updated for > 60 s (its process is gone)."""

    path: Path
    name: str
    experiment: str
    settings: dict[str, dict[str, Any]]
    state: str
    message: str
    step: int
    steps_per_s: float
    world_size: int
    created: float
    updated: float
    result: dict[str, Any] | None
    resumed_from: int | None
    stale: bool
    owner: str | None = None  # owner_id of the browser that made it; None: made outside the browser (CLI)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path} does not exist: not a run folder") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path} cannot be read as a run description: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DataError(f"{path} is not a run description of format {FORMAT}")
    return data


def read_run(path: str | os.PathLike[str], now: float | None = None) -> RunInfo:
    """The run described by `path`/run.json (a DataError if it is missing or malformed)."""
    folder = Path(path)
    data = _read_json(folder / RUN_JSON)
    now = time.time() if now is None else now
    state = str(data.get("state", "running"))
    updated = float(data.get("updated") or 0.0)
    return RunInfo(path=folder, name=str(data.get("name", folder.name)), experiment=str(data.get("experiment", "")),
                   settings=dict(data.get("settings") or {}), state=state, message=str(data.get("message", "")),
                   step=int(data.get("step") or 0), steps_per_s=float(data.get("steps_per_s") or 0.0),
                   world_size=int(data.get("world_size") or 1), created=float(data.get("created") or 0.0),
                   updated=updated, result=data.get("result"), resumed_from=data.get("resumed_from"),
                   stale=state == "running" and now - updated > STALE_AFTER_S,
                   owner=data.get("owner") if isinstance(data.get("owner"), str) else None)


def list_runs(root: str | os.PathLike[str] | None = None) -> list[RunInfo]:
    """The run folders directly under `root` (default runs_root()), newest first; unreadable ones skipped."""
    base = Path(root) if root is not None else runs_root()
    if not base.is_dir():
        return []
    now = time.time()
    runs = []
    for child in base.iterdir():
        if (child / RUN_JSON).is_file():
            with contextlib.suppress(DataError):
                runs.append(read_run(child, now))
    return sorted(runs, key=lambda r: r.created, reverse=True)


def read_metrics(path: str | os.PathLike[str], offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Rows of `path`/metrics.jsonl from byte `offset` on, and the offset to pass next time.

    A partial last line (being written) is left for next time; a line that is not JSON is skipped; a file
    shorter than `offset` (rewritten by a resume) is read again from its start.
    """
    file = Path(path) / METRICS
    try:
        with open(file, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            if offset > size:
                offset = 0
            f.seek(offset)
            data = f.read(size - offset)
    except FileNotFoundError:
        return [], 0
    end = data.rfind(b"\n") + 1
    rows = []
    for line in data[:end].splitlines():
        with contextlib.suppress(ValueError):
            row = json.loads(line)
            if isinstance(row, dict):
                rows.append(row)
    return rows, offset + end


def _snapshot_files(folder: Path) -> list[tuple[int, Path]]:
    found = []
    with contextlib.suppress(FileNotFoundError):
        for file in (folder / SNAPSHOTS).iterdir():
            if (m := _SNAPSHOT_NAME.fullmatch(file.name)) is not None:
                found.append((int(m.group(1)), file))
    return sorted(found)


def latest_snapshot(path: str | os.PathLike[str]) -> tuple[int, dict[str, np.ndarray]] | None:
    """The newest snapshot (its step and arrays), or None when the folder has none."""
    files = _snapshot_files(Path(path))
    if not files:
        return None
    step, file = files[-1]
    try:
        with np.load(file, allow_pickle=False) as data:
            return step, {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"{file} cannot be read as a snapshot: {exc}") from None


# ---- writing ---------------------------------------------------------------------------------------
class RunFolder:
    """One run folder, open for writing (see the module docstring). Make it with `RunFolder.create`.

    A folder that is not the writer (`writer=False`: torchrun's ranks other than 0) writes nothing, but
    reads (its checkpoint, to resume) like any other.
    """

    def __init__(self, path: Path, info: dict[str, Any], *, resume: bool, writer: bool) -> None:
        self.path = path
        self.info = info
        self.resume = resume
        self.writer = writer
        self.main_claimed = False  # the first headless run of a CLI call is the main one (train_headless)
        self.checkpoint_every_s = 10.0  # the main run's checkpoint reaches the disk at most this often
        self._rows: list[str] = []
        self._flushed = time.monotonic()
        self._lock = threading.RLock()

    @classmethod
    def create(cls, path: str | os.PathLike[str], experiment: str, settings: Mapping[str, Mapping[str, Any]], *,
               resume: bool = False, writer: bool = True, budgets: tuple[str, ...] = (),
               browser: str | None = None) -> RunFolder:
        """Open `path` as this run's folder.

        Without `resume` the folder must be new or empty (a SettingError otherwise). With `resume` it must
        hold a run of the same experiment whose settings equal `settings` except the names in `budgets`,
        and a checkpoint. A writer writes run.json at once (state "running"). `browser`: the token of the
        browser that makes it (a page); run.json keeps only its `owner_id`. A resumed folder keeps its owner.
        """
        folder = Path(path)
        settings = _clean(settings)
        now = time.time()
        info: dict[str, Any] = {
            "format": FORMAT, "experiment": experiment, "name": folder.name, "settings": settings,
            "state": "running", "message": "", "step": 0, "steps_per_s": 0.0,
            "world_size": int(os.environ.get("WORLD_SIZE", "1") or 1), "created": now, "updated": now,
            "pid": os.getpid(), "host": socket.gethostname(), "result": None, "resumed_from": None,
            "owner": owner_id(browser),
        }
        if resume:
            saved = _check_resumable(folder, experiment, settings, budgets)
            info["created"] = saved.get("created", now)
            info["step"] = saved.get("step", 0)
            info["owner"] = saved.get("owner")
        elif writer and folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise SettingError(f"the run folder {folder} is not empty: give a new folder, or add --resume to "
                               "continue the run saved there", setting="save", value=str(folder))
        if writer:
            try:
                (folder / SNAPSHOTS).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise SettingError(f"cannot make the run folder {folder}: {exc}", setting="save",
                                   value=str(folder)) from None
        out = cls(folder, info, resume=resume, writer=writer)
        out.update()
        return out

    # ---- metrics ------------------------------------------------------------------------------------
    def append(self, row: Mapping[str, Any]) -> None:
        """Queue one metrics row; rows reach the file at most every FLUSH_EVERY_S (and on flush/finish)."""
        if not self.writer:
            return
        line = json.dumps(_clean(row), allow_nan=False)
        with self._lock:
            self._rows.append(line)
            if time.monotonic() - self._flushed >= FLUSH_EVERY_S:
                self.flush()

    def flush(self) -> None:
        """Append the queued rows to metrics.jsonl (whole lines, one write)."""
        with self._lock:
            self._flushed = time.monotonic()
            if not self._rows or not self.writer:
                return
            text, self._rows = "".join(line + "\n" for line in self._rows), []
            with open(self.path / METRICS, "a", encoding="utf-8") as f:
                f.write(text)

    def rewind(self, run: str, step: int, *, keep_others: bool = False) -> float:
        """Drop the metrics rows a resume will write again: other runs' rows (unless `keep_others`: a page
        continues the main run alone), and `run`'s after `step`; also the snapshots after `step`. Returns
        the last kept row's `t` of `run` (0.0 if none)."""
        rows, _ = read_metrics(self.path)
        kept = [r for r in rows if (r.get("run") == run and int(r.get("step", 0)) <= step)
                or (keep_others and r.get("run") != run)]
        if self.writer:
            self.flush()
            _write_atomic(self.path / METRICS, "".join(json.dumps(r) + "\n" for r in kept).encode("utf-8"))
            for at, file in _snapshot_files(self.path):
                if at > step:
                    file.unlink(missing_ok=True)
        return max((float(r.get("t") or 0.0) for r in kept if r.get("run") == run), default=0.0)

    # ---- snapshots and checkpoints ------------------------------------------------------------------
    def save_snapshot(self, step: int, arrays: Mapping[str, Any]) -> Path | None:
        """Write the numeric numpy arrays of `arrays` (others skipped) as snapshots/step-NNNNNNNNN.npz."""
        numeric = {k: v for k, v in arrays.items() if isinstance(v, np.ndarray) and v.dtype.kind in "biufc"}
        if not self.writer or not numeric:
            return None
        file = self.path / SNAPSHOTS / f"step-{int(step):09d}.npz"
        tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.savez(f, **numeric)
        os.replace(tmp, file)
        return file

    def save_checkpoint(self, state: Any) -> None:
        """torch.save `state` (dicts of tensors and numbers) to checkpoint.pt, atomically."""
        if not self.writer:
            return
        import torch

        file = self.path / CHECKPOINT
        tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
        torch.save(state, tmp)
        os.replace(tmp, file)

    def load_checkpoint(self) -> Any:
        """The saved checkpoint (tensors on the CPU), or None when there is none.

        Only tensors, numbers, strings and containers are read (torch.load with weights_only=True): a file
        that would build any other object — code that runs when it is unpickled — is refused with a
        DataError, and nothing in it runs.
        """
        return load_checkpoint_file(self.path / CHECKPOINT)

    # ---- run.json -----------------------------------------------------------------------------------
    def update(self, **fields: Any) -> None:
        """Set fields of run.json (and `updated`), then rewrite it atomically."""
        with self._lock:
            self.info.update(_clean(fields))
            self.info["updated"] = time.time()
            if self.writer:
                _write_atomic(self.path / RUN_JSON, json.dumps(self.info, indent=1, allow_nan=False).encode("utf-8"))

    def finish(self, state: str, result: Mapping[str, Any] | None = None, message: str = "") -> None:
        """Flush the metrics and record how the run ended (finished, stopped or failed) and its result."""
        if state not in STATES:
            raise ValueError(f"state must be one of {STATES}, got {state!r}")
        self.flush()
        self.update(state=state, result=None if result is None else dict(result), message=message)

    def claim_main(self) -> bool:
        """True for the first caller only: the first headless run of a CLI call is its main run."""
        with self._lock:
            first, self.main_claimed = not self.main_claimed, True
            return first

    def heartbeat(self, every_s: float = HEARTBEAT_S) -> contextlib.AbstractContextManager[None]:
        """While inside, refresh `updated` every `every_s` (long evaluations must not look stale)."""
        return _Heartbeat(self, every_s)


def load_checkpoint_file(file: Path) -> Any:
    """See `RunFolder.load_checkpoint`."""
    if not file.exists():
        return None
    import pickle
    import warnings

    import torch

    try:
        with warnings.catch_warnings():  # torch warns about a foreign pickle protocol before refusing it
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(file, weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, TypeError, AttributeError,
            ImportError, KeyError, IndexError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{file} was refused: it is not a checkpoint written by Energy Lab, or it may have been "
                        f"tampered with ({first}); nothing in it was run") from None


def _check_resumable(folder: Path, experiment: str, settings: dict[str, Any], budgets: tuple[str, ...]) -> dict:
    if not (folder / RUN_JSON).is_file():
        raise SettingError(f"--resume: {folder} holds no saved run (no {RUN_JSON})", setting="resume")
    saved = _read_json(folder / RUN_JSON)
    if saved.get("experiment") != experiment:
        raise SettingError(f"--resume: {folder} holds a {saved.get('experiment')!r} run, not {experiment!r}",
                           setting="resume")
    differ = []
    old = saved.get("settings") or {}
    for group in sorted(set(old) | set(settings)):
        a, b = old.get(group, {}), settings.get(group, {})
        differ += [f"{name} ({a.get(name)!r} saved, {b.get(name)!r} given)" for name in sorted(set(a) | set(b))
                   if name not in budgets and a.get(name) != b.get(name)]
    if differ:
        allowed = f" Only {', '.join(budgets)} may change on a resume." if budgets else ""
        raise SettingError(f"--resume: the settings differ from those saved in {folder}: {'; '.join(differ)}."
                           f"{allowed}", setting="resume")
    if not (folder / CHECKPOINT).is_file():
        raise SettingError(f"--resume: {folder} holds no checkpoint ({CHECKPOINT}) to continue from: the run "
                           "stopped before its first one was written; start it again in a new folder",
                           setting="resume")
    return saved


class _Heartbeat:
    def __init__(self, folder: RunFolder, every_s: float) -> None:
        self.folder, self.every_s = folder, every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _beat(self) -> None:
        while not self._stop.wait(self.every_s):
            if self.folder.info.get("state") == "running":
                self.folder.update()

    def __enter__(self) -> None:
        if self.folder.writer:
            self._thread = threading.Thread(target=self._beat, name="energy-lab-heartbeat", daemon=True)
            self._thread.start()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)


# ---- the folder of the current CLI call ---------------------------------------------------------------
_ACTIVE: contextvars.ContextVar[RunFolder | None] = contextvars.ContextVar("energy_lab_run_folder", default=None)


def active() -> RunFolder | None:
    """The folder the current CLI call writes (train_headless attaches its runs to it), or None."""
    return _ACTIVE.get()


@contextlib.contextmanager
def activate(folder: RunFolder) -> Iterator[RunFolder]:
    """Make `folder` the active one inside the block (and keep its `updated` fresh)."""
    token = _ACTIVE.set(folder)
    try:
        with folder.heartbeat():
            yield folder
    finally:
        _ACTIVE.reset(token)


# ---- a Run's callbacks ---------------------------------------------------------------------------------
def attach(run: Run, folder: RunFolder, name: str | None = None, *, main: bool = True, closes: bool = True,
           checkpoint_every_s: float | None = None, t0: float = 0.0) -> None:
    """Write `run` into `folder` as it trains.

    Every step's scalars and every evaluation become metrics rows named `name` (default run.name). The
    `main` run also writes the snapshot published after each evaluation (a snapshots/ file), the checkpoint
    (at most every `checkpoint_every_s`, default the folder's, and at the end), run.json's step and speed
    (~1/s) and, when `closes`, its final state on end (the CLI closes the folder itself, with the call's
    result, and keeps run.json fresh meanwhile; a closing run does that itself from its first step on, so
    a paused page run does not look stale). `t0`: the `t` its rows continue from (a resumed run).
    """
    if not folder.writer:
        return
    label = name or run.name
    every_s = folder.checkpoint_every_s if checkpoint_every_s is None else checkpoint_every_s
    start_step = run.step
    started = time.monotonic() - t0
    marks = {"status": -math.inf, "ckpt": time.monotonic(), "snap_step": -1, "eval_pending": False}
    beat = _Heartbeat(folder, HEARTBEAT_S) if main and closes else None

    def begin() -> None:
        if beat is not None and beat._thread is None:
            beat.__enter__()

    def row(kind: str, values: Mapping[str, Any]) -> dict[str, Any]:
        return {"kind": kind, "run": label, "step": run.step, "t": round(time.monotonic() - started, 3),
                **{k: v for k, v in values.items() if k != "step"}}

    def status(force: bool = False) -> None:
        now = time.monotonic()
        if main and (force or now - marks["status"] >= STATUS_EVERY_S):
            marks["status"] = now
            done = run.step - start_step
            folder.update(step=run.step, steps_per_s=round(done / run.elapsed, 3) if run.elapsed > 0 else 0.0)

    def on_step(r: Run) -> None:
        begin()
        history = r.history
        if history:
            folder.append(row("step", history[-1]))
        status()

    def on_evaluate(r: Run) -> None:
        folder.append(row("eval", r.last_evaluation()))
        marks["eval_pending"] = True
        status()

    def write_snapshot(force: bool) -> None:
        snap = run.latest()
        if snap is not None and snap.step != marks["snap_step"] and (marks["eval_pending"] or force):
            folder.save_snapshot(snap.step, snap.data)
            marks["snap_step"], marks["eval_pending"] = snap.step, False

    def on_checkpoint(r: Run) -> None:
        begin()
        now = time.monotonic()
        if now - marks["ckpt"] >= every_s:
            write_checkpoint(r)

    def write_checkpoint(r: Run) -> None:
        kept = r.guard.latest()
        if kept is not None:
            folder.save_checkpoint(kept[1])
            marks["ckpt"] = time.monotonic()

    def on_end(r: Run) -> None:
        if beat is not None:
            beat.__exit__()
        folder.flush()
        if main:
            write_snapshot(force=True)
            r.guard.save()  # the state the run ended in (after a failure: the one it rolled back to)
            write_checkpoint(r)
            status(force=True)
            if closes:
                folder.finish(r.state if r.state in STATES else "stopped", message=r.message,
                              result=r.summary())

    run.add_callback("on_step", on_step)
    run.add_callback("on_evaluate", on_evaluate)
    if main:
        run.add_callback("on_snapshot", lambda r: write_snapshot(force=False))
        run.add_callback("on_checkpoint", on_checkpoint)
    run.add_callback("on_end", on_end)
