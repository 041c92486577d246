"""The binary trainer (engine.run.Trainer), lockstep comparison, reproducibility, checkpoints, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engine.binary.config import BinaryConfig
from engine.binary.defaults import defaults_for
from engine.binary.trainer import BinaryTrainer
from engine.cli import main as cli_main
from engine.run import Run, RunOptions


def config(data: str = "bars_stripes", method: str = "ml", **kw) -> BinaryConfig:
    return BinaryConfig(**{**defaults_for(data, method), "device": "cpu", **kw})


def train(trainer: BinaryTrainer, steps: int) -> BinaryTrainer:
    for _ in range(steps):
        trainer.step()
    return trainer


@pytest.mark.parametrize("method,after", [("ml", 3.6), ("cd", 4.2), ("pcd", 10.0), ("rm", 4.6),
                                          ("mpf", 3.7), ("nce", 7.0)])
def test_every_method_learns_bars_and_stripes(method, after):
    trainer = BinaryTrainer(config(method=method))
    start = trainer.evaluate()["nll"]
    assert start == pytest.approx(16 * math.log(2), abs=1e-4)  # the all-zero model is uniform
    ev = train(trainer, 100).evaluate()
    assert ev["nll"] < after
    assert ev["kl"] == pytest.approx(ev["nll"] - math.log(30))
    assert 0 < ev["mass_on_patterns"] <= 1


def test_a_method_gives_the_same_numbers_alone_and_in_lockstep():
    alone = train(BinaryTrainer(config(method="cd", k=2)), 30).evaluate()
    both = train(BinaryTrainer([config(method="ml"), config(method="cd", k=2), config(method="mpf")]), 30)
    ev = both.evaluate()
    assert both.labels == ["ml", "cd-2", "mpf"]
    assert ev["nll/cd-2"] == alone["nll"]
    assert ev["nll"] == ev["nll/ml"]


def test_same_seed_same_numbers_other_seed_other_numbers():
    runs = [train(BinaryTrainer(config(method="pcd", seed=s)), 20).evaluate()["nll"] for s in (0, 0, 1)]
    assert runs[0] == runs[1] != runs[2]


def test_lockstep_needs_one_data_set_and_distinct_methods():
    with pytest.raises(ValueError, match="same data"):
        BinaryTrainer([config(), config("ising", "ml")])
    with pytest.raises(ValueError, match="once"):
        BinaryTrainer([config(), config()])
    with pytest.raises(ValueError, match="at least one"):
        BinaryTrainer([])


def test_ising_couplings_are_recovered_and_snapshotted():
    trainer = train(BinaryTrainer([config("ising", "mpf", lr=0.05), config("ising", "ml", lr=0.05)]), 60)
    ev = trainer.evaluate()
    assert ev["j_corr/mpf"] > 0.95 and ev["j_corr/ml"] > 0.95
    assert ev["j_mae/mpf"] < 0.1
    assert ev["nll/ml"] >= trainer.data.entropy - 1e-6  # the true model's entropy is the floor
    snap = trainer.snapshot()
    assert snap["J/ml"].shape == (16, 16) and np.allclose(snap["J/ml"], snap["J/ml"].T)


def test_snapshot_holds_what_the_page_draws():
    trainer = train(BinaryTrainer([config(method="ml"), config(method="cd", k=1)]), 5)
    snap = trainer.snapshot()
    assert snap["labels"] == ["ml", "cd-1"]
    assert snap["samples/ml"].shape == (16, 16) and set(np.unique(snap["samples/ml"])) <= {0, 1}
    assert snap["negatives/cd-1"].shape == (16, 16)
    assert "negatives/ml" not in snap
    assert snap["pattern_p/ml"].shape == (30,) and snap["pattern_p/ml"].sum() <= 1 + 1e-9
    assert set(snap["params/cd-1"]) == {"weight", "bias"}


def test_rbm_trains_with_gibbs():
    trainer = BinaryTrainer(config(method="cd", model="rbm", hidden=8, lr=0.1))
    assert trainer.lanes[0].config.resolved_sampler == "gibbs"
    start = trainer.evaluate()["nll"]
    assert train(trainer, 100).evaluate()["nll"] < start - 1


def test_run_drives_the_trainer_and_checkpoints_restore_exactly():
    trainer = BinaryTrainer([config(method="pcd"), config(method="nce")])
    run = Run(trainer, RunOptions(max_steps=12, evaluate_every_steps=4, snapshot_hz=1)).run_to_end()
    assert run.state == "finished" and [e["step"] for e in run.evaluations] == [4, 8, 12]
    assert run.history[-1]["step"] == 12 and "loss/nce" in run.history[-1]
    saved = trainer.checkpoint()
    after = train(trainer, 5).evaluate()
    trainer.restore(saved)
    assert trainer.step_count == 12
    assert train(trainer, 5).evaluate() == after


@pytest.mark.parametrize("bad", [{"method": "sm"}, {"encoding": "ternary"}, {"lr": 0.0}, {"k": 0},
                                 {"data": "mnist"}, {"sampler": "gibbs"}, {"batch_size": 0}])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        BinaryConfig(**bad)


def test_cli_prints_exact_metrics(capsys):
    assert cli_main(["binary", "--data", "ising", "--method", "mpf", "--steps", "40", "--lr", "0.05"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["method"] == "mpf" and out["steps"] == 40 and out["encoding"] == "pm1"
    assert out["j_corr"] > 0.9 and out["nll"] > out["entropy"]


def test_cli_compares_encodings_and_reports_the_best(capsys):
    assert cli_main(["binary", "--method", "rm", "--steps", "30", "--encoding", "all"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(out["nll_by_encoding"]) == {"01", "pm1"}
    assert out["nll"] == min(out["nll_by_encoding"].values())
    assert out["best_encoding"] == out["encoding"]


def test_cli_sampler_check_and_bad_input(capsys):
    assert cli_main(["binary", "--check-sampler", "gibbs", "--chains-check", "64"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["sampler"] == "gibbs" and out["total_samples"] == 64 * 250
    assert cli_main(["binary", "--method", "ml", "--lr", "-1"]) == 2
    assert "lr" in capsys.readouterr().err
