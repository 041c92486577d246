"""What the "Binary data" page draws, computed here so the page only binds widgets and plots.

- `page_configs`: one BinaryConfig per chosen method (each with its tuned defaults), for lockstep.
- `curves`: the exact-NLL curve of every method from a Run's evaluation rows.
- `mosaic`: little binary images tiled into one array, NaN between them (drawn as a gap).
- `pattern_masses`: each method's probability of every bars-and-stripes pattern and of the rest.
- `chain_start`: a training sample to start the watched Metropolis chain from.
- `wait_first_snapshot`: give a run that was just started the moment it needs to publish a picture.
- `live_options`: how often a live run evaluates and publishes (enumeration cost grows as 2^d).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from engine.binary.config import BinaryConfig
from engine.binary.data import load_data
from engine.binary.defaults import defaults_for
from engine.run import RunOptions


def page_configs(data: str, model: str, methods: Sequence[str], *, encoding: str = "best", k: int = 1,
                 lr_scale: float = 1.0, batch_size: int | None = None, steps: int = 3000, seed: int = 0,
                 reference: bool = True, **extra: Any) -> list[BinaryConfig]:
    """The configs of a lockstep comparison: the exact-ML reference first (if asked), then `methods`.
    encoding "best" keeps each method's tuned encoding; lr_scale multiplies each tuned learning rate."""
    chosen = (["ml"] if reference else []) + [m for m in methods if not (reference and m == "ml")]
    if not chosen:
        raise ValueError("choose at least one method (or keep the exact-ML reference)")
    if encoding not in ("best", "01", "pm1"):
        raise ValueError("encoding must be best, 01 or pm1")
    if not (0 < lr_scale <= 100):
        raise ValueError("the learning-rate scale must be within (0, 100]")
    out = []
    for method in chosen:
        values = defaults_for(data, method)
        values.update(model=model, steps=steps, seed=seed, k=k, **extra)
        values["lr"] = values.get("lr", BinaryConfig.lr) * lr_scale
        if encoding != "best":
            values["encoding"] = encoding
        if batch_size is not None:
            values["batch_size"] = batch_size
        out.append(BinaryConfig(**values))
    return out


def live_options(configs: Sequence[BinaryConfig]) -> RunOptions:
    """Exact metrics 4×/s up to 16 bits; beyond, one enumeration per lane costs ~16× more, so 0.5×/s."""
    d = load_data(configs[0].data, configs[0].ising_c, configs[0].ising_train, configs[0].data_seed).d
    small = d <= 16
    return RunOptions(max_steps=configs[0].steps, snapshot_hz=4 if small else 1,
                      evaluate_every_s=0.25 if small else 2.0)


def curves(evaluations: Sequence[dict[str, float]], labels: Sequence[str],
           metric: str = "nll") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """label → (steps, values) of `metric/<label>` over the evaluation rows."""
    out = {}
    for label in labels:
        key = f"{metric}/{label}"
        rows = [(e["step"], e[key]) for e in evaluations if key in e]
        steps = np.array([r[0] for r in rows], dtype=np.float64)
        values = np.array([r[1] for r in rows], dtype=np.float64)
        out[label] = (steps, values)
    return out


def mosaic(images: np.ndarray, cols: int, gap: int = 1) -> np.ndarray:
    """(n, r, c) images → one (rows·(r+gap)−gap, cols·(c+gap)−gap) float array, NaN in the gaps."""
    images = np.asarray(images, dtype=np.float32)
    n, r, c = images.shape
    if n == 0:
        return np.full((r, c), np.nan, dtype=np.float32)
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    out = np.full((rows * (r + gap) - gap, cols * (c + gap) - gap), np.nan, dtype=np.float32)
    for i in range(n):
        y, x = divmod(i, cols)
        out[y * (r + gap):y * (r + gap) + r, x * (c + gap):x * (c + gap) + c] = images[i]
    return out


def pattern_masses(snapshot: dict[str, Any], labels: Sequence[str]) -> dict[str, np.ndarray]:
    """label → (n_patterns + 1,) probabilities: each pattern, then everything else."""
    out = {}
    for label in labels:
        p = snapshot.get(f"pattern_p/{label}")
        if p is not None:
            out[label] = np.append(p, max(0.0, 1.0 - float(np.sum(p))))
    return out


def chain_start(data: str, seed: int, ising_c: float = 1.0, ising_train: int = 10_000, data_seed: int = 0,
                source: str = "data") -> np.ndarray:
    """Where the watched chain starts (bits): a training sample picked by `seed`, as CD's chains do
    ("data"), or uniform random bits, as PCD's particles do ("random")."""
    train = load_data(data, ising_c, ising_train, data_seed).train
    gen = torch.Generator().manual_seed(seed)
    if source == "random":
        return torch.randint(2, (train.shape[1],), generator=gen).to(torch.uint8).numpy()
    if source != "data":
        raise ValueError("the chain starts from 'data' or 'random'")
    i = int(torch.randint(len(train), (1,), generator=gen))
    return train[i].numpy().copy()


def wait_first_snapshot(run, timeout: float = 2.0) -> bool:
    """Wait (at most `timeout` s) until `run` has published a snapshot; True if it has one."""
    deadline = time.monotonic() + timeout
    while run.latest() is None and run.alive and time.monotonic() < deadline:
        time.sleep(0.01)
    return run.latest() is not None
