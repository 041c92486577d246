"""Every setting of a 2-D energy run, declared once (see engine/schema.py), with its layered defaults.

Per-method settings (`per_method=True`) apply to the methods whose objective takes them as keyword
arguments (engine/toy/objectives/*.py): the form shows them only there, and a new method file declares
its own by its builder's signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from engine.capture import capture_setting
from engine.schema import MAX_SEED, Layers, Rule, Settings, device_setting, setting
from engine.toy.data import DATASETS
from engine.toy.objectives import REGISTRY
from engine.toy.objectives.nce import NOISE_KINDS

# The defaults the measured numbers (README, closing notes) were obtained with.
LAYERS = Layers(
    method={
        "ml": {"lr": 3e-3},
        # contrastive methods: the energy² term α keeps CD/PCD energies from drifting and sharpens the
        # modes (eight_gaussians CD-10, seed 0, 2000 steps: KL 0.176 without it, 0.072 with α = 0.1)
        "cd": {"lr": 3e-3, "alpha": 0.1, "k": 10, "eps": 0.01},
        "pcd": {"lr": 3e-3, "alpha": 0.1, "k": 10, "eps": 0.01, "buffer": 8192, "reinit": 0.05},
        "nce": {"lr": 3e-3, "nce_noise": "gaussian_fit"},
        "dsm": {"lr": 3e-3, "sigma": 0.1},
    },
    pair={
        # the rings fill the box, so uniform noise covers them evenly. Seeds 0–2, 2000 steps, mean KL: uniform
        # 0.041 vs the fitted Gaussian 0.031 (0.032 vs 0.049 before per-run generators): a tie within seed noise
        ("rings", "nce"): {"nce_noise": "uniform"},
    },
)


@dataclass
class ToyConfig(Settings):
    experiment: ClassVar[str] = "toy"
    layers: ClassVar[Layers] = LAYERS
    method_registry: ClassVar[Any] = REGISTRY
    rules: ClassVar[tuple[Rule, ...]] = (
        Rule(("buffer", "batch_size"), lambda c: c.method != "pcd" or c.buffer >= c.batch_size,
             "the replay buffer must hold at least one batch"),
    )

    dataset: str = setting("eight_gaussians", choices=tuple(DATASETS), label="Data set",
                           help="the 2-D distribution to learn (its exact density scores the model)")
    method: str = setting("ml", choices=REGISTRY.names, label="Method",
                          help="how the energy is pushed up away from the data")
    steps: int = setting(2000, ge=0, le=1_000_000, label="Step budget", help="parameter updates")
    seed: int = setting(0, ge=0, le=MAX_SEED, label="Seed", help="same seed, same numbers on the CPU")
    device: str = device_setting()
    capture: str = capture_setting()  # CD and PCD's Langevin loops as CUDA graphs (engine/capture.py)
    # model and optimiser
    # bounds: the declared-maximum corner (every number at its maximum, ml) builds, takes 2 steps and scores
    # in 48 s (27 CPU-s) with 1.6 GB peak RSS on the shared 2-core CPU; width 512 took 157 s and 2.9 GB
    width: int = setting(128, ge=1, le=256, label="Width", help="hidden units per layer of the energy MLP")
    depth: int = setting(3, ge=1, le=8, label="Depth", help="hidden layers of the energy MLP")
    lr: float = setting(1e-3, gt=0, le=1, label="Learning rate", help="Adam's step size", step=1e-4)
    batch_size: int = setting(256, ge=2, le=8192, label="Batch size", help="data points per update")
    # grids: the ML integration grid, the live picture, the exact metrics
    train_grid: int = setting(64, ge=8, le=256, per_method=True, label="Integration grid",
                              help="cells per axis on which maximum likelihood integrates exp(−E)")
    view_grid: int = setting(64, ge=8, le=256, label="Picture grid", help="cells per axis of the live picture",
                             form=False)
    eval_grid: int = setting(200, ge=8, le=512, label="Scoring grid",
                             help="cells per axis of the exact NLL / KL", form=False)
    test_size: int = setting(5000, ge=10, le=100_000, label="Test points", help="held-out samples for the NLL",
                             form=False)
    # contrastive methods (engine.toy.objectives.*): Langevin negatives
    k: int = setting(10, ge=1, le=100, per_method=True, label="Langevin steps k",
                     help="sampler steps per update (CD starts them at the data, PCD continues its chains)")
    eps: float = setting(0.01, gt=0, le=1, per_method=True, label="Gradient step ε",
                         help="y ← y − ε∇E(y) + s ξ", step=0.001)
    noise: float | None = setting(None, ge=0, le=10, per_method=True, none="true Langevin, s = √(2ε)",
                                  label="Noise s", help="the sampler's noise std s", step=0.01)
    # persistent CD
    buffer: int = setting(8192, ge=2, le=262_144, per_method=True, label="Replay buffer (chains)",
                          help="persistent chains kept across updates")
    reinit: float = setting(0.05, ge=0, le=1, per_method=True, label="Re-initialise from noise",
                            help="probability that a chain restarts from uniform noise when used", step=0.01)
    # NCE
    nce_noise: str = setting("gaussian_fit", choices=tuple(NOISE_KINDS), per_method=True,
                             label="Noise distribution q", help="what the model learns to tell the data apart from")
    # denoising score matching
    sigma: float = setting(0.1, gt=0, le=10, per_method=True, label="Noise level σ",
                           help="std of the corruption ỹ = y + σξ", step=0.01)
    # regularisers
    alpha: float = setting(0.0, ge=0, le=100, per_method=True, label="Energy² regulariser α",
                           help="α (E₊² + E₋²) keeps the energies from drifting", step=0.01)
    clip_grad: float | None = setting(None, gt=0, le=1e6, per_method=True, none="no clipping",
                                      label="Clip the input gradient", help="cap on ‖∇_y E‖ inside the sampler")
