"""What the DAE page draws, computed in engine/dae/views.py: the latent view under the run's lock, the
readings, the colour scale, the geometry of moves and paths, the σ sweep's run."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from engine.dae import views
from engine.dae.config import DAEConfig
from engine.dae.sweep import SweepConfig

SMALL = dict(width=16, view_grid=16, eval_grid=32, field_grid=5, profile_points=33, probes=4, latent_z=64,
             device="cpu", steps=3)


def test_latent_view_reads_f_beta_under_the_model_lock_and_writes_nothing():
    run = views.live_run(DAEConfig(dataset="circle", **SMALL))  # not started: the test drives the trainer
    run.trainer.step()
    d = run.trainer.snapshot()
    before = dict(vars(run.trainer))
    inf = views.latent_view(run, d, None)
    assert inf["beta"] is None and inf["energy"] is d["latent_energy"]
    locked = threading.Event()

    class Spy:  # a lock that records being held while the model is read
        def __enter__(self):
            locked.set()

        def __exit__(self, *exc):
            return False

    real, run.model_lock = run.model_lock, Spy()
    try:
        beta = views.latent_view(run, d, 2.0)
    finally:
        run.model_lock = real
    assert locked.is_set() and beta["beta"] == 2.0
    assert beta["energy"].shape == d["latent_energy"].shape and beta["profile"].shape == d["profile_latent"].shape
    assert (beta["energy"] >= d["latent_energy"] - 1e-5).all()
    assert vars(run.trainer).keys() == before.keys(), "the view sets no trainer attribute"
    assert views.latent_view(run, {"energy": d["energy"]}, 2.0) is None  # a trainer without the latent model
    pts = np.array([[0.0, 1.5]], np.float32)
    assert np.allclose(views.reconstruct(run, pts), run.trainer.reconstruct(pts))
    assert views.reconstruct(run, views.NO_POINTS).shape == (0, 2)


def test_readings_in_words():
    assert views.readings({"dae_midpoint_ratio": 0.1}) is None
    d = {"dae_midpoint_ratio": 0.02, "latent_midpoint_ratio": 0.97, "dae_false_low": 0.34, "latent_false_low": 0.0,
         "dae_growth_exponent": 1.9, "latent_growth_exponent": 2.0}
    r = views.readings(d)
    assert (r["mid_dae"], r["mid_latent"], r["false_dae"], r["false_latent"]) == ("2.0 %", "97 %", "34 %", "0.0 %")
    assert r["latent_no_flat_spot"] and r["shape"] == "quadratic"
    assert views.readings({**d, "dae_growth_exponent": 0.2})["shape"] == "flat"
    assert views.readings({**d, "dae_growth_exponent": 3.0})["shape"] == "steep"
    assert not views.readings({**d, "latent_midpoint_ratio": 0.5})["latent_no_flat_spot"]


def test_colour_scale_and_shown_energy():
    s = views.scale_for("two_lines")
    assert s.box == 2.5 and s.half_gap == pytest.approx(1.0) and s.top == pytest.approx(4.0)
    e = np.array([[0.0, 1.0], [10.0, 1e-9]])
    z, lo, hi, label = views.shown_energy(e, s, log=False)
    assert (lo, hi, label) == (0.0, s.top, "E") and z.max() == pytest.approx(4.0)
    z, lo, hi, _ = views.shown_energy(e, s, log=True)
    assert lo == views.LOG_LOW and hi == pytest.approx(np.log10(4.0)) and z.min() == pytest.approx(-4.0)
    assert np.allclose(views.grid_axis(4, 2.0), [-1.5, -0.5, 0.5, 1.5])


def test_moves_paths_targets_and_arrows():
    x, y = views.moves(np.array([[0, 0], [1, 1]]), np.array([[1, 0], [2, 3]]))
    assert np.allclose(x[[0, 1, 3, 4]], [0, 1, 1, 2]) and np.isnan(x[[2, 5]]).all() and y[4] == 3
    path = np.arange(3 * 2 * 2, dtype=float).reshape(3, 2, 2)  # 3 steps, 2 points
    px, py = views.paths(path)
    assert len(px) == 8 and np.isnan(px[3])
    assert np.allclose(px[:3], path[:, 0, 0]) and np.allclose(py[4:7], path[:, 1, 1])
    tx, ty = views.click_targets(2.0, n=3)
    assert len(tx) == 9 and np.allclose(sorted(set(tx)), [-1, 0, 1])
    xy = np.array([[0.0, 0.0], [0.5, 0.0]])
    arrows = views.field_arrows({"field_xy": xy, "field_uv": np.array([[3.0, 0.0], [0.1, 0.0]])},
                                views.scale_for("two_lines"))
    assert len(arrows.bins) == views.ARROW_BINS
    assert arrows.tip_x[0] == pytest.approx(0.45), "long arrows drawn 0.9 of the spacing long"


def test_midpoint_split_and_sweep_helpers():
    split = views.midpoint_split({"midpoint_split": np.array([5, 7])}, "two_lines")
    assert split == [(5, "lower line"), (7, "upper line")]
    assert views.sweep_pick(np.array([0.1, 0.2, 0.5])) == ([0.1, 0.2, 0.5], 0.2)
    run = views.sweep_run(DAEConfig(**SMALL), SweepConfig(sigmas=(0.3, 0.1), steps=4))
    assert run.options.max_steps == 4 and run.trainer.sigmas == (0.1, 0.3)
    assert views.sweep_progress(run) == (0.0, 0, 4)
    assert views.dataset_of(run) == "two_circles"
