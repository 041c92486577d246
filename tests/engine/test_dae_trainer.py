"""The DAE trainer and the σ sweep: snapshots, reproducibility, checkpoints, a short run's behaviour."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.dae.config import DAEConfig
from engine.dae.sweep import SigmaSweepTrainer
from engine.dae.trainer import DAETrainer
from engine.run import Run, RunOptions

SMALL = dict(width=32, view_grid=24, eval_grid=48, field_grid=5, profile_points=33, probes=6, latent_z=180,
             device="cpu")


def test_snapshot_carries_the_pictures_and_metrics():
    t = DAETrainer(DAEConfig(dataset="two_circles", **SMALL))
    for _ in range(3):
        t.step()
    t.evaluate()
    s = t.snapshot()
    assert s["energy"].shape == s["latent_energy"].shape == (24, 24)
    assert s["field_xy"].shape == s["field_uv"].shape == (25, 2)
    assert s["profile_s"].shape == s["profile_dae"].shape == s["profile_latent"].shape == (33,)
    assert s["probe_in"].shape == s["probe_out"].shape == (6, 2)
    assert s["midpoint_probe_in"].shape == s["midpoint_probe_out"].shape == (12, 2)
    assert s["midpoint_split"].sum() == 12
    path = s["midpoint_probe_path"]
    assert path.shape == (21, 12, 2)
    assert np.allclose(path[0], s["midpoint_probe_in"]) and np.allclose(path[1], s["midpoint_probe_out"], atol=1e-6)
    assert s["latent_curve"].shape[0] == 2 and s["latent_w"].shape == (2, 2)
    for key in ("dae_midpoint_ratio", "dae_false_low", "dae_growth_exponent", "latent_midpoint_ratio",
                "latent_false_low", "latent_growth_exponent"):
        assert np.isfinite(s[key])
    # the drawn energy is the DAE's ‖y − r(y)‖² and the arrows its field
    xy = torch.as_tensor(s["field_xy"])
    with torch.no_grad():
        assert np.allclose(s["field_uv"], (t.model(xy) - xy).numpy(), atol=1e-6)
    assert np.allclose(t.reconstruct(s["probe_in"]), s["probe_out"], atol=1e-6)


def test_view_beta_draws_the_relaxed_energy():
    t = DAETrainer(DAEConfig(dataset="circle", **SMALL))
    f_inf = t.snapshot()["latent_energy"]
    t.view_beta = 2.0
    snap = t.snapshot()
    assert snap["latent_beta"] == 2.0
    assert (snap["latent_energy"] >= f_inf - 1e-5).all() and not np.allclose(snap["latent_energy"], f_inf)
    assert np.allclose(t.latent_grid(2.0), snap["latent_energy"])


def test_same_seed_same_numbers():
    def losses(seed: int) -> list[float]:
        t = DAETrainer(DAEConfig(dataset="two_lines", seed=seed, **SMALL))
        return [t.step()["loss"] for _ in range(5)]

    assert losses(3) == losses(3)
    assert losses(3) != losses(4)


def test_checkpoint_restore_round_trip():
    t = DAETrainer(DAEConfig(dataset="ellipse", **SMALL))
    t.step()
    state = t.checkpoint()
    e0 = t.snapshot()["energy"]
    for _ in range(5):
        t.step()
    assert not np.allclose(t.snapshot()["energy"], e0)
    t.restore(state)
    assert t.step_count == 1
    assert np.allclose(t.snapshot()["energy"], e0)


def test_short_training_shows_the_flat_spot_and_the_split():
    cfg = DAEConfig(dataset="two_lines", sigma=0.5, steps=400, **{**SMALL, "width": 64})
    run = Run(DAETrainer(cfg), RunOptions(max_steps=cfg.steps, evaluate_every_steps=400, snapshot_hz=0.1))
    run.run_to_end()
    ev = run.last_evaluation()
    assert run.state == "finished"
    assert ev["dae_midpoint_ratio"] < 0.3
    assert abs(ev["latent_midpoint_ratio"] - 1) < 0.05
    assert ev["latent_false_low"] == 0.0
    assert abs(ev["latent_growth_exponent"] - 2) < 0.1
    snap = run.latest().data
    split = snap["midpoint_split"]
    assert split.min() > 0, f"points near the midline go to both lines, got {split}"
    trainer = run.trainer
    end = torch.as_tensor(snap["midpoint_probe_path"][-1])
    start = torch.as_tensor(snap["midpoint_probe_in"])
    assert set(trainer.manifold.branch_of(end).tolist()) == {0, 1}, "repeated denoising ends on both lines"
    assert float(trainer.manifold.distance(end).mean()) < float(trainer.manifold.distance(start).mean())


def test_sweep_trains_one_member_per_sigma_from_the_same_start():
    sweep = SigmaSweepTrainer(DAEConfig(dataset="two_lines", **SMALL), sigmas=(0.8, 0.2))
    assert sweep.sigmas == (0.2, 0.8)
    a, b = (m.model.state_dict() for m in sweep.members)
    assert all(torch.equal(a[k], b[k]) for k in a), "members start from the same weights"
    out = sweep.step()
    assert set(out) == {"loss", "loss@0.2", "loss@0.8"}
    assert [m.corruption.sigma for m in sweep.members] == [0.2, 0.8]
    assert "midpoint_ratio" not in sweep.snapshot()  # not scored yet
    ev = sweep.evaluate()
    snap = sweep.snapshot()
    assert snap["energy"].shape == (2, 24, 24) and snap["profile_dae"].shape == (2, 33)
    assert snap["midpoint_ratio"].tolist() == [ev["midpoint_ratio@0.2"], ev["midpoint_ratio@0.8"]]
    with pytest.raises(ValueError):
        SigmaSweepTrainer(DAEConfig(**SMALL), sigmas=())


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"dataset": "torus"}, "unknown data set"), ({"corruption": "blur"}, "unknown corruption"),
    ({"sigma": 0.0}, "sigma"), ({"drop": 1.0}, "drop"), ({"width": 0}, "width"), ({"eval_grid": 8}, "eval_grid"),
    ({"latent_jitter": 1.0}, "latent_jitter"),
])
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DAEConfig(**kwargs)
