"""Every setting of a binary-data run, declared once (see engine/schema.py), with its layered defaults.

Per-method settings (`per_method=True`) apply to the methods whose objective takes them as keyword
arguments (engine/binary/objectives/*.py): k and sampler for CD and PCD, chains for PCD, nce_nu for NCE.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from engine.binary.data import DATASETS, ENCODINGS
from engine.binary.models import MODELS
from engine.binary.objectives import REGISTRY
from engine.binary.samplers import SAMPLERS, resolve_sampler
from engine.capture import capture_setting
from engine.schema import MAX_SEED, Layers, Rule, Settings, device_setting, setting
from engine.training import OPTIMIZERS

# The defaults the README's numbers were measured with (bars-and-stripes, FVBM, seed 0, 3000 updates).
LAYERS = Layers(
    dataset={
        # full-data batches on bars-and-stripes (120 = each of the 30 patterns four times per step) make
        # ML, ratio matching and MPF deterministic given the seed
        "bars_stripes": {"batch_size": 120},
        "digits": {"batch_size": 100},
        "digits_5x4": {"batch_size": 100},
        "ising": {"batch_size": 500, "encoding": "pm1"},
    },
    method={
        "ml": {"optimizer": "adam", "lr": 0.05},
        "rm": {"optimizer": "adam", "lr": 0.1},
        "mpf": {"optimizer": "adam", "lr": 0.1},
        "nce": {"optimizer": "adam", "lr": 0.03, "nce_nu": 4},
        # sampling methods use plain SGD: with Adam, the noise of a sampled negative phase keeps moving
        # every weight by ~lr per step even once the model fits, and the couplings drift until the
        # chains stop mixing
        "cd": {"optimizer": "sgd", "lr": 0.1},
        "pcd": {"optimizer": "sgd", "lr": 0.05, "chains": 120},
    },
    pair={
        # bars-and-stripes: each method's better encoding, 3000 updates (README table; `--encodings 01,pm1`)
        ("bars_stripes", "ml"): {"encoding": "pm1"},
        ("bars_stripes", "rm"): {"encoding": "pm1"},
        ("bars_stripes", "mpf"): {"encoding": "pm1"},
        ("bars_stripes", "cd"): {"encoding": "pm1"},
        ("bars_stripes", "nce"): {"encoding": "01"},
        ("bars_stripes", "pcd"): {"encoding": "01"},
        # Ising (16 spins, 10k samples): smaller steps; every method then recovers J with correlation ≥ 0.995
        ("ising", "ml"): {"lr": 0.01},
        ("ising", "rm"): {"lr": 0.01},
        ("ising", "mpf"): {"lr": 0.01},
        ("ising", "nce"): {"lr": 0.01},
        ("ising", "pcd"): {"lr": 0.1, "chains": 500},
    },
)


def _migrate_1_to_2(values: dict[str, Any]) -> dict[str, Any]:
    """Version 2 calls the data set `dataset`, like every other experiment (version 1: `data`)."""
    out = dict(values)
    if "data" in out:
        out["dataset"] = out.pop("data")
    return out


@dataclass
class BinaryConfig(Settings):
    experiment: ClassVar[str] = "binary"
    schema_version: ClassVar[int] = 2
    migrations: ClassVar[Any] = {1: _migrate_1_to_2}
    layers: ClassVar[Layers] = LAYERS
    method_registry: ClassVar[Any] = REGISTRY
    rules: ClassVar[tuple[Rule, ...]] = (
        Rule(("sampler", "model"), lambda c: c.sampler != "gibbs" or c.model == "rbm",
             "block Gibbs sampling needs the RBM (the fully visible model uses Metropolis)"),
    )

    dataset: str = setting("bars_stripes", choices=tuple(DATASETS), label="Data set",
                           help="the binary data (≤ 20 bits, so every state is enumerated and the NLL is exact)")
    method: str = setting("ml", choices=REGISTRY.names, label="Method",
                          help="how the energy is pushed up away from the data")
    model: str = setting("fvbm", choices=tuple(MODELS), label="Model",
                         help="fully visible Boltzmann machine, or an RBM scored by its free energy")
    encoding: str = setting("01", choices=tuple(ENCODINGS), label="Encoding of a bit",
                            help="the values a bit takes in the model: 01 = {0, 1}, pm1 = {−1, +1}")
    steps: int = setting(3000, ge=0, le=1_000_000, step=500, label="Step budget", help="parameter updates")
    seed: int = setting(0, ge=0, le=MAX_SEED, label="Seed", help="same seed, same numbers on the CPU")
    device: str = device_setting()
    capture: str = capture_setting()  # CD and PCD's sampler sweeps as CUDA graphs (engine/capture.py)
    # optimiser
    optimizer: str = setting("adam", choices=OPTIMIZERS, label="Optimiser", help="Adam or plain SGD")
    lr: float = setting(0.05, gt=0, le=10, label="Learning rate", help="the optimiser's step size", step=0.01)
    batch_size: int = setting(64, ge=1, le=8192, label="Batch size",
                              help="training samples per update (drawn in shuffled epochs)")
    # samplers (CD, PCD): k sweeps of d Metropolis proposals, or k block Gibbs steps for the RBM. The
    # maxima keep one update short: k · chains · d ≤ 100 · 8192 · 20 = 16M proposals, ~1 s on the 2-core
    # CPU (~19M proposals/s with 8192 chains), ~45 s when ~9 busy processes share it; the earlier
    # maxima, 1000 sweeps of 65,536 chains, took ~30 s per update on an idle CPU
    k: int = setting(1, ge=1, le=100, per_method=True, label="Sampler sweeps k",
                     help="sweeps of d single-bit Metropolis proposals (or block Gibbs steps) per update")
    sampler: str = setting("auto", choices=("auto", *SAMPLERS), per_method=True, label="Sampler",
                           help="auto = Metropolis bit flips for the FVBM, block Gibbs for the RBM")
    chains: int = setting(64, ge=1, le=8192, per_method=True, label="Persistent chains",
                          help="PCD's particles, moved k sweeps on every update and never restarted")
    # RBM
    hidden: int = setting(8, ge=1, le=64, when={"model": ("rbm",)}, label="Hidden units",
                          help="the RBM's hidden units (its free energy sums them out exactly)")
    # NCE
    nce_nu: int = setting(1, ge=1, le=100, per_method=True, label="Noise samples per data sample ν",
                          help="NCE's noise samples from the data's Bernoulli marginals, per data sample")
    # data
    ising_c: float = setting(1.0, gt=0, le=10, when={"dataset": ("ising",)}, label="Coupling strength c",
                             help="the true couplings are J_ij ~ N(0, (c/√d)²)", step=0.1)
    ising_train: int = setting(10_000, ge=10, le=1_000_000, when={"dataset": ("ising",)},
                               label="Ising training samples", help="exact samples of the true Ising model")
    data_seed: int = setting(0, ge=0, le=MAX_SEED, when={"dataset": ("digits", "digits_5x4", "ising")},
                             label="Data seed", help="the digits' train/test split; the Ising couplings and samples")
    # live view
    shown_samples: int = setting(16, ge=1, le=256, label="Samples shown", cli=False, form=False,
                                 help="exact samples per method in the live picture")

    @property
    def resolved_sampler(self) -> str:
        return resolve_sampler(self.sampler, self.model)

    @property
    def label(self) -> str:
        """How the method is named in curves and tables (CD and PCD carry their k)."""
        return f"{self.method}-{self.k}" if self.method in ("cd", "pcd") else self.method
