"""`python -m engine dae` prints the three metrics for both models as its last JSON line; bad flags exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engine.cli import main


def _last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_cli_prints_both_models_metrics(capsys):
    code = main(["dae", "--dataset", "two_lines", "--sigma", "0.5", "--steps", "40", "--eval-grid", "48",
                 "--width", "32", "--device", "cpu", "--seed", "0", "--log-every", "20"])
    assert code == 0
    out = _last_json(capsys)
    assert out["dataset"] == "two_lines" and out["steps"] == 40 and out["sigma"] == 0.5
    for who in ("dae", "latent"):
        assert set(out[who]) == {"midpoint_ratio", "false_low", "growth_exponent"}
    assert len(out["latent_w"]) == 2 and out["threads"] == 1


def test_masking_run(capsys):
    assert main(["dae", "--corruption", "masking", "--drop", "0.3", "--steps", "2", "--eval-grid", "32",
                 "--width", "8", "--device", "cpu"]) == 0
    assert _last_json(capsys)["corruption"] == "masking p = 0.3"


@pytest.mark.parametrize(("flag", "value"), [
    ("--sigma", "-1"), ("--sigma", "nan"), ("--sigma", "inf"), ("--drop", "1"), ("--threads", "0"),
    ("--log-every", "0"), ("--width", "1e12"), ("--dataset", "torus"), ("--lr", "abc"), ("--device", "gpu"),
])
def test_cli_rejects_bad_input(capsys, flag, value):
    assert main(["dae", flag, value, "--steps", "2"]) == 2
    captured = capsys.readouterr()
    out = json.loads(captured.out.strip().splitlines()[-1])
    setting = flag[2:].replace("-", "_")
    assert out["kind"] in ("invalid_setting", "device") and out["setting"] == setting
    assert setting in captured.err and "Traceback" not in captured.err


def test_subprocess_exit_codes():
    def call(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "engine", "dae", *args, "--steps", "2", "--device", "cpu",
                               "--eval-grid", "32", "--width", "8"], capture_output=True, text=True, timeout=120)

    bad = call("--sigma", "nan")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert json.loads(bad.stdout.strip().splitlines()[-1])["setting"] == "sigma"
    good = call("--sigma", "0.3")
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout.strip().splitlines()[-1])["sigma"] == 0.3
