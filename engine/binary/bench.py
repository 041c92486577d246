"""Speed of the binary engine, each figure next to its baseline from the same run:
Metropolis with cached local fields vs the generic proposal loop (same chain, same random numbers),
exact log Z by chunked enumeration vs one state at a time, lockstep training vs single methods, and the
Metropolis and Gibbs samplers (chains·sweeps per second) op by op vs captured as a CUDA graph (null off
CUDA, with the reason) with 1 vs many chains per launch."""

from __future__ import annotations

import time
from typing import Any

import torch

from engine.bench import StepMaker, eager_vs_captured
from engine.binary.exact import log_partition
from engine.binary.sampler_check import random_model
from engine.binary.samplers import ChainSampler, metropolis, metropolis_proposal
from engine.binary.trainer import BinaryTrainer
from engine.binary.views import lockstep_configs
from engine.capture import chain_generator
from engine.training import make_generator

SWEEPS_PER_CALL = 5
BITS = 16


def _generic_metropolis(model, y: torch.Tensor, sweeps: int, gen: torch.Generator) -> torch.Tensor:
    y = y.clone()
    n, d = y.shape
    with torch.no_grad():
        for _ in range(sweeps):
            index = torch.randint(d, (d, n), generator=gen)
            u = torch.rand((d, n), generator=gen)
            for t in range(d):
                metropolis_proposal(model, y, index[t], u[t])
    return y


def _timed(fn) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _steps_per_s(trainer: BinaryTrainer, steps: int) -> float:
    trainer.step()  # warm-up
    seconds, _ = _timed(lambda: [trainer.step() for _ in range(steps)])
    return steps / seconds


def sampler_calls(kind: str, device: torch.device, seed: int, chains: int) -> StepMaker:
    """SWEEPS_PER_CALL sweeps of `chains` chains per call: Metropolis on a 16-bit FVBM, Gibbs on a 16-bit RBM."""
    model = random_model(kind, BITS, seed, hidden=8).to(device)
    bits = torch.randint(2, (chains, BITS), generator=make_generator(seed, 1))
    start = model.encoding.encode(bits).float().to(device)

    def make(capture: str):
        gen = chain_generator(make_generator(seed), seed, device, 2)
        sampler = ChainSampler(kind, model, SWEEPS_PER_CALL, gen, capture)
        return (lambda: sampler(start)), lambda: sampler.reason

    return make


def bench(quick: bool, device: torch.device | None = None, seed: int = 0) -> dict[str, Any]:
    device = device or torch.device("cpu")
    out: dict[str, Any] = {}
    # Metropolis: 16 bits, 4096 chains
    model = random_model("metropolis", 16, seed)
    chains, sweeps = 4096, 5 if quick else 20
    y0 = model.encoding.encode(torch.randint(2, (chains, 16), generator=torch.Generator().manual_seed(seed)))
    fast_s, fast = _timed(lambda: metropolis(model, y0, sweeps, torch.Generator().manual_seed(seed))[0])
    slow_s, slow = _timed(lambda: _generic_metropolis(model, y0, sweeps, torch.Generator().manual_seed(seed)))
    proposals = chains * sweeps * 16
    out["metropolis_16bit_4096_chains"] = {
        "proposals_per_s": round(proposals / fast_s),
        "baseline_generic_loop_proposals_per_s": round(proposals / slow_s),
        "speedup": round(slow_s / fast_s, 2), "same_chain": bool(torch.equal(fast, slow))}
    # exact log Z of a 16-bit FVBM: chunked enumeration vs a Python loop over a sample of states
    reps = 3 if quick else 10
    with torch.no_grad():
        log_partition(model)
        enum_s, _ = _timed(lambda: [log_partition(model) for _ in range(reps)])
        states = model.encoding.encode(torch.randint(2, (512, 16), generator=torch.Generator().manual_seed(0)))
        loop_s, _ = _timed(lambda: [model(s[None]) for s in states])
    out["log_z_16bit_ms"] = {"chunked_enumeration": round(1000 * enum_s / reps, 2),
                             "baseline_one_state_at_a_time_estimated": round(1000 * loop_s / 512 * 2**16, 1)}
    # training steps per second: each method alone, and all six in lockstep
    steps = 30 if quick else 200
    configs = lockstep_configs(("ml", "cd", "pcd", "rm", "mpf", "nce"), dataset="bars_stripes", seed=seed,
                               device="cpu")
    alone = {cfg.label: round(_steps_per_s(BinaryTrainer(cfg), steps), 1) for cfg in configs}
    lockstep = _steps_per_s(BinaryTrainer(configs), steps)
    out["bars_stripes_steps_per_s"] = {**alone, "all_six_in_lockstep": round(lockstep, 1),
                                       "baseline_sum_of_alone_times_as_rate": round(
                                           1 / sum(1 / v for v in alone.values()), 1)}
    # the samplers: one call = SWEEPS_PER_CALL sweeps of every chain; eager vs captured, 1 vs many chains
    timed = 0.5 if quick else 2.0
    many = (65_536 if not quick else 16_384) if device.type == "cuda" else 4096
    for kind in ("metropolis", "gibbs"):
        out[f"{kind}_chain_sweeps_per_s"] = {
            f"chains_{n}": eager_vs_captured(sampler_calls(kind, device, seed, n), device, timed,
                                             work=n * SWEEPS_PER_CALL)
            for n in (1, many)
        }
        out[f"{kind}_chain_sweeps_per_s"]["what"] = (
            f"{SWEEPS_PER_CALL} sweeps per launch ({BITS} bits; a Metropolis sweep is {BITS} proposals per chain, "
            "a Gibbs sweep y → h → y): 1 chain vs many per launch, eager vs captured")
    return out
