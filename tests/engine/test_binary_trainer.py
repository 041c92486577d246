"""The binary trainer (engine.run.Trainer), lockstep comparison, reproducibility, checkpoints (on the
`--device` of the run), the settings' declaration (layered defaults, migration) and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engine.binary.config import BinaryConfig
from engine.binary.trainer import BinaryTrainer
from engine.cli import main as cli_main
from engine.errors import SettingError
from engine.run import Diverged, Run, RunOptions


def config(dataset: str = "bars_stripes", method: str = "ml", device: str = "cpu", **kw) -> BinaryConfig:
    return BinaryConfig.create(dataset=dataset, method=method, device=device, **kw)


def train(trainer: BinaryTrainer, steps: int) -> BinaryTrainer:
    for _ in range(steps):
        trainer.step()
    return trainer


@pytest.mark.parametrize("method,after", [("ml", 3.6), ("cd", 4.2), ("pcd", 10.0), ("rm", 4.6),
                                          ("mpf", 3.7), ("nce", 7.0)])
def test_every_method_learns_bars_and_stripes(method, after, device):
    trainer = BinaryTrainer(config(method=method, device=device))
    start = trainer.evaluate()["nll"]
    assert start == pytest.approx(16 * math.log(2), abs=1e-4)  # the all-zero model is uniform
    ev = train(trainer, 100).evaluate()
    assert ev["nll"] < after
    assert ev["kl"] == pytest.approx(ev["nll"] - math.log(30))
    assert 0 < ev["mass_on_patterns"] <= 1


def test_a_method_gives_the_same_numbers_alone_and_in_lockstep(device, same):
    alone = train(BinaryTrainer(config(method="cd", k=2, device=device)), 30).evaluate()
    both = train(BinaryTrainer([config(method=m, k=2, device=device) for m in ("ml", "cd", "mpf")]), 30)
    ev = both.evaluate()
    assert both.labels == ["ml", "cd-2", "mpf"]
    assert ev["nll/cd-2"] == same(alone["nll"])
    assert ev["nll"] == ev["nll/ml"]


def test_same_seed_same_numbers_other_seed_other_numbers(device, same):
    runs = [train(BinaryTrainer(config(method="pcd", seed=s, device=device)), 20).evaluate()["nll"] for s in (0, 0, 1)]
    assert runs[0] == same(runs[1]) and runs[1] != runs[2]


def test_lockstep_needs_one_data_set_and_distinct_methods():
    with pytest.raises(SettingError, match="same data"):
        BinaryTrainer([config(), config("ising", "ml")])
    with pytest.raises(ValueError, match="once"):
        BinaryTrainer([config(), config()])
    with pytest.raises(ValueError, match="at least one"):
        BinaryTrainer([])


def test_ising_couplings_are_recovered_and_snapshotted(device):
    trainer = train(BinaryTrainer([config("ising", m, device, lr=0.05) for m in ("mpf", "ml")]), 60)
    ev = trainer.evaluate()
    assert ev["j_corr/mpf"] > 0.95 and ev["j_corr/ml"] > 0.95
    assert ev["j_mae/mpf"] < 0.1
    assert ev["nll/ml"] >= trainer.data.entropy - 1e-6  # the true model's entropy is the floor
    snap = trainer.snapshot()
    assert snap["J/ml"].shape == (16, 16) and np.allclose(snap["J/ml"], snap["J/ml"].T)


def test_snapshot_holds_what_the_page_draws(device):
    trainer = train(BinaryTrainer([config(method=m, k=1, device=device) for m in ("ml", "cd")]), 5)
    snap = trainer.snapshot()
    assert snap["labels"] == ["ml", "cd-1"]
    assert snap["samples/ml"].shape == (16, 16) and set(np.unique(snap["samples/ml"])) <= {0, 1}
    assert snap["negatives/cd-1"].shape == (16, 16)
    assert "negatives/ml" not in snap
    assert snap["pattern_p/ml"].shape == (30,) and snap["pattern_p/ml"].sum() <= 1 + 1e-9
    assert set(snap["params/cd-1"]) == {"weight", "bias"}


def test_rbm_trains_with_gibbs(device):
    trainer = BinaryTrainer(config(method="cd", model="rbm", hidden=8, lr=0.1, device=device))
    assert trainer.lanes[0].config.resolved_sampler == "gibbs"
    start = trainer.evaluate()["nll"]
    assert train(trainer, 100).evaluate()["nll"] < start - 1


def test_run_drives_the_trainer_and_checkpoints_restore_exactly(device, same):
    trainer = BinaryTrainer([config(method=m, device=device) for m in ("pcd", "nce")])
    run = Run(trainer, RunOptions(max_steps=12, evaluate_every_steps=4, snapshot_hz=1)).run_to_end()
    assert run.state == "finished" and [e["step"] for e in run.evaluations] == [4, 8, 12]
    assert run.history[-1]["step"] == 12 and "loss/nce" in run.history[-1]
    saved = trainer.checkpoint()
    after = train(trainer, 5).evaluate()
    trainer.restore(saved)
    assert trainer.step_count == 12
    assert train(trainer, 5).evaluate() == same(after)


@pytest.mark.parametrize("bad", [{"method": "sm"}, {"encoding": "ternary"}, {"lr": 0.0}, {"k": 0},
                                 {"dataset": "mnist"}, {"sampler": "gibbs"}, {"batch_size": 0},
                                 {"lr": math.inf}, {"k": 10**9}, {"chains": 10**9}, {"data": "ising"}])
def test_config_rejects_bad_values(bad):
    with pytest.raises(SettingError) as info:
        BinaryConfig.create(**bad)
    assert info.value.setting == next(iter(bad))


def test_layered_defaults_base_then_data_set_then_method_then_pair():
    cd = BinaryConfig.create(method="cd")
    assert (cd.optimizer, cd.lr, cd.batch_size, cd.encoding) == ("sgd", 0.1, 120, "pm1")
    pcd = BinaryConfig.create(dataset="ising", method="pcd")
    assert (pcd.lr, pcd.chains, pcd.batch_size, pcd.encoding) == (0.1, 500, 500, "pm1")  # the pair wins
    assert BinaryConfig.create(dataset="digits", method="nce").nce_nu == 4
    assert BinaryConfig.create(method="cd", lr=0.3).lr == 0.3  # given values win over every layer


def test_version_1_dicts_with_data_still_load():
    old = {"schema_version": 1, "data": "ising", "method": "mpf", "lr": 0.02}
    cfg = BinaryConfig.from_dict(old)
    assert (cfg.dataset, cfg.method, cfg.lr, cfg.batch_size) == ("ising", "mpf", 0.02, 500)
    assert BinaryConfig.from_dict(cfg.to_dict()) == cfg and cfg.to_dict()["schema_version"] == 2
    with pytest.raises(SettingError, match="data"):
        BinaryConfig.from_dict({"schema_version": 2, "data": "ising"})  # version 2 has no `data`


def test_a_diverged_run_names_only_binary_settings(device):
    trainer = BinaryTrainer(config(method="ml", lr=10.0, optimizer="sgd", device=device))
    trainer.lanes[0].model.weight.data.fill_(math.inf)
    with pytest.raises(Diverged) as info:
        trainer.headless(max_steps=3)
    assert "lr" in str(info.value) and "α" not in str(info.value) and "alpha" not in str(info.value)


def test_cli_prints_exact_metrics(capsys):
    assert cli_main(["binary", "--dataset", "ising", "--method", "mpf", "--steps", "40", "--lr", "0.05"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["method"] == "mpf" and out["steps"] == 40 and out["encoding"] == "pm1"
    assert out["j_corr"] > 0.9 and out["nll"] > out["entropy"]


def test_cli_compares_encodings_and_reports_the_best(capsys):
    assert cli_main(["binary", "--method", "rm", "--steps", "30", "--encodings", "01,pm1"]) == 0
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


@pytest.mark.parametrize("argv,setting", [(["--k", "abc"], "k"), (["--lr", "nan"], "lr"), (["--data", "ising"], None),
                                          (["--encodings", "01,ternary"], "encodings"), (["--k", "0"], "k")])
def test_cli_bad_values_exit_2_with_a_json_line(capsys, argv, setting):
    assert cli_main(["binary", *argv, "--steps", "2"]) == 2
    captured = capsys.readouterr()
    out = json.loads(captured.out.strip().splitlines()[-1])
    assert out["kind"] == "invalid_setting" and out.get("setting") == setting
    assert "Traceback" not in captured.err


def test_cli_two_steps_of_a_per_method_setting(capsys):
    assert cli_main(["binary", "--method", "pcd", "--k", "3", "--chains", "7", "--steps", "2"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (out["steps"], out["k"], out["chains"], out["label"]) == (2, 3, 7, "pcd-3")
