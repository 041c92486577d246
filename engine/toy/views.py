"""Derived pictures of a 2-D energy that the pages draw (computed here, drawn there)."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from engine.toy.data import get_dataset
from engine.toy.dimension import DimensionConfig, reference_kl
from engine.toy.grid import Grid, energy_on_grid, log_partition, nll
from engine.toy.samplers import temperature, true_langevin_noise
from engine.training import make_generator

DISPLAY_SEED = 123  # the data points drawn over the pictures


def push_field(energy: np.ndarray, log_p_data: torch.Tensor) -> np.ndarray:
    """Where maximum likelihood's gradient moves the energy, per grid cell.

    −∂L/∂E(y_i) (up to the cell area) = P_data(i) − P_θ(i): positive where the data pulls the energy
    down, negative where the model puts mass that the data does not have (energy pushed up).
    """
    p_data = torch.softmax(log_p_data.reshape(-1).double(), 0)
    p_model = torch.softmax(-torch.as_tensor(energy).reshape(-1).double(), 0)
    return (p_data - p_model).view(energy.shape).numpy()


def shift_invariance(model: torch.nn.Module, test_x: torch.Tensor, grid: Grid, c: float) -> dict[str, float]:
    """Evaluate E_θ and E_θ + c side by side: log Z moves by −c, probabilities and the NLL do not."""
    e = energy_on_grid(model, grid, test_x.device)
    shifted = lambda y: model(y) + c  # the energy the lecturer dialled in
    e_c = energy_on_grid(shifted, grid, test_x.device)
    log_z, log_z_c = float(log_partition(e, grid)), float(log_partition(e_c, grid))
    p = torch.softmax(-e.reshape(-1).double(), 0)
    p_c = torch.softmax(-e_c.reshape(-1).double(), 0)
    return {
        "c": c,
        "log_z": log_z,
        "log_z_shifted": log_z_c,
        "nll": nll(model, test_x, log_z),
        "nll_shifted": nll(shifted, test_x, log_z_c),
        "max_abs_dp": float((p - p_c).abs().max()),
    }


@lru_cache(maxsize=16)
def data_points(dataset: str, n: int = 512, seed: int = DISPLAY_SEED) -> np.ndarray:
    """A fixed sample of the data set to draw over a picture (the same points on every rerun)."""
    return get_dataset(dataset).sample(n, make_generator(seed)).numpy()


def thinned(rows: list[dict[str, float]], most: int = 600) -> list[dict[str, float]]:
    """At most about `most` evenly spaced rows of a history (a plot needs no more)."""
    return rows[:: max(1, len(rows) // most)]


def off_langevin(eps: float, noise: float | None) -> dict[str, float] | None:
    """None for true Langevin (s = √(2ε)); otherwise the temperature T = s²/(2ε) the chains sample
    exp(−E/T) at, and the s that true Langevin would need."""
    if noise is None or math.isclose(noise, true_langevin_noise(eps), rel_tol=1e-6):
        return None
    return {"eps": eps, "s": noise, "T": temperature(eps, noise), "s0": true_langevin_noise(eps)}


def mode_table(evaluation: dict[str, float], weights: list[float]) -> dict[str, list] | None:
    """The sampler's share of particles per mode next to the true weights (None before an evaluation)."""
    if "mode_0" not in evaluation:
        return None
    return {"mode": [f"mode {i + 1}" for i in range(len(weights))],
            "particles": [evaluation[f"mode_{i}"] for i in range(len(weights))],
            "true weight": [round(w, 3) for w in weights]}


# ~25 ms per CD-10/PCD step with d ≤ 32 on one core (measured on the 2-core CPU)
DIMENSION_STEP_S = 0.025


def dimension_minutes(cfg: DimensionConfig) -> tuple[float, float]:
    """A rough range of minutes the PCD-vs-dimension experiment takes on a 2-core CPU."""
    minutes = len(cfg.pairs()) * cfg.steps * DIMENSION_STEP_S / 60
    return max(minutes, 0.1), max(2 * minutes, 0.2)


@lru_cache(maxsize=16)
def dimension_levels(dataset: str, samples: int, hist_grid: int, seed: int = 0) -> tuple[float, float]:
    """The histogram KL of an exact data sample (a perfect sampler) and of uniform noise (none)."""
    cfg = DimensionConfig(dataset=dataset, samples=samples, hist_grid=hist_grid, seed=seed)
    return reference_kl(cfg), reference_kl(cfg, "uniform")
