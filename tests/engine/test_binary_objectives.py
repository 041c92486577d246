"""Every binary objective against a brute-force version of its docstring formula on tiny models:
values and gradients; plus the consistency each method promises (zero expected gradient when the
data come from the model) and the NCE sanity value log 4."""

from __future__ import annotations

import math

import pytest
import torch

from engine.binary.config import BinaryConfig
from engine.binary.data import ENCODINGS, BinaryData, index_to_bits
from engine.binary.exact import log_probs
from engine.binary.models import FVBM, RBM
from engine.binary.objectives import REGISTRY, ObjectiveContext, available, build_objective
from engine.binary.samplers import metropolis

CASES = [("fvbm", "01"), ("fvbm", "pm1"), ("rbm", "01"), ("rbm", "pm1")]


pytestmark = pytest.mark.usefixtures("float64")  # brute force vs vectorised, to ~1e-10


def make_model(kind: str, enc: str, d: int = 4, seed: int = 0, scale: float = 0.7):
    g = torch.Generator().manual_seed(seed)
    if kind == "fvbm":
        return FVBM(d, ENCODINGS[enc]).set_params(scale * torch.randn(d, d, generator=g),
                                                  scale * torch.randn(d, generator=g))
    rbm = RBM(d, 2, ENCODINGS[enc], init_std=scale).init_parameters(g)
    with torch.no_grad():
        rbm.bias.copy_(scale * torch.randn(d, generator=g))
        rbm.hidden_bias.copy_(scale * torch.randn(2, generator=g))
    return rbm


def make_data(bits: torch.Tensor) -> BinaryData:
    d = bits.shape[1]
    return BinaryData("tiny", "", (1, d), bits.to(torch.uint8), bits.to(torch.uint8),
                      torch.full((len(bits),), 1 / len(bits), dtype=torch.float64), None)


def make_objective(name: str, model, data_bits: torch.Tensor | None = None, seed: int = 0, **config):
    bits = data_bits if data_bits is not None else index_to_bits(torch.arange(2**model.d), model.d)
    ctx = ObjectiveContext(make_data(bits), model, torch.Generator().manual_seed(seed), torch.device("cpu"))
    return build_objective(name, ctx, BinaryConfig(**config))


# ---- brute force: the formulas written out with loops ------------------------------------------
def bf_energy(model, y: list[float]) -> torch.Tensor:
    d = len(y)
    if isinstance(model, FVBM):
        j, b = model.J, model.bias
        quad = sum(j[i, k] * y[i] * y[k] for i in range(d) for k in range(d))
        return -0.5 * quad - sum(b[i] * y[i] for i in range(d))
    enc = model.encoding
    terms = []
    for hk in range(2**model.hidden):
        h = [enc.hi if (hk >> j) & 1 else enc.lo for j in range(model.hidden)]
        e = -sum(y[i] * model.weight[i, j] * h[j] for i in range(d) for j in range(model.hidden))
        e = e - sum(model.bias[i] * y[i] for i in range(d)) - sum(model.hidden_bias[j] * h[j]
                                                                     for j in range(model.hidden))
        terms.append(-e)
    return -torch.logsumexp(torch.stack(terms), 0)


def all_states(model) -> list[list[float]]:
    enc = model.encoding
    return [[enc.hi if (k >> i) & 1 else enc.lo for i in range(model.d)] for k in range(2**model.d)]


def flip(model, y: list[float], i: int) -> list[float]:
    out = list(y)
    out[i] = model.encoding.lo + model.encoding.hi - y[i]
    return out


def rows(t: torch.Tensor) -> list[list[float]]:
    return [list(map(float, r)) for r in t]


def grads(model, loss: torch.Tensor, extra: list[torch.Tensor] = ()) -> list[torch.Tensor]:
    params = list(model.parameters()) + list(extra)
    return list(torch.autograd.grad(loss, params))


def assert_same(model, ours, brute, extra=()):
    assert float(ours.detach()) == pytest.approx(float(brute.detach()), rel=1e-9, abs=1e-10)
    for g1, g2 in zip(grads(model, ours, extra), grads(model, brute, extra), strict=True):
        assert torch.allclose(g1, g2, atol=1e-9)


BATCH_BITS = torch.tensor([[0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 1], [1, 0, 1, 1], [0, 1, 1, 0]])


def batch(model) -> torch.Tensor:
    return model.encoding.encode(BATCH_BITS).double()


def test_all_six_methods_are_registered():
    assert list(available()) == ["ml", "cd", "pcd", "rm", "mpf", "nce"]


def test_each_builder_takes_exactly_its_settings():
    taken = {m: REGISTRY.settings_of(m) for m in available()}
    assert taken == {"ml": (), "cd": ("k", "sampler"), "pcd": ("k", "sampler", "chains"), "rm": (), "mpf": (),
                     "nce": ("nce_nu",)}
    assert BinaryConfig.applies("chains", {"method": "pcd"}) and not BinaryConfig.applies("chains", {"method": "cd"})


def test_auto_sampler_is_gibbs_for_the_rbm_and_metropolis_for_the_fvbm():
    assert make_objective("cd", make_model("rbm", "01")).sampler == "gibbs"
    assert make_objective("pcd", make_model("fvbm", "01")).sampler == "metropolis"
    assert make_objective("cd", make_model("rbm", "01"), sampler="metropolis").sampler == "metropolis"


@pytest.mark.parametrize("kind,enc", CASES)
def test_maximum_likelihood_matches_its_formula(kind, enc):
    model = make_model(kind, enc)
    y = batch(model)
    out = make_objective("ml", model)(model, y)
    e_data = sum(bf_energy(model, r) for r in rows(y)) / len(y)
    log_z = torch.logsumexp(torch.stack([-bf_energy(model, s) for s in all_states(model)]), 0)
    assert_same(model, out.loss, e_data + log_z)


def test_maximum_likelihood_gradient_is_data_minus_model_statistics():
    model = make_model("fvbm", "pm1")
    y = batch(model)
    out = make_objective("ml", model)(model, y)
    g_w, g_b = grads(model, out.loss)
    s = model.encoding.encode(index_to_bits(torch.arange(16), 4)).double()
    p = log_probs(model).exp()
    # ∂E/∂J_ij = −y_i y_j (i < j), ∂E/∂b_i = −y_i
    want_w = torch.triu(-(y.T @ y) / len(y) + (s.T * p) @ s, 1)
    want_b = -y.mean(0) + p @ s
    assert torch.allclose(g_w, want_w, atol=1e-10)
    assert torch.allclose(g_b, want_b, atol=1e-10)


@pytest.mark.parametrize("kind,enc", CASES)
def test_ratio_matching_matches_its_formula(kind, enc):
    model = make_model(kind, enc)
    y = batch(model)
    out = make_objective("rm", model)(model, y)
    total = 0
    for r in rows(y):
        e = bf_energy(model, r)
        for i in range(model.d):
            g = 1 / (1 + torch.exp(bf_energy(model, flip(model, r, i)) - e))  # g(p(y)/p(ȳ^i)), g(u) = 1/(1+u)
            total = total + g**2
    assert_same(model, out.loss, total / len(y))


@pytest.mark.parametrize("kind,enc", CASES)
def test_minimum_probability_flow_matches_its_formula(kind, enc):
    model = make_model(kind, enc)
    y = batch(model)
    out = make_objective("mpf", model)(model, y)
    total = 0
    for r in rows(y):
        e = bf_energy(model, r)
        for i in range(model.d):
            total = total + torch.exp(0.5 * (e - bf_energy(model, flip(model, r, i))))
    assert_same(model, out.loss, total / len(y))


@pytest.mark.parametrize("kind,enc", CASES)
def test_cd_compares_the_data_with_k_sampler_sweeps_from_it(kind, enc):
    model = make_model(kind, enc)
    y = batch(model)
    out = make_objective("cd", model, seed=5, k=3)(model, y)
    if kind == "fvbm":  # the negatives are the Metropolis chains started at the data
        again, _ = metropolis(model, y, 3, torch.Generator().manual_seed(5))
        assert torch.equal(out.negatives, again)
    neg = rows(out.negatives)
    brute = sum(bf_energy(model, r) for r in rows(y)) / len(y) - sum(bf_energy(model, r) for r in neg) / len(neg)
    assert_same(model, out.loss, brute)


def test_cd_with_long_chains_approaches_the_ml_gradient():
    model = make_model("fvbm", "pm1", scale=0.5)
    y = batch(model).repeat(4000, 1)
    g_ml = grads(model, make_objective("ml", model)(model, y).loss)
    g_cd = grads(model, make_objective("cd", model, k=30)(model, y).loss)
    for a, b in zip(g_ml, g_cd, strict=True):
        assert torch.allclose(a, b, atol=0.03)
    g_cd1 = grads(model, make_objective("cd", model, k=1)(model, y[:20]).loss)
    assert not all(torch.allclose(a, b, atol=0.03) for a, b in zip(g_ml, g_cd1, strict=True))


@pytest.mark.parametrize("kind,enc", CASES)
def test_pcd_pushes_up_on_particles_that_persist(kind, enc):
    model = make_model(kind, enc)
    y = batch(model)
    obj = make_objective("pcd", model, k=1, chains=7)
    first = obj(model, y).negatives.clone()
    out = obj(model, y)
    assert out.negatives.shape == (7, 4)
    assert torch.equal(obj.chains, out.negatives)
    assert "chains" in obj.state_dict()  # checkpoints keep the particles
    neg = rows(out.negatives)
    brute = sum(bf_energy(model, r) for r in rows(y)) / len(y) - sum(bf_energy(model, r) for r in neg) / len(neg)
    assert_same(model, out.loss, brute)
    # the second update continued from the first one's particles: the same seed restarted gives
    # the first update's particles again, and one more update from there gives the second's
    fresh = make_objective("pcd", model, k=1, chains=7)
    fresh(model, y)
    assert torch.equal(fresh.chains, first)
    fresh(model, y)
    assert torch.equal(fresh.chains, out.negatives)


@pytest.mark.parametrize("kind,enc", CASES)
def test_nce_matches_its_formula(kind, enc):
    model = make_model(kind, enc)
    y = batch(model)
    data_bits = BATCH_BITS
    obj = make_objective("nce", model, data_bits=data_bits, nce_nu=3)
    with torch.no_grad():
        obj.log_norm.add_(0.3)  # away from its start, so the c-gradient is not trivially symmetric
    out = obj(model, y)
    noise = rows(out.negatives)
    assert len(noise) == 3 * len(y)
    mu = (data_bits.double().sum(0) + 1) / (len(data_bits) + 2)  # Laplace-smoothed marginals

    def log_q(r):
        bits = [1 if v == model.encoding.hi else 0 for v in r]
        return sum(math.log(mu[i]) if b else math.log(1 - mu[i]) for i, b in enumerate(bits))

    def logit(r):
        return -bf_energy(model, r) + obj.log_norm - math.log(3) - log_q(r)

    brute = (-sum(torch.log(torch.sigmoid(logit(r))) for r in rows(y))
             - sum(torch.log(1 - torch.sigmoid(logit(r))) for r in noise)) / len(y)
    assert_same(model, out.loss, brute, extra=[obj.log_norm])


def test_nce_starts_normalised_and_gives_log_4_when_model_noise_and_data_agree():
    data_bits = torch.tensor([[1, 0, 1], [1, 1, 0], [0, 0, 1], [1, 0, 0]])
    mu = (data_bits.double().sum(0) + 1) / (len(data_bits) + 2)
    model = FVBM(3, ENCODINGS["01"]).set_params(torch.zeros(3, 3), torch.log(mu / (1 - mu)))  # p_θ = q
    obj = make_objective("nce", model, data_bits=data_bits, nce_nu=1)
    log_z = math.log(float(torch.exp(-model(model.encoding.encode(index_to_bits(torch.arange(8), 3)))).sum().detach()))
    assert float(obj.log_norm.detach()) == pytest.approx(-log_z)
    out = obj(model, model.encoding.encode(data_bits).double())
    assert float(out.loss.detach()) == pytest.approx(math.log(4), abs=1e-6)


@pytest.mark.parametrize("name", ["rm", "mpf", "nce", "ml"])
def test_expected_gradient_vanishes_when_the_data_come_from_the_model(name):
    """Consistency: with p_data = p_θ (every state weighted by its exact probability) the expected
    gradient of the objective is zero at θ (NCE: with c = −log Z_θ)."""
    model = make_model("fvbm", "pm1", d=4, seed=2, scale=0.5)
    p = log_probs(model).exp().detach()
    states = model.encoding.encode(index_to_bits(torch.arange(16), 4)).double()
    obj = make_objective(name, model)
    if name == "nce":
        # expected NCE loss, ν = 1: Σ_y p(y) softplus(−G(y)) + Σ_y q(y) softplus(G(y))
        q = torch.exp(obj.noise.log_prob(states))
        g = obj.classifier_logit(model, states)
        loss = (p * torch.nn.functional.softplus(-g)).sum() + (q * torch.nn.functional.softplus(g)).sum()
        extra = [obj.log_norm]
    else:
        loss = sum(p[s] * obj(model, states[s:s + 1]).loss for s in range(16))
        extra = []
    for g in grads(model, loss, extra):
        assert g.abs().max() < 1e-8
    # and it is not zero for other data (the test can fail)
    skewed = torch.softmax(torch.arange(16.0), 0)
    if name != "nce":
        other = sum(skewed[s] * obj(model, states[s:s + 1]).loss for s in range(16))
        assert max(float(g.abs().max()) for g in grads(model, other)) > 1e-3


def test_objective_arguments_are_validated():
    model = make_model("fvbm", "01")
    with pytest.raises(ValueError, match="method"):
        make_objective("score_matching", model)
    with pytest.raises(ValueError, match="k"):
        make_objective("cd", model, k=0)
