"""Langevin sampling on analytic energies: moments, mode weights, the mixing problem."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.errors import SettingError
from engine.run import Run, RunOptions
from engine.toy.samplers import (
    ANALYTIC,
    GaussianEnergy,
    SamplingConfig,
    SamplingTrainer,
    correlated_gaussian,
    energy_grad,
    initial_particles,
    langevin,
    mode_occupancy,
    overlapping_modes,
    separated_modes,
    temperature,
    true_langevin_noise,
    uniform_in_box,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_gaussian_moments_after_1000_steps():
    energy = correlated_gaussian()
    g = gen()
    y = langevin(energy, uniform_in_box(4096, 2, 3.5, g), 1000, 0.01, generator=g).y
    assert (y.mean(0) - energy.mean).abs().max() < 0.05
    cov = torch.cov(y.T)
    rel = (cov - energy.cov).abs() / energy.cov.abs()
    assert rel.max() < 0.10, cov


def test_noise_sets_the_temperature():
    """Noise s with step ε samples exp(−E/T), T = s²/(2ε): at T = ½ the Gaussian's variance halves."""
    energy = GaussianEnergy([0.0, 0.0], [[1.0, 0.0], [0.0, 1.0]])
    eps = 0.01
    s = math.sqrt(2 * eps * 0.5)
    assert temperature(eps, s) == pytest.approx(0.5)
    g = gen(1)
    y = langevin(energy, torch.randn(4096, 2, generator=g), 800, eps, s, generator=g).y
    assert y.var(0).mean().item() == pytest.approx(0.5, rel=0.08)


def test_overlapping_modes_occupancy_matches_weights():
    mix = overlapping_modes()
    g = gen(2)
    y = langevin(mix, uniform_in_box(2048, 2, 4.5, g), 2000, 0.05, generator=g).y
    occ = mode_occupancy(mix, y)
    assert abs(occ[0] - 0.3) < 0.05 and abs(occ[1] - 0.7) < 0.05, occ


def test_separated_modes_do_not_mix():
    """Chains started in the light mode stay there; its true weight is 0.3."""
    mix = separated_modes()
    g = gen(3)
    y0 = mix.means[0] + 0.3 * torch.randn(512, 2, generator=g)
    y = langevin(mix, y0, 2000, 0.01, generator=g).y
    assert mode_occupancy(mix, y)[0] > 0.99


def test_soft_occupancy_of_exact_samples_is_the_weight():
    mix = overlapping_modes()
    g = gen(4)
    comp = torch.multinomial(mix.weights, 20000, replacement=True, generator=g)
    y = mix.means[comp] + torch.randn(20000, 2, generator=g)
    assert mode_occupancy(mix, y)[0] == pytest.approx(0.3, abs=0.01)


def test_trajectory_and_gradient_descent_without_noise():
    energy = GaussianEnergy([1.0, -1.0], [[2.0, 0.0], [0.0, 0.5]])
    y0 = torch.tensor([[0.0, 0.0], [2.0, 1.0]])
    res = langevin(energy, y0, 3, 0.1, noise=0.0, generator=gen(), trajectory=True)
    assert res.trajectory is not None and res.trajectory.shape == (4, 2, 2)
    assert torch.equal(res.trajectory[0], y0) and torch.equal(res.trajectory[-1], res.y)
    expected = y0.clone()
    for _ in range(3):  # y ← y − ε Σ⁻¹ (y − μ)
        expected = expected - 0.1 * (expected - energy.mean) @ energy.precision
    assert torch.allclose(res.y, expected, atol=1e-6)


def test_true_langevin_noise_is_default():
    energy = correlated_gaussian()
    y0 = torch.zeros(16, 2)
    a = langevin(energy, y0, 5, 0.02, generator=gen(5)).y
    b = langevin(energy, y0, 5, 0.02, true_langevin_noise(0.02), generator=gen(5)).y
    assert torch.equal(a, b)


def test_gradient_clip_caps_each_particle():
    energy = GaussianEnergy([0.0, 0.0], [[0.01, 0.0], [0.0, 0.01]])  # steep: gradients of norm ~100·|y|
    y = torch.tensor([[1.0, 0.0], [0.0, 0.001]])
    g = energy_grad(energy, y, clip=1.0)
    assert g[0].norm().item() == pytest.approx(1.0, rel=1e-5)
    assert torch.allclose(g[1], torch.tensor([0.0, 0.1]), atol=1e-5)  # small ones unchanged


def test_box_fence_and_bad_input():
    y = langevin(GaussianEnergy([0.0, 0.0], [[1.0, 0.0], [0.0, 1.0]]), torch.zeros(64, 2), 10, 1.0,
                 noise=5.0, generator=gen(), box=1.0).y
    assert y.abs().max() <= 1.0
    with pytest.raises(ValueError):
        langevin(correlated_gaussian(), torch.zeros(1, 2), 1, 0.0, generator=gen())
    with pytest.raises(ValueError):
        langevin(correlated_gaussian(), torch.zeros(1, 2), -1, 0.1, generator=gen())


def test_initial_particles():
    u = initial_particles(1000, "uniform", 2.0, generator=gen())
    assert u.shape == (1000, 2) and u.abs().max() <= 2.0 and u.min() < -1.5 and u.max() > 1.5
    d = initial_particles(10, "data", 2.0, generator=gen(), data_sampler=lambda n: torch.full((n, 2), 7.0))
    assert torch.all(d == 7.0)
    with pytest.raises(ValueError, match="data set"):
        initial_particles(10, "data", 2.0, generator=gen())
    with pytest.raises(ValueError):
        initial_particles(10, "nowhere", 2.0, generator=gen())


def test_sampling_trainer_shows_the_mixing_problem(device):
    """Frozen energy, particles from uniform noise: each stays on its side of the barrier, so the
    occupancy is the initial split (≈ ½), not the weights 0.3 / 0.7."""
    spec = ANALYTIC["separated_modes"]
    trainer = SamplingTrainer(spec.make(), spec.box, SamplingConfig(particles=1000, steps_per_frame=20, eps=0.01),
                              device=device)
    left_at_start = float((trainer.y[:, 0] < 0).float().mean())
    run = Run(trainer, RunOptions(max_steps=50, evaluate_every_steps=25)).run_to_end()
    ev = run.last_evaluation()
    assert run.state == "finished" and ev["moved"] > 0.3
    assert ev["mode_0"] == pytest.approx(left_at_start, abs=0.02)
    assert abs(ev["mode_0"] - 0.3) > 0.1
    snap = trainer.snapshot()
    assert snap["energy"].shape == (64, 64) and snap["particles"].shape == (256, 2)


def test_sampling_trainer_moves_particles_each_step(device):
    spec = ANALYTIC["gaussian"]
    trainer = SamplingTrainer(spec.make(), spec.box, SamplingConfig(particles=300, shown=100), device=device)
    before = trainer.snapshot()["particles"].copy()
    trainer.step()
    after = trainer.snapshot()["particles"]
    assert after.shape == (100, 2) and np.all(np.linalg.norm(after - before, axis=1) > 0)


def test_sampling_config_validation():
    with pytest.raises(SettingError, match="start"):
        SamplingConfig(start="middle")
    with pytest.raises(SettingError, match="eps"):
        SamplingConfig(eps=0)
    with pytest.raises(SettingError, match="frames"):
        SamplingConfig(frames=10**9)  # the sampling run is bounded
    with pytest.raises(SettingError, match="start"):
        SamplingConfig(source="gaussian", start="data")  # an analytic energy has no data
    assert SamplingConfig(source="trained", start="data").start == "data"
    assert not SamplingConfig.applies("start", {"source": "gaussian"})
