"""Sweeps as Trainers (schedules, rows, curves) and the sentences the page writes from their rows."""

from __future__ import annotations

import pytest

from engine.embed.config import EmbedConfig
from engine.embed.sweeps import (
    NegativesSettings,
    Sweep,
    TemperatureSettings,
    WhyCosineSettings,
    build_sweep,
    describe_negatives,
    describe_temperature,
    negatives_and_dimension,
    summarise_why_cosine,
    temperature,
    why_cosine,
)
from engine.errors import SettingError
from engine.run import Run, RunOptions

BASE = EmbedConfig.create(dataset="digits", batch_size=32, width=8, device="cpu")


def test_why_cosine_trains_both_variants_step_for_step():
    sweep = why_cosine(BASE, WhyCosineSettings(steps=3))
    Run(sweep, RunOptions(max_steps=sweep.total_steps)).run_to_end()
    assert [r["label"] for r in sweep.rows] == ["simclr", "simclr_l2"]
    for curve in sweep.curves.values():
        assert list(curve["step"]) == [1, 2, 3] and len(curve["embedding_norm"]) == 3
    s = summarise_why_cosine(sweep)
    assert s["simclr"]["loss_floor"] == s["simclr_l2"]["loss_floor"] > 0  # same τ, same floor
    assert s["simclr"]["steps_below_floor"] == 0  # the cosine loss cannot go below it


def test_grid_and_temperature_sweeps_make_one_row_per_cell():
    grid = negatives_and_dimension(BASE, NegativesSettings(dims=(4, 8), negatives=(8, 32), steps=2))
    Run(grid, RunOptions(max_steps=grid.total_steps)).run_to_end()
    assert {(r["d"], r["K"]) for r in grid.rows} == {(4, 8), (4, 32), (8, 8), (8, 32)}
    assert grid.snapshot()["done"] == 4
    temps = temperature(BASE, TemperatureSettings(temperatures=(0.1, 1.0), steps=2))
    Run(temps, RunOptions(max_steps=temps.total_steps)).run_to_end()
    assert [r["temperature"] for r in temps.rows] == [0.1, 1.0]
    with pytest.raises(RuntimeError, match="complete"):
        temps.step()
    with pytest.raises(ValueError):
        Sweep("x", [], 3)
    assert all(c.config.batch_size == 32 and c.config.width == 8 for c in temps.cells)  # from the run's settings
    assert build_sweep("temperature", BASE, steps=4).steps_per_cell == 4
    with pytest.raises(SettingError, match="sweep = 'nope'"):
        build_sweep("nope", BASE)
    with pytest.raises(SettingError, match="negatives"):
        NegativesSettings(method="simclr", negatives=(2048,))  # SimCLR's K is a batch size
    with pytest.raises(SettingError, match="dims"):
        NegativesSettings(dims=(4, 10**6))


def row(d, k, acc, uni=-2.0, rank=3.0):
    return {"d": d, "K": k, "linear_probe_acc": acc, "uniformity": uni, "effective_rank": rank}


def test_negatives_text_reports_what_was_measured():
    flat = [row(4, 16, 0.97), row(4, 1024, 0.975), row(64, 16, 0.97), row(64, 1024, 0.971)]
    assert "does not show" in describe_negatives(flat)
    claim = [row(4, 16, 0.90), row(4, 1024, 0.90), row(64, 16, 0.80), row(64, 1024, 0.92)]
    text = describe_negatives(claim)
    assert "helped more at the larger dimension" in text and "d=64 +12.0 points" in text
    assert "at least two" in describe_negatives([row(4, 16, 0.9), row(4, 64, 0.9)])


def test_temperature_text():
    t = lambda tau, c, p: {"temperature": tau, "contrastive_acc_test": c, "linear_probe_acc": p}
    apart = [t(0.05, 0.9, 0.6), t(0.5, 0.7, 0.8)]
    assert "is not the one that gives the best features" in describe_temperature(apart)
    together = [t(0.05, 0.5, 0.5), t(0.2, 0.9, 0.9), t(1.0, 0.1, 0.2)]
    text = describe_temperature(together)
    assert "moved together" in text and "1.00" in text and "Caution" not in text
    flat = [t(0.05, 0.1, 0.985), t(0.1, 0.3, 0.99), t(1.0, 0.2, 0.987)]
    assert "within its noise" in describe_temperature(flat)
