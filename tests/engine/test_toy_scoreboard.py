"""The scoreboard: every method on the same data, seed and budget; rows, floor, CLI, background run (the
boards on the `--device` of the run)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from engine.cli import main as cli_main
from engine.errors import SettingError
from engine.run import Run, RunOptions
from engine.toy.scoreboard import COLUMNS, ENTRY_KEYS, BoardTrainer, ScoreboardConfig, run_board


def board(dataset: str, steps: int, entries: list[str], device: str = "cpu") -> ScoreboardConfig:
    return ScoreboardConfig(dataset=dataset, steps=steps, methods=tuple(entries), device=device)


def test_board_rows_have_every_column(device):
    rows = run_board(board("eight_gaussians", 4, ["ml", "cd-1", "dsm"], device))
    assert [r["method"] for r in rows] == ["ml", "cd-1", "dsm"]
    for r in rows:
        assert set(COLUMNS) <= set(r), r
        assert r["status"] == "ok" and r["steps"] == 4
        assert all(math.isfinite(r[k]) for k in ("nll", "kl", "mass_off_data", "seconds"))
        assert r["steps_per_s"] > 0 and 0 <= r["mass_off_data"] <= 1
    floors = {r["method"]: r["kl_floor"] for r in rows}
    assert floors["ml"] is None and floors["dsm"] == pytest.approx(0.0235, abs=2e-3)
    assert rows[1]["config"]["k"] == 1


def test_board_runs_in_the_background_with_progress(device):
    trainer = BoardTrainer(board("rings", 3, ["nce", "pcd"], device))
    run = Run(trainer, RunOptions(max_steps=trainer.total_steps, snapshot_hz=50)).start()
    run.join(60)
    assert run.state == "finished", run.message
    snap = run.latest().data
    assert snap["progress"] == 1.0 and snap["current"] is None
    assert [r["method"] for r in snap["rows"]] == ["pcd", "nce"]  # the board's order, not the request's
    # the surfaces: the data's log-density and each method's log p_θ, normalised on the same grid
    assert set(snap["surfaces"]) == {"data", "pcd", "nce"}
    cell = (2 * 3.5 / 64) ** 2
    for key in ("pcd", "nce"):
        assert float(torch.tensor(snap["surfaces"][key]).double().exp().sum() * cell) == pytest.approx(1, abs=1e-3)


def test_same_seed_same_board(device, same):
    a = run_board(board("eight_gaussians", 3, ["cd-10"], device))[0]
    b = run_board(board("eight_gaussians", 3, ["cd-10"], device))[0]
    assert a["kl"] == same(b["kl"]) and a["nll"] == same(b["nll"])


def test_a_diverging_entry_is_reported_and_the_board_goes_on(monkeypatch, device):
    sb = BoardTrainer(board("eight_gaussians", 2, ["cd-1", "nce"], device))
    sb.step()  # starts cd-1
    trainer = sb._trainer

    def nan_step():
        trainer.step_count += 1
        return {"loss": float("nan")}

    monkeypatch.setattr(trainer, "step", nan_step)
    while not sb.done:
        sb.step()
    assert sb.rows[0]["status"].startswith("diverged") and math.isnan(sb.rows[0]["kl"])
    assert sb.rows[1]["status"] == "ok" and sb.step_count == 4


def test_bad_entries_are_rejected():
    with pytest.raises(SettingError, match="methods"):
        ScoreboardConfig(methods=("ml", "gan"))
    with pytest.raises(SettingError, match="methods"):
        ScoreboardConfig(methods=())
    with pytest.raises(SettingError, match="dataset"):
        ScoreboardConfig(dataset="nowhere")
    assert ENTRY_KEYS[0] == "ml"


def test_cli_prints_a_list_of_rows(capsys):
    assert cli_main(["scoreboard", "--dataset", "rings", "--steps", "2", "--methods", "ml,dsm",
                     "--device", "cpu"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert isinstance(rows, list) and [r["method"] for r in rows] == ["ml", "dsm"]
    assert rows[1]["kl_floor"] > 0
