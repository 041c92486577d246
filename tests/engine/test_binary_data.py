"""Binary data sets: bars and stripes, digits, exactly sampled Ising; encodings and state indices."""

from __future__ import annotations

import math

import pytest
import torch

from engine.binary.data import (
    ENCODINGS,
    bars_stripes_patterns,
    bits_to_index,
    get_encoding,
    images,
    index_to_bits,
    ising_couplings,
    ising_log_probs,
    load_data,
)
from engine.binary.exact import empirical_distribution, total_variation


def test_bars_and_stripes_are_the_30_row_or_column_constant_images():
    pats = bars_stripes_patterns(4)
    assert pats.shape == (30, 16)
    assert len(set(bits_to_index(pats).tolist())) == 30
    img = pats.view(30, 4, 4)
    rows_const = (img == img[:, :, :1]).all(2).all(1)
    cols_const = (img == img[:, :1, :]).all(1).all(1)
    assert (rows_const | cols_const).all()
    # every row-constant image (2^4) and column-constant one (2^4) is there, minus the 2 shared
    assert int(rows_const.sum()) == 16 and int(cols_const.sum()) == 16 and int((rows_const & cols_const).sum()) == 2


def test_bars_and_stripes_target_is_uniform_with_entropy_log_30():
    data = load_data("bars_stripes")
    assert data.d == 16 and data.shape == (4, 4)
    assert data.entropy == pytest.approx(math.log(30))
    assert torch.allclose(data.eval_weights, torch.full((30,), 1 / 30, dtype=torch.float64))


@pytest.mark.parametrize("d", [1, 5, 16])
def test_state_index_round_trip(d):
    index = torch.arange(min(2**d, 1000))
    bits = index_to_bits(index, d)
    assert bits.shape == (len(index), d)
    assert torch.equal(bits_to_index(bits), index)
    assert int(bits[1, 0]) == 1  # bit i of state k is (k >> i) & 1


@pytest.mark.parametrize("name", ["01", "pm1"])
def test_encoding_round_trip_and_flip(name):
    enc = get_encoding(name)
    bits = torch.tensor([[0, 1, 1, 0]], dtype=torch.uint8)
    y = enc.encode(bits)
    assert set(y.unique().tolist()) == {enc.lo, enc.hi}
    assert torch.equal(enc.decode(y), bits)
    assert torch.equal(enc.decode(y + enc.flip_step(y)), 1 - bits)


def test_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match="encoding"):
        get_encoding("ternary")
    with pytest.raises(ValueError, match="data set"):
        load_data("cifar")


def test_ising_couplings_are_symmetric_with_the_asked_scale():
    j = ising_couplings(64, 2.0, torch.Generator().manual_seed(0))
    assert torch.equal(j, j.T) and torch.all(j.diagonal() == 0)
    iu = torch.triu_indices(64, 64, 1)
    assert float(j[iu[0], iu[1]].std()) == pytest.approx(2.0 / 8.0, rel=0.05)


def test_ising_samples_are_exact_draws_from_the_true_model():
    data = load_data("ising", 1.0, 20_000, 0)
    assert data.d == 16 and data.true_j is not None
    p = data.eval_weights
    assert float(p.sum()) == pytest.approx(1.0)
    assert torch.allclose(p.log(), ising_log_probs(data.true_j))
    assert data.entropy == pytest.approx(float(-(p * p.log()).sum()))
    # marginal pair correlations of the samples match the exact ones
    s = 2.0 * data.train.double() - 1
    states = 2.0 * data.eval_states.double() - 1
    exact = (states.T * p) @ states
    assert torch.allclose(s.T @ s / len(s), exact, atol=0.03)
    # the empirical distribution is as close to p as 20k exact draws can be
    assert total_variation(empirical_distribution(data.train, 16), p) < 0.25


def test_ising_is_reproducible_and_depends_on_its_seed():
    a, b = load_data("ising", 1.0, 100, 0), load_data("ising", 1.0, 100, 1)
    load_data.cache_clear()
    a2 = load_data("ising", 1.0, 100, 0)
    assert torch.equal(a.train, a2.train) and torch.equal(a.true_j, a2.true_j)
    assert not torch.equal(a.true_j, b.true_j)


@pytest.mark.parametrize("name,d,shape", [("digits", 16, (4, 4)), ("digits_5x4", 20, (5, 4))])
def test_digits_are_small_binary_images_with_a_held_out_target(name, d, shape):
    data = load_data(name)
    assert data.d == d and data.shape == shape and data.d <= 20
    assert set(data.train.unique().tolist()) <= {0, 1}
    assert len(data.train) == 1797 - round(0.2 * 1797)
    assert float(data.eval_weights.sum()) == pytest.approx(1.0)
    assert data.entropy is None
    m = data.marginals()
    assert torch.all((m > 0) & (m < 1))
    assert images(data.train[:3], shape).shape == (3, *shape)


def test_encodings_registry():
    assert set(ENCODINGS) == {"01", "pm1"}
