"""Per-method and per-data-set defaults: the settings the acceptance numbers were measured with.

Sampling methods (CD, PCD) use plain SGD: with Adam, the noise of a sampled negative phase keeps
moving every weight by ~lr per step even once the model fits, and the couplings drift until the
chains stop mixing. Full-data batches (bars-and-stripes: 120 = each of the 30 patterns four times per
step) make ML, ratio matching and MPF deterministic given the seed.
"""

from __future__ import annotations

from typing import Any

METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "ml": {"optimizer": "adam", "lr": 0.05},
    "rm": {"optimizer": "adam", "lr": 0.1},
    "mpf": {"optimizer": "adam", "lr": 0.1},
    "nce": {"optimizer": "adam", "lr": 0.03, "nce_nu": 4},
    "cd": {"optimizer": "sgd", "lr": 0.1},
    "pcd": {"optimizer": "sgd", "lr": 0.05, "chains": 120},
}

DATA_DEFAULTS: dict[str, dict[str, Any]] = {
    "bars_stripes": {"batch_size": 120},
    "digits": {"batch_size": 100},
    "digits_5x4": {"batch_size": 100},
    "ising": {"batch_size": 500, "encoding": "pm1"},
}

# (data, method) -> overrides on top of the two above; bars-and-stripes: the best encoding per method
PAIR_DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    ("bars_stripes", "ml"): {"encoding": "pm1"},
    ("bars_stripes", "rm"): {"encoding": "pm1"},
    ("bars_stripes", "mpf"): {"encoding": "pm1"},
    ("bars_stripes", "cd"): {"encoding": "pm1"},
    ("bars_stripes", "nce"): {"encoding": "01"},
    ("bars_stripes", "pcd"): {"encoding": "01"},
    ("ising", "ml"): {"lr": 0.01},
    ("ising", "rm"): {"lr": 0.01},
    ("ising", "mpf"): {"lr": 0.01},
    ("ising", "nce"): {"lr": 0.01},
    ("ising", "pcd"): {"lr": 0.1, "chains": 500},
}


def defaults_for(data: str, method: str) -> dict[str, Any]:
    out: dict[str, Any] = {"data": data, "method": method}
    out.update(METHOD_DEFAULTS.get(method, {}))
    out.update(DATA_DEFAULTS.get(data, {}))
    out.update(PAIR_DEFAULTS.get((data, method), {}))
    return out
