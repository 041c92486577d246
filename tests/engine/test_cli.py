"""`python -m engine`: help lists the experiments; a run ends with one JSON line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_help_lists_experiments():
    out = run_cli("--help")
    assert out.returncode == 0
    assert "toy" in out.stdout and "bench" in out.stdout


def test_toy_prints_json_last_line_and_is_reproducible():
    args = ("toy", "--dataset", "eight_gaussians", "--method", "ml", "--steps", "40", "--seed", "3",
            "--width", "32", "--eval-grid", "64", "--device", "cpu")
    a, b = run_cli(*args), run_cli(*args)
    assert a.returncode == 0, a.stderr
    result = json.loads(a.stdout.strip().splitlines()[-1])
    for key in ("dataset", "method", "steps", "nll", "kl", "seconds", "device"):
        assert key in result
    assert result["steps"] == 40 and result["device"] == "cpu"
    assert result["nll"] == json.loads(b.stdout.strip().splitlines()[-1])["nll"]


def test_bad_input_is_a_clear_error():
    out = run_cli("toy", "--steps", "5", "--lr", "-1", "--device", "cpu")
    assert out.returncode == 2
    assert "error: lr" in out.stderr
