"""What the Binary data page draws, computed in engine.binary.views."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.binary.config import BinaryConfig
from engine.binary.data import load_data
from engine.binary.trainer import BinaryTrainer
from engine.binary.views import (
    ChainWatch,
    chain_start,
    coupling_panels,
    curves,
    live_options,
    lockstep_configs,
    mosaic,
    pattern_masses,
    sampler_choices,
    samples_mosaic,
    shared_settings,
)
from engine.errors import SettingError
from engine.run import Run, RunOptions


def test_lockstep_configs_keep_each_methods_layered_defaults():
    cfgs = lockstep_configs(["ml", "cd", "nce"], steps=50, k=3)
    assert [c.label for c in cfgs] == ["ml", "cd-3", "nce"]
    assert cfgs[1].optimizer == "sgd" and cfgs[2].encoding == "01" and cfgs[0].encoding == "pm1"
    assert all(c.steps == 50 for c in cfgs)
    assert cfgs[1].lr == BinaryConfig.create(method="cd").lr
    with pytest.raises(SettingError, match="at least one"):
        lockstep_configs([])


def test_shared_settings_leave_out_what_each_method_sets_for_itself():
    shared = shared_settings(BinaryConfig.create(dataset="ising", model="rbm", hidden=5))
    assert shared["dataset"] == "ising" and shared["hidden"] == 5
    assert not {"method", "lr", "k", "encoding", "chains", "nce_nu"} & set(shared)
    assert BinaryConfig.create(method="pcd", **shared).hidden == 5


def test_block_gibbs_is_offered_only_for_the_rbm():
    assert sampler_choices("fvbm") == ("auto", "metropolis")
    assert sampler_choices("rbm") == ("auto", "metropolis", "gibbs")


def test_curves_pick_each_methods_metric():
    rows = [{"step": 1, "nll/ml": 5.0, "nll/cd-1": 6.0}, {"step": 2, "nll/ml": 4.0}]
    out = curves(rows, ["ml", "cd-1", "rm"])
    assert out["ml"][0].tolist() == [1, 2] and out["ml"][1].tolist() == [5.0, 4.0]
    assert out["cd-1"][1].tolist() == [6.0] and len(out["rm"][0]) == 0


def test_mosaic_tiles_images_with_nan_gaps():
    imgs = np.arange(5 * 2 * 3).reshape(5, 2, 3)
    tile = mosaic(imgs, cols=2)
    assert tile.shape == (3 * 3 - 1, 2 * 4 - 1)
    assert np.array_equal(tile[0:2, 0:3], imgs[0]) and np.array_equal(tile[3:5, 4:7], imgs[3])
    assert np.isnan(tile[2]).all() and np.isnan(tile[:, 3]).all()
    assert np.isnan(tile[6:8, 4:7]).all()  # the sixth place is empty


def test_pattern_masses_end_with_the_rest():
    out = pattern_masses({"pattern_p/ml": np.full(30, 0.03)}, ["ml", "rm"])
    assert list(out) == ["ml"] and out["ml"].shape == (31,)
    assert out["ml"][-1] == pytest.approx(0.1)


def test_chain_start_from_data_or_from_noise():
    pats = {tuple(p) for p in load_data("bars_stripes").train.tolist()}
    starts = [chain_start("bars_stripes", s) for s in range(20)]
    assert all(tuple(s) in pats for s in starts)
    noise = [chain_start("bars_stripes", s, source="random") for s in range(20)]
    assert any(tuple(s) not in pats for s in noise) and noise[0].shape == (16,)
    with pytest.raises(SettingError):
        chain_start("bars_stripes", 0, source="model")


def test_live_options_slow_down_for_20_bits():
    small = live_options(lockstep_configs(["cd"], steps=77))
    big = live_options(lockstep_configs(["cd"], dataset="digits_5x4"))
    assert small.max_steps == 77 and small.evaluate_every_s < big.evaluate_every_s


def test_samples_mosaic_has_a_row_per_method_that_has_one():
    snap = {"samples/ml": np.ones((16, 16)), "samples/cd-1": np.zeros((16, 16)), "negatives/cd-1": np.ones((4, 16))}
    train = load_data("bars_stripes").train
    tile, names = samples_mosaic(snap, ["ml", "cd-1", "rm"], train, (4, 4), 4)
    assert names == ["data", "ml", "cd-1"] and tile.shape == (3 * 5 - 1, 4 * 5 - 1)
    _, names = samples_mosaic(snap, ["ml", "cd-1", "rm"], train, (4, 4), 4, negatives=True)
    assert names == ["data", "cd-1"]


def test_coupling_panels_start_with_the_true_j():
    j = np.eye(3)
    panels = coupling_panels({"J/ml": j, "J/cd-1": j}, {"j_corr/ml": 0.5}, ["ml", "cd-1", "rm"], torch.zeros(3, 3))
    assert [p[0] for p in panels] == ["true J", "ml", "cd-1"]
    assert panels[1][1] == 0.5 and np.isnan(panels[2][1])


def test_chain_watch_samples_a_frozen_copy_of_the_runs_model():
    run = Run(BinaryTrainer(lockstep_configs(["ml", "cd"], device="cpu")), RunOptions(max_steps=3, snapshot_hz=1))
    run.run_to_end()
    watch = ChainWatch(run, "cd-1", "data", number=1)
    assert watch.matches(run, "cd-1", "data") and not watch.matches(run, "cd-1", "random")
    before = {k: v.clone() for k, v in run.trainer.lanes[1].model.state_dict().items()}
    watch.advance(5)
    watch.advance(300)
    assert watch.counts[1] == 305 and len(watch.log) == 200 and watch.last.number == 305
    x, e, ok = watch.energy_trace()
    assert x[0] == 106 and len(e) == len(ok) == 200
    table = watch.table(rows=3)
    assert table["proposal"] == [305, 304, 303] and set(table) >= {"ΔE", "u", "accepted"}
    after = run.trainer.lanes[1].model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the run's model is untouched
    again = ChainWatch(run, "cd-1", "data", number=1)
    again.advance(305)
    assert np.array_equal(again.bits, watch.bits)  # same number, same chain
