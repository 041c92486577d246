"""Train an image energy by PCD or CD (the `Trainer` a `Run` drives), with its live picture and judges.

Each step: a batch of training images (drawn with the run's generator), the objective's negatives
(Langevin chains from the replay buffer, or from the data), the contrastive loss, one Adam step. On
CUDA the energy runs under bfloat16 autocast (the loss and the sampler's arithmetic in float32) and
the sampler's noise comes from a generator on the GPU, seeded from the run's.

The snapshot (cheap, a few times a second): the first 64 particles, the followed particles' strips
(frames at ages 0, 1, 2, 3, 4, 6, 8, 12, … updates since they (re)started from noise), and the energy
of 256 held-out images, 256 particles and 256 uniform-noise images (the three histograms).
The evaluation: the judges (`engine.image_ebm.judges`) on the particles, and the energy's AUROC
between held-out data and uniform noise, and between the data and another data set.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.device import pick_device
from engine.embed.memory import check_image_ebm_fits
from engine.image_ebm.config import ImageEBMConfig
from engine.image_ebm.data import (
    Images,
    as_pixels,
    load_images,
    other_images,
    smooth_blobs,
    uniform_noise,
)
from engine.image_ebm.judges import auroc, fit_judges
from engine.image_ebm.models import build_model
from engine.image_ebm.objectives import REGISTRY, Objective, ObjectiveContext, ObjectiveOut
from engine.image_ebm.sampler import Langevin
from engine.training import TrainerBase, build_optimizer, init_parameters, make_generator

Tensor = torch.Tensor
FOLLOWED = 8  # particles followed as strips
GRID = 64  # particles in the live grid
HIST = 256  # images per energy histogram
JUDGED = 4096  # particles the judges score (the first slots of the buffer)
REFERENCE = 1000  # uniform-noise and blob images the judges score for comparison
HELD_OUT = 2000  # held-out (and other data set) images for the AUROCs
STRIP_AGES = (0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)  # frames kept, in updates
EVAL_OFFSET = 1  # the evaluation sets' generator: seed + 1 (fixed references, never the training stream)
JUDGED_KEYS = ("min_class_share", "classes_over_5pct", "top_prob", "realistic")


def autocast_for(device: torch.device, precision: str) -> Callable[[], AbstractContextManager]:
    """bfloat16 autocast on CUDA ("auto" or "bfloat16"); float32 elsewhere (CPU bf16 is slower here)."""
    if device.type == "cuda" and precision in ("auto", "bfloat16"):
        return lambda: torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext


@torch.no_grad()
def energies(model: nn.Module, x: Tensor, device: torch.device, chunk: int = 1024,
             autocast: Callable[[], AbstractContextManager] = contextlib.nullcontext) -> np.ndarray:
    """E_θ of many images, in chunks, as float64 numpy."""
    out = []
    for part in torch.split(x, chunk):
        with autocast():
            out.append(model(part.to(device)).float().cpu())
    return torch.cat(out).double().numpy()


@lru_cache(maxsize=6)
def reference_scores(dataset: str, image_size: int | None, data_dir: str | None) -> dict[str, dict[str, Any]]:
    """The judges' scores for uniform noise, smooth blobs and held-out data (fixed: once per data set)."""
    judges = fit_judges(dataset, image_size, data_dir)
    gen, size = make_generator(0, offset=EVAL_OFFSET), judges.size
    held_out = load_images(dataset, image_size, data_dir).test
    return {"noise": judges.score(as_pixels(uniform_noise(REFERENCE, size, gen))),
            "blobs": judges.score(as_pixels(smooth_blobs(REFERENCE, size, gen))),
            "held_out": judges.score(as_pixels(held_out))}


class Strips:
    """The followed particles' frames from (re)start to now, at ages STRIP_AGES (numpy, [0, 1] pixels)."""

    def __init__(self, start: Tensor):
        self.frames: list[list[np.ndarray]] = [[p] for p in as_pixels(start)]
        self.ages = [0] * len(self.frames)
        self.restarts = [0] * len(self.frames)

    def update(self, out: ObjectiveOut) -> None:
        if out.followed is None:
            return
        now = as_pixels(out.followed)
        starts = as_pixels(out.starts) if out.starts is not None else None
        restarted = out.restarted.cpu().numpy() if out.restarted is not None else np.zeros(len(now), bool)
        for i in range(min(len(now), len(self.frames))):
            if restarted[i]:
                self.frames[i] = [starts[i]] if starts is not None else []
                self.ages[i] = 0
                self.restarts[i] += 1
            self.ages[i] += 1
            if self.ages[i] in STRIP_AGES:
                self.frames[i].append(now[i])
            elif self.ages[i] > STRIP_AGES[-1] and self.ages[i] % STRIP_AGES[-1] == 0:
                self.frames[i] = self.frames[i][:1] + self.frames[i][2:] + [now[i]]

    def as_arrays(self) -> dict[str, np.ndarray]:
        """frames F×T×H×W (T = the longest strip; shorter ones padded with zeros), lengths, ages."""
        longest = max(len(f) for f in self.frames)
        h, w = self.frames[0][0].shape
        out = np.zeros((len(self.frames), longest, h, w), np.float32)
        for i, f in enumerate(self.frames):
            out[i, : len(f)] = np.stack(f)
        return {"strips": out, "strip_lengths": np.array([len(f) for f in self.frames]),
                "strip_ages": np.array(self.ages), "strip_restarts": np.array(self.restarts)}


class ImageEBMTrainer(TrainerBase):
    """PCD / CD on images; see the module docstring."""

    failure_advice = ("Try a lower learning rate (lr), a smaller step size ε (eps) or a tighter input-gradient "
                      "clip (clip_grad); a larger energy² regulariser α (alpha) keeps the energies from running away.")

    def __init__(self, config: ImageEBMConfig, images: Images | None = None):
        self.config = config
        self.device = pick_device(config.device)
        check_image_ebm_fits(config, self.device, images)  # before anything is allocated
        self.gen = make_generator(config.seed)
        self.images = images if images is not None else load_images(config.dataset, config.image_size,
                                                                     config.data_dir)
        if self.device.type == "cpu":
            self.noise_gen = self.gen
        else:  # the sampler's noise is drawn where the chains live
            self.noise_gen = torch.Generator(device=self.device)
            self.noise_gen.manual_seed(int(torch.randint(0, 2**62, (1,), generator=self.gen)))
        self.autocast = autocast_for(self.device, config.precision)
        self.model = init_parameters(build_model(config.model, self.images.size, config.width), self.gen)
        self.model.to(self.device)
        self.train_x = self.images.train.to(self.device)
        ctx = ObjectiveContext(self.images.shape, config.batch_size, self.gen, self.noise_gen, self.device,
                               self.autocast, followed=FOLLOWED)
        self.objective: Objective = REGISTRY.build(config.method, ctx, config)
        self.optimizer = build_optimizer(self.model.parameters(), config.optimizer, config.lr,
                                         betas=(config.beta1, 0.999))
        self.sampler = Langevin(config.k, config.eps, config.noise, config.clip_grad)
        self.step_count = 0
        self.strips = Strips(self.objective.particles()[:FOLLOWED])
        # fixed references for the pictures and the scores (their own stream: never the training one)
        ref = make_generator(config.seed, offset=EVAL_OFFSET)
        size = self.images.size
        self.hist_sets = {"data": self.images.test[:HIST], "noise": uniform_noise(HIST, size, ref)}
        self.noise_ref = uniform_noise(HELD_OUT, size, ref)

    # ---- training -----------------------------------------------------------------------------------
    def state_modules(self) -> dict[str, Any]:
        return {"model": self.model, "objective": self.objective, "optimizer": self.optimizer}

    def checkpoint(self) -> dict[str, Any]:
        state = super().checkpoint()
        if self.noise_gen is not self.gen:
            state["noise_rng"] = self.noise_gen.get_state()
        return state

    def restore(self, state: dict[str, Any]) -> None:
        super().restore(state)
        if "noise_rng" in state:
            self.noise_gen.set_state(state["noise_rng"])
        self.strips = Strips(self.objective.particles()[:FOLLOWED])  # the frames after the checkpoint are gone

    def step(self) -> dict[str, float]:
        idx = torch.randint(len(self.train_x), (self.config.batch_size,), generator=self.gen)
        batch = self.train_x[idx.to(self.device)]
        out = self.objective(self.model, batch)
        self.optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        self.optimizer.step()
        self.step_count += 1
        self.strips.update(out)
        return out.scalars

    # ---- pictures and scores ---------------------------------------------------------------------
    def particles(self) -> Tensor:
        return self.objective.particles()

    def snapshot(self) -> dict[str, Any]:
        parts = self.particles()
        data: dict[str, Any] = {"grid": as_pixels(parts[:GRID]), **self.strips.as_arrays()}
        for name, x in (("data", self.hist_sets["data"]), ("particles", parts[:HIST]),
                        ("noise", self.hist_sets["noise"])):
            data[f"energy_{name}"] = energies(self.model, x, self.device, autocast=self.autocast).astype(np.float32)
        return data

    def evaluate(self) -> dict[str, float]:
        cfg = self.config
        judges = fit_judges(cfg.dataset, cfg.image_size, cfg.data_dir)
        scores = judges.score(as_pixels(self.particles()[:JUDGED]))
        refs = reference_scores(cfg.dataset, cfg.image_size, cfg.data_dir)
        e = lambda x: energies(self.model, x, self.device, autocast=self.autocast)  # noqa: E731
        e_data, e_noise = e(self.images.test[:HELD_OUT]), e(self.noise_ref)
        out: dict[str, float] = {k: scores[k] for k in JUDGED_KEYS}
        for ref, judged in refs.items():  # the same judges on noise, blobs, held-out data: e.g. realistic_blobs
            out.update({f"{k}_{ref}": judged[k] for k in JUDGED_KEYS})
        out.update({
            "auroc_noise": _safe_auroc(e_data, e_noise),
            "e_data": float(e_data.mean()),
            "e_noise": float(e_noise.mean()),
            "e_particles": float(e(self.particles()[:HIST]).mean()),
        })
        other = other_images(cfg.dataset, self.images.size, cfg.data_dir)
        if other is not None:
            out["auroc_other"] = _safe_auroc(e_data, e(other.test[:HELD_OUT]))
        for i, share in enumerate(scores["class_shares"]):
            out[f"class_{i}"] = share
        return out


def _safe_auroc(a: np.ndarray, b: np.ndarray) -> float:
    """The AUROC, or NaN when an energy is not finite (so the run's guard stops and rolls back)."""
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("nan")
    return round(auroc(a, b), 4)
