"""The contrastive objectives against their formulas: CD-k, PCD, NCE, DSM (and the DSM floor)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from engine.errors import SettingError
from engine.toy.config import ToyConfig
from engine.toy.data import get_dataset
from engine.toy.grid import Grid
from engine.toy.objectives import ObjectiveContext, available, build_objective
from engine.toy.objectives.dsm import kl_floor, smoothed_cell_probs
from engine.toy.objectives.nce import NoiseDistribution
from engine.toy.trainer import ToyTrainer, data_log_density_on_grid


class Quadratic(nn.Module):
    """E(y) = a ‖y − b‖² / 2 with a learnable a (a tiny model whose gradients we know)."""

    def __init__(self, a: float = 1.0, b: float = 0.0):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a))
        self.b = b

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return 0.5 * self.a * ((y - self.b) ** 2).sum(-1)


def make(method: str, dataset: str = "eight_gaussians", seed: int = 0, **kw):
    cfg = ToyConfig(dataset=dataset, method=method, seed=seed, **kw)
    gen = torch.Generator().manual_seed(seed)
    ds = get_dataset(dataset)
    ctx = ObjectiveContext(ds, gen, torch.device("cpu"), seed=seed)
    return build_objective(method, ctx, cfg), ds, gen


def test_all_methods_registered():
    assert {"ml", "cd", "pcd", "nce", "dsm"} <= set(available())


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_cd_loss_is_the_formula(alpha):
    obj, ds, gen = make("cd", k=3, eps=0.05, alpha=alpha)
    model = Quadratic(1.3)
    batch = ds.sample(64, gen)
    out = obj(model, batch)
    e_pos, e_neg = model(batch), model(out.negatives)
    expected = e_pos.mean() - e_neg.mean() + alpha * ((e_pos**2).mean() + (e_neg**2).mean())
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert not out.negatives.requires_grad  # the sampler is not differentiated through


def test_cd_negatives_start_at_the_data():
    """No noise: ȳ = y − ε ∇E(y) after one step, from each data point."""
    obj, ds, gen = make("cd", k=1, eps=0.1, noise=0.0)
    model = Quadratic(2.0, b=0.5)
    batch = ds.sample(32, gen)
    out = obj(model, batch)
    assert torch.allclose(out.negatives, batch - 0.1 * 2.0 * (batch - 0.5), atol=1e-6)


def test_cd_gradient_pushes_down_on_data_and_up_on_negatives():
    """For E = a‖y‖²/2: ∂L/∂a = mean ‖y‖²/2 − mean ‖ȳ‖²/2 (α = 0)."""
    obj, ds, gen = make("cd", k=5, eps=0.05, alpha=0.0)
    model = Quadratic(1.0)
    batch = ds.sample(128, gen)
    out = obj(model, batch)
    out.loss.backward()
    expected = 0.5 * (batch**2).sum(1).mean() - 0.5 * (out.negatives**2).sum(1).mean()
    assert model.a.grad.item() == pytest.approx(expected.item(), rel=1e-5)
    assert expected > 0  # the negatives slid down towards the origin: energy goes up there


def test_pcd_writes_chains_back_to_their_slots():
    obj, ds, gen = make("pcd", k=2, eps=0.01, buffer=512, batch_size=64, reinit=0.0)
    model = Quadratic(1.0)
    before = obj.buffer.clone()
    out = obj(model, ds.sample(64, gen))
    changed = (obj.buffer != before).any(1)
    assert int(changed.sum()) == 64  # exactly the batch's slots moved
    assert torch.equal(obj.buffer[changed].sort(0).values, out.negatives.sort(0).values)
    # the followed slots (the first `shown`) are in every batch, in order: particles are stable
    shown = out.extras["particles"].shape[0]
    assert torch.equal(torch.from_numpy(out.extras["particles"]), obj.buffer[:shown, :2])
    assert changed[:shown].all()


def test_pcd_chains_continue_and_reinit_restarts():
    obj, ds, gen = make("pcd", k=1, eps=1e-4, noise=0.0, buffer=256, batch_size=256, reinit=0.0)
    model = Quadratic(1.0)
    obj.buffer.fill_(0.25)
    out = obj(model, ds.sample(256, gen))
    assert torch.allclose(out.negatives, torch.full_like(out.negatives, 0.25 * (1 - 1e-4)))
    assert not out.extras["reinit"].any()
    obj.reinit = 1.0
    out = obj(model, ds.sample(256, gen))
    assert out.extras["reinit"].all() and out.negatives.std() > 1.0  # uniform on the box again
    assert out.scalars["reinit_frac"] == 1.0


def test_pcd_same_seed_same_numbers(device, same):
    def losses():
        t = ToyTrainer(ToyConfig(method="pcd", k=3, buffer=512, width=32, steps=5, seed=3, device=device))
        return [t.step()["loss"] for _ in range(5)]

    assert losses() == same(losses())


def test_nce_loss_is_log4_when_model_equals_noise():
    obj, ds, gen = make("nce")

    class Noise(nn.Module):
        def forward(self, y):
            return -obj.noise.log_prob(y)  # exp(−E) = q, so with c = 0, G ≡ 0

    out = obj(Noise(), ds.sample(256, gen))
    assert out.loss.item() == pytest.approx(math.log(4), abs=1e-5)


def test_nce_learns_the_log_normaliser():
    """E = −log q + 3, i.e. Z_θ = e^{−3}: minimising over c alone finds c = log Z_θ = −3."""
    obj, ds, gen = make("nce", nce_noise="uniform")

    class Shifted(nn.Module):
        def forward(self, y):
            return -obj.noise.log_prob(y) + 3.0

    opt = torch.optim.Adam([obj.log_norm], lr=0.1)
    for _ in range(300):
        out = obj(Shifted(), ds.sample(256, gen))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    assert obj.log_norm.item() == pytest.approx(-3.0, abs=0.05)


@pytest.mark.parametrize("kind", ["gaussian_fit", "gaussian_wide", "uniform"])
def test_nce_noise_density_integrates_to_one(kind):
    ds = get_dataset("eight_gaussians")
    data = ds.sample(5000, torch.Generator().manual_seed(0))
    q = NoiseDistribution(kind, data, ds.box)
    grid = Grid(8.0 if kind != "uniform" else ds.box, 400)
    mass = q.log_prob(grid.points()).exp().sum() * grid.cell_area
    assert float(mass) == pytest.approx(1.0, abs=2e-3 if kind != "gaussian_wide" else 2e-2)
    s = q.sample(20000, torch.Generator().manual_seed(1))
    if kind == "uniform":
        assert s.abs().max() <= ds.box
    else:
        widen = 4.0 if kind == "gaussian_wide" else 1.0
        assert torch.allclose(torch.cov(s.T), widen * torch.cov(data.T), rtol=0.05, atol=0.05 * widen)
    with pytest.raises(SettingError, match="nce_noise"):
        NoiseDistribution("laplace", data, ds.box)


def test_dsm_loss_is_the_formula():
    obj, ds, gen = make("dsm", sigma=0.2)
    model = Quadratic(1.7)
    batch = ds.sample(64, gen)
    state = gen.get_state()
    out = obj(model, batch)
    gen.set_state(state)
    xi = torch.randn(batch.shape, generator=gen)
    noisy = batch + 0.2 * xi
    grad = 1.7 * noisy  # ∇E for E = a‖y‖²/2
    expected = 0.5 * ((0.2 * grad - xi) ** 2).sum(1).mean()
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert torch.allclose(out.negatives, noisy, atol=1e-6)


def test_dsm_minimiser_is_the_smoothed_score():
    """Data N(0, s²I): DSM at σ is minimised by the score of N(0, (s² + σ²)I), not of the data."""
    s, sigma = 0.5, 0.4
    obj, _, gen = make("dsm", sigma=sigma)
    batch = s * torch.randn(200_000, 2, generator=torch.Generator().manual_seed(0))

    def loss(a):
        obj.gen.manual_seed(1)  # the same corruption for every a
        return obj(Quadratic(a), batch).loss.item()

    a_star = 1 / (s**2 + sigma**2)
    assert loss(a_star) < loss(1 / s**2)
    assert loss(a_star) < loss(0.8 * a_star) and loss(a_star) < loss(1.2 * a_star)


def test_dsm_floor_matches_the_analytic_value():
    """Eight well-separated Gaussians of std s: KL(p ‖ p ∗ N(0, σ²)) ≈ 2 [log(s'/s) + s²/(2s'²) − ½]."""
    s, sigma = 0.2, 0.1
    s2 = math.sqrt(s**2 + sigma**2)
    analytic = 2 * (math.log(s2 / s) + s**2 / (2 * s2**2) - 0.5)
    ds = get_dataset("eight_gaussians")
    log_p = data_log_density_on_grid("eight_gaussians", ds.box, 200)
    assert kl_floor(log_p, Grid(ds.box, 200), sigma) == pytest.approx(analytic, abs=1e-3)
    q = smoothed_cell_probs(log_p, Grid(ds.box, 200), sigma)
    assert float(q.sum()) == pytest.approx(1.0) and kl_floor(log_p, Grid(ds.box, 200), 0.3) > analytic


@pytest.mark.parametrize("method", ["cd", "pcd", "nce", "dsm"])
def test_short_training_lowers_kl(method, device):
    cfg = ToyConfig(method=method, dataset="eight_gaussians", steps=150, width=64, k=5, buffer=1024,
                    lr=3e-3, alpha=0.1 if method in ("cd", "pcd") else 0.0, eval_grid=100, device=device)
    t = ToyTrainer(cfg)
    kl0 = t.evaluate()["kl"]
    for _ in range(cfg.steps):
        t.step()
    kl1 = t.evaluate()["kl"]
    assert kl1 < 0.8 * kl0, (kl0, kl1)


def test_config_rejects_bad_knobs():
    with pytest.raises(SettingError, match="nce_noise"):
        ToyConfig(method="nce", nce_noise="laplace")
    with pytest.raises(SettingError, match="reinit"):
        ToyConfig(method="pcd", reinit=1.5)
    with pytest.raises(SettingError, match="buffer"):
        ToyConfig(method="pcd", buffer=10, batch_size=256)


def test_each_builder_takes_exactly_its_settings():
    """The registry reads the builders' keyword-only arguments: those are the settings the form shows."""
    assert ToyConfig.method_settings("ml") == ("train_grid",)
    assert set(ToyConfig.method_settings("cd")) == {"k", "eps", "noise", "alpha", "clip_grad"}
    assert set(ToyConfig.method_settings("pcd")) == {"k", "eps", "noise", "alpha", "clip_grad", "buffer", "reinit"}
    assert set(ToyConfig.method_settings("nce")) == {"nce_noise", "alpha"}
    assert set(ToyConfig.method_settings("dsm")) == {"sigma", "alpha"}
    values = ToyConfig.defaults_for("rings", "dsm")
    assert ToyConfig.applies("sigma", values) and not ToyConfig.applies("k", values)


def test_layered_defaults():
    assert ToyConfig.create(method="cd").alpha == 0.1 and ToyConfig.create(method="ml").lr == 3e-3
    assert ToyConfig.create(dataset="rings", method="nce").nce_noise == "uniform"
    assert ToyConfig.create(dataset="eight_gaussians", method="nce").nce_noise == "gaussian_fit"


def test_nce_noise_fit_is_kept_apart_from_the_run_draws():
    """The noise fit draws from its own generator: the run's stream is where it was."""
    obj, _, gen = make("nce", seed=4)
    fresh = torch.Generator().manual_seed(4)
    assert torch.equal(torch.rand(5, generator=gen), torch.rand(5, generator=fresh))
    again, _, _ = make("nce", seed=4)
    assert torch.equal(obj.noise.chol, again.noise.chol)


def test_trainer_advice_names_only_toy_settings():
    advice = ToyTrainer.failure_advice
    assert "learning rate" in advice and "α" in advice and "Langevin steps k" in advice
