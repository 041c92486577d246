"""Every setting of an image-energy run, declared once (see engine/schema.py), with its layered defaults.

`ImageEBMConfig` is the model, its training and its sampler (the page's form and the CLI's flags);
`ImageEBMRunOptions` holds what only the CLI asks (budgets, the samples file, the dimension
comparison), never drawn by the form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from engine.image_ebm.data import DATASETS
from engine.image_ebm.models import MODELS
from engine.image_ebm.objectives import REGISTRY
from engine.schema import MAX_SEED, PATH_PATTERN, Layers, Rule, Settings, device_setting, setting
from engine.training import OPTIMIZERS

PRECISIONS = ("auto", "float32", "bfloat16")

# The base defaults are the digits recipe of the prototype (the UvA tutorial's sampler:
# buffer 8192, 5 % restarts from uniform noise, 30 steps of ε = 10 with s = 0.005 and each pixel's
# gradient clipped at ±0.03; α = 0.1; Adam with β₁ = 0) with one change: lr 1e-3, not 1e-4. Seed 0,
# 300 updates (what 120 s bought at load ~8): lr 1e-4 left the particles noisy (smallest class 5.2 %,
# mean top probability 0.59, realistic 1.6 % < smooth blobs' 2.1 %); lr 1e-3 gave 7.0 %, 0.63, 10.6 %
# (blobs 2.1 %, noise 0 %). `--budget-seconds 120` at load ~3 (643 updates): 8.2–11.9 % per class,
# 0.67, realistic 19.6 %, AUROC data vs noise 1.0 (issue 13's note).
LAYERS = Layers(
    dataset={
        # 28×28 / 32×32: the ResNet-style energy of IGEBM / JEM's family, wider
        "mnist": {"model": "resnet", "width": 16},
        "fashion_mnist": {"model": "resnet", "width": 16},
        "shapes": {"model": "resnet", "width": 16},
    },
    method={
        # CD starts at the data: a few steps are enough to contrast, more only cost time
        "cd": {"k": 10},
    },
)


@dataclass
class ImageEBMConfig(Settings):
    experiment: ClassVar[str] = "image-ebm"
    layers: ClassVar[Layers] = LAYERS
    method_registry: ClassVar[Any] = REGISTRY
    rules: ClassVar[tuple[Rule, ...]] = (
        Rule(("buffer", "batch_size"), lambda c: c.method != "pcd" or c.buffer >= c.batch_size,
             "the replay buffer must hold at least one batch"),
    )

    dataset: str = setting("digits", choices=DATASETS, label="Data set",
                           help="the images the energy learns (MNIST / Fashion-MNIST need their IDX files)")
    method: str = setting("pcd", choices=REGISTRY.names, label="Method",
                          help="where the negatives' chains start: a persistent buffer, or the data")
    seed: int = setting(0, ge=0, le=MAX_SEED, label="Seed", help="same seed, same numbers on the CPU")
    device: str = device_setting()
    image_size: int | None = setting(None, ge=4, le=32, none="the data set's own size", label="Image size",
                                     help="resample the images to size × size pixels (digits are 8×8)")
    # the energy and its optimiser
    model: str = setting("cnn", choices=MODELS, label="Energy network",
                         help="small CNN, or ResNet-style (residual blocks), both with Swish")
    # maxima: the declared-maximum corner (32×32, width 32, batch 256, k 100) still takes 2 updates on a
    # 2-core CPU in minutes, not hours (an image-step of the 32×32 CNN: 0.15 ms at width 16, 3.7 ms at 32,
    # 11 ms at 64, one thread)
    width: int = setting(16, ge=4, le=32, label="Width", help="channels of the first layer (doubling, up to 4×)")
    optimizer: str = setting("adam", choices=OPTIMIZERS, label="Optimiser", help="Adam, or plain SGD")
    # 10: beyond it every optimiser here blows up at once (SGD already at lr 10: NaN within 5 updates)
    lr: float = setting(1e-3, gt=0, le=10, label="Learning rate", help="the optimiser's step size", step=1e-4)
    beta1: float = setting(0.0, ge=0, le=0.99, label="Adam β₁", when={"optimizer": ("adam",)},
                           help="momentum of Adam's gradient average (0: none, as EBMs usually train)", step=0.1)
    batch_size: int = setting(128, ge=2, le=256, label="Batch size", help="data images (and chains) per update")
    alpha: float = setting(0.1, ge=0, le=100, per_method=True, label="Energy² regulariser α",
                           help="α (E₊² + E₋²) keeps the energies near 0", step=0.01)
    # the sampler
    k: int = setting(30, ge=1, le=100, per_method=True, label="Langevin steps k", help="sampler steps per update")
    eps: float = setting(10.0, gt=0, le=1000, per_method=True, label="Step size ε",
                         help="x ← x − ε·clip(∇E) + s·ξ", step=0.5)
    noise: float | None = setting(0.005, ge=0, le=2, per_method=True, none="true Langevin, s = √(2ε)",
                                  label="Noise s", help="the sampler's noise std s, set apart from ε", step=0.001)
    clip_grad: float | None = setting(0.03, gt=0, le=1e6, per_method=True, none="no clipping",
                                      label="Clip the input gradient", help="cap on each pixel's |∂E/∂x|",
                                      step=0.01)
    buffer: int = setting(8192, ge=2, le=65_536, per_method=True, label="Replay buffer (chains)",
                          help="persistent chains kept across updates")
    reinit: float = setting(0.05, ge=0, le=1, per_method=True, label="Re-initialise from noise",
                            help="probability that a chain restarts from uniform noise when used", step=0.01)
    precision: str = setting("auto", choices=PRECISIONS, label="Precision",
                             help="auto: bfloat16 autocast on CUDA, float32 elsewhere", form=False)
    data_dir: str | None = setting(None, pattern=PATH_PATTERN, none="data/ (or $ENERGY_LAB_DATA)", label="Data folder",
                                   help="where the MNIST / Fashion-MNIST IDX files are", form=False)


@dataclass
class ImageEBMRunOptions(Settings):
    """What the CLI asks besides the model: budgets, outputs, the dimension comparison (never in the form)."""

    experiment: ClassVar[str] = "image-ebm-run"

    max_steps: int | None = setting(None, ge=0, le=10_000_000, none="no step budget", label="Step budget",
                                    help="parameter updates (reproducible: same seed, same numbers)", form=False)
    budget_seconds: float | None = setting(None, gt=0, le=604_800, none="no time budget", label="Time budget",
                                           help="seconds of training (evaluations excluded)", form=False)
    samples_out: str | None = setting(None, pattern=PATH_PATTERN, none="not written", label="Samples file",
                                      help="write the final particles here (.npy, N×H×W in [0, 1])", form=False)
    eval_every: int | None = setting(None, ge=1, le=10_000_000, none="only at the end", label="Evaluate every",
                                     help="steps between progress evaluations (printed on stderr)", form=False)
    compare_sizes: tuple[int, ...] | None = setting(
        None, ge=4, le=32, max_items=6, none="no comparison", label="Compare image sizes",
        help="the dimension comparison: train with the same updates at each size (e.g. 8,16,28)", form=False)
    restore_steps: int = setting(30, ge=0, le=1000, label="Freeze-and-sample steps",
                                 help="sampler steps of the closing denoising / inpainting / fresh chains (0: skip)",
                                 form=False)
    threads: int | None = setting(1, ge=1, le=256, none="torch's choice", label="CPU threads",
                                  help="torch's CPU threads", form=False)
