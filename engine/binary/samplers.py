"""Samplers for binary energies: Metropolis single-bit flips, block Gibbs for the RBM, persistent chains.

Metropolis (the lecture's discrete CD move): pick a bit i at random and propose ȳ = y with bit i
flipped; with ΔE = E(ȳ) − E(y), accept if the energy falls (ΔE ≤ 0), otherwise with probability
exp(−ΔE), i.e. accept iff u < min(1, exp(−ΔE)), u ~ U(0, 1). One sweep is d proposals per chain.
The chain satisfies detailed balance for p(y) ∝ exp(−E(y)), so it converges to the model.

Gibbs (RBM): h ~ p(h | y), then y ~ p(y | h); both factorise, P(unit = hi) = σ((hi − lo)·drive).

Every call advances a whole batch of chains (column n of each random draw is chain n's; chains never
interact). `ChainSampler` runs k sweeps of a fixed batch with no host sync inside, so on a CUDA device
they are captured once as a graph and replayed (engine/capture.py): one launch for k·d proposals.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from engine.binary.models import FVBM, RBM, BinaryEnergy
from engine.capture import CaptureCache
from engine.training import make_generator

Tensor = torch.Tensor
SAMPLERS = ("metropolis", "gibbs")


def accept(delta_e: Tensor, u: Tensor) -> Tensor:
    """The Metropolis rule: ΔE ≤ 0 always, otherwise with probability exp(−ΔE)."""
    return u < torch.exp(-delta_e.clamp_min(0))


def metropolis(model: BinaryEnergy, y: Tensor, sweeps: int, gen: torch.Generator) -> tuple[Tensor, float]:
    """`sweeps` × d single-bit-flip proposals per chain (random bit each time); returns (y, accept rate)."""
    n, d = y.shape
    if sweeps <= 0 or n == 0:
        return y.clone(), 0.0
    y, accepted = metropolis_chains(model, y, sweeps, gen)
    return y, float(accepted) / (sweeps * d * n)


@torch.no_grad()
def metropolis_chains(model: BinaryEnergy, y: Tensor, sweeps: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """`metropolis` without a host sync (what a CUDA graph captures): (y, accepted proposals as a tensor).
    The FVBM keeps its local fields h = Jy + b up to date instead of recomputing energies (`fvbm_sweep`):
    the same chain, from the same random numbers, several times faster."""
    y = y.clone()
    n, d = y.shape
    if isinstance(model, FVBM):
        j, b = model.J.detach().to(y.dtype), model.bias.detach().to(y.dtype)
        sweep = partial(fvbm_sweep, model, y, j, b)
    else:
        sweep = partial(metropolis_sweep, model, y)
    accepted = torch.zeros((), dtype=torch.long, device=y.device)  # a count: exact at any size
    for _ in range(sweeps):
        index = torch.randint(d, (d, n), generator=gen, device=y.device)
        u = torch.rand((d, n), generator=gen, device=y.device, dtype=y.dtype)
        accepted += sweep(index, u)
    return y, accepted


def metropolis_sweep(model: BinaryEnergy, y: Tensor, index: Tensor, u: Tensor) -> Tensor:
    """One sweep given its random numbers (index, u: (d, n), column n for chain n), in place; returns the
    number of accepted proposals. Chains never interact: a batch gives each chain what it alone would get."""
    accepted = torch.zeros((), dtype=torch.long, device=y.device)
    for t in range(index.shape[0]):
        accepted += metropolis_proposal(model, y, index[t], u[t]).sum()
    return accepted


def fvbm_sweep(model: FVBM, y: Tensor, j: Tensor, b: Tensor, index: Tensor, u: Tensor) -> Tensor:
    """`metropolis_sweep` for the FVBM (J, b its couplings and biases), with the local fields h = Jy + b
    refreshed once per sweep and moved by δ_i J_i on each accepted flip (ΔE = −δ_i h_i), in place;
    returns the accepted count.
    u < min(1, e^{−ΔE}) is written log u < δ_i h_i (the same test; log u ≤ 0 accepts every ΔE ≤ 0)."""
    flip_sum = model.encoding.lo + model.encoding.hi
    log_u = u.log()[:, :, None]
    h = y @ j + b  # refreshed every sweep, so rounding never accumulates
    accepted = torch.zeros(y.shape[0], 1, dtype=torch.long, device=y.device)
    for t in range(index.shape[0]):
        # gather / scatter_add_ / index_select: several times faster than advanced indexing on the CPU
        i = index[t]
        col = i[:, None]
        delta = flip_sum - 2 * y.gather(1, col)
        move = delta * (log_u[t] < delta * h.gather(1, col))
        y.scatter_add_(1, col, move)
        h.addcmul_(move, torch.index_select(j, 0, i))
        accepted += move != 0
    return accepted.sum()


def metropolis_proposal(model: BinaryEnergy, y: Tensor, index: Tensor, u: Tensor) -> Tensor:
    """One proposal per chain, in place: flip bit index[n] of row n if accept(ΔE, u[n]); returns the mask."""
    rows = torch.arange(y.shape[0], device=y.device)
    ok = accept(model.flip_delta(y, index), u)
    yi = y[rows, index]
    y[rows, index] = torch.where(ok, model.encoding.lo + model.encoding.hi - yi, yi)
    return ok


def gibbs(model: RBM, y: Tensor, steps: int, gen: torch.Generator) -> tuple[Tensor, float]:
    """`steps` block Gibbs steps y → h → y; returns (y, fraction of visible bits that changed)."""
    if steps <= 0:
        if not isinstance(model, RBM):
            raise ValueError("block Gibbs sampling needs an RBM (use metropolis for the fully visible model)")
        return y, 0.0
    y, changed = gibbs_chains(model, y, steps, gen)
    return y, float(changed)


@torch.no_grad()
def gibbs_chains(model: RBM, y: Tensor, steps: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """`gibbs` without a host sync (what a CUDA graph captures): (y, changed fraction as a tensor)."""
    if not isinstance(model, RBM):
        raise ValueError("block Gibbs sampling needs an RBM (use metropolis for the fully visible model)")
    start = y
    for _ in range(steps):
        y = model.sample_visible(model.sample_hidden(y, gen), gen)
    return y, (y != start).float().mean()


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


SYNC_FREE = {"metropolis": metropolis_chains, "gibbs": gibbs_chains}


class ChainSampler:
    """k Metropolis sweeps or k block Gibbs steps of a batch of chains under one model: every chain of
    the batch advanced by each launch ("many chains per launch"). With capture "auto" on a CUDA device
    (and `gen` there) the k sweeps are captured once per batch shape and replayed (engine.capture): the
    same chains as `run_sampler` with the same generator, one launch per call. `reason` says why it
    runs eagerly (None while captured)."""

    def __init__(self, name: str, model: BinaryEnergy, k: int, gen: torch.Generator, capture: str = "auto"):
        if name not in SYNC_FREE:
            raise ValueError(f"unknown sampler {name!r}; choose one of {SAMPLERS}")
        if k < 1:
            raise ValueError("a sampler call needs k >= 1 sweeps")
        self.name, self.model, self.k, self.gen = name, model, k, gen
        self.cache = CaptureCache(capture, next(model.parameters()).device, [gen])

    @property
    def reason(self) -> str | None:
        return self.cache.reason

    def __call__(self, y: Tensor) -> tuple[Tensor, float]:
        """(samples, accept rate / change rate), like run_sampler."""
        y, count = self.cache.run((tuple(y.shape), y.dtype), self.tensors, y)
        n, d = y.shape
        return y, float(count) / (self.k * d * n) if self.name == "metropolis" else float(count)

    def tensors(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """The k sweeps op by op, with no host sync (what the capture records)."""
        return SYNC_FREE[self.name](self.model, y, self.k, self.gen)


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
