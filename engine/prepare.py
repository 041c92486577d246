"""`python -m engine prepare`: before class, is this machine ready for every page? One readiness report.

    python -m engine prepare                      # the report as a table (progress on stderr)
    python -m engine prepare --json               # one JSON object instead
    python -m engine prepare --download mnist     # also fetch MNIST (the only way this command downloads)

What it does, in order, each step a row (name, status ok / missing / failed, detail, how to fix):

- environment: Python and torch versions, the device the pages will use (CUDA? which GPU), the serving
  settings (`ENERGY_LAB_*`, the torch threads a page's job gets), and the packages the app needs, each
  imported in a child process (so Streamlit never enters the engine's process); Chromium at
  /usr/bin/chromium, for the browser tests only.
- folders: the runs folder ($ENERGY_LAB_RUNS or runs/) can be written (probed with a temporary file,
  nothing left behind; a folder not there yet needs a writable parent); the data folder.
- data sets: every image set the pages offer (the choices of `EmbedConfig.dataset` and
  `ImageEBMConfig.dataset`): scikit-learn's digits and the generated shapes need nothing; a file set
  (MNIST, Fashion-MNIST, CIFAR-10) is read through the checked readers of `engine.datafiles`, or reported
  missing with the command that fetches it. Nothing is downloaded unless `--download NAME` asks for it,
  and then through `engine.download` (https, published size and SHA-256).
- warm-up: one small UMAP fit (numba compiles its kernels; the first map of the page is then quicker
  where numba caches them), and the import of every engine module the pages import (read from pages/).
- smoke runs: one short headless run of each page's experiment with the page's default settings, at
  the thread count a page's job gets, each with its steps/s; a failure is a row, never a traceback.

Exit status 0 when every page can run (missing optional data sets, UMAP, Chromium or an unwritable runs
folder are warnings, each with its fix); 1 when something essential is missing or failed (torch, a
package every page imports, a smoke run, a data set asked for with --download); 2 for a bad flag (the
CLI's usual error line).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import tomllib

from engine.cli import progress
from engine.errors import LabError

ROOT = Path(__file__).resolve().parents[1]
PAGES_DIR = ROOT / "pages"
MIN_PYTHON = (3, 10)  # pyproject.toml's requires-python
CHROMIUM = Path("/usr/bin/chromium")
# the data sets held in files; the others (digits, shapes) ship with a package or are generated
FILE_DATASETS = ("mnist", "fashion_mnist", "cifar10")
# (distribution, import name, essential): the packages requirements.txt names besides torch and numpy.
# Without umap-learn the embedding page keeps its PCA map, so it is the one optional package.
PACKAGES: tuple[tuple[str, str, bool], ...] = (
    ("streamlit", "streamlit", True), ("plotly", "plotly", True), ("pandas", "pandas", True),
    ("scikit-learn", "sklearn", True), ("kornia", "kornia", True), ("babel", "babel", True),
    ("umap-learn", "umap", False),
)
PACKAGE_PROBE_TIMEOUT_S = 180
UMAP_POINTS, UMAP_EPOCHS = 200, 10
SMOKE_SNAPSHOT_HZ = 0.2  # trainer.headless's rate
STATUSES = ("ok", "missing", "failed")
SECTIONS = ("environment", "folders", "data sets", "warm-up", "smoke runs")

TEXT = {
    "title": "Energy Lab: ready for class?",
    "python_old": "Python {version}: Energy Lab needs {need} or newer",
    "fix_python": "install Python {need} or newer and the requirements: pip install -r requirements.txt",
    "torch_missing": "torch cannot be imported ({error})",
    "fix_torch": "pip install torch (CPU-only machine: pip install torch --index-url "
                 "https://download.pytorch.org/whl/cpu), then pip install -r requirements.txt",
    "torch_ok": "torch {version} ({build})",
    "rest_need_torch": "the other checks need torch",
    "device_ok": "{device}; {cuda}; {threads} torch thread(s) per job ({cores} cores)",
    "cuda_yes": "CUDA available: {count} GPU(s), {names}",
    "cuda_no": "no CUDA GPU (the pages train on the {device})",
    "fix_device": "give --device auto, cpu, cuda, cuda:N or mps (what this machine has)",
    "serve_ok": "{jobs} job(s) train at once, {threads} torch thread(s) each",
    "fix_serve": "correct or unset the ENERGY_LAB_* variable named in the detail (README: Serving a class)",
    "package_ok": "{version}",
    "package_failed": "cannot be imported: {error}",
    "package_optional": " (optional: without it the embedding page shows PCA maps instead of UMAP)",
    "fix_package": "pip install -r requirements.txt",
    "probe_failed": "the import check did not finish: {error}",
    "chromium_ok": "{path} (the browser tests use it)",
    "chromium_missing": "{path} is not there; only the browser tests (tests/e2e) need it",
    "fix_chromium": "apt-get install -y chromium",
    "runs_ok": "{path} can be written",
    "runs_later": "{path} is not there yet; it is made on the first recorded run (its parent {parent} can be "
                  "written)",
    "runs_failed": "{path} cannot be written ({error}); pages still train, but nothing can be recorded",
    "fix_runs": "make {path} writable for this user, or point ENERGY_LAB_RUNS at a writable folder",
    "data_dir_ok": "{path} (holds: {held})",
    "data_dir_none": "{path} is not there yet (only MNIST, Fashion-MNIST and CIFAR-10 are read from it)",
    "data_dir_bad": "{path} is not a folder",
    "fix_data_dir": "remove {path} or give another folder with --data-dir (or $ENERGY_LAB_DATA)",
    "digits_ok": "scikit-learn's 8×8 digits ({n} images, ship with the package); used by {pages}",
    "shapes_ok": "generated on the fly, needs nothing; used by {pages}",
    "file_ok": "{n_train:,} + {n_test:,} images, every file checked ({seconds:.1f} s){downloaded}; used by {pages}",
    "downloaded": ", just downloaded",
    "file_missing": "{why}; optional: the pages offer it ({pages}) but start on digits",
    "file_failed": "{error}",
    "fix_download": "run `python -m engine prepare --download {name}{data_dir}`",
    "fix_broken": "remove the damaged file(s) named in the detail, then run "
                  "`python -m engine prepare --download {name}{data_dir}`",
    "umap_ok": "a {points}-point map in {seconds:.1f} s (numba compiled UMAP's kernels)",
    "umap_failed": "UMAP failed ({error}); the embedding page shows PCA maps instead",
    "fix_umap": "pip install -r requirements.txt (umap-learn and numba)",
    "modules_ok": "{n} engine modules the pages import, in {seconds:.1f} s",
    "modules_none": "no pages/ folder next to the engine: nothing to import",
    "modules_failed": "{failures}",
    "fix_modules": "pip install -r requirements.txt; if it persists, the engine itself is broken here",
    "smoke_ok": "{steps} steps at {sps:,.1f} steps/s ({seconds:.1f} s with set-up and the closing evaluation)",
    "smoke_failed": "{error}",
    "smoke_no_steps": "the run made no step",
    "fix_smoke": "run `python -m engine {command} --debug` to see where it fails",
    "ready": "READY: every page can run here.",
    "ready_warnings": "READY, with {n} warning(s): {names} (each row says how to fix it).",
    "not_ready": "NOT READY: {names} (each row says how to fix it).",
    "smoke_skipped": " (smoke runs skipped)",
    "fix_prefix": "fix: ",
    "downloading": "prepare: downloading {name} into {root} …",
}



def page_title(stem: str) -> str:
    """A page's English title, as the app's navigation shows it (assets/locales/en/pages.toml)."""
    return _page_titles()[stem]


@cache
def _page_titles() -> dict[str, str]:
    with (ROOT / "assets" / "locales" / "en" / "pages.toml").open("rb") as fh:
        return tomllib.load(fh)


@dataclass
class Row:
    """One line of the report."""

    section: str
    name: str
    status: str  # one of STATUSES
    detail: str
    fix: str = ""
    essential: bool = True  # does the exit status depend on it?
    seconds: float | None = None
    steps_per_s: float | None = None
    page: str | None = None  # smoke runs: the page (file stem under pages/) whose experiment ran

    @property
    def blocks(self) -> bool:
        return self.essential and self.status != "ok"

    @property
    def warns(self) -> bool:
        return not self.essential and self.status != "ok"


# ---- environment ------------------------------------------------------------------------------------
def check_python() -> Row:
    version = platform.python_version()
    need = ".".join(map(str, MIN_PYTHON))
    if sys.version_info[:2] < MIN_PYTHON:
        return Row("environment", "python", "failed", TEXT["python_old"].format(version=version, need=need),
                   TEXT["fix_python"].format(need=need))
    return Row("environment", "python", "ok", f"{version} ({sys.executable})")


def check_torch() -> Row:
    try:
        import torch
    except Exception as exc:  # an ImportError, or a broken install failing on import
        return Row("environment", "torch", "failed", TEXT["torch_missing"].format(error=_error_text(exc)),
                   TEXT["fix_torch"])
    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU build"
    return Row("environment", "torch", "ok", TEXT["torch_ok"].format(version=torch.__version__, build=build))


def check_serving() -> tuple[Row, int]:
    """The serving settings from the environment, and the torch threads one page job gets."""
    from engine.scheduler import ServeSettings

    try:
        serve = ServeSettings.from_environ()
    except LabError as exc:
        return Row("environment", "serving settings", "failed", str(exc), TEXT["fix_serve"]), 1
    threads = serve.threads_per_job()
    return Row("environment", "serving settings", "ok",
               TEXT["serve_ok"].format(jobs=serve.jobs(), threads=threads)), threads


def check_device(requested: str, threads: int) -> Row:
    import torch

    from engine.device import describe, pick_device

    try:
        device = pick_device(requested)
    except LabError as exc:
        return Row("environment", "device", "failed", str(exc), TEXT["fix_device"])
    if torch.cuda.is_available():
        names = ", ".join(sorted({torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())}))
        cuda = TEXT["cuda_yes"].format(count=torch.cuda.device_count(), names=names)
    else:
        cuda = TEXT["cuda_no"].format(device=device.type.upper())
    return Row("environment", "device", "ok", TEXT["device_ok"].format(
        device=describe(device), cuda=cuda, threads=threads, cores=os.cpu_count() or "?"))


# The child process that imports each package: Streamlit must not be imported into the engine's process
# (the engine never imports it), and one broken package must not stop the report.
PACKAGE_PROBE = """
import importlib, importlib.metadata, json, sys
out = {}
for dist, module in json.loads(sys.argv[1]):
    try:
        importlib.import_module(module)
    except Exception as exc:
        out[dist] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        continue
    try:
        out[dist] = {"ok": True, "version": importlib.metadata.version(dist)}
    except importlib.metadata.PackageNotFoundError:
        out[dist] = {"ok": True, "version": "(version unknown)"}
print(json.dumps(out))
"""


def start_package_probe() -> subprocess.Popen[str]:
    """Start importing the packages in a child process (it runs while the other checks do)."""
    names = json.dumps([[dist, module] for dist, module, _ in PACKAGES])
    return subprocess.Popen([sys.executable, "-c", PACKAGE_PROBE, names], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)


def package_rows(probe: subprocess.Popen[str]) -> list[Row]:
    try:
        out, err = probe.communicate(timeout=PACKAGE_PROBE_TIMEOUT_S)
        found: dict[str, dict[str, Any]] = json.loads(out.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        probe.kill()
        probe.communicate()
        why = TEXT["probe_failed"].format(error=_error_text(exc))
        return [Row("environment", dist, "failed", why, TEXT["fix_package"], essential) for dist, _, essential
                in PACKAGES]
    rows = []
    for dist, _, essential in PACKAGES:
        got = found.get(dist, {"ok": False, "error": "not checked"})
        if got["ok"]:
            rows.append(Row("environment", dist, "ok", TEXT["package_ok"].format(version=got["version"]),
                            essential=essential))
        else:
            detail = TEXT["package_failed"].format(error=got["error"])
            rows.append(Row("environment", dist, "missing" if "ModuleNotFound" in got["error"] else "failed",
                            detail + ("" if essential else TEXT["package_optional"]), TEXT["fix_package"],
                            essential))
    return rows


def check_chromium(path: Path = CHROMIUM) -> Row:
    if path.exists():
        return Row("environment", "chromium", "ok", TEXT["chromium_ok"].format(path=path), essential=False)
    return Row("environment", "chromium", "missing", TEXT["chromium_missing"].format(path=path),
               TEXT["fix_chromium"], essential=False)


# ---- folders ----------------------------------------------------------------------------------------
def check_runs_folder() -> Row:
    """Can a run folder be made? Probed with a temporary file; a folder not there yet is not made."""
    from engine.runfolder import runs_root

    path = runs_root().absolute()
    fix = TEXT["fix_runs"].format(path=path)
    try:
        if path.is_dir():
            fd, probe = tempfile.mkstemp(dir=path, prefix=".prepare-", suffix=".probe")
            os.close(fd)
            os.unlink(probe)
            return Row("folders", "runs folder", "ok", TEXT["runs_ok"].format(path=path), essential=False)
        if path.exists():
            raise NotADirectoryError(f"{path} is not a folder")
        parent = _nearest_existing(path)
        if not (parent.is_dir() and os.access(parent, os.W_OK | os.X_OK)):
            raise PermissionError(f"{parent} cannot be written")
        return Row("folders", "runs folder", "ok", TEXT["runs_later"].format(path=path, parent=parent),
                   essential=False)
    except OSError as exc:
        return Row("folders", "runs folder", "failed", TEXT["runs_failed"].format(path=path, error=exc), fix,
                   essential=False)


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_data_folder(root: Path) -> Row:
    if not root.exists():
        return Row("folders", "data folder", "ok", TEXT["data_dir_none"].format(path=root), essential=False)
    if not root.is_dir():
        return Row("folders", "data folder", "failed", TEXT["data_dir_bad"].format(path=root),
                   TEXT["fix_data_dir"].format(path=root), essential=False)
    held = ", ".join(sorted(p.name for p in root.iterdir() if not p.name.startswith("."))) or "nothing yet"
    return Row("folders", "data folder", "ok", TEXT["data_dir_ok"].format(path=root, held=held), essential=False)


# ---- data sets --------------------------------------------------------------------------------------
def offered_datasets() -> dict[str, list[str]]:
    """Every image set a page offers → the pages that offer it (read from the settings' declarations)."""
    from engine.embed.config import EmbedConfig
    from engine.image_ebm.config import ImageEBMConfig

    offered: dict[str, list[str]] = {}
    for page, cls in (("contrastive_embedding", EmbedConfig), ("energies_over_images", ImageEBMConfig)):
        for name in cls.spec("dataset").choices or ():
            offered.setdefault(name, []).append(page_title(page))
    return offered


def check_dataset(name: str, pages: list[str], root: Path, download: bool, data_dir_flag: str) -> Row:
    """One data set: ready, missing (with the command that fetches it) or failed (naming the bad file).
    Downloads only when `download` (the --download flag named it)."""
    from engine.embed.data import load_dataset, missing_files

    used_by = ", ".join(pages)
    t0 = time.perf_counter()
    try:
        if name == "digits":
            data = load_dataset("digits")
            return Row("data sets", name, "ok", TEXT["digits_ok"].format(n=len(data.y_train) + len(data.y_test),
                                                                       pages=used_by))
        if name == "shapes":
            return Row("data sets", name, "ok", TEXT["shapes_ok"].format(pages=used_by), essential=False)
        why = missing_files(name, root)
        if why is not None and not download:
            return Row("data sets", name, "missing", TEXT["file_missing"].format(why=why, pages=used_by),
                       TEXT["fix_download"].format(name=name, data_dir=data_dir_flag), essential=False)
        if why is not None:
            progress(TEXT["downloading"].format(name=name, root=root))
        data = load_dataset(name, root, download=download)
    except Exception as exc:  # a bad file, a failed download, a missing package: one row, no traceback
        fix = TEXT["fix_broken" if name in FILE_DATASETS else "fix_package"].format(name=name, data_dir=data_dir_flag)
        return Row("data sets", name, "failed", TEXT["file_failed"].format(error=_error_text(exc)), fix,
                   essential=download or name == "digits", seconds=round(time.perf_counter() - t0, 2))
    seconds = time.perf_counter() - t0
    return Row("data sets", name, "ok", TEXT["file_ok"].format(
        n_train=len(data.y_train), n_test=len(data.y_test), seconds=seconds,
        downloaded=TEXT["downloaded"] if why is not None else "", pages=used_by),
        essential=download, seconds=round(seconds, 2))


# ---- warm-up ----------------------------------------------------------------------------------------
def warm_umap() -> Row:
    import numpy as np

    t0 = time.perf_counter()
    try:
        from engine.embed.project import umap_layout

        points = np.random.default_rng(0).normal(size=(UMAP_POINTS, 8)).astype(np.float32)
        umap_layout(points, n_epochs=UMAP_EPOCHS, seed=0)
    except Exception as exc:  # the page keeps its PCA map
        return Row("warm-up", "umap", "failed", TEXT["umap_failed"].format(error=_error_text(exc)),
                   TEXT["fix_umap"], essential=False, seconds=round(time.perf_counter() - t0, 2))
    seconds = time.perf_counter() - t0
    return Row("warm-up", "umap", "ok", TEXT["umap_ok"].format(points=UMAP_POINTS, seconds=seconds),
               essential=False, seconds=round(seconds, 2))


def page_engine_modules(pages_dir: Path = PAGES_DIR) -> list[str]:
    """The engine modules the pages import (read from their source, so a new import is never missed)."""
    found: set[str] = set()
    for page in sorted(pages_dir.glob("*.py")):
        for node in ast.walk(ast.parse(page.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            found.update(n for n in names if n == "engine" or n.startswith("engine."))
    return sorted(found)


def warm_imports(pages_dir: Path = PAGES_DIR) -> Row:
    if not pages_dir.is_dir():
        return Row("warm-up", "page modules", "ok", TEXT["modules_none"], essential=False)
    t0 = time.perf_counter()
    modules, failures = page_engine_modules(pages_dir), []
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as exc:
            failures.append(f"{module}: {_error_text(exc)}")
    seconds = round(time.perf_counter() - t0, 2)
    if failures:
        return Row("warm-up", "page modules", "failed", TEXT["modules_failed"].format(failures="; ".join(failures)),
                   TEXT["fix_modules"], seconds=seconds)
    return Row("warm-up", "page modules", "ok", TEXT["modules_ok"].format(n=len(modules), seconds=seconds),
               seconds=seconds)


# ---- smoke runs -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Smoke:
    """One short run of a page's experiment: its trainer with the page's defaults, a few steps."""

    page: str  # file stem under pages/
    name: str
    command: str  # the CLI call that runs the same experiment (for the fix)
    build: Callable[[str], Any]  # device text → a Trainer (engine.run.options.Trainer)
    max_steps: int
    max_seconds: float  # a cap, so a slow machine still gets through prepare in about a minute


def _toy(method: str) -> Callable[[str], Any]:
    def build(device: str) -> Any:
        from engine.toy.config import ToyConfig
        from engine.toy.trainer import ToyTrainer

        return ToyTrainer(ToyConfig.create(method=method, device=device))
    return build


def _board(device: str) -> Any:
    from engine.toy.scoreboard import BoardTrainer, ScoreboardConfig

    return BoardTrainer(ScoreboardConfig.create(methods=("nce", "dsm"), steps=20, device=device))


def _dae(device: str) -> Any:
    from engine.dae.config import DAEConfig
    from engine.dae.trainer import DAETrainer

    return DAETrainer(DAEConfig.create(device=device))


def _binary(device: str) -> Any:
    from engine.binary.config import BinaryConfig
    from engine.binary.trainer import BinaryTrainer

    return BinaryTrainer(BinaryConfig.create(method="cd", device=device))


def _embed(device: str) -> Any:
    from engine.embed.config import EmbedConfig
    from engine.embed.trainer import EmbedTrainer

    return EmbedTrainer(EmbedConfig.create(dataset="digits", device=device))


def _image_ebm(device: str) -> Any:
    from engine.image_ebm.config import ImageEBMConfig
    from engine.image_ebm.trainer import ImageEBMTrainer

    return ImageEBMTrainer(ImageEBMConfig.create(dataset="digits", device=device))


SMOKES: tuple[Smoke, ...] = (
    Smoke("maximum_likelihood", "ml", "toy --method ml --steps 40", _toy("ml"), 100, 3.0),
    Smoke("contrastive_divergence", "cd", "toy --method cd --steps 40", _toy("cd"), 100, 3.0),
    Smoke("contrastive_divergence", "pcd", "toy --method pcd --steps 40", _toy("pcd"), 100, 3.0),
    Smoke("scoreboard", "nce, dsm", "scoreboard --methods nce,dsm --steps 20", _board, 40, 4.0),
    Smoke("denoising_autoencoder", "dae", "dae --steps 40", _dae, 100, 3.0),
    Smoke("binary", "cd", "binary --method cd --steps 40", _binary, 100, 3.0),
    Smoke("contrastive_embedding", "simclr on digits", "embed --dataset digits --max-steps 4 "
          "--no-baselines true", _embed, 10, 5.0),
    Smoke("energies_over_images", "pcd on digits", "image-ebm --dataset digits --max-steps 4",
          _image_ebm, 10, 5.0),
)


def smoke_run(smoke: Smoke, device: str) -> Row:
    from engine.run import train_headless

    name = f"{page_title(smoke.page)}: {smoke.name}"
    fix = TEXT["fix_smoke"].format(command=smoke.command)
    t0 = time.perf_counter()
    try:
        trainer = smoke.build(device)
        # snapshots as rarely as the CLI takes them: what is timed is training, not drawing
        run = train_headless(trainer, max_steps=smoke.max_steps, max_seconds=smoke.max_seconds, name=smoke.page,
                             snapshot_hz=SMOKE_SNAPSHOT_HZ)
        seconds = time.perf_counter() - t0
        sps = run.steps_per_second()
        if run.step == 0 or sps <= 0:
            raise LabError(TEXT["smoke_no_steps"])
    except Exception as exc:  # the run's own error, in one line
        return Row("smoke runs", name, "failed", TEXT["smoke_failed"].format(error=_error_text(exc)), fix,
                   seconds=round(time.perf_counter() - t0, 2), page=smoke.page)
    return Row("smoke runs", name, "ok", TEXT["smoke_ok"].format(steps=run.step, sps=sps, seconds=seconds),
               seconds=round(seconds, 2), steps_per_s=round(sps, 2), page=smoke.page)


# ---- the report -------------------------------------------------------------------------------------
@dataclass
class Options:
    """What `prepare` was asked (its flags)."""

    download: tuple[str, ...] = ()
    data_dir: str | None = None
    device: str = "auto"
    skip_smoke: bool = False
    skip_warm: bool = False


def prepare(options: Options) -> list[Row]:
    """Every check, warm-up and smoke run, in the report's order (see the module docstring)."""
    probe = start_package_probe()  # imports in a child process while the checks below run
    torch_row = check_torch()
    rows = [check_python(), torch_row]
    if torch_row.status != "ok":
        rows.append(Row("environment", "other checks", "failed", TEXT["rest_need_torch"], TEXT["fix_torch"]))
        return rows + package_rows(probe) + [check_chromium()]
    import torch

    from engine.embed.data import data_root

    serve_row, threads = check_serving()
    torch.set_num_threads(threads)  # the speed a page's job gets, not the whole machine's
    device_row = check_device(options.device, threads)
    rows += [serve_row, device_row]
    rows.append(check_chromium())
    root = data_root(options.data_dir)
    rows += [check_runs_folder(), check_data_folder(root)]
    flag = f" --data-dir {options.data_dir}" if options.data_dir else ""
    for name, pages in offered_datasets().items():
        progress(f"prepare: data set {name} …")
        rows.append(check_dataset(name, pages, root, name in options.download, flag))
    if not options.skip_warm:
        progress("prepare: warming UMAP (numba) …")
        rows.append(warm_umap())
        rows.append(warm_imports())
    if not options.skip_smoke and device_row.status == "ok":  # else every run would fail the same way
        for smoke in SMOKES:
            progress(f"prepare: smoke run {page_title(smoke.page)}: {smoke.name} …")
            rows.append(smoke_run(smoke, options.device))
    rows += package_rows(probe)
    return sorted(rows, key=lambda r: SECTIONS.index(r.section))  # stable: each section keeps its order


def exit_status(rows: list[Row]) -> int:
    return 1 if any(r.blocks for r in rows) else 0


def summary(rows: list[Row], smoke_skipped: bool = False) -> str:
    blocking = [r.name for r in rows if r.blocks]
    warnings = [r.name for r in rows if r.warns]
    if blocking:
        text = TEXT["not_ready"].format(names=", ".join(blocking))
    elif warnings:
        text = TEXT["ready_warnings"].format(n=len(warnings), names=", ".join(warnings))
    else:
        text = TEXT["ready"]
    return text + (TEXT["smoke_skipped"] if smoke_skipped else "")


def report(rows: list[Row], seconds: float, smoke_skipped: bool = False) -> dict[str, Any]:
    """The machine-readable report (`--json`)."""
    return {"ready": exit_status(rows) == 0, "exit_status": exit_status(rows),
            "summary": summary(rows, smoke_skipped), "seconds": round(seconds, 2),
            "rows": [asdict(r) for r in rows]}


def table(rows: list[Row], seconds: float, smoke_skipped: bool = False, width: int | None = None) -> str:
    """The report as text: one line per row (status, name, detail), its fix below when it is not ok."""
    width = width or max(80, min(120, shutil.get_terminal_size((100, 24)).columns))
    name_w = min(40, max(len(r.name) for r in rows))
    indent = " " * (2 + 9 + name_w + 2)
    lines = [f"{TEXT['title']} ({seconds:.0f} s)"]
    for section in SECTIONS:
        part = [r for r in rows if r.section == section]
        if not part:
            continue
        lines += ["", section.upper()]
        for r in part:
            mark = r.status if r.essential or r.status == "ok" else f"{r.status}*"
            head = f"  {mark:<9}{r.name:<{name_w}}  "
            lines += _wrap(r.detail, width, head, indent) or [head]
            if r.status != "ok" and r.fix:
                lines += _wrap(TEXT["fix_prefix"] + r.fix, width, indent, indent + "     ")
    lines += ["", "* optional: a warning, not counted in the exit status", summary(rows, smoke_skipped)]
    return "\n".join(lines)


def _wrap(text: str, width: int, first: str, rest: str) -> list[str]:
    # never inside a word or at a hyphen: commands and paths stay whole, ready to copy
    return textwrap.wrap(text, width, initial_indent=first, subsequent_indent=rest, break_long_words=False,
                         break_on_hyphens=False)


def _error_text(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, LabError) and str(exc) else f"{type(exc).__name__}: {exc}"


# ---- the CLI ----------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--download", action="append", default=[], choices=FILE_DATASETS, metavar="NAME",
                        help=f"download this data set if it is not there ({', '.join(FILE_DATASETS)}; "
                             "repeatable); without it nothing is downloaded")
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="the data folder (default: $ENERGY_LAB_DATA, else data/)")
    parser.add_argument("--device", default="auto", metavar="DEVICE",
                        help="the device of the smoke runs: auto (what the pages use), cpu, cuda, cuda:N, mps")
    parser.add_argument("--skip-smoke", action="store_true", help="no smoke runs (the checks only)")
    parser.add_argument("--skip-warm", action="store_true", help="no UMAP warm-up and no module imports")


def main(args: argparse.Namespace) -> int:
    """Run `prepare`, print its report (table or JSON) and return the exit status."""
    options = Options(download=tuple(dict.fromkeys(args.download)), data_dir=args.data_dir, device=args.device,
                      skip_smoke=args.skip_smoke, skip_warm=args.skip_warm)
    t0 = time.perf_counter()
    rows = prepare(options)
    seconds = time.perf_counter() - t0
    if args.json:
        print(json.dumps(report(rows, seconds, options.skip_smoke)), flush=True)
    else:
        print(table(rows, seconds, options.skip_smoke), flush=True)
    return exit_status(rows)
