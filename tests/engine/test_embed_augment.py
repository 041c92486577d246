"""Augmentation is per sample, reproducible from the run's generator, identity at strength 0, and
never flips digits."""

from __future__ import annotations

import math

import pytest
import torch

from engine.embed.augment import LAYERS, AugmentConfig, Augmenter, default_augment, hue_rotate
from engine.errors import SettingError
from engine.training import make_generator

DEFAULTS = {name: default_augment(name) for name in LAYERS.dataset}


def test_each_image_gets_its_own_transformation():
    x = torch.rand(1, 3, 16, 16, generator=make_generator(0)).expand(32, -1, -1, -1).contiguous()  # one image, 32 times
    aug = Augmenter(default_augment("shapes"), 3)
    views = aug(x, torch.Generator().manual_seed(0))
    flat = views.flatten(1)
    dist = torch.cdist(flat, flat)
    off_diag = dist[~torch.eye(32, dtype=torch.bool)]
    assert off_diag.min() > 1e-3  # no two copies transformed alike
    p = aug.sample(32, torch.Generator().manual_seed(0))
    assert p.theta.unique(dim=0).shape[0] == 32 and p.hue.unique().numel() == 32


def test_same_generator_same_views_and_pairs_differ():
    x = torch.rand(8, 1, 8, 8, generator=make_generator(1))
    aug = Augmenter(default_augment("digits"), 1)
    a1, b1 = aug.pair(x, torch.Generator().manual_seed(3))
    a2, b2 = aug.pair(x, torch.Generator().manual_seed(3))
    assert torch.equal(a1, a2) and torch.equal(b1, b2)
    assert not torch.allclose(a1, b1)
    assert a1.min() >= 0 and a1.max() <= 1


@pytest.mark.parametrize("dataset", sorted(DEFAULTS))
def test_strength_zero_is_the_identity(dataset):
    channels = 3 if dataset in ("shapes", "cifar10") else 1
    x = torch.rand(4, channels, 12, 12, generator=make_generator(2))
    aug = Augmenter(default_augment(dataset, strength=0.0, noise=0.0, blur_p=0.0), channels)
    torch.testing.assert_close(aug(x, torch.Generator().manual_seed(0)), x, atol=1e-5, rtol=0)


def test_no_flips_for_digits_and_mnist():
    for name in ("digits", "mnist"):
        assert DEFAULTS[name].flip == 0.0
    aug = Augmenter(default_augment("digits"), 1)
    p = aug.sample(500, torch.Generator().manual_seed(1))
    # determinant of the linear part: a flip makes it negative
    det = p.theta[:, 0, 0] * p.theta[:, 1, 1] - p.theta[:, 0, 1] * p.theta[:, 1, 0]
    assert (det > 0).all()
    shapes = Augmenter(default_augment("shapes"), 3).sample(500, torch.Generator().manual_seed(1))
    det = shapes.theta[:, 0, 0] * shapes.theta[:, 1, 1] - shapes.theta[:, 0, 1] * shapes.theta[:, 1, 0]
    assert 0.3 < (det < 0).float().mean() < 0.7


def test_a_pure_flip_mirrors_the_image():
    cfg = AugmentConfig(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip=1.0, jitter_p=0, grayscale_p=0)
    x = torch.rand(2, 3, 8, 8, generator=make_generator(3))
    torch.testing.assert_close(Augmenter(cfg, 3)(x, torch.Generator()), x.flip(-1), atol=1e-5, rtol=0)


def test_hue_rotation_keeps_grey_and_full_turn_is_identity():
    grey = torch.full((1, 3, 4, 4), 0.4)
    torch.testing.assert_close(hue_rotate(grey, torch.tensor([1.0])), grey)
    x = torch.rand(2, 3, 4, 4, generator=make_generator(4))
    torch.testing.assert_close(hue_rotate(x, torch.tensor([2 * math.pi, 0.0])), x, atol=1e-5, rtol=0)
    assert not torch.allclose(hue_rotate(x, torch.tensor([1.0, 1.0])), x)


def test_bad_config_is_rejected():
    with pytest.raises(SettingError, match="crop_scale"):
        AugmentConfig(crop_scale=(0.5, 0.2))
    with pytest.raises(SettingError, match="crop_scale"):
        AugmentConfig(crop_scale=(0.5,))
    with pytest.raises(SettingError, match="padding"):
        AugmentConfig(padding="wrap")
    with pytest.raises(SettingError, match="noise"):
        AugmentConfig(noise=float("inf"))
    with pytest.raises(SettingError, match="no augmentation defaults"):
        default_augment("imagenet")
    with pytest.raises(SettingError, match="unknown setting 'warp'"):
        default_augment("digits", warp=1.0)
