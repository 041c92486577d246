"""Exact quantities by enumerating all 2^d states (d ≤ 24, in chunks, vectorised).

    Z_θ = Σ_{y ∈ {lo,hi}^d} exp(−E_θ(y)),   log p_θ(y) = −E_θ(y) − log Z_θ
    NLL = −Σ_y w(y) log p_θ(y)   for a target distribution w (data patterns, a test set, a true model)
    TV(p, q) = ½ Σ_y |p(y) − q(y)|

States come in index order (bit i of state k is (k >> i) & 1, see data.index_to_bits).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import torch

from engine.binary.data import Encoding, bits_to_index, index_to_bits

Tensor = torch.Tensor
CHUNK = 1 << 16


@lru_cache(maxsize=8)
def _state_bits(d: int, start: int, stop: int) -> Tensor:
    return index_to_bits(torch.arange(start, stop), d)


def state_chunks(d: int, encoding: Encoding, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32, chunk: int = CHUNK) -> Iterator[Tensor]:
    """All 2^d states in the model's encoding, `chunk` rows at a time, in index order."""
    total = 1 << d
    for start in range(0, total, chunk):
        bits = _state_bits(d, start, min(total, start + chunk))
        yield encoding.encode(bits).to(device=device, dtype=dtype)


def _dtype(model: torch.nn.Module) -> torch.dtype:
    return next(model.parameters()).dtype


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def neg_energies(model) -> Tensor:
    """−E_θ(y) for every state (index order); differentiable."""
    dev, dt = _device(model), _dtype(model)
    return torch.cat([-model(y) for y in state_chunks(model.d, model.encoding, dev, dt)])


def log_partition(model) -> Tensor:
    """log Z_θ, differentiable (maximum likelihood backpropagates through it)."""
    return torch.logsumexp(neg_energies(model), 0)


@torch.no_grad()
def log_probs(model) -> Tensor:
    """log p_θ(y) for all 2^d states (index order)."""
    neg = neg_energies(model)
    return neg - torch.logsumexp(neg, 0)


def nll_from_log_probs(log_p: Tensor, states: Tensor, weights: Tensor) -> float:
    """−Σ w(y) log p(y) with states given as bits."""
    idx = bits_to_index(states).to(log_p.device)
    return float(-(weights.to(log_p.device, torch.float64) * log_p[idx].double()).sum())


def sample_states(log_p: Tensor, n: int, gen: torch.Generator) -> Tensor:
    """n exact samples (bits) from the enumerated distribution exp(log_p)."""
    p = log_p.detach().double().exp().cpu()
    index = torch.multinomial(p, n, replacement=True, generator=gen)
    return index_to_bits(index, int(log_p.numel()).bit_length() - 1)


def coupling_errors(j_learned: Tensor, j_true: Tensor) -> tuple[float, float]:
    """(mean absolute error, Pearson correlation) over the couplings i < j."""
    d = j_true.shape[0]
    iu = torch.triu_indices(d, d, 1)
    a = j_learned.detach().cpu().double()[iu[0], iu[1]]
    b = j_true.cpu().double()[iu[0], iu[1]]
    mae = float((a - b).abs().mean())
    a0, b0 = a - a.mean(), b - b.mean()
    denom = float(a0.norm() * b0.norm())
    corr = float((a0 * b0).sum()) / denom if denom > 0 else 0.0
    return mae, corr


def total_variation(p: Tensor, q: Tensor) -> float:
    return 0.5 * float((p.double() - q.double()).abs().sum())


def empirical_distribution(bits: Tensor, d: int) -> Tensor:
    """Frequencies of the 2^d states among the rows of `bits`."""
    counts = torch.bincount(bits_to_index(bits), minlength=1 << d).double()
    return counts / counts.sum()
