"""The configuration of one binary-data training run: a validated dataclass shared by CLI and page."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from engine.binary.data import DATASETS, ENCODINGS
from engine.binary.models import MODELS
from engine.binary.samplers import SAMPLERS

METHODS = ("ml", "cd", "pcd", "rm", "mpf", "nce")
OPTIMIZERS = ("adam", "sgd")


@dataclass
class BinaryConfig:
    data: str = "bars_stripes"
    model: str = "fvbm"
    method: str = "ml"
    encoding: str = "01"  # 01 = {0,1}, pm1 = {−1,+1}
    steps: int = 3000
    seed: int = 0
    device: str = "auto"
    # optimiser
    optimizer: str = "adam"
    lr: float = 0.05
    batch_size: int = 64
    # samplers (CD, PCD): k sweeps of d Metropolis proposals, or k block Gibbs steps for the RBM
    k: int = 1
    sampler: str = "auto"  # auto = metropolis for the FVBM, gibbs for the RBM
    chains: int = 64  # PCD's persistent chains
    # RBM
    hidden: int = 8
    # NCE
    nce_nu: int = 1  # noise samples per data sample
    # data
    ising_c: float = 1.0
    ising_train: int = 10_000
    data_seed: int = 0
    # live view
    shown_samples: int = 16

    def __post_init__(self) -> None:
        if self.data not in DATASETS:
            raise ValueError(f"unknown data set {self.data!r}; choose one of {sorted(DATASETS)}")
        checks = [
            (self.model in MODELS, f"model must be one of {sorted(MODELS)}"),
            (self.method in METHODS, f"method must be one of {list(METHODS)}"),
            (self.encoding in ENCODINGS, f"encoding must be one of {sorted(ENCODINGS)}"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {list(OPTIMIZERS)}"),
            (self.steps >= 0, "steps must be >= 0"),
            (0 < self.lr <= 10.0, "lr must be within (0, 10]"),
            (1 <= self.batch_size <= 65536, "batch_size must be within [1, 65536]"),
            (1 <= self.k <= 1000, "k (sampler sweeps) must be within [1, 1000]"),
            (self.sampler == "auto" or self.sampler in SAMPLERS, "sampler must be auto, metropolis or gibbs"),
            (not (self.sampler == "gibbs" and self.model != "rbm"), "Gibbs sampling here needs the RBM"),
            (1 <= self.chains <= 65536, "chains must be within [1, 65536]"),
            (1 <= self.hidden <= 64, "hidden must be within [1, 64]"),
            (1 <= self.nce_nu <= 100, "nce_nu must be within [1, 100]"),
            (0 < self.ising_c <= 10, "ising_c must be within (0, 10]"),
            (self.ising_train >= 10, "ising_train must be >= 10"),
            (1 <= self.shown_samples <= 256, "shown_samples must be within [1, 256]"),
        ]
        for ok, why in checks:
            if not ok:
                raise ValueError(why)

    @property
    def resolved_sampler(self) -> str:
        if self.sampler != "auto":
            return self.sampler
        return "gibbs" if self.model == "rbm" else "metropolis"

    @property
    def label(self) -> str:
        """How the method is named in curves and tables (CD and PCD carry their k)."""
        return f"{self.method}-{self.k}" if self.method in ("cd", "pcd") else self.method

    def with_(self, **changes: Any) -> BinaryConfig:
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]
