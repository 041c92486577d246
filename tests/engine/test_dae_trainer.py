"""The DAE trainer and the σ sweep: settings, snapshots, per-run reproducibility, checkpoints, a short run
(the trainers on the `--device` of the run)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.dae.config import DAEConfig
from engine.dae.sweep import DEFAULT_SIGMAS, SigmaSweepTrainer, SweepConfig
from engine.dae.trainer import DAETrainer
from engine.errors import SettingError
from engine.run import Run, RunOptions
from engine.training import init_parameters, make_generator

SMALL = dict(width=32, view_grid=24, eval_grid=48, field_grid=5, profile_points=33, probes=6, latent_z=180)


@pytest.fixture
def small(device):
    """Small settings on the `--device` of the run (DAEConfig(**small, dataset=...))."""
    return {**SMALL, "device": device}


def test_snapshot_carries_the_pictures_and_metrics(small):
    t = DAETrainer(DAEConfig(dataset="two_circles", **small))
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
    xy = torch.as_tensor(s["field_xy"], device=t.device)
    with torch.no_grad():
        assert np.allclose(s["field_uv"], (t.model(xy) - xy).cpu().numpy(), atol=1e-6)
    assert np.allclose(t.reconstruct(s["probe_in"]), s["probe_out"], atol=1e-6)


def test_the_relaxed_energy_lies_above_f_infinity(small):
    t = DAETrainer(DAEConfig(dataset="circle", **small))
    snap = t.snapshot()
    f_inf, f_beta = snap["latent_energy"], t.latent_grid(2.0)
    assert np.allclose(t.latent_grid(None), f_inf)
    assert (f_beta >= f_inf - 1e-5).all() and not np.allclose(f_beta, f_inf)
    assert np.allclose(t.latent_profile(None), snap["profile_latent"])
    assert (t.latent_profile(2.0) >= snap["profile_latent"] - 1e-5).all()


def test_same_seed_same_numbers(small, same):
    def losses(seed: int) -> list[float]:
        t = DAETrainer(DAEConfig(dataset="two_lines", seed=seed, **small))
        return [t.step()["loss"] for _ in range(5)]

    assert losses(3) == same(losses(3))
    assert losses(3) != losses(4)


def test_randomness_is_per_run_not_global(small, same):
    def losses() -> list[float]:
        t = DAETrainer(DAEConfig(dataset="two_circles", seed=5, **small))
        out = []
        for i in range(4):
            torch.manual_seed(1000 + i)  # another run (or the UI) drawing from the global generator
            np.random.seed(i)
            out.append(t.step()["loss"])
        return out

    torch.manual_seed(0)
    first = losses()
    torch.manual_seed(99)
    assert losses() == same(first)


def test_initial_weights_come_from_the_runs_seed(small):
    t = DAETrainer(DAEConfig(seed=7, **small))
    fresh = init_parameters(type(t.model)(2, 32, 2, 16), make_generator(7))
    assert all(torch.equal(a.cpu(), b) for a, b in zip(t.model.state_dict().values(), fresh.state_dict().values(),
                                                       strict=True))


def test_failure_advice_names_only_dae_settings():
    advice = DAETrainer.failure_advice
    assert "α" not in advice and "regulariser" not in advice
    for name in ("lr", "latent_lr", "σ"):
        assert name in advice


def test_checkpoint_restore_round_trip(small, same):
    t = DAETrainer(DAEConfig(dataset="ellipse", **small))
    t.step()
    state = t.checkpoint()
    e0 = t.snapshot()["energy"]
    after = [t.step()["loss"] for _ in range(5)]
    assert not np.allclose(t.snapshot()["energy"], e0)
    t.restore(state)
    assert t.step_count == 1
    assert np.allclose(t.snapshot()["energy"], e0)
    assert [t.step()["loss"] for _ in range(5)] == same(after), "the generator is restored too"


def test_short_training_shows_the_flat_spot_and_the_split(small):
    cfg = DAEConfig(dataset="two_lines", sigma=0.5, steps=400, **{**small, "width": 64})
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


def test_sweep_trains_one_member_per_sigma_from_the_same_start(small):
    sweep = SigmaSweepTrainer(DAEConfig(dataset="two_lines", **small), sigmas=(0.8, 0.2))
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


def test_sweep_settings_give_the_members_their_base():
    sweep = SweepConfig(sigmas=(0.5, 0.2, 0.5), steps=7)
    base = sweep.base(DAEConfig(corruption="masking", width=16, seed=3))
    assert (base.corruption, base.steps, base.width, base.seed, base.probes) == ("gaussian", 7, 16, 3, 0)
    trainer = SigmaSweepTrainer.from_settings(DAEConfig(width=16, device="cpu", eval_grid=48), sweep)
    assert trainer.sigmas == (0.2, 0.5), "sorted, each σ once"
    assert SweepConfig().sigmas == DEFAULT_SIGMAS
    for bad in ({"sigmas": ()}, {"sigmas": (0.1, float("nan"))}, {"sigmas": (0.0,)}, {"sigmas": (0.1,) * 9},
                {"steps": 0}):
        with pytest.raises(SettingError):
            SweepConfig(**bad)


@pytest.mark.parametrize(("kwargs", "setting"), [
    ({"dataset": "torus"}, "dataset"), ({"corruption": "blur"}, "corruption"),
    ({"sigma": 0.0}, "sigma"), ({"sigma": float("nan")}, "sigma"), ({"sigma": float("inf")}, "sigma"),
    ({"drop": 1.0}, "drop"), ({"width": 0}, "width"), ({"width": 10**6}, "width"), ({"eval_grid": 8}, "eval_grid"),
    ({"latent_jitter": 1.0}, "latent_jitter"), ({"steps": 1.5}, "steps"), ({"lr": "fast"}, "lr"),
])
def test_config_validation_names_the_setting(kwargs, setting):
    with pytest.raises(SettingError, match=setting) as err:
        DAEConfig(**kwargs)
    assert err.value.setting == setting


def test_sigma_applies_to_gaussian_noise_and_drop_to_masking():
    assert DAEConfig.applies("sigma", {"corruption": "gaussian"})
    assert not DAEConfig.applies("drop", {"corruption": "gaussian"})
    assert DAEConfig.applies("drop", {"corruption": "masking"})
    assert not DAEConfig.applies("sigma", {"corruption": "masking"})
    assert DAEConfig.create(dataset="spiral") == DAEConfig(dataset="spiral"), "no per-data-set defaults"
    cfg = DAEConfig(corruption="masking", drop=0.3)
    assert DAEConfig.from_dict(cfg.to_dict()) == cfg


def test_a_denoising_path_that_runs_away_stays_finite(small):
    t = DAETrainer(DAEConfig(dataset="circle", **small))
    with torch.no_grad():  # a decoder a million times too large: repeating r overflows float32
        last = t.model.decoder[-1]
        last.weight.mul_(1e6)
    path = t.denoising_path(np.array([[0.5, 0.5]], np.float32))
    assert np.isfinite(path).all() and np.abs(path).max() <= 4.0 * t.manifold.box
