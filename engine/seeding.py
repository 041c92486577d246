"""Reproducibility: the same config and seed give the same numbers on the CPU."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, numpy and torch's global RNG (model initialisation) and return a CPU
    generator for the run's own sampling, so nothing else (a UI thread drawing) can shift it."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen
