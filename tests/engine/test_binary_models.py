"""Binary energies and exact enumeration, checked against brute-force loops over every state."""

from __future__ import annotations

import math

import pytest
import torch

from engine.binary.data import ENCODINGS, bits_to_index
from engine.binary.exact import (
    coupling_errors,
    log_partition,
    log_probs,
    nll_from_log_probs,
    sample_states,
    state_chunks,
    total_variation,
)
from engine.binary.models import FVBM, RBM, BinaryEnergy, build_model, model_from_params
from engine.training import init_parameters

pytestmark = pytest.mark.usefixtures("float64")  # brute force vs vectorised, to ~1e-10


def random_fvbm(d: int, enc: str, seed: int = 0, scale: float = 1.0) -> FVBM:
    g = torch.Generator().manual_seed(seed)
    return FVBM(d, ENCODINGS[enc]).set_params(scale * torch.randn(d, d, generator=g),
                                              scale * torch.randn(d, generator=g))


def random_rbm(d: int, m: int, enc: str, seed: int = 0) -> RBM:
    g = torch.Generator().manual_seed(seed)
    rbm = RBM(d, m, ENCODINGS[enc], init_std=1.0).init_parameters(g)
    with torch.no_grad():
        rbm.bias.copy_(torch.randn(d, generator=g))
        rbm.hidden_bias.copy_(torch.randn(m, generator=g))
    return rbm.double()


def states(d: int, enc: str) -> list[tuple[float, ...]]:
    e = ENCODINGS[enc]
    # index order: bit i of state k is (k >> i) & 1
    return [tuple(e.lo + (e.hi - e.lo) * ((k >> i) & 1) for i in range(d)) for k in range(2**d)]


def brute_fvbm_energy(model: FVBM, y: tuple[float, ...]) -> float:
    j, b, d = model.J.detach(), model.bias.detach(), len(y)
    return -0.5 * sum(j[i, k] * y[i] * y[k] for i in range(d) for k in range(d)) - sum(b[i] * y[i] for i in range(d))


@pytest.mark.parametrize("enc", ["01", "pm1"])
def test_fvbm_energy_matches_the_formula(enc):
    model = random_fvbm(4, enc).double()
    assert torch.equal(model.J, model.J.T) and torch.all(model.J.diagonal() == 0)
    ys = states(4, enc)
    got = model(torch.tensor(ys))
    want = torch.tensor([float(brute_fvbm_energy(model, y)) for y in ys])
    assert torch.allclose(got, want)


@pytest.mark.parametrize("enc", ["01", "pm1"])
def test_rbm_free_energy_sums_out_the_hidden_units(enc):
    rbm = random_rbm(3, 2, enc)
    hs = torch.tensor(states(2, enc))
    for y in states(3, enc):
        yt = torch.tensor([y])
        joint = rbm.joint_energy(yt.expand(len(hs), -1), hs)
        assert float(rbm(yt).detach()) == pytest.approx(float(-torch.logsumexp(-joint, 0).detach()), abs=1e-10)


@pytest.mark.parametrize("kind,enc", [("fvbm", "01"), ("fvbm", "pm1"), ("rbm", "01"), ("rbm", "pm1")])
def test_flip_energy_changes_match_two_evaluations(kind, enc):
    model = random_fvbm(5, enc).double() if kind == "fvbm" else random_rbm(5, 3, enc)
    y = torch.tensor(states(5, enc))
    fast = model.neighbour_deltas(y)
    generic = BinaryEnergy.neighbour_deltas(model, y)
    assert torch.allclose(fast, generic)
    index = torch.arange(len(y)) % 5
    assert torch.allclose(model.flip_delta(y, index), fast[torch.arange(len(y)), index])
    assert torch.allclose(BinaryEnergy.flip_delta(model, y, index), fast[torch.arange(len(y)), index])


@pytest.mark.parametrize("kind,enc", [("fvbm", "01"), ("fvbm", "pm1"), ("rbm", "pm1")])
def test_log_partition_equals_a_loop_over_all_states(kind, enc):
    model = random_fvbm(6, enc).double() if kind == "fvbm" else random_rbm(6, 3, enc)
    want = math.log(sum(math.exp(-float(model(torch.tensor([y])).detach())) for y in states(6, enc)))
    assert float(log_partition(model).detach()) == pytest.approx(want, abs=1e-9)
    lp = log_probs(model)
    assert float(lp.exp().sum()) == pytest.approx(1.0)


def test_chunked_enumeration_agrees_with_one_chunk():
    model = random_fvbm(12, "pm1", scale=0.3).double()
    whole = float(log_partition(model).detach())
    chunks = list(state_chunks(12, model.encoding, dtype=torch.float64, chunk=1000))
    assert len(chunks) == 5
    assert sum(len(c) for c in chunks) == 4096
    assert float(torch.logsumexp(torch.cat([-model(c) for c in chunks]), 0).detach()) == pytest.approx(whole)


def test_encodings_are_the_same_model_family():
    """A {0,1} FVBM with J01 = 4 J±, b01 = 2 b± − 2 J± 1 is the {−1,+1} model: same probabilities."""
    pm = random_fvbm(5, "pm1", seed=3).double()
    j, b = pm.J.detach(), pm.bias.detach()
    zo = FVBM(5, ENCODINGS["01"]).double().set_params(4 * j, 2 * b - 2 * j.sum(1))
    assert torch.allclose(log_probs(pm), log_probs(zo))
    assert torch.allclose(zo.couplings_pm(), j)


def test_nll_of_a_target_and_exact_samples():
    model = random_fvbm(4, "01", scale=0.8).double()
    lp = log_probs(model)
    target = torch.tensor([[0, 1, 0, 1], [1, 1, 0, 0]], dtype=torch.uint8)
    w = torch.tensor([0.25, 0.75], dtype=torch.float64)
    want = -(0.25 * lp[bits_to_index(target[:1])] + 0.75 * lp[bits_to_index(target[1:])]).sum()
    assert nll_from_log_probs(lp, target, w) == pytest.approx(float(want))
    draws = sample_states(lp, 50_000, torch.Generator().manual_seed(0))
    freq = torch.bincount(bits_to_index(draws), minlength=16).double() / 50_000
    assert total_variation(freq, lp.exp()) < 0.03


def test_coupling_errors():
    j = torch.tensor([[0.0, 1.0, -2.0], [1.0, 0.0, 0.5], [-2.0, 0.5, 0.0]])
    assert coupling_errors(j, j) == (pytest.approx(0.0), pytest.approx(1.0))
    mae, corr = coupling_errors(2 * j, j)
    assert corr == pytest.approx(1.0) and mae == pytest.approx(float(j.triu(1).abs().sum()) / 3)
    assert coupling_errors(-j, j)[1] == pytest.approx(-1.0)


@pytest.mark.parametrize("kind", ["fvbm", "rbm"])
def test_model_round_trips_through_numpy_params(kind):
    model = init_parameters(build_model(kind, 6, ENCODINGS["pm1"], hidden=3), torch.Generator().manual_seed(1))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1)
    again = model_from_params(kind, model.numpy_params(), ENCODINGS["pm1"])
    y = torch.tensor(states(6, "pm1"))
    assert torch.allclose(model(y), again(y))


def test_bad_models_are_clear_errors():
    with pytest.raises(ValueError, match="model"):
        build_model("transformer", 4, ENCODINGS["01"])
    with pytest.raises(ValueError, match="hidden"):
        RBM(4, 0, ENCODINGS["01"])


def test_models_start_from_the_run_generator_only():
    """The FVBM starts at J = 0, b = 0 (uniform); the RBM's W comes from the generator it is given, and
    building or initialising a model never touches torch's global generator."""
    before = torch.random.get_rng_state()
    fvbm = init_parameters(build_model("fvbm", 5, ENCODINGS["01"]), torch.Generator().manual_seed(3))
    assert all(float(p.abs().sum()) == 0 for p in fvbm.parameters())
    rbms = [init_parameters(build_model("rbm", 5, ENCODINGS["01"], hidden=4), torch.Generator().manual_seed(s))
            for s in (3, 3, 4)]
    assert torch.equal(rbms[0].weight, rbms[1].weight) and not torch.equal(rbms[0].weight, rbms[2].weight)
    assert float(rbms[0].weight.std()) == pytest.approx(0.1, rel=0.5)
    assert torch.equal(torch.random.get_rng_state(), before)
