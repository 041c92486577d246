"""`python -m engine prepare`: a readiness report before class. The real command on an empty data folder
is ready (exit 0), smoke-runs every page's experiment, reports MNIST missing with the command that
fetches it, and opens no network connection; a truncated data file is named in a failed row; only
`--download NAME` downloads, and only NAME, through engine.download; a failing smoke run is a row and
exit 1, never a traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from app.pages_index import PAGES
from engine import cli, download, prepare
from engine.embed import data as embed_data
from tests.engine.crafted_files import idx_bytes

ROOT = Path(__file__).resolve().parents[2]
# the pages that train something (home and runs do not)
EXPERIMENT_PAGES = {stem for group in PAGES.values() for stem, _ in group} - {"home", "lecture", "runs"}
FIX_MNIST = "python -m engine prepare --download mnist"

# Loaded first by every child Python (PYTHONPATH): records each connection to a network address and each
# lookup of a host name, and refuses it, so the test sees any attempt, from any library.
NO_NETWORK_HOOK = """
import os, socket
_connect = socket.socket.connect

def _refuse(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        with open(os.environ["PREPARE_TEST_NETWORK_LOG"], "a") as fh:
            fh.write(f"{os.getpid()} {address!r}\\n")
        raise OSError("network access refused by the test")
    return _connect(self, address)

socket.socket.connect = _refuse
_lookup = socket.getaddrinfo

def _refuse_lookup(host, *args, **kwargs):
    if host not in LOCAL:
        with open(os.environ["PREPARE_TEST_NETWORK_LOG"], "a") as fh:
            fh.write(f"{os.getpid()} lookup {host!r}\\n")
        raise OSError("name lookup refused by the test")
    return _lookup(host, *args, **kwargs)

LOCAL = (None, "", "localhost", "127.0.0.1", "::1")
socket.getaddrinfo = _refuse_lookup
"""


@pytest.fixture
def no_network(monkeypatch):
    """In-process: every download and every network connection is recorded, as (where, address), and
    refused."""
    calls: list[tuple[str, str]] = []

    def refuse(where):
        def fail(url, *args, **kwargs):
            calls.append((where, str(url)))
            raise urllib.error.URLError(f"{where} refused by the test")
        return fail

    monkeypatch.setattr(embed_data, "fetch", refuse("engine.embed.data.fetch"))
    monkeypatch.setattr(download, "_fetch", refuse("engine.download._fetch"))
    connect = socket.socket.connect

    def guarded(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            calls.append(("socket.connect", repr(address)))
            raise OSError("network access refused by the test")
        return connect(self, address)

    lookup = socket.getaddrinfo

    def guarded_lookup(host, *args, **kwargs):
        if host not in (None, "", "localhost", "127.0.0.1", "::1"):
            calls.append(("socket.getaddrinfo", repr(host)))
            raise OSError("name lookup refused by the test")
        return lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_lookup)
    return calls


@pytest.fixture
def keep_threads():
    """prepare sets torch's (process-wide) thread count to a page job's share: put it back after."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def run_in_process(capsys, monkeypatch, tmp_path: Path, *args: str) -> tuple[int, dict]:
    monkeypatch.setenv("ENERGY_LAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("ENERGY_LAB_DATA", raising=False)
    code = cli.main(["prepare", "--json", *args])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, json.loads(out.out.strip().splitlines()[-1])


def rows_by_name(report: dict) -> dict[str, dict]:
    return {r["name"]: r for r in report["rows"]}


def write_mnist(folder: Path, n: int = 20, seed: int = 0) -> None:
    """The four MNIST IDX files, n images each, valid."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for images, labels in embed_data.IDX_FILES.values():
        (folder / images).write_bytes(idx_bytes(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)))
        (folder / labels).write_bytes(idx_bytes(rng.integers(0, 10, n, dtype=np.uint8)))


def test_prepare_on_a_fresh_clone_is_ready_and_fetches_nothing(tmp_path, device):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(NO_NETWORK_HOOK)
    log, data, runs = tmp_path / "network.log", tmp_path / "data", tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hook), str(ROOT)]), "ENERGY_LAB_RUNS": str(runs),
           "PREPARE_TEST_NETWORK_LOG": str(log)}
    env.pop("ENERGY_LAB_DATA", None)
    out = subprocess.run([sys.executable, "-m", "engine", "prepare", "--json", "--data-dir", str(data),
                          "--device", device], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Traceback" not in out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["ready"] and report["exit_status"] == 0

    smoke = [r for r in report["rows"] if r["section"] == "smoke runs"]
    assert {r["page"] for r in smoke} == EXPERIMENT_PAGES  # every page that trains, and no other
    for r in smoke:
        assert r["status"] == "ok", r
        assert r["steps_per_s"] > 0, r

    rows = rows_by_name(report)
    mnist = rows["mnist"]
    assert mnist["status"] == "missing" and not mnist["essential"]
    assert FIX_MNIST in mnist["fix"] and f"--data-dir {data}" in mnist["fix"]
    assert "mnist" in report["summary"]
    for name in ("python", "torch", "device", "digits", "umap", "page modules", "runs folder", "streamlit"):
        assert rows[name]["status"] == "ok", rows[name]
    assert not log.exists(), log.read_text()  # no connection was even tried
    assert not data.exists() and not runs.exists()  # nothing downloaded, nothing written


def test_a_truncated_data_file_is_named_and_nothing_is_fetched(capsys, monkeypatch, tmp_path, no_network,
                                                               keep_threads):
    data = tmp_path / "data"
    write_mnist(data / "mnist")
    broken = data / "mnist" / "train-images-idx3-ubyte"
    broken.write_bytes(broken.read_bytes()[:-100])  # cut short: the header promises 100 more bytes
    write_mnist(data / "fashion_mnist", n=12, seed=1)

    code, report = run_in_process(capsys, monkeypatch, tmp_path, "--skip-smoke", "--skip-warm",
                                  "--data-dir", str(data))
    rows = rows_by_name(report)
    mnist = rows["mnist"]
    assert mnist["status"] == "failed" and str(broken) in mnist["detail"]
    assert "--download mnist" in mnist["fix"]
    # documented: a bad optional data set is a warning; the pages still run (they start on digits)
    assert code == 0 and report["exit_status"] == 0 and "mnist" in report["summary"]
    fashion = rows["fashion_mnist"]
    assert fashion["status"] == "ok" and "12 + 12 images" in fashion["detail"]  # read and checked
    assert rows["cifar10"]["status"] == "missing"
    assert no_network == []


def test_only_the_data_set_asked_for_is_downloaded(capsys, monkeypatch, tmp_path, no_network, keep_threads):
    data = tmp_path / "data"
    monkeypatch.setattr(embed_data, "fetch", download.download)  # the real download; its transfer refused
    code, report = run_in_process(capsys, monkeypatch, tmp_path, "--skip-smoke", "--skip-warm",
                                  "--data-dir", str(data), "--download", "mnist")
    rows = rows_by_name(report)
    urls = [address for where, address in no_network]
    assert urls and all(where == "engine.download._fetch" for where, _ in no_network), no_network
    assert all(url.startswith("https://") and "/mnist/" in url for url in urls), urls  # MNIST's files only
    # asked for and not there: the report says why, the row is essential, exit 1
    assert rows["mnist"]["status"] == "failed" and rows["mnist"]["essential"]
    assert "could not download" in rows["mnist"]["detail"]
    assert code == 1 and not report["ready"]
    assert rows["fashion_mnist"]["status"] == "missing" and rows["cifar10"]["status"] == "missing"
    assert not any(p.name.endswith(".part") for p in data.rglob("*"))  # a failed download leaves nothing


def test_a_failing_smoke_run_is_a_row_and_exit_1(capsys, monkeypatch, tmp_path, keep_threads):
    def broken(device: str):
        raise RuntimeError("the model would not build")

    failing = prepare.Smoke("binary", "broken", "binary --steps 2", broken, 5, 1.0)
    monkeypatch.setattr(prepare, "SMOKES", (failing,))
    code, report = run_in_process(capsys, monkeypatch, tmp_path, "--skip-warm", "--data-dir",
                                  str(tmp_path / "data"))
    row = [r for r in report["rows"] if r["section"] == "smoke runs"]
    assert len(row) == 1 and row[0]["status"] == "failed"
    assert "the model would not build" in row[0]["detail"] and "--debug" in row[0]["fix"]
    assert code == 1 and not report["ready"] and "broken" in report["summary"]


def test_without_torch_the_report_says_so_and_exits_1(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(prepare, "check_torch", lambda: prepare.Row(
        "environment", "torch", "failed", "torch cannot be imported (ModuleNotFoundError: no torch)", "pip install"))
    monkeypatch.setattr(prepare, "PACKAGES", (("pandas", "pandas", True),))
    code, report = run_in_process(capsys, monkeypatch, tmp_path)
    rows = rows_by_name(report)
    assert code == 1 and rows["torch"]["status"] == "failed" and rows["other checks"]["status"] == "failed"
    assert rows["pandas"]["status"] == "ok"  # what can be checked without torch still is
    assert not any(r["section"] == "smoke runs" for r in report["rows"])


def test_the_table_names_every_row_and_its_fix(capsys, monkeypatch, tmp_path, keep_threads):
    monkeypatch.setenv("ENERGY_LAB_RUNS", str(tmp_path / "runs"))
    code = cli.main(["prepare", "--skip-smoke", "--skip-warm", "--data-dir", str(tmp_path / "data")])
    out = capsys.readouterr().out
    assert code == 0
    assert "READY" in out and "NOT READY" not in out
    assert FIX_MNIST in " ".join(out.split())  # the fix, however the table wrapped it


def test_the_pages_engine_modules_are_read_from_the_pages():
    modules = prepare.page_engine_modules()
    assert "engine.toy.trainer" in modules and "engine.image_ebm.trainer" in modules
    assert all(m.startswith("engine") for m in modules)


def test_every_requirement_is_checked():
    """requirements.txt and the report's package rows name the same packages (torch and numpy have rows of their
    own)."""
    names = {line.split(">")[0].split("=")[0].strip().lower()
             for line in (ROOT / "requirements.txt").read_text().splitlines() if line.strip() and line[0] != "#"}
    assert names - {"torch", "numpy"} == {dist for dist, _, _ in prepare.PACKAGES}
