"""Train an encoder contrastively (the `Trainer` a `Run` drives), and the supervised baseline.

Each step: draw a batch of training images (epochs of a random permutation from the run's generator),
make two per-sample augmented views on the training device, embed them, apply the objective, take an
optimiser step. On CUDA the forward pass runs under bf16 autocast with channels_last tensors; the
losses themselves are computed in float32.

Randomness is per run (engine/training.py), in three streams that never touch torch's global
generator: the run's generator initialises the encoder and the heads; the objective's own generator
(seed + OBJECTIVE_OFFSET) fills MoCo's queue and PIRL's bank and draws MoCo's shuffles and PIRL's
negatives; the batches are epochs of a permutation from (seed, epoch) and the augmentations of step t
on process r come from (seed, r, t). So a run resumed from a checkpoint continues with exactly the
numbers it would have had, and under torchrun (`dist`) every process draws the same objective stream
and the same epoch permutation but its own augmentations.

Several processes (torchrun, `engine.distributed.Dist`): `batch_size` is the global batch, each of the
W processes trains on a shard of it. The encoder and heads are wrapped in DistributedDataParallel (their
batch norm made global first, except MoCo's, whose keys use shuffle-BN); the objectives gather what
they share (engine/embed/distributed_losses.py). The scalars a step returns are averaged over the
processes, so every process sees the same loss (and stops on the same step if it diverges). Only
process 0 evaluates.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.device import pick_device
from engine.distributed import Dist, ShardedBatches, all_reduce_mean, convert_sync_batchnorm, local_batch_size
from engine.embed.augment import Augmenter, default_augment
from engine.embed.config import EmbedConfig
from engine.embed.data import load_dataset
from engine.embed.evaluate import (
    contrastive_accuracy,
    effective_rank,
    extract,
    frozen,
    knn_accuracy,
    linear_probe,
    stoppable,
    uniformity,
)
from engine.embed.imageset import ImageSet, to_float
from engine.embed.lars import LARS, lars_param_groups
from engine.embed.memory import check_fits
from engine.embed.models import Classifier, build_encoder
from engine.embed.objectives import REGISTRY, ObjectiveContext
from engine.training import (
    GeneratorState,
    TrainerBase,
    build_optimizer,
    init_parameters,
    make_generator,
    step_generator,
)

Tensor = torch.Tensor
PAIRS_SHOWN = 64  # positive pairs of the last batch in each snapshot
EVAL_PAIRS = 512  # test images whose two fixed views give the held-out contrastive accuracy
MAP_PAIRS = 64  # of those, how many positive pairs the map draws as segments
EVAL_VIEWS_OFFSET = 10_000  # the fixed held-out views come from the generator of seed + this
SUPERVISED_OFFSET = 1  # the supervised baseline's generator: seed + this
OBJECTIVE_OFFSET = 2  # the objective's generator (queue, bank, shuffles, negatives): seed + this
AUGMENT_STREAM = 1  # step_generator's stream id for the augmentations
# what a diverged run suggests (only settings this experiment has)
FAILURE_ADVICE = ("Try a lower learning rate or a higher temperature τ (the L2 variant's embeddings can also "
                  "grow without bound: the cosine methods cannot).")


@dataclass(frozen=True)
class Precision:
    """How the forward pass runs on a device: autocast dtype (None = float32) and memory format."""

    autocast_dtype: torch.dtype | None
    channels_last: bool

    def autocast(self, device: torch.device):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.autocast_dtype)

    def images(self, x: Tensor) -> Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


def precision_for(device: torch.device, amp: bool) -> Precision:
    """bf16 autocast + channels_last on CUDA when asked; plain float32 elsewhere (CPU bf16 is slower
    than float32 for these small convolutions, and MPS autocast support varies)."""
    if amp and device.type == "cuda":
        return Precision(torch.bfloat16, True)
    return Precision(None, False)


def build_embed_optimizer(modules: list[nn.Module], config: EmbedConfig) -> torch.optim.Optimizer:
    """The `optimizer` setting: AdamW, or LARS (biases and norms neither adapted nor decayed)."""
    if config.optimizer == "lars":
        return LARS(lars_param_groups(modules, config.weight_decay), lr=config.lr)
    params = [p for m in modules for p in m.parameters()]
    return build_optimizer(params, "adamw", config.lr, weight_decay=config.weight_decay)


@lru_cache(maxsize=4)
def cached_dataset(name: str, data_dir: str | None, download: bool, train_size: int | None,
                   test_size: int | None) -> ImageSet:
    """Loading (or generating) a set once per process: pages and sweeps reuse it."""
    return load_dataset(name, data_dir, download, train_size, test_size)


def dataset_for(config: EmbedConfig) -> ImageSet:
    return cached_dataset(config.dataset, config.data_dir, config.download, config.train_size, config.test_size)


class ContrastiveStep(nn.Module):
    """Encoder and objective as one module, so DistributedDataParallel sees every trained parameter
    in one forward: returns (loss, a, b, scalars) of `objective(encoder, x1, x2, idx)`."""

    def __init__(self, encoder: nn.Module, objective: nn.Module):
        super().__init__()
        self.encoder, self.objective = encoder, objective

    def forward(self, x1: Tensor, x2: Tensor, idx: Tensor) -> tuple[Tensor, Tensor, Tensor, dict[str, float]]:
        out = self.objective(self.encoder, x1, x2, idx)
        return out.loss, out.a, out.b, out.scalars


class EmbedTrainer(TrainerBase):
    """Implements engine.run.Trainer for contrastive embedding."""

    failure_advice = FAILURE_ADVICE

    def __init__(self, config: EmbedConfig, data: ImageSet | None = None, dist: Dist | None = None):
        self.config = config
        self.dist = dist if dist is not None else Dist()
        self.gen = make_generator(config.seed)
        self.objective_gen = make_generator(config.seed, OBJECTIVE_OFFSET)
        self.device = self.dist.device if self.dist.distributed else pick_device(config.device)
        check_fits(config, self.device, data, world_size=self.dist.world_size)  # before anything is allocated
        self.precision = precision_for(self.device, config.amp)
        self.data = data if data is not None else dataset_for(config)
        self.x_train = self.data.x_train.to(self.device)
        self.augment_config = default_augment(config.dataset, strength=config.augment_strength)
        self.augmenter = Augmenter(self.augment_config, self.data.channels)
        encoder = init_parameters(build_encoder(config.encoder, self.data.channels, self.data.size, config.width),
                                  self.gen)
        ctx = ObjectiveContext(encoder=encoder, n_train=len(self.x_train), gen=self.objective_gen)
        objective = init_parameters(REGISTRY.build(config.method, ctx, config), self.gen)
        self.encoder, self.objective = encoder.to(self.device), objective.to(self.device)
        if self.precision.channels_last:
            self.encoder.to(memory_format=torch.channels_last)
            self.objective.to(memory_format=torch.channels_last)
        world, rank = self.dist.world_size, self.dist.rank
        if self.dist.distributed and config.method != "moco":  # MoCo's keys use shuffle-BN instead
            self.encoder = convert_sync_batchnorm(self.encoder, self.device)
            self.objective = convert_sync_batchnorm(self.objective, self.device)
        self.model: nn.Module = ContrastiveStep(self.encoder, self.objective)
        if self.dist.distributed:
            from torch.nn.parallel import DistributedDataParallel  # imports torch._dynamo: seconds

            # buffers (queue, bank, BN statistics) are kept in step by the objectives, not re-broadcast from
            # process 0 before each forward (they are the same at the start: same seed)
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.model, device_ids=ids, forward_sync_buffers=False)
        self.opt = build_embed_optimizer([self.encoder, self.objective], config)
        self.sampler = ShardedBatches(len(self.x_train), local_batch_size(config.batch_size, world), rank, world,
                                      config.seed)
        self.step_count = 0
        self.images_seen = 0
        self.train_seconds = 0.0
        self._last: dict[str, Any] = {}
        self._eval: dict[str, Any] = {}
        # fixed views of test images for the held-out contrastive accuracy (same views every time)
        eval_gen = make_generator(config.seed, EVAL_VIEWS_OFFSET)
        x_eval = to_float(self.data.x_test[:EVAL_PAIRS]).to(self.device)
        self._eval_views = [self.augmenter.apply(x_eval, self.augmenter.sample(len(x_eval), eval_gen).to(self.device))
                            for _ in range(2)]

    def state_modules(self) -> dict[str, Any]:
        return {"encoder": self.encoder, "objective": self.objective, "optimizer": self.opt,
                "sampler": self.sampler, "objective_rng": GeneratorState(self.objective_gen)}

    # ---- Trainer protocol ----------------------------------------------------------------------
    def step(self) -> dict[str, float]:
        t0 = time.perf_counter()
        idx = self.sampler.next()
        x = to_float(self.x_train[idx.to(self.device)])
        aug_gen = step_generator(self.config.seed, AUGMENT_STREAM, self.dist.rank, self.step_count)
        x1, x2 = self.augmenter.pair(x, aug_gen)
        row = self.train_on_views(x1, x2, idx)
        self.images_seen += 2 * len(idx)
        self.train_seconds += time.perf_counter() - t0
        return row

    def train_on_views(self, x1: Tensor, x2: Tensor, idx: Tensor) -> dict[str, float]:
        """One optimiser step on given views (the step without sampling and augmentation: the bench
        times it alone as the model-only limit)."""
        x1, x2 = self.precision.images(x1), self.precision.images(x2)
        self.model.train()
        with self.precision.autocast(self.device):
            loss, a, b, scalars = self.model(x1, x2, idx.to(self.device))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step_count += 1
        self._last = {"idx": idx, "a": a[:PAIRS_SHOWN], "b": b[:PAIRS_SHOWN]}
        row = {"loss": loss.item(), **scalars}
        if self.dist.distributed:  # every process reports (and guards) the same numbers
            row = dict(zip(row, all_reduce_mean(torch.tensor(list(row.values()), dtype=torch.float64,
                                                                device=self.device)).tolist(), strict=True))
        return {**row, "epoch": float(self.sampler.epoch)}

    def snapshot(self) -> dict[str, Any]:
        snap: dict[str, Any] = {"step": self.step_count, "images_per_s": self.images_per_second(),
                                "epoch": self.sampler.epoch, "train_seconds": self.train_seconds}
        if self._last:
            snap["pair_index"] = self._last["idx"][:PAIRS_SHOWN].numpy()
            snap["pair_a"] = self._last["a"].cpu().numpy()
            snap["pair_b"] = self._last["b"].cpu().numpy()
        snap.update(self._eval)
        return snap

    def evaluate(self) -> dict[str, float]:
        """Probe and kNN accuracy on frozen features, held-out contrastive accuracy, embedding geometry.
        Also keeps the map's embeddings for `snapshot()`: z of `map_size` images (test split first,
        then training images) and of the two fixed views of the first `MAP_PAIRS` test images.
        Under torchrun only process 0 evaluates (the others return nothing and train on). Inside a Run,
        a Stop ends it between two encoder layers or probe iterations (engine/run/cancel.py)."""
        if not self.dist.is_main:
            return {}
        metric = getattr(self.objective, "metric", "cosine")
        with frozen(self.encoder), frozen(self.objective), stoppable(self.encoder), torch.no_grad():
            feats_train = self.features(self.data.x_train)
            feats_test = self.features(self.data.x_test)
            h_map = torch.cat([feats_test, feats_train])[: self.config.map_size]
            z_map = self.objective.embed_features(h_map.to(self.device)).float().cpu()
            with self.precision.autocast(self.device):
                va = self.objective.embed(self.encoder, self.precision.images(self._eval_views[0])).float().cpu()
                vb = self.objective.embed(self.encoder, self.precision.images(self._eval_views[1])).float().cpu()
        probe = linear_probe(feats_train, self.data.y_train, feats_test, self.data.y_test)
        knn = knn_accuracy(feats_train, self.data.y_train, feats_test, self.data.y_test)
        n_test = len(self.data.x_test)
        self._eval = {
            "map_step": self.step_count,
            "map_z": z_map.numpy(),
            "map_labels": torch.cat([self.data.y_test, self.data.y_train])[: len(z_map)].numpy(),
            "map_pair_a": va[:MAP_PAIRS].numpy(),
            "map_pair_b": vb[:MAP_PAIRS].numpy(),
        }
        z_test = z_map[:n_test]
        return {
            "linear_probe_acc": probe,
            "knn_acc": knn,
            "contrastive_acc_test": contrastive_accuracy(va, vb, metric),
            "effective_rank": effective_rank(z_test),
            "uniformity": uniformity(z_test),
            "embedding_norm_test": z_test.norm(dim=1).mean().item(),
        }

    # ---- helpers --------------------------------------------------------------------------------
    def _autocast(self):
        return self.precision.autocast(self.device)

    def features(self, x_uint8: Tensor) -> Tensor:
        """Encoder outputs h (what the probe reads) in eval mode, on the CPU."""
        with frozen(self.encoder):
            return extract(lambda x: self.encoder(self.precision.images(x)), x_uint8, self.device,
                           autocast=self._autocast)

    def images_per_second(self) -> float:
        return self.images_seen / self.train_seconds if self.train_seconds > 0 else 0.0


class SupervisedTrainer(TrainerBase):
    """The baseline: the same encoder trained with labels (cross-entropy on one augmented view)."""

    failure_advice = "Try a lower learning rate."

    def __init__(self, config: EmbedConfig, data: ImageSet | None = None):
        self.config = config
        self.gen = make_generator(config.seed, SUPERVISED_OFFSET)
        self.device = pick_device(config.device)
        check_fits(config, self.device, data, supervised=True)  # before anything is allocated
        self.precision = precision_for(self.device, config.amp)
        self.data = data if data is not None else dataset_for(config)
        self.x_train = self.data.x_train.to(self.device)
        self.y_train = self.data.y_train.to(self.device)
        self.augmenter = Augmenter(default_augment(config.dataset, strength=config.augment_strength),
                                   self.data.channels)
        encoder = build_encoder(config.encoder, self.data.channels, self.data.size, config.width)
        self.model = init_parameters(Classifier(encoder, self.data.n_classes), self.gen).to(self.device)
        if self.precision.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.opt = build_embed_optimizer([self.model], config)
        self.sampler = ShardedBatches(len(self.x_train), config.batch_size, 0, 1, config.seed + SUPERVISED_OFFSET)
        self.step_count = 0

    def step(self) -> dict[str, float]:
        idx = self.sampler.next().to(self.device)
        x = self.precision.images(self.augmenter(to_float(self.x_train[idx]), self.gen))
        self.model.train()
        with self.precision.autocast(self.device):
            logits = self.model(x)
        loss = F.cross_entropy(logits.float(), self.y_train[idx])
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step_count += 1
        return {"loss": loss.item()}

    def snapshot(self) -> dict[str, Any]:
        return {"step": self.step_count}

    def state_modules(self) -> dict[str, Any]:
        return {"model": self.model, "optimizer": self.opt, "sampler": self.sampler}

    def evaluate(self) -> dict[str, float]:
        enc = self.model.encoder
        with frozen(enc), stoppable(enc):
            auto = lambda: self.precision.autocast(self.device)
            ftr = extract(lambda x: enc(self.precision.images(x)), self.data.x_train, self.device, autocast=auto)
            fte = extract(lambda x: enc(self.precision.images(x)), self.data.x_test, self.device, autocast=auto)
        return {"linear_probe_acc": linear_probe(ftr, self.data.y_train, fte, self.data.y_test)}


class DeferredTrainer:
    """An `EmbedTrainer` built on first use — inside the Run's thread, so loading or generating the
    data (seconds for the shapes set) never blocks the page's script thread."""

    failure_advice = FAILURE_ADVICE

    def __init__(self, config: EmbedConfig):
        self.config = config
        self.inner: EmbedTrainer | None = None

    @property
    def step_count(self) -> int:
        return self.inner.step_count if self.inner is not None else 0

    @property
    def ready(self) -> bool:
        return self.inner is not None

    @property
    def device(self) -> torch.device | None:
        return self.inner.device if self.inner is not None else None

    @property
    def data(self) -> ImageSet | None:
        """The images (read-only) once the trainer is built."""
        return self.inner.data if self.inner is not None else None

    def _get(self) -> EmbedTrainer:
        if self.inner is None:
            self.inner = EmbedTrainer(self.config)
        return self.inner

    def step(self) -> dict[str, float]:
        return self._get().step()

    def snapshot(self) -> dict[str, Any]:
        return self._get().snapshot()

    def evaluate(self) -> dict[str, float]:
        return self._get().evaluate()

    def checkpoint(self) -> dict[str, Any]:
        return self._get().checkpoint()

    def state_modules(self) -> dict[str, Any]:
        return self._get().state_modules()

    def restore(self, state: dict[str, Any]) -> None:
        self._get().restore(state)
