"""Per-data-set and per-method defaults (the ones the acceptance numbers were measured with)."""

from __future__ import annotations

from typing import Any

# method -> overrides of ToyConfig's defaults
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "ml": {"lr": 3e-3},
}

# (dataset, method) -> overrides on top of the method's
DATASET_DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {}


def defaults_for(dataset: str, method: str) -> dict[str, Any]:
    out: dict[str, Any] = {"dataset": dataset, "method": method}
    out.update(METHOD_DEFAULTS.get(method, {}))
    out.update(DATASET_DEFAULTS.get((dataset, method), {}))
    return out
