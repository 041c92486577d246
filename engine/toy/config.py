"""The configuration of a 2-D energy run: one validated dataclass, shared by the CLI and the pages."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from engine.toy.data import DATASETS


@dataclass
class ToyConfig:
    dataset: str = "eight_gaussians"
    method: str = "ml"
    steps: int = 2000
    seed: int = 0
    device: str = "auto"
    # model and optimiser
    width: int = 128
    depth: int = 3
    lr: float = 1e-3
    batch_size: int = 256
    # grids: the ML integration grid, the live picture, the exact metrics
    train_grid: int = 64
    view_grid: int = 64
    eval_grid: int = 200
    test_size: int = 5000
    # contrastive methods (engine.toy.objectives.*): Langevin negatives
    k: int = 10  # Langevin steps per update
    eps: float = 0.01  # gradient step size ε
    noise: float | None = None  # noise std; None = true Langevin, sqrt(2ε)
    # persistent CD
    buffer: int = 8192
    reinit: float = 0.05  # probability a chain restarts from uniform noise
    # NCE
    nce_noise: str = "gaussian_fit"  # gaussian_fit | gaussian_wide | uniform
    # denoising score matching
    sigma: float = 0.1
    # regularisers
    alpha: float = 0.0  # α (E₊² + E₋²)
    clip_grad: float | None = None  # clip the input gradient used by the sampler
    dim: int = 2  # data dimension ("PCD and dimension" embeds the 2-D data in d dims)

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown data set {self.dataset!r}; choose one of {sorted(DATASETS)}")
        checks = [
            (self.steps >= 0, "steps must be >= 0"),
            (1 <= self.width <= 4096, "width must be within [1, 4096]"),
            (1 <= self.depth <= 16, "depth must be within [1, 16]"),
            (0 < self.lr <= 1.0, "lr must be within (0, 1]"),
            (2 <= self.batch_size <= 65536, "batch_size must be within [2, 65536]"),
            (8 <= self.train_grid <= 512, "train_grid must be within [8, 512]"),
            (8 <= self.view_grid <= 512, "view_grid must be within [8, 512]"),
            (8 <= self.eval_grid <= 1024, "eval_grid must be within [8, 1024]"),
            (self.test_size >= 10, "test_size must be >= 10"),
            (self.k >= 1, "k (Langevin steps) must be >= 1"),
            (self.eps > 0, "eps (Langevin step size) must be > 0"),
            (self.noise is None or self.noise >= 0, "noise must be >= 0"),
            (self.buffer >= self.batch_size, "the replay buffer must hold at least one batch"),
            (0 <= self.reinit <= 1, "reinit must be a probability"),
            (self.nce_noise in ("gaussian_fit", "gaussian_wide", "uniform"),
             "nce_noise must be gaussian_fit, gaussian_wide or uniform"),
            (self.sigma > 0, "sigma must be > 0"),
            (self.alpha >= 0, "alpha must be >= 0"),
            (self.clip_grad is None or self.clip_grad > 0, "clip_grad must be > 0"),
            (2 <= self.dim <= 256, "dim must be within [2, 256]"),
        ]
        for ok, why in checks:
            if not ok:
                raise ValueError(why)

    @property
    def langevin_noise(self) -> float:
        return (2 * self.eps) ** 0.5 if self.noise is None else self.noise

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]
