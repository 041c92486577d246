"""Maximum likelihood on 2-D data: the objective, reproducibility and the shift invariance (the trainer's
tests on the `--device` of the run)."""

from __future__ import annotations

import math

import pytest
import torch

from engine.errors import SettingError
from engine.toy.config import ToyConfig
from engine.toy.data import get_dataset
from engine.toy.grid import Grid, energy_on_grid
from engine.toy.objectives import ObjectiveContext, available, build_objective
from engine.toy.trainer import ToyTrainer
from engine.toy.views import push_field, shift_invariance


def small(**kw) -> ToyConfig:
    base = dict(dataset="eight_gaussians", method="ml", steps=60, width=32, depth=2, lr=3e-3, batch_size=128,
                train_grid=48, view_grid=32, eval_grid=96, test_size=500, device="cpu")
    return ToyConfig(**{**base, **kw})


def test_ml_loss_is_mean_data_energy_plus_grid_log_z():
    cfg = small()
    ctx = ObjectiveContext(get_dataset(cfg.dataset), torch.Generator().manual_seed(0), torch.device("cpu"))
    objective = build_objective("ml", ctx, cfg)
    energy = lambda y: 0.5 * (y**2).sum(1)  # a standard Gaussian energy
    y = torch.randn(64, 2)
    out = objective(energy, y)
    expected = energy(y).mean() + math.log(2 * math.pi)  # log Z of N(0, I) is log 2π
    assert float(out.loss) == pytest.approx(float(expected), abs=2e-3)


def test_ml_gradient_pushes_down_on_data_and_up_where_the_model_puts_mass():
    """∂L/∂E(y_j) on the grid equals p_θ(y_j) ΔA-weights; on a data point it is +1/N."""
    cfg = small()
    cfg = small(train_grid=24)
    grid = Grid(3.5, 24)
    ctx = ObjectiveContext(get_dataset(cfg.dataset), torch.Generator().manual_seed(0), torch.device("cpu"))
    objective = build_objective("ml", ctx, cfg)
    e_grid = torch.randn(grid.n * grid.n, requires_grad=True)
    e_data = torch.randn(5, requires_grad=True)
    table = {"grid": e_grid, "data": e_data}

    def energy(y):
        return table["grid"] if y.shape[0] == grid.n**2 else table["data"]

    objective(energy, torch.zeros(5, 2)).loss.backward()
    assert torch.allclose(e_data.grad, torch.full((5,), 1 / 5))
    assert torch.allclose(e_grid.grad, -torch.softmax(-e_grid.detach(), 0), atol=1e-7)


def test_same_seed_same_numbers(device, same):
    a, b = ToyTrainer(small(device=device)), ToyTrainer(small(device=device))
    la = [a.step()["loss"] for _ in range(20)]
    lb = [b.step()["loss"] for _ in range(20)]
    assert la == same(lb)
    assert a.evaluate() == same(b.evaluate())
    c = ToyTrainer(small(seed=1, device=device))
    assert [c.step()["loss"] for _ in range(20)] != la


def test_training_lowers_kl(device):
    t = ToyTrainer(small(device=device))
    kl0 = t.evaluate()["kl"]
    for _ in range(150):
        t.step()
    assert t.evaluate()["kl"] < 0.6 * kl0


def test_snapshot_has_energy_and_points(device):
    t = ToyTrainer(small(device=device))
    t.step()
    snap = t.snapshot()
    assert snap["energy"].shape == (32, 32)
    assert snap["positives"].shape[1] == 2


def test_checkpoint_restore_round_trip(device, same):
    t = ToyTrainer(small(device=device))
    t.step()
    state = t.checkpoint()
    before = t.energy_grid().copy()
    for _ in range(5):
        t.step()
    assert (t.energy_grid() != before).any()
    t.restore(state)
    assert t.energy_grid() == same(before) and t.step_count == 1


@pytest.mark.parametrize("c", [-10.0, 0.0, 3.5, 40.0])
def test_adding_a_constant_changes_log_z_only(c, device):
    t = ToyTrainer(small(device=device))
    for _ in range(10):
        t.step()
    check = shift_invariance(t.model, t.test_x, t.eval_grid, c)
    assert check["log_z_shifted"] == pytest.approx(check["log_z"] - c, abs=1e-3)
    assert check["nll_shifted"] == pytest.approx(check["nll"], abs=1e-3)
    assert check["max_abs_dp"] < 1e-6


def test_push_field_sums_to_zero_and_vanishes_at_the_optimum():
    ds = get_dataset("eight_gaussians")
    grid = Grid(ds.box, 40)
    logp = ds.log_density(grid.points()).view(40, 40)
    field = push_field(energy_on_grid(lambda y: torch.zeros(y.shape[0]), grid).numpy(), logp)
    assert abs(field.sum()) < 1e-9
    assert field.max() > 0 and field.min() < 0
    assert abs(push_field((-logp).numpy(), logp)).max() < 1e-9


def test_config_validation_messages():
    with pytest.raises(SettingError, match="dataset = 'nope'"):
        ToyConfig(dataset="nope")
    with pytest.raises(SettingError, match="lr"):
        ToyConfig(lr=0)
    with pytest.raises(SettingError, match="method = 'nope'"):
        small(method="nope")
    assert "ml" in available()


def test_no_process_global_seeding(device, same):
    """A run draws only from its own generators: the global torch stream does not change its numbers,
    and two runs interleaved give the same numbers as one alone."""
    torch.manual_seed(1)
    a = ToyTrainer(small(device=device))
    torch.manual_seed(2)
    b = ToyTrainer(small(device=device))
    la, lb = [], []
    for _ in range(5):
        la.append(a.step()["loss"])
        torch.rand(7)  # another thread drawing from the global stream
        lb.append(b.step()["loss"])
    c = ToyTrainer(small(device=device))
    assert la == same(lb) and lb == same([c.step()["loss"] for _ in range(5)])


def test_checkpoint_restores_the_generator(device, same):
    t = ToyTrainer(small(device=device))
    t.step()
    state = t.checkpoint()
    after = [t.step()["loss"] for _ in range(3)]
    t.restore(state)
    assert [t.step()["loss"] for _ in range(3)] == same(after)
