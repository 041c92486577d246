"""Shared engine-test fixtures: float64 comparisons, and the device the trainers run on (`--device`)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

# two runs of the same computation on a CUDA device may differ in the last bits (atomics in some
# backward kernels, cuBLAS' choice of algorithm), so "the same numbers" there means within this
CUDA_REL, CUDA_ABS = 1e-4, 1e-6


@pytest.fixture
def float64():
    """Brute force vs vectorised: compare to ~1e-10 (restored so other modules keep float32)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


@pytest.fixture(scope="session")
def device(request: pytest.FixtureRequest) -> str:
    """The device the trainers of a test run on, as their `device` setting: `--device` (cpu by default;
    auto: cuda where present, else cpu)."""
    asked = request.config.getoption("--device")
    if asked == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return asked


@pytest.fixture(scope="session")
def same(device: str):
    """`assert a == same(b)`: exactly equal on the CPU (same seed, same numbers), within float32 rounding
    on CUDA. Takes what pytest.approx takes (numbers, lists and dicts of numbers, numpy arrays)."""

    def expect(value: Any) -> Any:
        if device == "cpu":
            return pytest.approx(value, rel=0, abs=0)
        return pytest.approx(value, rel=CUDA_REL, abs=CUDA_ABS)

    return expect


@pytest.fixture
def one_thread():
    """One torch thread for the test (restored after): on a busy 2-core machine two threads made every step
    ~100× slower (spinning), and runs compared step for step must use the same count."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
