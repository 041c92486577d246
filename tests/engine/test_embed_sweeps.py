"""Sweeps as Trainers (schedules, rows, curves) and the facts the page writes its sentences from (the sentences
themselves, in English and Portuguese: tests/app/test_contrastive_embedding.py)."""

from __future__ import annotations

import pytest

from engine.embed.config import EmbedConfig
from engine.embed.sweeps import (
    NegativesSettings,
    Sweep,
    TemperatureSettings,
    WhyCosineSettings,
    build_sweep,
    negatives_and_dimension,
    negatives_facts,
    summarise_why_cosine,
    temperature,
    temperature_facts,
    why_cosine,
    why_cosine_facts,
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
    f = why_cosine_facts(sweep)
    assert f["floor"] == s["simclr"]["loss_floor"] and f["cos_loss_min"] >= f["floor"]
    assert f["l2_norm_first"] == s["simclr_l2"]["norm_first"] and f["l2_steps_below_floor"] >= 0
    assert why_cosine_facts(why_cosine(BASE, WhyCosineSettings(steps=3))) is None  # no curves yet


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


def test_negatives_facts_report_what_was_measured():
    flat = [row(4, 16, 0.97), row(4, 1024, 0.975), row(64, 16, 0.97), row(64, 1024, 0.971)]
    f = negatives_facts(flat)
    assert f["case"] == "measured" and not f["helped"] and f["spread"] == pytest.approx(0.005)
    claim = [row(4, 16, 0.90), row(4, 1024, 0.90), row(64, 16, 0.80), row(64, 1024, 0.92, uni=-3.0, rank=7.5)]
    f = negatives_facts(claim)
    assert f["helped"] and (f["lo_k"], f["hi_k"]) == (16, 1024)
    assert f["gain"] == pytest.approx({4: 0.0, 64: 0.12})
    assert f["uniformity"][64] == (-2.0, -3.0) and f["rank"] == {4: 3.0, 64: 7.5}
    assert negatives_facts([row(4, 16, 0.9), row(4, 64, 0.9)]) == {"case": "too_few"}
    assert negatives_facts([row(4, 16, 0.9), row(4, 64, 0.9), row(8, 16, 0.9)]) == {"case": "waiting"}
    assert negatives_facts([]) is None


def test_temperature_facts():
    t = lambda tau, c, p: {"temperature": tau, "contrastive_acc_test": c, "linear_probe_acc": p}
    apart = [t(0.05, 0.9, 0.6), t(0.5, 0.7, 0.8)]
    f = temperature_facts(apart)
    assert f["verdict"] == "apart" and (f["contrastive_tau"], f["probe_tau"]) == (0.05, 0.5)
    assert f["rho"] != f["rho"]  # NaN: no rank correlation from two rows
    together = [t(0.05, 0.5, 0.5), t(0.2, 0.9, 0.9), t(1.0, 0.1, 0.2)]
    f = temperature_facts(together)
    assert f["verdict"] == "together" and f["rho"] == pytest.approx(1.0) and f["spread"] == pytest.approx(0.7)
    reordered = [t(0.05, 0.5, 0.2), t(0.2, 0.9, 0.9), t(1.0, 0.1, 0.5)]
    assert temperature_facts(reordered)["verdict"] == "reordered"
    flat = [t(0.05, 0.1, 0.985), t(0.1, 0.3, 0.99), t(1.0, 0.2, 0.987)]
    assert temperature_facts(flat)["spread"] < 0.01
    assert temperature_facts(apart[:1]) is None
