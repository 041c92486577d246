"""The configuration of a DAE-energy run: one validated dataclass, shared by the CLI and the page."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from engine.dae.manifolds import MANIFOLDS
from engine.dae.objective import CORRUPTIONS, Corruption


@dataclass
class DAEConfig:
    dataset: str = "two_circles"
    corruption: str = "gaussian"  # gaussian | masking
    sigma: float = 0.5  # Gaussian corruption std σ
    drop: float = 0.5  # masking probability p
    steps: int = 3000
    seed: int = 0
    device: str = "auto"
    # the autoencoder and its optimiser
    width: int = 128
    depth: int = 2  # hidden layers on each side of the code
    code: int = 16
    lr: float = 1e-3
    batch_size: int = 256
    # the latent-variable model g(z; w)
    latent_z: int = 720  # latents per branch on the z grid
    latent_lr: float = 0.02
    latent_jitter: float = 0.3  # w starts at w_true·(1 + jitter·U(−1, 1))
    # pictures and metrics
    view_grid: int = 64  # the live heatmaps
    eval_grid: int = 128  # the exact metrics
    field_grid: int = 17  # arrows per axis
    profile_points: int = 241
    probes: int = 24  # sampled corrupted points drawn with their arrows (plus 12 near the midpoints)

    def __post_init__(self) -> None:
        if self.dataset not in MANIFOLDS:
            raise ValueError(f"unknown data set {self.dataset!r}; choose one of {sorted(MANIFOLDS)}")
        if self.corruption not in CORRUPTIONS:
            raise ValueError(f"unknown corruption {self.corruption!r}; choose one of {list(CORRUPTIONS)}")
        checks = [
            (0 < self.sigma <= 5, "sigma must be within (0, 5]"),
            (0 < self.drop < 1, "drop (the masking probability) must be within (0, 1)"),
            (self.steps >= 0, "steps must be >= 0"),
            (1 <= self.width <= 4096, "width must be within [1, 4096]"),
            (1 <= self.depth <= 8, "depth must be within [1, 8]"),
            (1 <= self.code <= 1024, "code must be within [1, 1024]"),
            (0 < self.lr <= 1, "lr must be within (0, 1]"),
            (2 <= self.batch_size <= 65536, "batch_size must be within [2, 65536]"),
            (16 <= self.latent_z <= 8192, "latent_z must be within [16, 8192]"),
            (0 < self.latent_lr <= 1, "latent_lr must be within (0, 1]"),
            (0 <= self.latent_jitter < 1, "latent_jitter must be within [0, 1)"),
            (16 <= self.view_grid <= 256, "view_grid must be within [16, 256]"),
            (32 <= self.eval_grid <= 512, "eval_grid must be within [32, 512]"),
            (3 <= self.field_grid <= 64, "field_grid must be within [3, 64]"),
            (16 <= self.profile_points <= 4096, "profile_points must be within [16, 4096]"),
            (0 <= self.probes <= 512, "probes must be within [0, 512]"),
        ]
        for ok, why in checks:
            if not ok:
                raise ValueError(why)

    @property
    def corruption_fn(self) -> Corruption:
        return Corruption(self.corruption, self.sigma, self.drop)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]
