"""Samplers: the Metropolis rule, its transition kernel, convergence to the exact distribution (total
variation), block Gibbs for the RBM, persistent chains and the watched chain of the page."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from engine.binary.data import ENCODINGS, bits_to_index, index_to_bits
from engine.binary.exact import empirical_distribution, log_probs, total_variation
from engine.binary.models import FVBM, RBM
from engine.binary.sampler_check import check_sampler, random_model
from engine.binary.samplers import (
    PersistentChains,
    WatchedChain,
    accept,
    gibbs,
    metropolis,
    metropolis_proposal,
    run_sampler,
    sample_long_run,
)


def small_fvbm(d: int, enc: str, seed: int = 0, scale: float = 1.0) -> FVBM:
    g = torch.Generator().manual_seed(seed)
    return FVBM(d, ENCODINGS[enc]).set_params(scale * torch.randn(d, d, generator=g),
                                              0.5 * torch.randn(d, generator=g))


def test_accept_rule():
    delta = torch.tensor([-1.0, 0.0, 1.0, 1.0, 3.0])
    u = torch.tensor([0.99, 0.99, 0.30, 0.40, 0.049])
    # downhill always; uphill iff u < exp(−ΔE): exp(−1) = 0.368, exp(−3) = 0.0498
    assert accept(delta, u).tolist() == [True, True, True, False, True]


@pytest.mark.parametrize("enc", ["01", "pm1"])
def test_one_proposal_flips_exactly_the_accepted_bits(enc):
    model = small_fvbm(4, enc)
    y = ENCODINGS[enc].encode(index_to_bits(torch.arange(16), 4))
    index = torch.arange(16) % 4
    u = torch.rand(16, generator=torch.Generator().manual_seed(1))
    before = y.clone()
    delta = model.flip_delta(before, index)
    ok = metropolis_proposal(model, y, index, u)
    assert torch.equal(ok, u < torch.exp(-delta.clamp_min(0)))
    changed = (y != before)
    assert torch.equal(changed.any(1), ok)
    assert torch.equal(changed.sum(1), ok.long())  # at most the one proposed bit
    assert torch.allclose(model(y)[ok], (model(before) + delta)[ok])


def exact_sweep_kernel(model: FVBM) -> torch.Tensor:
    """The transition matrix of one sweep: d proposals, each a uniformly chosen bit."""
    d = model.d
    n = 2**d
    y = model.encoding.encode(index_to_bits(torch.arange(n), d)).double()
    m = copy.deepcopy(model).double()  # .double() converts in place: keep the sampled model float32
    step = torch.zeros(n, n, dtype=torch.float64)
    deltas = m.neighbour_deltas(y).detach()
    for s in range(n):
        for i in range(d):
            p = min(1.0, math.exp(-float(deltas[s, i]))) / d
            step[s, s ^ (1 << i)] += p
            step[s, s] += 1 / d - p
    return torch.linalg.matrix_power(step, d)


def test_one_sweep_from_a_fixed_state_follows_the_exact_kernel():
    model = small_fvbm(3, "pm1", scale=0.8)
    kernel = exact_sweep_kernel(model)
    start = 5
    chains = 100_000
    y0 = model.encoding.encode(index_to_bits(torch.full((chains,), start), 3))
    y1, rate = metropolis(model, y0, 1, torch.Generator().manual_seed(0))
    freq = empirical_distribution(model.encoding.decode(y1), 3)
    assert total_variation(freq, kernel[start]) < 0.01
    assert 0 < rate < 1
    # and the exact kernel leaves the Boltzmann distribution invariant (detailed balance)
    p = log_probs(copy.deepcopy(model).double()).exp()
    assert torch.allclose(p @ kernel, p, atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["metropolis", "gibbs"])
def test_long_runs_match_the_exact_distribution(kind):
    """The acceptance check at full size (~8 s Metropolis, ~2 s Gibbs on one core): a random 10-bit
    model, 4096 chains, 500 burn-in sweeps, then 250 samples per chain 10 sweeps apart."""
    out = check_sampler(kind, bits=10, chains=4096, burn_in=500, samples=250, thin=10, seed=0)
    assert out["total_samples"] == 1_024_000
    assert out["tv"] <= 0.03


def test_a_stopped_sampler_would_fail_the_check():
    model = random_model("metropolis", 6, 0)
    gen = torch.Generator().manual_seed(0)
    kept = sample_long_run("metropolis", model, 1024, 0, 1, 0, gen)  # no sweeps: still uniform noise
    assert total_variation(empirical_distribution(kept, 6), log_probs(model).double().exp()) > 0.1


@pytest.mark.parametrize("enc", ["01", "pm1"])
def test_gibbs_conditionals_match_the_joint(enc):
    g = torch.Generator().manual_seed(0)
    rbm = RBM(3, 2, ENCODINGS[enc], init_std=1.0).init_parameters(g)
    e = ENCODINGS[enc]
    y = e.encode(torch.tensor([[1, 0, 1]]))
    hs = e.encode(index_to_bits(torch.arange(4), 2))
    joint = -rbm.joint_energy(y.expand(4, -1), hs).detach()
    p_h = torch.softmax(joint, 0)
    draws = torch.stack([rbm.sample_hidden(y.expand(40_000, -1), g) for _ in range(1)])[0]
    freq = empirical_distribution(e.decode(draws), 2)
    assert total_variation(freq, p_h.double()) < 0.02


def test_gibbs_needs_an_rbm():
    with pytest.raises(ValueError, match="RBM"):
        gibbs(small_fvbm(3, "01"), torch.zeros(2, 3), 1, torch.Generator())
    with pytest.raises(ValueError, match="sampler"):
        run_sampler("hmc", small_fvbm(3, "01"), torch.zeros(2, 3), 1, torch.Generator())


def test_persistent_chains_continue_where_they_stopped():
    model = small_fvbm(5, "01")
    start = model.encoding.encode(torch.randint(2, (64, 5), generator=torch.Generator().manual_seed(0)))
    chains = PersistentChains(start)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    chains.advance("metropolis", model, 1, g1)
    chains.advance("metropolis", model, 2, g1)
    straight, _ = metropolis(model, start, 3, g2)
    assert torch.equal(chains.state, straight)
    assert not torch.equal(chains.state, start)


@pytest.mark.parametrize("enc", ["01", "pm1"])
def test_watched_chain_reports_each_proposal_honestly(enc):
    model = small_fvbm(4, enc, scale=1.5)
    chain = WatchedChain(model, [1, 0, 1, 0], seed=0)
    accepted = 0
    for n in range(1, 60):
        p = chain.propose()
        assert p.number == n
        assert p.p_accept == pytest.approx(min(1.0, math.exp(-p.delta_e)))
        assert p.accepted == (p.u < p.p_accept)
        assert p.energy_after - p.energy_before == pytest.approx(p.delta_e, abs=1e-5)
        flipped = p.before.copy()
        flipped[p.bit] ^= 1
        assert (p.after == (flipped if p.accepted else p.before)).all()
        y = model.encoding.encode(torch.as_tensor(flipped)[None])
        assert float(model(y).detach()) == pytest.approx(p.energy_after, abs=1e-5)
        accepted += p.accepted
    assert chain.accepted == accepted and 0 < accepted < 59
    assert int(bits_to_index(torch.as_tensor(chain.bits)[None])) >= 0
