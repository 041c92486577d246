"""Samplers for binary energies: Metropolis single-bit flips, block Gibbs for the RBM, persistent chains.

Metropolis (the lecture's discrete CD move): pick a bit i at random and propose ȳ = y with bit i
flipped; with ΔE = E(ȳ) − E(y), accept if the energy falls (ΔE ≤ 0), otherwise with probability
exp(−ΔE), i.e. accept iff u < min(1, exp(−ΔE)), u ~ U(0, 1). One sweep is d proposals per chain.
The chain satisfies detailed balance for p(y) ∝ exp(−E(y)), so it converges to the model.

Gibbs (RBM): h ~ p(h | y), then y ~ p(y | h); both factorise, P(unit = hi) = σ((hi − lo)·drive).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.binary.models import FVBM, RBM, BinaryEnergy
from engine.training import make_generator

Tensor = torch.Tensor
SAMPLERS = ("metropolis", "gibbs")


def accept(delta_e: Tensor, u: Tensor) -> Tensor:
    """The Metropolis rule: ΔE ≤ 0 always, otherwise with probability exp(−ΔE)."""
    return u < torch.exp(-delta_e.clamp_min(0))


@torch.no_grad()
def metropolis(model: BinaryEnergy, y: Tensor, sweeps: int, gen: torch.Generator) -> tuple[Tensor, float]:
    """`sweeps` × d single-bit-flip proposals per chain (random bit each time); returns (y, accept rate)."""
    y = y.clone()
    n, d = y.shape
    if sweeps <= 0 or n == 0:
        return y, 0.0
    if isinstance(model, FVBM):
        return _metropolis_fvbm(model, y, sweeps, gen)
    accepted = torch.zeros((), device=y.device)
    for _ in range(sweeps):
        index = torch.randint(d, (d, n), generator=gen, device=y.device)
        u = torch.rand((d, n), generator=gen, device=y.device, dtype=y.dtype)
        for t in range(d):
            accepted += metropolis_proposal(model, y, index[t], u[t]).sum()
    return y, float(accepted) / (sweeps * d * n)


def _metropolis_fvbm(model: FVBM, y: Tensor, sweeps: int, gen: torch.Generator) -> tuple[Tensor, float]:
    """The same chain (same random numbers, same rule) for the FVBM, keeping the local fields
    h = Jy + b up to date instead of recomputing them: ΔE = −δ_i h_i, and accepting moves h by δ_i J_i.
    u < min(1, e^{−ΔE}) is written log u < δ_i h_i (the same test; log u ≤ 0 accepts every ΔE ≤ 0)."""
    n, d = y.shape
    j, b = model.J.detach().to(y.dtype), model.bias.detach().to(y.dtype)
    flip_sum = model.encoding.lo + model.encoding.hi
    accepted = torch.zeros(n, 1, device=y.device)
    for _ in range(sweeps):
        index = torch.randint(d, (d, n), generator=gen, device=y.device)
        log_u = torch.rand((d, n), generator=gen, device=y.device, dtype=y.dtype).log()[:, :, None]
        h = y @ j + b  # refreshed every sweep, so rounding never accumulates
        for t in range(d):
            # gather / scatter_add_ / index_select: several times faster than advanced indexing on the CPU
            i = index[t]
            col = i[:, None]
            delta = flip_sum - 2 * y.gather(1, col)
            move = delta * (log_u[t] < delta * h.gather(1, col))
            y.scatter_add_(1, col, move)
            h.addcmul_(move, torch.index_select(j, 0, i))
            accepted += move != 0
    return y, float(accepted.sum()) / (sweeps * d * n)


def metropolis_proposal(model: BinaryEnergy, y: Tensor, index: Tensor, u: Tensor) -> Tensor:
    """One proposal per chain, in place: flip bit index[n] of row n if accept(ΔE, u[n]); returns the mask."""
    rows = torch.arange(y.shape[0], device=y.device)
    ok = accept(model.flip_delta(y, index), u)
    yi = y[rows, index]
    y[rows, index] = torch.where(ok, model.encoding.lo + model.encoding.hi - yi, yi)
    return ok


@torch.no_grad()
def gibbs(model: RBM, y: Tensor, steps: int, gen: torch.Generator) -> tuple[Tensor, float]:
    """`steps` block Gibbs steps y → h → y; returns (y, fraction of visible bits that changed)."""
    if not isinstance(model, RBM):
        raise ValueError("block Gibbs sampling needs an RBM (use metropolis for the fully visible model)")
    start = y
    for _ in range(steps):
        y = model.sample_visible(model.sample_hidden(y, gen), gen)
    changed = float((y != start).float().mean()) if steps > 0 else 0.0
    return y, changed


def resolve_sampler(name: str, model_kind: str) -> str:
    """The sampler `name` names for a model of kind `model_kind` ("auto": Gibbs for the RBM, else Metropolis)."""
    if name != "auto":
        return name
    return "gibbs" if model_kind == "rbm" else "metropolis"


def run_sampler(name: str, model: BinaryEnergy, y: Tensor, k: int, gen: torch.Generator) -> tuple[Tensor, float]:
    """k Metropolis sweeps or k Gibbs steps from y; returns (samples, accept rate / change rate)."""
    if name == "metropolis":
        return metropolis(model, y, k, gen)
    if name == "gibbs":
        return gibbs(model, y, k, gen)
    raise ValueError(f"unknown sampler {name!r}; choose one of {SAMPLERS}")


class PersistentChains:
    """Chains that remember where they were: each update continues them for k more steps."""

    def __init__(self, start: Tensor):
        self.state = start.clone()

    def advance(self, sampler: str, model: BinaryEnergy, k: int, gen: torch.Generator) -> tuple[Tensor, float]:
        self.state, rate = run_sampler(sampler, model, self.state, k, gen)
        return self.state, rate


@torch.no_grad()
def sample_long_run(sampler: str, model: BinaryEnergy, chains: int, burn_in: int, samples: int, thin: int,
                    gen: torch.Generator) -> Tensor:
    """`chains` chains from uniform random bits; after `burn_in` sweeps keep one state every `thin`
    sweeps, `samples` per chain. Returns all kept states as bits, (chains·samples, d)."""
    enc = model.encoding
    dtype = next(model.parameters()).dtype
    device = next(model.parameters()).device
    bits = torch.randint(2, (chains, model.d), generator=gen, device=device)
    y, _ = run_sampler(sampler, model, enc.encode(bits).to(dtype), burn_in, gen)
    kept = []
    for _ in range(samples):
        y, _ = run_sampler(sampler, model, y, thin, gen)
        kept.append(enc.decode(y))
    return torch.cat(kept)


@dataclass
class Proposal:
    """One Metropolis proposal on the watched chain, everything the view shows."""

    number: int
    before: np.ndarray  # bits
    bit: int
    energy_before: float
    energy_after: float  # of the proposed state
    delta_e: float
    p_accept: float  # min(1, exp(−ΔE))
    u: float
    accepted: bool
    after: np.ndarray  # bits of the chain after the decision


class WatchedChain:
    """A single Metropolis chain stepped one proposal at a time, for the "watch one chain" view."""

    def __init__(self, model: BinaryEnergy, start_bits: Tensor | np.ndarray, seed: int = 0):
        self.model = model
        self.gen = make_generator(seed)
        dtype = next(model.parameters()).dtype
        self.y = model.encoding.encode(torch.as_tensor(np.asarray(start_bits)).reshape(1, -1)).to(dtype)
        self.count = 0
        self.accepted = 0

    @property
    def bits(self) -> np.ndarray:
        return self.model.encoding.decode(self.y)[0].numpy()

    @torch.no_grad()
    def propose(self) -> Proposal:
        before = self.bits
        i = torch.randint(self.model.d, (1,), generator=self.gen)
        u = torch.rand(1, generator=self.gen, dtype=self.y.dtype)
        e0 = float(self.model(self.y))
        d = float(self.model.flip_delta(self.y, i))
        ok = bool(metropolis_proposal(self.model, self.y, i, u))
        self.accepted += ok
        self.count += 1
        return Proposal(self.count, before, int(i), e0, e0 + d, d, float(min(1.0, np.exp(-d))), float(u), ok,
                        self.bits)
