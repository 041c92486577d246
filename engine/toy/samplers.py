"""Langevin dynamics on an energy, usable on its own ("sample from this energy").

One step of the (unadjusted) Langevin sampler with gradient step ε and noise scale s:

    y ← y − ε ∇_y E(y) + s ξ,        ξ ~ N(0, I)

With s = √(2ε) this is the Euler discretisation of the Langevin diffusion whose stationary law is
p(y) ∝ exp(−E(y)) (up to an O(ε) bias). Any other s samples, approximately, exp(−E/T) at the
temperature T = s² / (2ε); s = 0 is plain gradient descent. Many recipes set ε and s separately
(large steps, little noise): then the chains are no longer sampling p_θ, and the UI says so.

Also here: particles started from uniform noise on the box or from the data, analytic test energies
with known moments (a Gaussian, two-mode mixtures), and `SamplingTrainer`, a `Trainer` that freezes an
energy and just moves particles, so the live view can show them flow downhill and cross, or fail to
cross, between modes.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from engine.capture import CaptureCache, capture_setting, chain_generator
from engine.schema import MAX_SEED, Rule, Settings, setting
from engine.toy.grid import Grid, energy_on_grid
from engine.training import make_generator

Tensor = torch.Tensor
EnergyFn = Callable[[Tensor], Tensor]


def true_langevin_noise(eps: float) -> float:
    """The noise scale √(2ε) that makes the chain sample exp(−E) itself."""
    return math.sqrt(2 * eps)


def temperature(eps: float, noise: float) -> float:
    """The temperature T = s² / (2ε) whose law exp(−E/T) a chain with step ε and noise s samples."""
    return noise**2 / (2 * eps)


def energy_grad(energy: EnergyFn, y: Tensor, clip: float | None = None) -> Tensor:
    """∇_y E(y) per particle (no graph kept); with `clip`, each particle's gradient norm is capped."""
    with torch.enable_grad():
        y = y.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(energy(y).sum(), y)
    if clip is not None:
        norm = g.norm(dim=1, keepdim=True).clamp_min(1e-12)
        g = g * (clip / norm).clamp(max=1.0)
    return g


@dataclass
class LangevinResult:
    y: Tensor  # (N, d) final positions
    trajectory: Tensor | None = None  # (steps + 1, N, d) when asked for, the start included


def langevin(energy: EnergyFn, y0: Tensor, steps: int, eps: float, noise: float | None = None, *,
             generator: torch.Generator, clip_grad: float | None = None,
             box: float | None = None, trajectory: bool = False) -> LangevinResult:
    """Run `steps` Langevin steps from y0 (no gradient flows to the energy's parameters).

    noise None means true Langevin, √(2ε). `box` keeps the particles inside [−box, box]^d (a
    reflection would be more exact; a clamp is enough to stop a chain from flying off a flat energy).
    """
    if steps < 0:
        raise ValueError("steps must be >= 0")
    if eps <= 0:
        raise ValueError("the Langevin step size eps must be > 0")
    s = true_langevin_noise(eps) if noise is None else noise
    if s < 0:
        raise ValueError("noise must be >= 0")
    y = y0.detach().clone()
    path = [y.clone()] if trajectory else None
    for _ in range(steps):
        g = energy_grad(energy, y, clip_grad)
        # drawn where the generator lives: a CPU generator's numbers are the same on every device, a
        # CUDA generator's draw stays on the GPU (and can be captured, see LangevinSteps)
        xi = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=generator.device).to(y.device)
        y = y - eps * g + s * xi
        if box is not None:
            y = y.clamp(-box, box)
        if path is not None:
            path.append(y.clone())
    return LangevinResult(y, torch.stack(path) if path is not None else None)


class LangevinSteps:
    """`steps` Langevin steps with fixed settings, y0 (N, d) → y (N, d): the loop CD and PCD run at every
    update and the sampling mode at every frame, all N chains advanced by each launch.

    With capture "auto" on a CUDA device (and a generator on it) the loop is captured once per (energy,
    shape) and replayed (engine.capture): the same numbers as the eager loop, one launch instead of a
    few hundred. `reason` says why it runs eagerly (None while captured).
    """

    def __init__(self, steps: int, eps: float, noise: float | None = None, *, generator: torch.Generator,
                 clip_grad: float | None = None, box: float | None = None, capture: str = "off",
                 device: torch.device | str = "cpu"):
        self.steps, self.eps, self.noise = steps, eps, noise
        self.clip_grad, self.box, self.generator = clip_grad, box, generator
        self.cache = CaptureCache(capture, device, [generator])

    @property
    def reason(self) -> str | None:
        return self.cache.reason

    def __call__(self, energy: EnergyFn, y0: Tensor) -> Tensor:
        key = (id(energy), tuple(y0.shape), y0.dtype)  # the capture holds `energy`: its id stays its own
        return self.cache.run(key, lambda y: self.eager(energy, y), y0)

    def eager(self, energy: EnergyFn, y0: Tensor) -> Tensor:
        """The loop op by op (what the capture records)."""
        return langevin(energy, y0, self.steps, self.eps, self.noise, generator=self.generator,
                        clip_grad=self.clip_grad, box=self.box).y


def uniform_in_box(n: int, dim: int, box: float, generator: torch.Generator) -> Tensor:
    """n points uniform on [−box, box]^dim."""
    return (2 * torch.rand(n, dim, generator=generator) - 1) * box


def initial_particles(n: int, start: str, box: float, *, generator: torch.Generator,
                      data_sampler: Callable[[int], Tensor] | None = None, dim: int = 2) -> Tensor:
    """Particles to start a sampler from: "uniform" noise on the box or a draw from the "data"."""
    if n < 1:
        raise ValueError("need at least one particle")
    if start == "uniform":
        return uniform_in_box(n, dim, box, generator)
    if start == "data":
        if data_sampler is None:
            raise ValueError("starting from the data needs a data set (this energy has none)")
        return data_sampler(n)
    raise ValueError(f"start must be 'uniform' or 'data', not {start!r}")


# ---- analytic test energies ---------------------------------------------------------------------
class GaussianEnergy(nn.Module):
    """E(y) = ½ (y − μ)ᵀ Σ⁻¹ (y − μ): exp(−E) is N(μ, Σ) up to its constant."""

    def __init__(self, mean: list[float] | Tensor, cov: list[list[float]] | Tensor):
        super().__init__()
        mean, cov = torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(cov, dtype=torch.float32)
        self.register_buffer("mean", mean)
        self.register_buffer("cov", cov)
        self.register_buffer("precision", torch.linalg.inv(cov))

    def forward(self, y: Tensor) -> Tensor:
        d = y - self.mean
        return 0.5 * ((d @ self.precision) * d).sum(-1)


class GaussianMixtureEnergy(nn.Module):
    """E(y) = −log Σ_k w_k N(y; μ_k, s_k² I): a mixture of isotropic Gaussians (log-density exact)."""

    def __init__(self, means: list[list[float]], stds: list[float], weights: list[float]):
        super().__init__()
        if not (len(means) == len(stds) == len(weights)):
            raise ValueError("means, stds and weights must have the same length")
        w = torch.tensor(weights, dtype=torch.float32)
        if (w <= 0).any() or abs(float(w.sum()) - 1) > 1e-6:
            raise ValueError("mixture weights must be positive and sum to 1")
        self.register_buffer("means", torch.tensor(means, dtype=torch.float32))
        self.register_buffer("stds", torch.tensor(stds, dtype=torch.float32))
        self.register_buffer("weights", w)

    def component_log_probs(self, y: Tensor) -> Tensor:
        """log w_k + log N(y; μ_k, s_k² I), shape (N, K)."""
        d = y.shape[-1]
        d2 = ((y[:, None, :] - self.means[None]) ** 2).sum(-1)
        s2 = self.stds**2
        return self.weights.log() - 0.5 * d2 / s2 - 0.5 * d * torch.log(2 * math.pi * s2)

    def responsibilities(self, y: Tensor) -> Tensor:
        """p(k | y), shape (N, K). Its mean over exact samples is exactly the weight vector."""
        return torch.softmax(self.component_log_probs(y), dim=1)

    def forward(self, y: Tensor) -> Tensor:
        return -torch.logsumexp(self.component_log_probs(y), dim=1)


def overlapping_modes() -> GaussianMixtureEnergy:
    """Means (±1.5, 0), std 1, weights 0.3 / 0.7: the barrier is low, Langevin crosses it."""
    return GaussianMixtureEnergy([[-1.5, 0.0], [1.5, 0.0]], [1.0, 1.0], [0.3, 0.7])


def separated_modes() -> GaussianMixtureEnergy:
    """Means (±2, 0), std 0.3, weights 0.3 / 0.7: a barrier of ~20 nats, chains stay where they start."""
    return GaussianMixtureEnergy([[-2.0, 0.0], [2.0, 0.0]], [0.3, 0.3], [0.3, 0.7])


def correlated_gaussian() -> GaussianEnergy:
    return GaussianEnergy([0.5, -0.3], [[1.0, 0.6], [0.6, 0.8]])


@dataclass(frozen=True)
class AnalyticEnergy:
    name: str
    label: str  # English; the pages show the text under `label_key`
    make: Callable[[], nn.Module]
    box: float

    @property
    def label_key(self) -> str:
        """The label's text key (assets/locales/*/cd_engine.toml)."""
        return f"cd_engine.analytic.{self.name}"


ANALYTIC: dict[str, AnalyticEnergy] = {
    a.name: a
    for a in [
        AnalyticEnergy("gaussian", "correlated Gaussian (known mean and covariance)", correlated_gaussian, 3.5),
        AnalyticEnergy("overlapping_modes", "two overlapping modes (±1.5, std 1, weights 0.3/0.7)",
                       overlapping_modes, 4.5),
        AnalyticEnergy("separated_modes", "two separated modes (±2, std 0.3, weights 0.3/0.7)",
                       separated_modes, 3.5),
    ]
}


# ---- "freeze the energy and just sample" -----------------------------------------------------------
TRAINED = "trained"  # SamplingConfig.source: the model trained on the page
NOISE_OFFSET = 30_000  # on a CUDA device, the sampler's noise generator: the run's seed + this


def frozen_copy(model: nn.Module) -> nn.Module:
    """A detached copy of a trained energy, so sampling from it never races its training run."""
    frozen = copy.deepcopy(model).eval()
    for p in frozen.parameters():
        p.requires_grad_(False)
    return frozen


@dataclass
class SamplingConfig(Settings):
    """The "freeze the energy and just sample" mode: which energy, how many particles, how they move."""

    experiment: ClassVar[str] = "toy_sampling"
    rules: ClassVar[tuple[Rule, ...]] = (
        Rule(("start", "source"), lambda c: c.start == "uniform" or c.source == TRAINED,
             "only a trained model has data to start the particles from"),
    )

    source: str = setting("separated_modes", choices=(TRAINED, *ANALYTIC), label="Energy to sample from",
                          help="the model trained on the page, or an analytic energy with known modes")
    start: str = setting("uniform", choices=("uniform", "data"), when={"source": (TRAINED,)},
                         label="Start particles from", help="uniform noise on the box, or a draw from the data")
    particles: int = setting(512, ge=1, le=100_000, label="Particles", help="chains moved together")
    steps_per_frame: int = setting(5, ge=1, le=1000, label="Langevin steps per frame",
                                   help="sampler steps between two pictures")
    eps: float = setting(0.01, gt=0, le=1, label="Gradient step ε", help="y ← y − ε∇E(y) + s ξ", step=0.001)
    noise: float | None = setting(None, ge=0, le=10, none="true Langevin, s = √(2ε)", label="Noise s",
                                  help="the sampler's noise std s", step=0.01)
    clip_grad: float | None = setting(None, gt=0, le=1e6, none="no clipping", label="Clip the input gradient",
                                      help="cap on ‖∇_y E‖ per particle")
    # a bounded run: at the page's 30 frames/s the default lasts about an hour
    frames: int = setting(100_000, ge=1, le=1_000_000, label="Frame budget",
                          help="pictures (each steps_per_frame Langevin steps) before the sampler stops")
    seed: int = setting(0, ge=0, le=MAX_SEED, label="Seed", help="same seed, same particles")
    view_grid: int = setting(64, ge=8, le=256, label="Picture grid", help="cells per axis of the energy picture",
                             form=False)
    shown: int = setting(256, ge=1, le=100_000, label="Particles drawn", help="particles sent to the picture",
                         form=False)
    rate: float | None = setting(None, gt=0, le=240, none="as fast as possible", label="Frames per second",
                                 help="at most this many frames per second (a watchable pace)", form=False)
    capture: str = capture_setting()


class SamplingTrainer:
    """Implements engine.run.Trainer with no optimiser: each step moves the particles under a frozen
    energy. Its snapshot has the keys of ToyTrainer's ("energy", "particles", "positives"), so the same
    live canvas animates it."""

    failure_advice = "Try a smaller gradient step ε, or clip the input gradient."

    def __init__(self, energy: nn.Module, box: float, config: SamplingConfig | None = None, *,
                 data_sampler: Callable[[int, torch.Generator], Tensor] | None = None,
                 mixture: GaussianMixtureEnergy | None = None, device: torch.device | str = "cpu"):
        self.config = cfg = config or SamplingConfig()
        self.energy = frozen_copy(energy).to(device)  # the caller's model (maybe still training) is untouched
        self.box = box
        self.device = torch.device(device)
        self.gen = make_generator(cfg.seed)
        self.sampler = LangevinSteps(cfg.steps_per_frame, cfg.eps, cfg.noise,
                                     generator=chain_generator(self.gen, cfg.seed, self.device, NOISE_OFFSET),
                                     clip_grad=cfg.clip_grad, box=box, capture=cfg.capture, device=self.device)
        self.mixture = mixture if mixture is not None else (
            energy if isinstance(energy, GaussianMixtureEnergy) else None)
        sampler = (lambda n: data_sampler(n, self.gen)) if data_sampler is not None else None
        self.y = initial_particles(cfg.particles, cfg.start, box, data_sampler=sampler,
                                   generator=self.gen).to(self.device)
        self.start_y = self.y.clone()
        self.view_grid = Grid(box, cfg.view_grid)
        self._energy_grid = energy_on_grid(self.energy, self.view_grid, self.device).cpu().numpy()
        self.positives = data_sampler(cfg.shown, make_generator(cfg.seed, 1)).numpy() \
            if data_sampler is not None else None
        self.step_count = 0
        self._next_at = 0.0

    def step(self) -> dict[str, float]:
        cfg = self.config
        if cfg.rate is not None:  # a watchable pace: a cheap energy would otherwise run thousands of steps/s
            wait = self._next_at - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            self._next_at = max(self._next_at, time.perf_counter()) + 1.0 / cfg.rate
        self.y = self.sampler(self.energy, self.y)
        self.step_count += 1
        with torch.no_grad():
            mean_e = float(self.energy(self.y).mean())
        return {"loss": mean_e, "mean_energy": mean_e}

    def snapshot(self) -> dict[str, Any]:
        snap: dict[str, Any] = {"energy": self._energy_grid,
                                "particles": self.y[: self.config.shown].cpu().numpy()}
        if self.positives is not None:
            snap["positives"] = self.positives
        return snap

    def evaluate(self) -> dict[str, float]:
        with torch.no_grad():
            out = {"mean_energy": float(self.energy(self.y).mean()),
                   "moved": float((self.y - self.start_y).norm(dim=1).mean())}
            if self.mixture is not None:
                occ = mode_occupancy(self.mixture, self.y)
                out.update({f"mode_{k}": float(v) for k, v in enumerate(occ)})
        return out


def mode_occupancy(mixture: GaussianMixtureEnergy, y: Tensor) -> np.ndarray:
    """Share of the particles in each mode, counted softly: the mean of p(k | y) over the particles.
    Under exact samples its expectation is exactly the weight vector w (whereas a hard split by the
    nearest mode is biased wherever the modes overlap)."""
    with torch.no_grad():
        r = mixture.responsibilities(y.to(mixture.means))
    return r.mean(0).cpu().numpy()
