"""What the page draws, computed here (numpy in, numpy out), and "freeze and sample".

- `tile`: images → one picture (a grid of particles, or a strip of frames);
- `energy_histograms`: the energies on held-out data, on the particles and on uniform noise, on
  shared bins (data should sit lowest, noise highest);
- `FreezeAndSample`: the energy frozen, only images move by the training sampler: fresh chains from
  uniform noise, and corrupted held-out images — Gaussian noise of σ = 0.3 of the pixel range
  (denoising) and the lower half replaced by uniform noise (inpainting: the upper half is held) —
  with the PSNR against the clean images before and after;
- `psnr`: 10 log₁₀(1 / MSE) per image on the [0, 1] pixel range, averaged over the images (dB).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from engine.image_ebm.data import Images, as_pixels
from engine.image_ebm.objectives import uniform_chains
from engine.image_ebm.sampler import Langevin
from engine.schema import Settings, setting
from engine.training import TrainerBase, make_generator

Tensor = torch.Tensor
NOISE_SIGMA = 0.3  # of the pixel range [0, 1]
RESTORED = 64  # held-out images per corruption
FRESH = 256  # fresh chains from noise
SAMPLE_OFFSET = 2  # the frozen sampler's stream: seed + 2


@dataclass
class SampleSettings(Settings):
    """Freeze and sample (the page's sampling run): the sampler itself is the trained run's."""

    experiment: ClassVar[str] = "image-ebm-sample"

    steps: int = setting(30, ge=1, le=1000, label="Sampler steps",
                         help="Langevin steps of the frozen energy (training moves a chain k = 30 per use)")
    per_frame: int = setting(1, ge=1, le=50, label="Steps per frame", help="sampler steps between pictures")


def tile(images: np.ndarray, cols: int | None = None, pad: int = 1, fill: float = 0.5) -> np.ndarray:
    """N×H×W images → one (rows·(H+pad)−pad)×(cols·(W+pad)−pad) picture, row by row; gaps are `fill`."""
    n, h, w = images.shape
    cols = cols or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), fill, dtype=np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        out[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = img
    return out


def strips_picture(strips: np.ndarray, lengths: np.ndarray, pad: int = 1) -> np.ndarray:
    """F×T×H×W frames (row i holds lengths[i] of them) → one picture, a particle per row."""
    f, t, h, w = strips.shape
    frames = strips.copy()
    for i, n in enumerate(lengths):
        frames[i, n:] = 0.5  # not reached yet: grey, as the gaps
    return tile(frames.reshape(f * t, h, w), cols=t, pad=pad)


def upscale(picture: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement (small images stay crisp in the browser)."""
    return picture.repeat(factor, 0).repeat(factor, 1)


def energy_histograms(e_data: np.ndarray, e_particles: np.ndarray, e_noise: np.ndarray,
                      bins: int = 40) -> dict[str, Any]:
    """Counts of the three energies on shared bins, and where their means sit."""
    allv = np.concatenate([e_data, e_particles, e_noise])
    lo, hi = float(np.min(allv)), float(np.max(allv))
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    counts = {name: np.histogram(v, edges)[0] for name, v in
              (("data", e_data), ("particles", e_particles), ("noise", e_noise))}
    means = {"data": float(e_data.mean()), "particles": float(e_particles.mean()), "noise": float(e_noise.mean())}
    spread = float(np.sqrt(0.5 * (e_data.var() + e_noise.var()))) or 1.0
    return {"edges": edges, "counts": counts, "means": means,
            "gap": means["noise"] - means["data"],  # > 0: data lower than noise
            "gap_in_sd": (means["noise"] - means["data"]) / spread}


def psnr(x: np.ndarray, clean: np.ndarray) -> float:
    """Mean over images of 10 log₁₀(1 / MSE), pixels in [0, 1] (dB; MSE floored at 1e-10)."""
    mse = ((x.reshape(len(x), -1) - clean.reshape(len(clean), -1)) ** 2).mean(1)
    return float(np.mean(10 * np.log10(1.0 / np.maximum(mse, 1e-10))))


def corrupt(clean: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """The two corruptions of clean images (model range [−1, 1]) and the inpainting mask.

    noisy: clean + N(0, (2σ)²) (σ = 0.3 of the [0, 1] range is 0.6 of [−1, 1]), clamped;
    masked: the lower half replaced by uniform noise; free: 1 on the lower half (what may move).
    """
    noisy = (clean + 2 * NOISE_SIGMA * torch.randn(clean.shape, generator=gen)).clamp(-1, 1)
    h = clean.shape[-2]
    free = torch.zeros_like(clean)
    free[..., h // 2:, :] = 1.0
    masked = clean * (1 - free) + (torch.rand(clean.shape, generator=gen) * 2 - 1) * free
    return noisy, masked, free


class _Chains(nn.Module):
    def __init__(self, x: Tensor):
        super().__init__()
        self.register_buffer("x", x)


class FreezeAndSample(TrainerBase):
    """The energy frozen; each step moves every chain `per_step` sampler steps (see the module docstring)."""

    failure_advice = "Try a smaller step size ε (eps) or a tighter input-gradient clip (clip_grad) for sampling."

    def __init__(self, model: nn.Module, images: Images, sampler: Langevin, *, seed: int = 0,
                 device: torch.device | None = None, per_step: int = 1, judge: Any = None,
                 restored: int = RESTORED, fresh: int = FRESH):
        self.device = device or next(model.parameters()).device
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.sampler = Langevin(per_step, sampler.eps, sampler.noise, sampler.clip_grad)
        self.judge = judge  # engine.image_ebm.judges.Judges, or None
        self.gen = make_generator(seed, offset=SAMPLE_OFFSET)
        self.noise_gen = self.gen if self.device.type == "cpu" else torch.Generator(device=self.device)
        if self.noise_gen is not self.gen:
            self.noise_gen.manual_seed(seed + SAMPLE_OFFSET)
        clean = images.test[:restored]
        noisy, masked, free = corrupt(clean, self.gen)
        fresh_x = uniform_chains(fresh, images.shape, self.noise_gen, self.device).cpu()
        self.n_fresh, self.n_restore = fresh, len(clean)
        self.chains = _Chains(torch.cat([fresh_x, noisy, masked]).to(self.device))
        ones = torch.ones((fresh + len(clean), *images.shape))
        self.free = torch.cat([ones, free]).to(self.device)
        self.clean = as_pixels(clean)
        self.before = {"noisy": as_pixels(noisy), "masked": as_pixels(masked)}
        self.step_count = 0

    def state_modules(self) -> dict[str, Any]:
        return {"chains": self.chains}

    def parts(self) -> dict[str, np.ndarray]:
        x, f, r = self.chains.x, self.n_fresh, self.n_restore
        return {"fresh": as_pixels(x[:f]), "noisy": as_pixels(x[f: f + r]), "masked": as_pixels(x[f + r:])}

    def step(self) -> dict[str, float]:
        self.chains.x = self.sampler.run(self.model, self.chains.x, self.noise_gen, free=self.free)
        self.step_count += self.sampler.steps
        p = self.parts()
        return {"psnr_noisy": psnr(p["noisy"], self.clean), "psnr_masked": psnr(p["masked"], self.clean)}

    def snapshot(self) -> dict[str, Any]:
        p = self.parts()
        return {"fresh": p["fresh"][:64], "noisy": p["noisy"][:16], "masked": p["masked"][:16],
                "noisy_before": self.before["noisy"][:16], "masked_before": self.before["masked"][:16],
                "clean": self.clean[:16]}

    def evaluate(self) -> dict[str, float]:
        p = self.parts()
        out = {}
        for kind in ("noisy", "masked"):
            before, after = psnr(self.before[kind], self.clean), psnr(p[kind], self.clean)
            out.update({f"psnr_{kind}_before": round(before, 3), f"psnr_{kind}_after": round(after, 3),
                        f"psnr_{kind}_gain": round(after - before, 3)})
        with torch.no_grad():
            out["energy_fresh"] = float(self.model(self.chains.x[: self.n_fresh]).float().mean())
        if self.judge is not None:
            s = self.judge.score(p["fresh"])
            out.update({"fresh_min_class_share": s["min_class_share"], "fresh_top_prob": s["top_prob"],
                        "fresh_realistic": s["realistic"]})
        return out


def freeze_and_sample(trainer: Any, steps: int, *, judge: Any = None, seed: int | None = None) -> dict[str, float]:
    """Run `FreezeAndSample` on a trainer's current energy for `steps` sampler steps; its final scores."""
    sampler = FreezeAndSample(trainer.model, trainer.images, trainer.sampler, judge=judge, device=trainer.device,
                              seed=trainer.config.seed if seed is None else seed)
    run = sampler.headless(max_steps=steps, name="freeze-and-sample")
    return {k: v for k, v in run.last_evaluation().items() if k not in ("step", "seconds")}


def followed_ranges(lengths: np.ndarray, ages: np.ndarray) -> dict[str, int]:
    """The followed strips' shortest and longest (frames) and youngest and oldest (updates since the last
    restart from noise): the page's caption numbers."""
    return {"frames_min": int(lengths.min()), "frames_max": int(lengths.max()),
            "ages_min": int(ages.min()), "ages_max": int(ages.max())}
