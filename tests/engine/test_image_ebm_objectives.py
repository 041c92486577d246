"""The sampler and the two objectives against their formulas."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from engine.image_ebm.config import ImageEBMConfig
from engine.image_ebm.objectives import REGISTRY, ObjectiveContext, contrastive_loss
from engine.image_ebm.sampler import Langevin
from tests.engine.test_image_ebm_data import _one_thread  # noqa: F401  (autouse fixture)


class Quadratic(nn.Module):
    """E(x) = ½‖x − c‖² per image: ∇E = x − c."""

    def __init__(self, c: float = 0.2):
        super().__init__()
        self.c = nn.Parameter(torch.tensor(c))

    def forward(self, x):
        return 0.5 * ((x - self.c) ** 2).flatten(1).sum(1)


def ctx(batch=8, followed=4):
    gen = torch.Generator().manual_seed(0)
    return ObjectiveContext((1, 4, 4), batch, gen, gen, torch.device("cpu"), followed=followed)


def test_contrastive_loss_formula():
    e_pos, e_neg = torch.tensor([1.0, -1.0, 0.5]), torch.tensor([2.0, 0.0])
    loss, s = contrastive_loss(e_pos, e_neg, alpha=0.1)
    expected = (e_pos.mean() - e_neg.mean()) + 0.1 * ((e_pos**2).mean() + (e_neg**2).mean())
    assert math.isclose(float(loss), float(expected), rel_tol=1e-6)
    assert math.isclose(s["e_pos"], float(e_pos.mean()), rel_tol=1e-6) and s["e_neg"] == 1.0


def test_noiseless_unclipped_step_is_gradient_descent():
    x = torch.rand(3, 1, 4, 4) * 2 - 1
    y = Langevin(1, 0.1, 0.0).run(Quadratic(0.2), x, torch.Generator())
    assert torch.allclose(y, (x - 0.1 * (x - 0.2)).clamp(-1, 1), atol=1e-6)


def test_clip_caps_each_pixel_move_and_free_mask_holds():
    x = -torch.ones(2, 1, 4, 4)
    free = torch.zeros_like(x)
    free[..., 2:, :] = 1
    y = Langevin(1, 10.0, 0.0, clip_grad=0.03).run(Quadratic(1.0), x, torch.Generator(), free=free)
    assert torch.allclose(y[..., 2:, :], torch.full_like(y[..., 2:, :], -1 + 10 * 0.03))  # grad −2 clipped to −0.03
    assert torch.equal(y[..., :2, :], x[..., :2, :])  # held pixels never move


def test_true_langevin_only_when_s_is_sqrt_2eps_and_nothing_clipped():
    assert Langevin(10, 0.01, None).not_true_langevin() is None
    assert math.isclose(Langevin(10, 0.01, None).s, math.sqrt(0.02))
    note = Langevin(30, 10.0, 0.005, 0.03).not_true_langevin()
    assert "temperature" in note and "clipped" in note
    assert math.isclose(Langevin(30, 10.0, 0.005).temperature, 0.005**2 / 20)


def test_pcd_followed_slots_every_batch_and_written_back():
    obj = REGISTRY.build("pcd", ctx(), ImageEBMConfig.create(buffer=32, reinit=0.0, k=2, batch_size=8))
    before = obj.chains.clone()
    out = obj(Quadratic(), torch.zeros(8, 1, 4, 4))
    changed = (obj.chains != before).flatten(1).any(1)
    assert changed[:4].all() and int(changed.sum()) == 8  # the 4 followed + 4 others, written back
    assert torch.equal(out.followed, obj.chains[:4]) and not out.restarted.any()


def test_pcd_reinit_one_restarts_every_chain_from_noise():
    obj = REGISTRY.build("pcd", ctx(), ImageEBMConfig.create(buffer=16, reinit=1.0, k=1, batch_size=8))
    obj.chains.fill_(0.5)  # a recognisable state that a restart replaces
    out = obj(Quadratic(), torch.zeros(8, 1, 4, 4))
    assert out.restarted.all() and not torch.allclose(out.starts, torch.full_like(out.starts, 0.5))
    assert out.scalars["reinit_frac"] == 1.0


def test_cd_starts_at_the_data_and_keeps_recent_negatives():
    obj = REGISTRY.build("cd", ctx(), ImageEBMConfig.create(method="cd", k=1, eps=0.1, noise=0.0, clip_grad=None))
    batch = torch.rand(8, 1, 4, 4) * 2 - 1
    out = obj(Quadratic(0.2), batch)
    assert torch.allclose(out.negatives, batch - 0.1 * (batch - 0.2), atol=1e-6)
    assert torch.equal(obj.particles()[:8], out.negatives) and int(obj.cursor) == 8


def test_per_method_settings_come_from_the_builders():
    assert set(REGISTRY.settings_of("pcd")) == {"buffer", "reinit", "k", "eps", "noise", "clip_grad", "alpha"}
    assert "buffer" not in REGISTRY.settings_of("cd")
    assert not ImageEBMConfig.applies("reinit", {"method": "cd"})
    assert ImageEBMConfig.applies("reinit", {"method": "pcd"})


def test_pcd_gradient_lowers_data_and_raises_particles():
    model = Quadratic(0.0)
    obj = REGISTRY.build("pcd", ctx(), ImageEBMConfig.create(buffer=16, batch_size=8, k=1, alpha=0.0))
    out = obj(model, torch.full((8, 1, 4, 4), 0.5))
    out.loss.backward()
    # data at 0.5: moving c towards 0.5 lowers E(data); the loss gradient points that way
    assert model.c.grad < 0


@pytest.mark.parametrize("name", ["pcd", "cd"])
def test_buffer_rule(name):
    from engine.errors import SettingError

    if name == "pcd":
        with pytest.raises(SettingError, match="buffer"):
            ImageEBMConfig.create(buffer=4, batch_size=8)
    else:
        assert ImageEBMConfig.create(method="cd", buffer=4, batch_size=8).buffer == 4
