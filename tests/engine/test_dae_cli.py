"""`python -m engine dae` prints the three metrics for both models as its last JSON line."""

from __future__ import annotations

import json

from engine.cli import main


def test_cli_prints_both_models_metrics(capsys):
    code = main(["dae", "--dataset", "two_lines", "--sigma", "0.5", "--steps", "40", "--eval-grid", "48",
                 "--width", "32", "--device", "cpu", "--seed", "0", "--log-every", "20"])
    assert code == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["dataset"] == "two_lines" and out["steps"] == 40 and out["sigma"] == 0.5
    for who in ("dae", "latent"):
        assert set(out[who]) == {"midpoint_ratio", "false_low", "growth_exponent"}
    assert len(out["latent_w"]) == 2


def test_cli_rejects_bad_input(capsys):
    assert main(["dae", "--sigma", "-1", "--steps", "1"]) == 2
    assert "sigma" in capsys.readouterr().err
