"""Every setting of a DAE-energy run, declared once (see engine/schema.py), shared by the CLI and the page.

`sigma` applies to the Gaussian corruption and `drop` to masking (`when=`): the form shows only the
one in use. The DAE has no methods to choose between, so its layered defaults are base → data set only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from engine.dae.manifolds import MANIFOLDS
from engine.dae.objective import CORRUPTIONS, Corruption
from engine.schema import MAX_SEED, Layers, Settings, device_setting, setting

# No per-data-set defaults: every measured figure (README, closing notes: two circles and two lines,
# σ 0.2 / 0.5 / 1.0, seed 0, 3000 steps) was obtained with the base defaults below, and they give the
# flat spot (midpoint ratio < 0.3) and the latent model's 1.0 ± 0.05 on every data set.
LAYERS = Layers()

GAUSSIAN, MASKING = ("gaussian",), ("masking",)


@dataclass
class DAEConfig(Settings):
    experiment: ClassVar[str] = "dae"
    layers: ClassVar[Layers] = LAYERS

    dataset: str = setting("two_circles", choices=tuple(MANIFOLDS), label="Data set",
                           help="the 2-D manifold (its exact distance scores both energies)")
    corruption: str = setting("gaussian", choices=CORRUPTIONS, label="Corruption",
                              help="how training points are corrupted: Gaussian noise or masking (dropout)")
    sigma: float = setting(0.5, gt=0, le=5, when={"corruption": GAUSSIAN}, label="Noise σ",
                           help="std of the Gaussian corruption ỹ = y + σξ", step=0.05)
    drop: float = setting(0.5, gt=0, lt=1, when={"corruption": MASKING}, label="Masking probability p",
                          help="probability that a coordinate is dropped (the rest scaled by 1/(1 − p))", step=0.05)
    steps: int = setting(3000, ge=0, le=1_000_000, label="Step budget", help="parameter updates", step=500)
    seed: int = setting(0, ge=0, le=MAX_SEED, label="Seed", help="same seed, same numbers on the CPU")
    device: str = device_setting()
    # the autoencoder and its optimiser (maxima: the corner of all of them at once still trains on 2 cores)
    width: int = setting(128, ge=1, le=512, label="Hidden width", help="hidden units per layer of the autoencoder",
                         step=16)
    depth: int = setting(2, ge=1, le=6, label="Depth", help="hidden layers on each side of the code")
    code: int = setting(16, ge=1, le=256, label="Code size", help="units of the code between encoder and decoder")
    lr: float = setting(1e-3, gt=0, le=1, label="Learning rate", help="Adam's step size for the autoencoder",
                        step=1e-4)
    batch_size: int = setting(256, ge=2, le=4096, label="Batch size", help="data points per update")
    # the latent-variable model g(z; w)
    latent_z: int = setting(720, ge=16, le=2048, label="Latents per branch",
                            help="values of z on the latent grid of each branch of g(z; w)")
    latent_lr: float = setting(0.02, gt=0, le=1, label="Latent learning rate",
                               help="Adam's step size for the decoder parameters w", step=0.005)
    latent_jitter: float = setting(0.3, ge=0, lt=1, label="Latent start jitter",
                                   help="w starts at w_true·(1 + jitter·u), u ~ U(−1, 1)", step=0.05)
    # pictures and metrics
    view_grid: int = setting(64, ge=16, le=128, label="Picture grid", help="cells per axis of the live heatmaps",
                             form=False)
    eval_grid: int = setting(128, ge=32, le=256, label="Scoring grid",
                             help="cells per axis of the exact metrics", form=False)
    field_grid: int = setting(17, ge=3, le=64, label="Arrows per axis", help="the reconstruction field's arrows",
                              form=False)
    profile_points: int = setting(241, ge=16, le=4096, label="Profile points",
                                  help="points on the line crossing the branches", form=False)
    probes: int = setting(24, ge=0, le=512, label="Corrupted probes",
                          help="corrupted points drawn with where the DAE sends them (plus 12 near the midpoints)",
                          form=False)

    @property
    def corruption_fn(self) -> Corruption:
        return Corruption(self.corruption, self.sigma, self.drop)


@dataclass
class HeadlessSettings(Settings):
    """How the CLI runs (not model settings: the page never shows them)."""

    experiment: ClassVar[str] = "dae_cli"  # its own entry in run.json, beside the model's "dae"

    log_every: int = setting(1000, ge=1, le=1_000_000, label="Log every", form=False,
                             help="steps between progress lines (and evaluations) on stderr")
    threads: int = setting(1, ge=1, le=64, label="Threads", form=False,
                           help="torch CPU threads (these models are tiny: on a busy 2-core machine two threads "
                                "made each step ~20× slower)")
