"""Every setting of a contrastive-embedding run, declared once (see engine/schema.py), with its layered
defaults (base → data set → method → (data set, method)).

Per-method settings (`per_method=True`) apply to the methods whose objective builder takes them as
keyword arguments (engine/embed/objectives/*.py): the MoCo queue and momentum only to MoCo, the memory
bank only to PIRL; the form shows them only there, and a new method file declares its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from engine.embed.data import DATASETS
from engine.embed.models import ENCODERS
from engine.embed.objectives import REGISTRY
from engine.schema import MAX_SEED, PATH_PATTERN, Layers, Rule, Settings, device_setting, setting

LAYERS = Layers(
    dataset={
        "digits": {"batch_size": 256, "lr": 2e-3, "proj_dim": 64, "width": 32, "queue_size": 1024},
        # shapes on the CPU: width 16 and batch 128 give ~2× the steps of width 32 / batch 256 in a budget,
        # which is what a 3-minute run needs (probe 77 % vs 60 % after 90 s in our trials)
        "shapes": {"batch_size": 128, "lr": 3e-3, "proj_dim": 64, "width": 16, "train_size": 6000,
                   "test_size": 2000},
        "mnist": {"batch_size": 256, "lr": 2e-3, "proj_dim": 64, "width": 32, "train_size": 10000,
                  "test_size": 2000},
        "fashion_mnist": {"batch_size": 256, "lr": 2e-3, "proj_dim": 64, "width": 32, "train_size": 10000,
                          "test_size": 2000},
        "cifar10": {"batch_size": 256, "lr": 2e-3, "proj_dim": 128, "width": 32, "train_size": 10000,
                    "test_size": 2000},
    },
    # the temperatures of the papers (SimCLR 0.5 on CIFAR, MoCo v2 0.2, PIRL 0.07) retuned for short CPU
    # runs where noted; the L2 variant's τ scales squared distances
    method={
        "simclr": {"temperature": 0.2},
        "simclr_l2": {"temperature": 0.5},
        "moco": {"temperature": 0.2},
        "pirl": {"temperature": 0.1},
    },
)

# The declared maxima rule out the absurd, not what fits this machine: with every number at its maximum
# (digits, SimCLR: batch 1024, width 64, d 1024, map 20,000) two steps and the closing evaluation took
# 24 CPU-s and 0.96 GB peak RSS on the shared 2-core CPU (55 s wall at load 9); MoCo there (queue
# 16,384 × d 1,024 = 64 MB) ~13 s a step. Width 128 doubled the SimCLR corner's time; 64 batch-norm
# groups (32 images each) made a MoCo step 2–4× slower than 2 groups, hence 8 (MoCo's 8 GPUs). PIRL's loss
# forms the K×K matrix of its negatives (8,192² floats = 256 MB).
OPTIMIZERS = ("adamw", "lars")
MAX_BATCH = 1024  # ≤ the smallest training split (digits: 1,258 images), so every data set can run it


@dataclass
class EmbedConfig(Settings):
    experiment: ClassVar[str] = "embed"
    layers: ClassVar[Layers] = LAYERS
    method_registry: ClassVar[Any] = REGISTRY
    rules: ClassVar[tuple[Rule, ...]] = (
        Rule(("bn_groups", "batch_size"), lambda c: c.method != "moco" or c.batch_size % c.bn_groups == 0,
             "MoCo's batch-norm groups must divide the batch size"),
        Rule(("batch_size", "train_size"), lambda c: c.train_size is None or c.batch_size <= c.train_size,
             "a batch cannot hold more images than the training split"),
    )

    dataset: str = setting("digits", choices=DATASETS, label="Data set",
                           help="the images (labels are used only by the probes)")
    method: str = setting("simclr", choices=REGISTRY.names, label="Method",
                          help="where the negatives come from: the batch, a queue or a memory bank")
    encoder: str = setting("small_cnn", choices=ENCODERS, label="Encoder", help="the network that maps x to h")
    width: int = setting(32, ge=4, le=64, label="Width",
                         help="channels of the first stage (small_cnn) or of the stem (resnet18: 64 is standard)")
    proj_dim: int = setting(64, ge=2, le=1024, label="Embedding dimension d",
                            help="the dimension of the embedding the loss compares")
    batch_size: int = setting(256, ge=4, le=MAX_BATCH, label="Batch size",
                              help="images per step (SimCLR: 2N − 2 negatives per view)")
    temperature: float = setting(0.2, ge=0.005, le=10, label="Temperature τ",
                                 help="similarities are divided by τ before the softmax", step=0.01)
    optimizer: str = setting("adamw", choices=OPTIMIZERS, label="Optimiser",
                             help="AdamW, or LARS for large global batches (SGD with momentum 0.9 and "
                                  "layer-wise trust ratios; give it SGD's learning rate, e.g. 0.3 × batch/256)")
    lr: float = setting(2e-3, gt=0, le=1, label="Learning rate", help="the optimiser's step size", step=1e-4)
    weight_decay: float = setting(1e-5, ge=0, le=1, label="Weight decay",
                                  help="weight decay (AdamW: decoupled; LARS: not on biases and norms)",
                                  step=1e-5)
    # MoCo (engine/embed/objectives/moco.py)
    queue_size: int = setting(4096, ge=1, le=16_384, per_method=True, label="MoCo queue (negatives)",
                              help="keys of earlier batches kept as negatives")
    moco_momentum: float = setting(0.99, ge=0, lt=1, per_method=True, label="Key-encoder momentum m",
                                   help="θ_k ← m θ_k + (1 − m) θ_q after each step", step=0.001)
    bn_groups: int = setting(2, ge=1, le=8, per_method=True, label="Batch-norm groups",
                             help="the batch runs through batch norm in this many groups (keys shuffled)")
    # PIRL (engine/embed/objectives/pirl.py)
    bank_negatives: int = setting(1024, ge=1, le=8192, per_method=True, label="PIRL negatives from the bank",
                                  help="memory-bank slots drawn as negatives at each step")
    bank_momentum: float = setting(0.5, ge=0, lt=1, per_method=True, label="Bank momentum μ",
                                   help="m_I ← normalise(μ m_I + (1 − μ) f(v_I))", step=0.05)
    pirl_lambda: float = setting(0.5, ge=0, le=1, per_method=True, label="PIRL weight λ",
                                 help="λ L_NCE(m_I, g(v_I^t)) + (1 − λ) L_NCE(m_I, f(v_I))", step=0.05)
    # augmentation: the data set's defaults (engine/embed/augment.py) scaled by strength
    augment_strength: float = setting(1.0, ge=0, le=2, label="Augmentation strength",
                                      help="0 = identity, 1 = the data set's defaults", step=0.1)
    # data
    train_size: int | None = setting(None, ge=20, le=60_000, none="the whole training split",
                                     label="Training images", help="a stratified subset of the training split")
    test_size: int | None = setting(None, ge=20, le=10_000, none="the whole test split", label="Test images",
                                    help="a stratified subset of the held-out split")
    data_dir: str | None = setting(None, pattern=PATH_PATTERN, none="data/ (or $ENERGY_LAB_DATA)", label="Data folder",
                                   help="where the MNIST, Fashion-MNIST and CIFAR-10 files are", form=False)
    download: bool = setting(False, label="Download", help="download mnist/fashion_mnist/cifar10 if missing",
                             form=False)
    map_size: int = setting(2000, ge=10, le=20_000, label="Images on the map",
                            help="embeddings drawn on the map (test split first, then training images)")
    # budget (headless runs): seconds of training (evaluations excluded) and/or steps, whichever first
    budget_seconds: float | None = setting(60.0, gt=0, le=86_400, none="no time budget", label="Time budget (s)",
                                           help="seconds of training, evaluations excluded", form=False)
    max_steps: int | None = setting(None, ge=0, le=1_000_000, none="no step budget", label="Step budget",
                                    help="training steps (reproducible, unlike a time budget)", form=False)
    seed: int = setting(0, ge=0, le=MAX_SEED, label="Seed", help="same seed, same numbers on the CPU")
    device: str = device_setting()
    amp: bool = setting(True, label="Mixed precision on CUDA",
                        help="bf16 autocast and channels_last on CUDA (ignored on the CPU)", form=False)
