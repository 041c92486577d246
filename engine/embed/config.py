"""The configuration of a contrastive-embedding run: one validated dataclass for the CLI and the page."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from engine.embed.data import DATASETS
from engine.embed.models import ENCODERS
from engine.embed.objectives import METHODS

# Per method: the temperatures of the papers (SimCLR 0.5 on CIFAR, MoCo v2 0.2, PIRL 0.07) retuned
# for short CPU runs where noted; the L2 variant's τ scales squared distances.
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "simclr": {"temperature": 0.2},
    "simclr_l2": {"temperature": 0.5},
    "moco": {"temperature": 0.2},
    "pirl": {"temperature": 0.1},
}
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": {"batch_size": 256, "lr": 2e-3, "proj_dim": 64, "width": 32, "queue_size": 1024},
    # shapes on the CPU: width 16 and batch 128 give ~2× the steps of width 32 / batch 256 in a budget,
    # which is what a 3-minute run needs (probe 77 % vs 60 % after 90 s in our trials)
    "shapes": {"batch_size": 128, "lr": 3e-3, "proj_dim": 64, "width": 16, "train_size": 6000, "test_size": 2000},
    "mnist": {"batch_size": 256, "lr": 2e-3, "proj_dim": 64, "width": 32, "train_size": 10000, "test_size": 2000},
    "fashion_mnist": {"batch_size": 256, "lr": 2e-3, "proj_dim": 64, "width": 32, "train_size": 10000,
                      "test_size": 2000},
    "cifar10": {"batch_size": 256, "lr": 2e-3, "proj_dim": 128, "width": 32, "train_size": 10000,
                "test_size": 2000},
}


@dataclass
class EmbedConfig:
    dataset: str = "digits"
    method: str = "simclr"
    encoder: str = "small_cnn"
    width: int = 32  # channels of the first stage (small_cnn) / of the stem (resnet18: 64 is standard)
    proj_dim: int = 64  # d, the dimension of the embedding the loss compares
    batch_size: int = 256
    temperature: float = 0.2
    lr: float = 2e-3
    weight_decay: float = 1e-5
    # MoCo
    queue_size: int = 4096
    moco_momentum: float = 0.99
    bn_groups: int = 2
    # PIRL
    bank_negatives: int = 1024
    bank_momentum: float = 0.5
    pirl_lambda: float = 0.5
    # augmentation: per-data-set defaults scaled by strength
    augment_strength: float = 1.0
    # data
    train_size: int | None = None
    test_size: int | None = None
    data_dir: str | None = None
    download: bool = False
    # the embedding map: how many images (test split first, then training images)
    map_size: int = 2000
    # budget: seconds of training (evaluations excluded) and/or steps
    budget_seconds: float | None = 60.0
    max_steps: int | None = None
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # bf16 autocast and channels_last on CUDA (ignored on the CPU)

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown data set {self.dataset!r}; choose one of {', '.join(DATASETS)}")
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {self.encoder!r}; choose one of {', '.join(ENCODERS)}")
        checks = [
            (4 <= self.width <= 256, "width must be within [4, 256]"),
            (2 <= self.proj_dim <= 4096, "proj_dim (embedding dimension d) must be within [2, 4096]"),
            (4 <= self.batch_size <= 8192, "batch_size must be within [4, 8192]"),
            (0.005 <= self.temperature <= 10, "temperature must be within [0.005, 10]"),
            (0 < self.lr <= 1, "lr must be within (0, 1]"),
            (self.weight_decay >= 0, "weight_decay must be >= 0"),
            (self.queue_size >= 1, "queue_size must be >= 1"),
            (0 <= self.moco_momentum < 1, "moco_momentum must be within [0, 1)"),
            (self.bn_groups >= 1 and self.batch_size % self.bn_groups == 0,
             "bn_groups must be >= 1 and divide the batch size"),
            (self.bank_negatives >= 1, "bank_negatives must be >= 1"),
            (0 <= self.bank_momentum < 1, "bank_momentum must be within [0, 1)"),
            (0 <= self.pirl_lambda <= 1, "pirl_lambda must be within [0, 1]"),
            (0 <= self.augment_strength <= 2, "augment_strength must be within [0, 2]"),
            (self.train_size is None or self.train_size >= 20, "train_size must be >= 20"),
            (self.test_size is None or self.test_size >= 20, "test_size must be >= 20"),
            (10 <= self.map_size <= 20000, "map_size must be within [10, 20000]"),
            (self.budget_seconds is None or self.budget_seconds > 0, "budget_seconds must be > 0"),
            (self.max_steps is None or self.max_steps >= 0, "max_steps must be >= 0"),
        ]
        for ok, why in checks:
            if not ok:
                raise ValueError(why)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def defaults_for(dataset: str, method: str) -> dict[str, Any]:
    """The config values a run of `method` on `dataset` starts from (before explicit overrides)."""
    values: dict[str, Any] = {"dataset": dataset, "method": method}
    values.update(DATASET_DEFAULTS.get(dataset, {}))
    values.update(METHOD_DEFAULTS.get(method, {}))
    return values


def make_config(dataset: str = "digits", method: str = "simclr", **overrides: Any) -> EmbedConfig:
    values = defaults_for(dataset, method)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return EmbedConfig(**values)
