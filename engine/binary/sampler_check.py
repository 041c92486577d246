"""Does a sampler reach the exact Boltzmann distribution? Many chains, long runs, total variation.

A random model on a few bits (FVBM for Metropolis, RBM for Gibbs) is enumerated exactly; `chains`
chains start at uniform random bits, run `burn_in` sweeps, then keep `samples` states per chain,
`thin` sweeps apart. The score is TV(empirical, exact) = ½ Σ_y |p̂(y) − p(y)|.
"""

from __future__ import annotations

import torch

from engine.binary.data import ENCODINGS, ising_couplings
from engine.binary.exact import empirical_distribution, log_probs, total_variation
from engine.binary.models import FVBM, RBM, BinaryEnergy
from engine.binary.samplers import sample_long_run
from engine.training import make_generator


def random_model(kind: str, bits: int, seed: int, hidden: int = 4) -> BinaryEnergy:
    """FVBM: J ~ N(0, (1.5/√d)²), b ~ N(0, 0.3²) in {−1,+1}; RBM: W ~ N(0, 1), biases N(0, 0.5²) in {0,1}."""
    gen = make_generator(seed)
    if kind == "metropolis":
        j = ising_couplings(bits, 1.5, gen).float()
        return FVBM(bits, ENCODINGS["pm1"]).set_params(j, 0.3 * torch.randn(bits, generator=gen))
    if kind == "gibbs":
        rbm = RBM(bits, hidden, ENCODINGS["01"], init_std=1.0).init_parameters(gen)
        with torch.no_grad():
            rbm.bias.copy_(0.5 * torch.randn(bits, generator=gen))
            rbm.hidden_bias.copy_(0.5 * torch.randn(hidden, generator=gen))
        return rbm
    raise ValueError("sampler must be metropolis or gibbs")


def check_sampler(kind: str, bits: int = 10, chains: int = 4096, burn_in: int = 500, samples: int = 250,
                  thin: int = 10, seed: int = 0) -> dict[str, float]:
    model = random_model(kind, bits, seed)
    gen = make_generator(seed, 1)
    kept = sample_long_run(kind, model, chains, burn_in, samples, thin, gen)
    exact = log_probs(model).double().exp()
    return {"sampler": kind, "bits": bits, "chains": chains, "burn_in": burn_in, "samples_per_chain": samples,
            "thin": thin, "total_samples": int(kept.shape[0]),
            "tv": total_variation(empirical_distribution(kept, bits), exact)}
