"""Derived pictures of a 2-D energy that the pages draw (computed here, drawn there)."""

from __future__ import annotations

import numpy as np
import torch

from engine.toy.grid import Grid, energy_on_grid, log_partition, nll


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
