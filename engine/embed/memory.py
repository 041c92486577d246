"""How much memory a training job needs, how much one job may have, and a refusal that says what fits.

One class shares one server: a ResNet-18 on CIFAR-10 at batch 512 on a CPU takes gigabytes, and two or
three such jobs get the server process killed by the kernel. So a trainer checks its sizes before it
allocates anything (`check_fits`, called where the contrastive, supervised and image-energy trainers are
built) and refuses with a `SettingError` on `batch_size` that names the largest batch that would fit.

The estimate (`embed_estimate`, `image_ebm_estimate`) is the peak of one training step, and of the
evaluation between steps, as

    persistent + max(per_image · b + pairwise · b², evaluation),        b = the batch (this process's share)

- persistent: parameters, their gradients and the optimiser's state (AdamW 2 per parameter, LARS 1,
  Adam 2), MoCo's key encoder, queue and its per-step copy, PIRL's bank, the images (uint8 N×C×H×W for
  the embeddings, float32 for the image energies) and the replay buffer;
- per image: the activations autograd saves for the backward pass, counted exactly by running the
  encoder and its head on 3 and on 2 tiny images under `torch.autograd.graph.saved_tensors_hooks`, each
  storage counted once and parameters left out (`saved_bytes_per_image`): the difference is the cost of
  one view, free of the per-channel terms; then a few activation-sized gradients alive at once in the
  backward pass, the input views, and the loss's rows (MoCo: 2 × (K + 1) logits per image; PIRL: its K
  negatives);
- pairwise: SimCLR's 2N × 2N similarity matrix, its masked copy, its log-softmax and gradients;
- evaluation: the probe's features and one chunk of the feature extraction and of the kNN vote.

Under bf16 autocast (CUDA with `amp`) the saved activations are counted at 2 bytes an element.

The budget (`memory_budget`): on CUDA the device's free memory times `CUDA_SAFETY`; on the CPU (and MPS,
whose memory is the machine's) the available memory (MemAvailable) shared among the jobs that may run
at once (`engine.scheduler.ServeSettings.jobs`). The check is per job: a job that builds several trainers
at once (a round-robin sweep) is checked one trainer at a time. `ENERGY_LAB_JOB_MEMORY_MB` sets the CPU budget outright
and caps the CUDA one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.errors import Number, SettingError, Text
from engine.scheduler import ServeSettings

MIB, GIB = 2**20, 2**30
CUDA_SAFETY = 0.9  # of the device's free memory: the CUDA context, the caching allocator's slack
MEMINFO = Path("/proc/meminfo")
FLOAT = 4  # bytes of a float32
BACKWARD_MAPS = 3  # activation-sized gradients alive at once in the backward pass (output, input, a temporary)
EVAL_MAPS = 3  # activation maps alive at once in a no-grad forward (a residual block keeps its input)
# SimCLR's 2N×2N matrices: similarity, ÷τ, masked, log-softmax (saved), and two gradients in the backward
SIMCLR_PAIR_COPIES = {"simclr": 6, "simclr_l2": 10}  # L2: ‖a‖² + ‖b‖² − 2aᵀb, clamp, negation on top
MOCO_ROW_COPIES = 6  # 2 rows of K + 1 logits per image: q·queue, cat, ÷τ, log-softmax, two gradients
PIRL_ROW_COPIES = 13  # K negatives per image: two L_NCE terms of ~5 B×K tensors each, three gradients
PIRL_KK_COPIES = 2  # the K×K matrix of the negatives (no gradient: product and ÷τ, transient)
FEATURE_COPIES = 4  # the evaluation's features: extracted, standardised for the probe, normalised for kNN
KNN_CHUNK = 1024  # test images per kNN vote (engine/embed/evaluate.py)
UNIFORMITY_BYTES = 3 * 2000 * 1999 // 2 * 8  # pdist of 2,000 points in float64, and two copies
EVAL_PAIRS = 512  # held-out images with two fixed views (engine/embed/trainer.py)
MIN_BATCH = 4

# the images each data set holds, without loading them: channels, side, training and test images
EMBED_SHAPES = {"digits": (1, 8, 1258, 539), "shapes": (3, 32, 6000, 2000), "mnist": (1, 28, 60_000, 10_000),
                "fashion_mnist": (1, 28, 60_000, 10_000), "cifar10": (3, 32, 50_000, 10_000)}
HEADS = {"pirl": 2}  # projection heads a method trains (PIRL: f and g); the others one
KEY_ENCODER = ("moco",)  # methods that keep a momentum copy of the encoder and head

# the refusal's English; engine/errors.py's Text pieces key them errors.memory.<name> for the pages' languages
TEXT = {
    "refused": "{model} on {dataset} at batch {batch} needs about {need}; this server allows {allowed} per job: "
               "{advice}.",
    "batch_fits": "batch {batch} would fit",
    "or_encoder": " (or the small CNN encoder at batch {batch})",
    "nothing_fits": "no batch size fits ({what} alone need about {fixed}); {hint}",
    "hint_embed": "choose the small CNN encoder, a smaller width or fewer training images",
    "hint_image_ebm": "choose the small CNN energy, a smaller width, image size or replay buffer",
    "persistent": "the model, its optimiser, the images and the buffers",
    "encoder_width": "{model} (width {width})",
    "energy_width": "{model} (width {width}, {size}×{size})",
    "gb": "{n} GB",
    "mb": "{n} MB",
    "encoders": {"small_cnn": "The small CNN", "resnet18": "ResNet-18"},
    "energies": {"cnn": "The small CNN energy", "resnet": "The ResNet-style energy"},
}


def _text(name: str, **params: Any) -> Text:
    return Text(f"errors.memory.{name}", TEXT[name], **params)


def _named(table: str, name: str) -> Text | str:
    english = TEXT[table].get(name)
    return name if english is None else Text(f"errors.memory.{table}.{name}", english)


# ---- the estimate ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    """Peak bytes of a training job as persistent + max(per_image·b + pairwise·b², evaluation)."""

    persistent: int
    per_image: int
    pairwise: int = 0
    evaluation: int = 0
    parts: dict[str, int] = field(default_factory=dict, compare=False)  # what makes up `persistent`

    def at(self, batch: int) -> int:
        step = self.per_image * batch + self.pairwise * batch * batch
        return int(self.persistent + max(step, self.evaluation))

    def largest_batch(self, budget: int) -> int:
        """The largest b with at(b) ≤ budget (0 when none), solving the quadratic for b."""
        room = budget - self.persistent
        if room < self.evaluation or room <= 0:
            return 0
        a, p = self.pairwise, self.per_image
        b = room / p if a == 0 else (-p + math.sqrt(p * p + 4 * a * room)) / (2 * a)
        b = int(b)
        while b > 0 and self.at(b) > budget:  # rounding of the square root
            b -= 1
        return b


def _storage_key(t: torch.Tensor) -> int:
    return t.untyped_storage()._cdata  # one id per storage: views and in-place results share it


def _saved_bytes(net: nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """(total, largest) bytes of the tensors autograd saves in net(x), parameters left out."""
    params = {_storage_key(p) for p in net.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        key = _storage_key(t)
        if key not in params:
            seen[key] = max(seen.get(key, 0), t.untyped_storage().nbytes())
        return t

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        net(x)
    return sum(seen.values()), max(seen.values(), default=0)


def saved_bytes_per_image(net: nn.Module, shape: tuple[int, int, int], input_grad: bool = False) -> tuple[int, int]:
    """(all saved tensors, the largest one) of one image through `net` (in training mode), in float32
    bytes: the difference between 3 and 2 images, so that batch norm's per-channel statistics, the same
    at any batch, drop out. `input_grad`: the input requires a gradient (a Langevin sampler).

    It runs on the CPU on 5 tiny images (a ResNet-18 at 32×32: well under a second, once per process and
    network); the 'meta' device would cost no arithmetic, but its first use imports torch's compiler
    stack (~2 s in every process)."""
    net.train()
    counts = []
    for n in (2, 3):
        x = torch.zeros(n, *shape, requires_grad=input_grad)
        counts.append(_saved_bytes(net, x))
    (total2, big2), (total3, big3) = counts
    return total3 - total2, max(big3 - big2, 0)


def _count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


class EncoderWithHead(nn.Module):
    """The encoder and its projection head as one module (what one training step runs)."""

    def __init__(self, encoder: nn.Module, head: nn.Module):
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


@lru_cache(maxsize=64)
def _embed_network(encoder: str, channels: int, size: int, width: int, proj_dim: int, heads: int,
                   n_classes: int | None) -> dict[str, int]:
    """Counts of one encoder + head (n_classes: the supervised classifier instead of projection heads)."""
    from engine.embed.models import Classifier, ProjectionHead, build_encoder

    with torch.random.fork_rng(devices=[]):  # the default initialisation must not move the global generator
        enc = build_encoder(encoder, channels, size, width)
        if n_classes is not None:
            net: nn.Module = Classifier(enc, n_classes)
        else:
            net = EncoderWithHead(enc, ProjectionHead(enc.out_dim, proj_dim))
    act, largest = saved_bytes_per_image(net, (channels, size, size))
    enc_params = _count(enc)
    head_params = _count(net) - enc_params
    trained = enc_params + (head_params * heads if n_classes is None else head_params)
    return {"activations": act, "largest": largest, "out_dim": enc.out_dim, "trained": trained,
            "encoder_and_head": enc_params + head_params}


def embed_shape(config: Any, data: Any = None) -> tuple[int, int, int, int]:
    """(channels, side, training images, test images) of the run's data, without loading it."""
    if data is not None:
        return data.channels, data.size, len(data.x_train), len(data.x_test)
    channels, side, n_train, n_test = EMBED_SHAPES[config.dataset]
    if config.dataset == "shapes":  # generated: as many as asked
        n_train, n_test = config.train_size or n_train, config.test_size or n_test
    else:
        n_train = min(n_train, config.train_size or n_train)
        n_test = min(n_test, config.test_size or n_test)
    return channels, side, n_train, n_test


def embed_estimate(config: Any, device: torch.device | str = "cpu", data: Any = None, *,
                   supervised: bool = False, world_size: int = 1) -> Estimate:
    """The memory of one process of an `EmbedConfig` run (contrastive, or the supervised baseline) on
    `device`, as a function of that process's batch (see the module docstring)."""
    device = torch.device(device)
    channels, side, n_train, n_test = embed_shape(config, data)
    n_classes = (data.n_classes if data is not None else 10) if supervised else None
    heads = HEADS.get(config.method, 1)
    net = _embed_network(config.encoder, channels, side, config.width, config.proj_dim, heads, n_classes)
    views = 1 if supervised else 2
    image = channels * side * side
    accelerator = device.type == "cuda"
    act_scale = 0.5 if accelerator and config.amp else 1.0  # bf16 autocast: 2-byte activations

    states = 1 if config.optimizer == "lars" else 2
    parts = {"parameters": net["trained"] * FLOAT * (2 + states)}  # weights, gradients, optimiser state
    if world_size > 1:
        parts["parameters"] += net["trained"] * FLOAT  # DistributedDataParallel's gradient buckets
    parts["images"] = n_train * image + (0 if accelerator else n_test * image)  # uint8; the test set stays home
    per_image = views * (act_scale * net["activations"] + BACKWARD_MAPS * net["largest"])
    per_image += image + 3 * image * FLOAT  # the batch (uint8), as float, its two views
    pairwise = 0
    if not supervised:
        parts["eval_views"] = 2 * min(EVAL_PAIRS, n_test) * image * FLOAT
        d = config.proj_dim
        per_image += views * d * FLOAT * 4  # z, its normalised copy, their gradients
        if config.method in KEY_ENCODER:
            parts["key_encoder"] = net["encoder_and_head"] * FLOAT
            parts["queue"] = 2 * config.queue_size * d * FLOAT  # the queue and the step's copy of it
            per_image += views * EVAL_MAPS * net["largest"]  # the key encoder's forward (no grad)
            per_image += 2 * (config.queue_size + 1) * FLOAT * MOCO_ROW_COPIES
        elif config.method == "pirl":
            k = min(config.bank_negatives, n_train)
            parts["bank"] = n_train * d * FLOAT + 2 * k * d * FLOAT  # the bank, the negatives and m_I
            parts["negatives_matrix"] = PIRL_KK_COPIES * k * k * FLOAT
            per_image += k * FLOAT * PIRL_ROW_COPIES
        else:  # the batch's own views are the negatives: SimCLR's (2N)² matrices (and a bool mask)
            pairwise = 4 * (SIMCLR_PAIR_COPIES.get(config.method, max(SIMCLR_PAIR_COPIES.values())) * FLOAT + 1)
    chunk = min(n_train + n_test, 1024 if accelerator else 256)
    evaluation = chunk * EVAL_MAPS * net["largest"] * act_scale  # the feature extraction's forward
    if not accelerator:  # the features, the kNN vote, the uniformity (on the host)
        evaluation += (n_train + n_test) * net["out_dim"] * FLOAT * FEATURE_COPIES
        evaluation += min(KNN_CHUNK, n_test) * n_train * FLOAT + UNIFORMITY_BYTES
    return Estimate(int(sum(parts.values())), int(per_image), int(pairwise), int(evaluation), parts)


def estimate_bytes(config: Any, device: torch.device | str = "cpu", data: Any = None) -> int:
    """Peak bytes of one contrastive-embedding training job for an `EmbedConfig` at its batch size."""
    return embed_estimate(config, device, data).at(config.batch_size)


# ---- image energies ------------------------------------------------------------------------------------
IMAGE_EBM_SETS = {"digits": (8, 1258 + 539), "mnist": (28, 70_000), "fashion_mnist": (28, 70_000),
                  "shapes": (32, 3000)}  # side and images (train + test) of engine.image_ebm.data
IMAGE_EBM_OTHER = {"digits": "shapes", "shapes": "digits", "mnist": "fashion_mnist", "fashion_mnist": "mnist"}
CD_KEPT = 1024  # CD's ring of recent negatives (engine/image_ebm/objectives/cd.py)
ENERGY_CHUNK = 1024  # images per no-grad energy batch (engine/image_ebm/trainer.py)
IMAGE_EBM_MIN_BATCH = 2


@lru_cache(maxsize=32)
def _energy_network(model: str, size: int, width: int) -> tuple[int, int, int]:
    """(activations, largest, parameters) of one grey size×size image through the energy `model`."""
    from engine.image_ebm.models import build_model

    with torch.random.fork_rng(devices=[]):
        net = build_model(model, size, width)
    act, largest = saved_bytes_per_image(net, (1, size, size), input_grad=True)
    return act, largest, _count(net)


def image_ebm_estimate(config: Any, device: torch.device | str = "cpu", images: Any = None) -> Estimate:
    """The memory of an `ImageEBMConfig` run: the contrast's forward on data and negatives (2 images per
    batch image; a Langevin step needs one graph of the batch at a time, so less), the images in float32
    (and the comparison set the evaluation loads), the replay buffer."""
    device = torch.device(device)
    native, count = IMAGE_EBM_SETS[config.dataset]
    size = images.size if images is not None else (config.image_size or native)
    n_images = len(images.train) + len(images.test) if images is not None else count
    image = size * size * FLOAT  # one grey float32 image
    act, largest, n_params = _energy_network(config.model, size, config.width)
    accelerator = device.type == "cuda"
    act_scale = 0.5 if accelerator and config.precision in ("auto", "bfloat16") else 1.0
    states = 2 if config.optimizer == "adam" else 1
    chains = config.buffer if config.method == "pcd" else CD_KEPT
    parts = {"parameters": n_params * FLOAT * (2 + states), "images": n_images * image,
             "buffer": chains * image}
    if not accelerator:  # the evaluation's comparison set, at the same size
        parts["other_images"] = IMAGE_EBM_SETS[IMAGE_EBM_OTHER[config.dataset]][1] * image
    per_image = 2 * (act_scale * act + BACKWARD_MAPS * largest) + 4 * image  # data, negatives, noise, gradient
    evaluation = ENERGY_CHUNK * EVAL_MAPS * largest * act_scale
    return Estimate(int(sum(parts.values())), int(per_image), 0, int(evaluation), parts)


# ---- the budget ----------------------------------------------------------------------------------------
def available_memory() -> int | None:
    """The machine's available memory in bytes: /proc/meminfo's MemAvailable, else free pages (sysconf)."""
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def memory_budget(device: torch.device | str = "cpu", environ: Mapping[str, str] | None = None) -> int | None:
    """Bytes one job may use on `device` (None: unknown, nothing is refused); see the module docstring."""
    device = torch.device(device)
    serve = ServeSettings.from_environ(environ)
    mb = serve.job_memory_mb
    given = mb * MIB if mb is not None else None
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        # what this process's caching allocator holds but no tensor uses is free for this job too
        free += torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        gpu = int(free * CUDA_SAFETY)
        return gpu if given is None else min(gpu, given)
    if given is not None:
        return given
    available = available_memory()
    if available is None:
        return None
    return available // serve.jobs()


def _size(n: float) -> Text:
    return _text("gb", n=Number(n / GIB, 1)) if n >= GIB else _text("mb", n=Number(n / MIB, 0))


def _fitting_batch(est: Estimate, budget: int, world: int, limit: int, step: int, least: int = MIN_BATCH) -> int:
    """The largest global batch ≤ limit whose per-process share fits, a multiple of `step`, at least
    `least` (0: none does)."""
    b = min(est.largest_batch(budget) * world, limit)
    b -= b % step
    return b if b >= max(least, step) else 0


def _refuse(model: Text, dataset: str, batch: int, need: int, budget: int, advice: Text) -> SettingError:
    return SettingError.of(_text("refused", model=model, dataset=dataset, batch=batch, need=_size(need),
                                 allowed=_size(budget), advice=advice), setting="batch_size", value=batch)


def check_fits(config: Any, device: torch.device | str = "cpu", data: Any = None, *, supervised: bool = False,
               world_size: int = 1, environ: Mapping[str, str] | None = None) -> None:
    """Raise SettingError(setting="batch_size") when an `EmbedConfig` run cannot fit this job's memory
    budget, naming the largest batch that would (and the small CNN, when that fits at the asked batch)."""
    budget = memory_budget(device, environ)
    if budget is None:
        return
    est = embed_estimate(config, device, data, supervised=supervised, world_size=world_size)
    local = max(1, config.batch_size // world_size)
    need = est.at(local)
    if need <= budget:
        return
    _, _, n_train, _ = embed_shape(config, data)
    step = world_size * (config.bn_groups if config.method in KEY_ENCODER and not supervised else 1)
    fits = _fitting_batch(est, budget, world_size, min(config.batch_size, n_train), step)
    first = _text("batch_fits", batch=fits) if fits else _text("nothing_fits", what=_text("persistent"),
                                                                 fixed=_size(est.persistent), hint=_text("hint_embed"))
    more: Text | str = ""
    if config.encoder != "small_cnn":
        small = config.with_(encoder="small_cnn")
        if embed_estimate(small, device, data, supervised=supervised, world_size=world_size).at(local) <= budget:
            more = _text("or_encoder", batch=config.batch_size)
    model = _text("encoder_width", model=_named("encoders", config.encoder), width=config.width)
    raise _refuse(model, config.dataset, config.batch_size, need, budget, Text(None, "{a}{b}", a=first, b=more))


def check_image_ebm_fits(config: Any, device: torch.device | str = "cpu", images: Any = None, *,
                         environ: Mapping[str, str] | None = None) -> None:
    """`check_fits` for an `ImageEBMConfig` run."""
    budget = memory_budget(device, environ)
    if budget is None:
        return
    est = image_ebm_estimate(config, device, images)
    need = est.at(config.batch_size)
    if need <= budget:
        return
    limit = min(config.batch_size, config.buffer) if config.method == "pcd" else config.batch_size
    fits = _fitting_batch(est, budget, 1, limit, 1, least=IMAGE_EBM_MIN_BATCH)
    advice = (_text("batch_fits", batch=fits) if fits else
              _text("nothing_fits", what=_text("persistent"), fixed=_size(est.persistent),
                    hint=_text("hint_image_ebm")))
    size = images.size if images is not None else (config.image_size or IMAGE_EBM_SETS[config.dataset][0])
    model = _text("energy_width", model=_named("energies", config.model), width=config.width, size=size)
    raise _refuse(model, config.dataset, config.batch_size, need, budget, advice)
