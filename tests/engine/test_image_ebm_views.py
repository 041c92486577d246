"""Pictures, histograms, PSNR and "freeze and sample" (denoising and inpainting by the frozen energy)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from engine.image_ebm.data import load_images
from engine.image_ebm.sampler import Langevin
from engine.image_ebm.views import (
    FreezeAndSample,
    corrupt,
    energy_histograms,
    psnr,
    strips_picture,
    tile,
    upscale,
)
from tests.engine.test_image_ebm_data import _one_thread  # noqa: F401  (autouse fixture)


def test_tile_places_images_row_by_row():
    imgs = np.stack([np.full((2, 3), i, np.float32) for i in range(5)])
    t = tile(imgs, cols=3, pad=1, fill=-1)
    assert t.shape == (2 * 3 - 1, 3 * 4 - 1)
    assert t[0, 0] == 0 and t[0, 4] == 1 and t[3, 0] == 3 and t[3, 4] == 4 and t[3, 8] == -1
    assert upscale(t, 2).shape == (t.shape[0] * 2, t.shape[1] * 2)


def test_strips_picture_greys_unreached_frames():
    s = np.ones((2, 3, 2, 2), np.float32)
    pic = strips_picture(s, np.array([1, 3]))
    assert pic.shape == (2 * 3 - 1, 3 * 3 - 1)
    assert pic[0, 0] == 1 and pic[0, 3] == 0.5 and pic[3, 6] == 1


def test_histograms_share_bins_and_measure_the_gap():
    h = energy_histograms(np.zeros(10), np.full(10, 0.5), np.ones(10), bins=4)
    assert len(h["edges"]) == 5 and sum(h["counts"]["data"]) == 10 and h["gap"] == 1.0
    assert energy_histograms(np.zeros(3), np.zeros(3), np.zeros(3))["gap"] == 0.0  # degenerate: no crash


def test_psnr_definition():
    clean = np.zeros((2, 4, 4))
    assert math.isclose(psnr(clean + 0.1, clean), 20.0, rel_tol=1e-9)  # MSE 0.01 → 20 dB
    assert psnr(clean, clean) == 100.0  # floored MSE


def test_corruptions():
    clean = torch.zeros(4, 1, 8, 8)
    noisy, masked, free = corrupt(clean, torch.Generator().manual_seed(0))
    assert 0.4 < noisy.std() < 0.7  # 2σ = 0.6 in the model's range, less after clamping
    assert torch.equal(masked[..., :4, :], clean[..., :4, :]) and masked[..., 4:, :].abs().sum() > 0
    assert free[..., 4:, :].eq(1).all() and free[..., :4, :].eq(0).all()


class PullToData(nn.Module):
    """E(x) = ½ min_j ‖x − t_j‖²: low exactly on the images t_j, so sampling must restore them."""

    def __init__(self, targets: torch.Tensor):
        super().__init__()
        self.targets = nn.Parameter(targets.clone().flatten(1))

    def forward(self, x):
        return 0.5 * (torch.cdist(x.flatten(1), self.targets) ** 2).min(1).values


def test_freeze_and_sample_restores_towards_the_energy_minimum():
    images = load_images("digits")
    model = PullToData(images.test[:64])
    s = FreezeAndSample(model, images, Langevin(1, 0.2, 0.0), per_step=5, restored=64, fresh=16)
    for _ in range(4):
        s.step()
    ev = s.evaluate()
    assert s.step_count == 20
    assert ev["psnr_noisy_gain"] > 1 and ev["psnr_masked_gain"] > 1
    assert all(np.isfinite(v) for v in ev.values())
    snap = s.snapshot()
    assert snap["fresh"].shape == (16, 8, 8) and snap["clean"].shape == (16, 8, 8)
    assert model.targets.grad is None  # frozen: the caller's model is untouched (a copy samples)
