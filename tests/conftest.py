"""Suite-wide options: slow tests (the full guided checks, corners, long load tests) run only when asked
for, with `-m slow` (or ENERGY_LAB_SLOW=1); the default suite keeps their short versions."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "slow" in (config.getoption("-m") or "") or os.environ.get("ENERGY_LAB_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
