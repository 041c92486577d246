"""Suite-wide options.

- Slow tests (the full guided checks, corners, long load tests) run only when asked for, with `-m slow`
  (or ENERGY_LAB_SLOW=1); the default suite keeps their short versions.
- `--device cpu|cuda|auto` (default cpu): the device the engine tests train on (the `device` fixture of
  tests/engine/conftest.py), so the same suite runs on a GPU machine. `auto` is cuda where one is
  present, else cpu; `cuda` on a machine without one is a usage error, not a suite of skips.
"""

from __future__ import annotations

import os

import pytest

DEVICES = ("cpu", "cuda", "auto")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--device", default="cpu", choices=DEVICES,
                     help="device the engine tests train on: cpu (default), cuda, or auto (cuda if present)")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--device") == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise pytest.UsageError("--device cuda was asked for, but torch.cuda.is_available() is False on this "
                                    "machine (no CUDA GPU, or a CPU-only torch); use --device cpu or --device auto")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "slow" in (config.getoption("-m") or "") or os.environ.get("ENERGY_LAB_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
