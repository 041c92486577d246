r"""Several processes, one model: the pieces of `torch.distributed` the image trainer uses under `torchrun`.

`torchrun --nproc-per-node N [--nnodes M …] -m engine embed …` starts N·M copies of the command and tells
each, through its environment, who it is: RANK (0 … WORLD_SIZE−1 over all nodes), WORLD_SIZE, LOCAL_RANK
(the GPU on its node), LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT (where rank 0 listens), and
TORCHELASTIC_RESTART_COUNT after an elastic restart. `init_from_env()` reads them and joins the process
group (NCCL on CUDA, gloo on the CPU); a command not started by torchrun gets `world_size == 1` and no
process group, and every function here is then the identity, so the single-process code path is the
same code.

Conventions of the collectives below:

- Equal shapes on every rank (all_gather needs them): the sampler (`shard_indices`) gives every rank
  the same number of images, by *dropping* the last `n mod world` images of each epoch's permutation
  (which ones changes every epoch).
- Gradients follow DistributedDataParallel's convention: each rank's loss is the mean over its own
  rows, DDP averages the parameter gradients over ranks, so the step is that of the mean of the ranks'
  losses — the single-process loss on the concatenated batch when every rank has as many rows.
  A collective that carries gradients (`gather_with_grad`, `all_reduce_with_grad`) therefore returns
  in its backward the *sum* over ranks of the gradients the ranks' losses send to this rank's input.

`GlobalBatchNorm` stands in for `torch.nn.SyncBatchNorm` where that refuses to run (its forward accepts
only accelerator tensors, so not the gloo/CPU processes that test all of this).
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import torch
import torch.distributed as dist
from torch import nn

from engine.device import pick_device
from engine.errors import DeviceError, SettingError
from engine.training import mixed_generator

Tensor = torch.Tensor
BACKENDS = ("auto", "gloo", "nccl")
DEFAULT_TIMEOUT_S = 1800.0  # torch's own default for a collective that waits on a missing rank
SYNC_BN_DEVICES = ("cuda", "xpu")  # where torch.nn.SyncBatchNorm runs (its forward refuses the CPU)


@dataclass(frozen=True)
class Dist:
    """Who this process is among the ranks (rank 0 of 1 when not started by torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    master_addr: str | None = None
    master_port: int | None = None
    restart_count: int = 0  # TORCHELASTIC_RESTART_COUNT: > 0 after an elastic restart (resume then)
    backend: str | None = None  # the process group's backend; None without one
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only one that writes results, checkpoints and the final JSON line."""
        return self.rank == 0

    def barrier(self) -> None:
        if _active():
            if self.backend == "nccl":
                dist.barrier(device_ids=[self.device.index or 0])
            else:
                dist.barrier()

    def destroy(self) -> None:
        """Leave the process group (call once at the end, on every rank)."""
        if _active():
            dist.destroy_process_group()


def _int_env(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise DeviceError(f"{name} = {text!r} is not an integer (torchrun sets it)") from None


def dist_from_env(environ: Mapping[str, str] | None = None) -> Dist:
    """Parse torchrun's variables (no process group yet): rank, world size, local rank, master address."""
    env = os.environ if environ is None else environ
    world = _int_env(env, "WORLD_SIZE", 1)
    rank = _int_env(env, "RANK", 0)
    local_rank = _int_env(env, "LOCAL_RANK", rank if world > 1 else 0)
    local_world = _int_env(env, "LOCAL_WORLD_SIZE", world)
    if world < 1 or not 0 <= rank < world:
        raise DeviceError(f"RANK = {rank} and WORLD_SIZE = {world} do not fit: need 0 ≤ RANK < WORLD_SIZE")
    if not 0 <= local_rank < max(local_world, 1):
        raise DeviceError(f"LOCAL_RANK = {local_rank} is outside 0 … LOCAL_WORLD_SIZE − 1 = {local_world - 1}")
    addr = env.get("MASTER_ADDR") or None
    port = _int_env(env, "MASTER_PORT", 0) or None
    if world > 1 and (addr is None or port is None):
        raise DeviceError("WORLD_SIZE > 1 but MASTER_ADDR or MASTER_PORT is unset: start the command with torchrun")
    return Dist(rank=rank, world_size=world, local_rank=local_rank, local_world_size=local_world,
                master_addr=addr, master_port=port, restart_count=_int_env(env, "TORCHELASTIC_RESTART_COUNT", 0))


def init_from_env(backend: str = "auto", device: str | None = None, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Dist:
    """Join torchrun's process group (or not, for one process) and pick this rank's device.

    backend "auto": NCCL when the device is CUDA, gloo otherwise. device None/"auto": CUDA when there is
    one, else the CPU; with CUDA every rank takes GPU `LOCAL_RANK` (and makes it the current device).
    The group is joined by `env://`, which under torchrun reuses its agent's store (elastic restarts).
    """
    if backend not in BACKENDS:
        raise SettingError(f"backend = {backend!r} is not allowed: choose one of {', '.join(BACKENDS)}",
                           setting="backend", value=backend)
    info = dist_from_env()
    if device in (None, "", "auto"):
        dev = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    else:
        dev = pick_device(device)
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else info.local_rank
        dev = pick_device(f"cuda:{index}")
        torch.cuda.set_device(dev)
    if not info.distributed:
        return replace(info, device=dev)
    chosen = ("nccl" if dev.type == "cuda" else "gloo") if backend == "auto" else backend
    if chosen == "nccl" and dev.type != "cuda":
        raise DeviceError(f"backend nccl needs CUDA devices, but this rank's device is {dev.type}",
                          setting="device")
    if not dist.is_initialized():
        dist.init_process_group(chosen, init_method="env://", rank=info.rank, world_size=info.world_size,
                                timeout=datetime.timedelta(seconds=timeout_s))
    return replace(info, backend=chosen, device=dev)


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if _active() else 1


def rank() -> int:
    return dist.get_rank() if _active() else 0


# ---- collectives ---------------------------------------------------------------------------------------
class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        total = grad.contiguous().clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total.chunk(dist.get_world_size())[dist.get_rank()]


def gather_with_grad(x: Tensor) -> Tensor:
    r"""Every rank's `x` concatenated in rank order (shape [world·n, …]), differentiable.

    Backward: rank s holds ∂L_s/∂X for its own loss L_s of the gathered X = [x_0; …; x_{W−1}]. The
    objective is Σ_s L_s (DDP then divides by W), and x_r reaches every L_s through its copy in X, so

        ∂(Σ_s L_s)/∂x_r = Σ_s (∂L_s/∂X)[slice r]

    — an all-reduce (sum) of the incoming gradients, then this rank's slice. The naive GatherLayer
    returns (∂L_r/∂X)[slice r], the s = r term alone: it drops the W − 1 cross-rank terms. Where every
    rank evaluates the same loss on X (L_s = L for all s) each term is the whole gradient, so the naive
    version gives ∂L/∂x_r where W·∂L/∂x_r is due, and after DDP's average over ranks the parameters get
    1/W of the true gradient: it undercounts by exactly the world size (tests/engine/test_distributed.py
    shows it). With per-rank losses over local rows (NT-Xent here) the dropped terms are the gradients
    that reach x_r as a negative in the other ranks' losses: no longer a constant factor, but still
    wrong: a rank's rows get no gradient from serving as the other ranks' negatives (13 % off in the
    test's two-rank example).

    Needs the same shape on every rank. One process: `x` itself.
    """
    return _GatherWithGrad.apply(x) if _active() else x


class _AllReduceWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        total = x.contiguous().clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        total = grad.contiguous().clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)  # x_r reaches every rank's loss through the sum
        return total


def all_reduce_with_grad(x: Tensor) -> Tensor:
    """Σ over ranks of `x`, differentiable (backward: the sum over ranks of the incoming gradients)."""
    return _AllReduceWithGrad.apply(x) if _active() else x


@torch.no_grad()
def all_gather_no_grad(x: Tensor) -> Tensor:
    """Every rank's `x` concatenated in rank order, detached (keys, indices, bank updates)."""
    if not _active():
        return x.detach()
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.detach().contiguous())
    return torch.cat(parts)


@torch.no_grad()
def all_reduce_mean(x: Tensor) -> Tensor:
    """The mean over ranks of `x` (no gradient): the numbers every rank reports after a step."""
    if not _active():
        return x
    x = x.clone()
    dist.all_reduce(x)
    return x / dist.get_world_size()


def broadcast_tensor(x: Tensor, src: int = 0) -> Tensor:
    """`x` as rank `src` has it, on every rank (in place where possible; returns it)."""
    if _active():
        dist.broadcast(x, src=src)
    return x


@torch.no_grad()
def broadcast_state(module: nn.Module, src: int = 0) -> nn.Module:
    """Make every parameter and buffer of `module` (MoCo's key encoder and queue, PIRL's bank, …) equal to
    rank `src`'s. DDP does this for the module it wraps, once; call it for whatever DDP does not wrap."""
    if _active():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=src)
    return module


def average_gradients(params) -> None:
    """What DDP does to the gradients, for modules trained without DDP: the mean over ranks."""
    if not _active():
        return
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad.div_(dist.get_world_size())


# ---- the data: a shard of each epoch's permutation per rank -------------------------------------------
def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator of epoch `epoch` of a run with `seed`: the same on every rank and after a restart."""
    return mixed_generator(seed, epoch)


def shard_indices(n: int, rank: int, world: int, epoch: int, seed: int) -> Tensor:
    """This rank's images for `epoch`: positions rank, rank + world, … of a permutation of range(n) drawn
    from `epoch_generator(seed, epoch)` — the same permutation on every rank, so the shards are
    disjoint. Equal sizes by DROPPING: the permutation's last `n mod world` images are left out of this
    epoch (another few next epoch), so every rank gets n // world images and no image appears twice in
    an epoch (padding would repeat images: two ranks would then update the same PIRL bank slot in one
    step)."""
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank {rank} is not one of the {world} ranks")
    if n < world:
        raise SettingError(f"{n} training images cannot be shared among {world} processes", setting="train_size",
                           value=n)
    perm = torch.randperm(n, generator=epoch_generator(seed, epoch))
    return perm[: (n // world) * world][rank::world]


def local_batch_size(global_batch: int, world: int) -> int:
    """The per-rank batch of a global batch (the setting `batch_size` means the global one)."""
    if global_batch % world:
        raise SettingError(f"batch_size = {global_batch} is not a multiple of the {world} processes: each "
                           "must get as many images", setting="batch_size", value=global_batch)
    return global_batch // world


class ShardedBatches:
    """Batches of `batch` indices from this rank's shard of each epoch (`shard_indices`); an epoch ends
    when the shard has no full batch left, on every rank at the same step. The state is two integers
    (epoch, position), so a resumed run continues the same stream without any generator state."""

    def __init__(self, n: int, batch: int, rank: int, world: int, seed: int):
        if batch > n // world:
            raise SettingError(f"batch_size = {batch * world} is not allowed here: the training split has only "
                               f"{n} images ({n // world} per process)", setting="batch_size", value=batch * world)
        self.n, self.batch, self.rank, self.world, self.seed = n, batch, rank, world, seed
        self.epoch, self._pos = 0, 0
        self._shard = shard_indices(n, rank, world, 0, seed)

    def next(self) -> Tensor:
        if self._pos + self.batch > len(self._shard):
            self.epoch, self._pos = self.epoch + 1, 0
            self._shard = shard_indices(self.n, self.rank, self.world, self.epoch, self.seed)
        idx = self._shard[self._pos : self._pos + self.batch]
        self._pos += self.batch
        return idx

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "pos": self._pos}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        self.epoch, self._pos = int(state["epoch"]), int(state["pos"])
        self._shard = shard_indices(self.n, self.rank, self.world, self.epoch, self.seed)


# ---- batch norm over all ranks ----------------------------------------------------------------------
class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are those of the whole global batch (every rank's rows), for
    any backend and device; gradients flow through the statistics to every rank (`all_reduce_with_grad`).
    Two passes (mean, then the centred second moment): two small all-reduces per layer. Evaluation uses
    the running statistics, as `nn.BatchNorm*d` does. Any input rank ≥ 2 (channels in dimension 1)."""

    def _check_input_dim(self, x: Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-D input (got {x.dim()}-D)")

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training or not self.track_running_stats) or not _active():
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        rows = torch.full((1,), x.numel() / x.shape[1], dtype=x.dtype, device=x.device)
        sums = all_reduce_with_grad(torch.cat([x.sum(dims), rows]))  # Σx per channel and the global count
        mean, count = sums[:-1] / sums[-1], sums[-1:]
        centred = x - mean.view(shape)
        var = all_reduce_with_grad(centred.pow(2).sum(dims)) / count
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                unbiased = var * count / (count - 1).clamp(min=1)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(unbiased.detach(), alpha=m)
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def _to_global_bn(module: nn.Module) -> nn.Module:
    out = module
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, GlobalBatchNorm):
        out = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                              module.track_running_stats)
        if module.affine:  # the same Parameter objects (as SyncBatchNorm's conversion keeps them)
            out.weight, out.bias = module.weight, module.bias
        if module.track_running_stats:
            out.running_mean, out.running_var = module.running_mean, module.running_var
            out.num_batches_tracked = module.num_batches_tracked
        out.train(module.training)
    for name, child in module.named_children():
        out.add_module(name, _to_global_bn(child))
    return out


def convert_sync_batchnorm(model: nn.Module, device: torch.device | None = None) -> nn.Module:
    """Batch norm over the global batch when there are several ranks: `torch.nn.SyncBatchNorm` on CUDA/XPU,
    `GlobalBatchNorm` elsewhere (gloo on the CPU); the model itself for one process. Convert before DDP
    wraps the model (the parameters stay the same tensors, so an optimiser built before still applies)."""
    if world_size() == 1:
        return model
    dev = device if device is not None else next(iter(model.parameters()), torch.empty(0)).device
    if dev.type in SYNC_BN_DEVICES:
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return _to_global_bn(model)


__all__ = [
    "Dist", "GlobalBatchNorm", "ShardedBatches", "all_gather_no_grad", "all_reduce_mean", "all_reduce_with_grad",
    "average_gradients", "broadcast_state", "broadcast_tensor", "convert_sync_batchnorm", "dist_from_env",
    "epoch_generator", "gather_with_grad", "init_from_env", "local_batch_size", "rank", "shard_indices",
    "world_size",
]
