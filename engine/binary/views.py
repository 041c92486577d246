"""What the "Binary data" page draws, computed here so the page only binds widgets and plots.

- `LANE_SETTINGS`, `shared_settings`, `lockstep_configs`: a lockstep comparison, one BinaryConfig per
  method (each with its own layered defaults; the data set, model, budget and seed shared).
- `sampler_choices`: the samplers a model admits (block Gibbs needs the RBM).
- `live_options`: how often a live run evaluates and publishes (enumeration cost grows as 2^d).
- `curves`: the exact-NLL curve of every method from a Run's evaluation rows.
- `mosaic`, `samples_mosaic`: little binary images tiled into one array, NaN between them (a gap).
- `pattern_masses`: each method's probability of every bars-and-stripes pattern and of the rest.
- `coupling_panels`: the true J and each method's learned J with its correlation.
- `chain_start`, `ChainWatch`: the watched Metropolis chain, on a frozen copy of a method's model.
- `wait_first_snapshot`: give a run that was just started the moment it needs to publish a picture.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from engine.binary.config import BinaryConfig
from engine.binary.data import get_encoding, load_data
from engine.binary.models import model_from_params
from engine.binary.samplers import SAMPLERS, Proposal, WatchedChain
from engine.errors import SettingError
from engine.run import RunOptions
from engine.training import make_generator

# the settings each method of a lockstep comparison has for itself; the others (data set, model,
# budget, seed, RBM size, data options) are shared, since the methods train on the same data
LANE_SETTINGS = ("encoding", "optimizer", "lr", "batch_size", "k", "sampler", "chains", "nce_nu")


def shared_settings(config: BinaryConfig) -> dict[str, Any]:
    """The settings of `config` that every method of a lockstep comparison shares."""
    return {n: getattr(config, n) for n in BinaryConfig.specs() if n not in (*LANE_SETTINGS, "method")}


def lockstep_configs(methods: Sequence[str], **shared: Any) -> list[BinaryConfig]:
    """One config per method, each with its layered defaults for the data set, then `shared`."""
    if not methods:
        raise SettingError("choose at least one method", setting="method")
    return [BinaryConfig.create(method=m, **shared) for m in methods]


def sampler_choices(model: str) -> tuple[str, ...]:
    """auto, Metropolis, and block Gibbs only for the RBM."""
    return ("auto", *(s for s in SAMPLERS if s != "gibbs" or model == "rbm"))


def live_options(configs: Sequence[BinaryConfig]) -> RunOptions:
    """Exact metrics 4×/s up to 16 bits; beyond, one enumeration per lane costs ~16× more, so 0.5×/s."""
    c = configs[0]
    d = load_data(c.dataset, c.ising_c, c.ising_train, c.data_seed).d
    small = d <= 16
    return RunOptions(max_steps=c.steps, snapshot_hz=4 if small else 1, evaluate_every_s=0.25 if small else 2.0)


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


def samples_mosaic(snapshot: Mapping[str, Any], labels: Sequence[str], train: torch.Tensor,
                   shape: tuple[int, int], n: int, negatives: bool = False) -> tuple[np.ndarray, list[str]]:
    """One row of n images per method (first row: training data): exact samples from each model, or
    this step's contrasted states ȳ (methods without any, ratio matching and MPF, have no row).
    Returns the tiled picture and the row names."""
    rows, names = [np.asarray(train[:n])], ["data"]
    for label in labels:
        key = f"{'negatives' if negatives else 'samples'}/{label}"
        if key in snapshot:
            rows.append(np.asarray(snapshot[key])[:n])
            names.append(label)
    imgs = np.concatenate([x.reshape(len(x), *shape) for x in rows])
    return mosaic(imgs, cols=n), names


def coupling_panels(snapshot: Mapping[str, Any], evaluation: Mapping[str, float], labels: Sequence[str],
                    true_j: torch.Tensor) -> list[tuple[str, float, np.ndarray]]:
    """(name, correlation with the true J, J) for the true couplings, then each method that has a J."""
    panels = [("true J", 1.0, true_j.numpy())]
    for label in labels:
        if f"J/{label}" in snapshot:
            panels.append((label, evaluation.get(f"j_corr/{label}", float("nan")), snapshot[f"J/{label}"]))
    return panels


def chain_start(dataset: str, seed: int, ising_c: float = 1.0, ising_train: int = 10_000, data_seed: int = 0,
                source: str = "data") -> np.ndarray:
    """Where the watched chain starts (bits): a training sample picked by `seed`, as CD's chains do
    ("data"), or uniform random bits, as PCD's particles do ("random")."""
    train = load_data(dataset, ising_c, ising_train, data_seed).train
    gen = make_generator(seed)
    if source == "random":
        return torch.randint(2, (train.shape[1],), generator=gen).to(torch.uint8).numpy()
    if source != "data":
        raise SettingError("the chain starts from 'data' or 'random'", setting="source", value=source)
    i = int(torch.randint(len(train), (1,), generator=gen))
    return train[i].numpy().copy()


def wait_first_snapshot(run, timeout: float = 2.0) -> bool:
    """Wait (at most `timeout` s) until `run` has published a snapshot; True if it has one."""
    deadline = time.monotonic() + timeout
    while run.latest() is None and run.alive and time.monotonic() < deadline:
        time.sleep(0.01)
    return run.latest() is not None


class ChainWatch:
    """One Metropolis chain for the "watch one chain" view, on a frozen copy of a method's model.

    The model is rebuilt from the run's latest snapshot (copied parameters, never the training
    thread's tensors), so every energy change along the chain is the chain's own. `advance(n)` makes
    n proposals; the last `keep` are kept for the view.
    """

    def __init__(self, run: Any, label: str, source: str = "data", number: int = 1, keep: int = 200):
        cfg = {c.label: c for c in run.trainer.configs}[label]
        snap = run.latest()
        if snap is None:
            raise RuntimeError("the run has not published a snapshot yet")
        model = model_from_params(cfg.model, snap.data[f"params/{label}"], get_encoding(cfg.encoding))
        start = chain_start(cfg.dataset, cfg.seed + number, cfg.ising_c, cfg.ising_train, cfg.data_seed, source)
        self.chain = WatchedChain(model, start, seed=cfg.seed + number)
        self.label, self.source, self.run_id, self.step = label, source, id(run), snap.step
        self.shape = run.trainer.data.shape
        self.keep = keep
        self.log: list[Proposal] = []

    def matches(self, run: Any, label: str, source: str) -> bool:
        """Is this the chain of `run`'s method `label` started at `source`?"""
        return (self.run_id, self.label, self.source) == (id(run), label, source)

    def advance(self, n: int) -> None:
        self.log.extend(self.chain.propose() for _ in range(n))
        del self.log[:-self.keep]

    @property
    def last(self) -> Proposal | None:
        return self.log[-1] if self.log else None

    @property
    def bits(self) -> np.ndarray:
        return self.chain.bits

    @property
    def counts(self) -> tuple[int, int]:
        """(accepted, proposed) since the chain started."""
        return self.chain.accepted, self.chain.count

    def energy_trace(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(proposal numbers, the chain's energy after each, accepted?) over the kept proposals."""
        x = np.array([p.number for p in self.log], dtype=np.float64)
        e = np.array([p.energy_after if p.accepted else p.energy_before for p in self.log], dtype=np.float64)
        return x, e, np.array([p.accepted for p in self.log], dtype=bool)

    def table(self, rows: int = 8) -> dict[str, list[Any]]:
        """The last `rows` proposals, newest first."""
        recent = self.log[-rows:][::-1]
        return {"proposal": [p.number for p in recent], "bit": [p.bit for p in recent],
                "ΔE": [round(p.delta_e, 3) for p in recent], "min(1, e^−ΔE)": [round(p.p_accept, 3) for p in recent],
                "u": [round(p.u, 3) for p in recent], "accepted": [p.accepted for p in recent]}
