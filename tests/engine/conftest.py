"""Shared engine-test fixtures."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def float64():
    """Brute force vs vectorised: compare to ~1e-10 (restored so other modules keep float32)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)
