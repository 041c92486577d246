"""engine/distributed.py and engine/embed/distributed_losses.py with real process groups: two processes
(torch.multiprocessing.spawn), gloo on the CPU, float64, fixed inputs, 127.0.0.1 and a free port.

Each multi-process test runs a module-level worker in every rank; the worker returns plain tensors,
saved per rank and compared here against one process on the concatenated batch (also in float64: the
`float64` fixture, so that models are initialised with the same numbers as in the workers)."""

from __future__ import annotations

import copy
import functools
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from engine.distributed import (
    Dist,
    GlobalBatchNorm,
    ShardedBatches,
    all_gather_no_grad,
    average_gradients,
    convert_sync_batchnorm,
    dist_from_env,
    gather_with_grad,
    init_from_env,
    local_batch_size,
    shard_indices,
)
from engine.embed.distributed_losses import nt_xent_distributed, shuffle_plan, shuffled_keys
from engine.embed.objectives.l2 import nt_xent_l2, nt_xent_l2_distributed
from engine.embed.objectives.moco import _grouped
from engine.embed.objectives.simclr import nt_xent
from engine.errors import DeviceError, SettingError
from engine.training import init_parameters, make_generator

WORLD = 2
N_LOCAL = 4  # images per rank
TAU = 0.5
TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖a − b‖ / ‖b‖."""
    return float((a - b).norm() / b.norm())


# ---- running workers in two processes ----------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank: int, world: int, port: int, worker, out_dir: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo")
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    d = init_from_env("auto", "cpu", timeout_s=60)
    try:
        torch.save(worker(d), Path(out_dir) / f"rank{rank}.pt")
    finally:
        d.destroy()


def spawn(worker, tmp_path: Path, world: int = WORLD) -> list[dict]:
    mp.spawn(_entry, args=(world, free_port(), worker, str(tmp_path)), nprocs=world, join=True)
    return [torch.load(tmp_path / f"rank{r}.pt") for r in range(world)]


def fixed(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=make_generator(seed), dtype=torch.float64)


# ---- (a) gather_with_grad ------------------------------------------------------------------------------
class NaiveGather(torch.autograd.Function):
    """The wrong GatherLayer: backward returns this rank's slice of its own gradient, without the sum."""

    @staticmethod
    def forward(ctx, x):
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad):
        return grad.chunk(dist.get_world_size())[dist.get_rank()]


def row_losses(z: torch.Tensor) -> torch.Tensor:
    """ℓ_i(Z) = logsumexp_j z_i·z_j: each row's term depends on every row (as a contrastive loss does)."""
    return torch.logsumexp(z @ z.T, dim=1)


def gather_inputs():
    x = fixed((WORLD * N_LOCAL, 3), 1)
    layer = init_parameters(nn.Linear(3, 5), make_generator(2)).double()
    return x, layer


def worker_gather(d: Dist) -> dict:
    x_all, layer = gather_inputs()
    rows = slice(d.rank * N_LOCAL, (d.rank + 1) * N_LOCAL)
    out = {}
    for name, gather in (("sum", gather_with_grad), ("naive", NaiveGather.apply)):
        # every rank sums the terms of its own rows: Σ_r L_r = Σ_i ℓ_i, the input gradient needs no averaging
        x = x_all[rows].clone().requires_grad_(True)
        row_losses(gather(layer(x)))[rows].sum().backward()
        out[f"x_grad_{name}"] = x.grad
        # every rank evaluates the same loss on the whole gathered batch; DDP's averaging of the gradients
        layer.zero_grad()
        row_losses(gather(layer(x_all[rows]))).sum().backward()
        average_gradients(layer.parameters())
        out[f"w_grad_{name}"] = layer.weight.grad.clone()
        layer.zero_grad()
    return out


def test_gather_with_grad_sums_the_gradients_over_ranks(tmp_path, float64):
    x_all, layer = gather_inputs()
    x = x_all.clone().requires_grad_(True)
    row_losses(layer(x)).sum().backward()
    ranks = spawn(worker_gather, tmp_path)
    x_grad = torch.cat([r["x_grad_sum"] for r in ranks])
    assert rel(x_grad, x.grad) <= 1e-6
    naive_x = torch.cat([r["x_grad_naive"] for r in ranks])
    assert rel(naive_x, x.grad) > 0.05  # the gradients through the other rank's negatives are missing
    for r in ranks:  # replicated loss + DDP's average: the sum is exact, the naive version is 1/W of it
        assert rel(r["w_grad_sum"], layer.weight.grad) <= 1e-6
        assert rel(WORLD * r["w_grad_naive"], layer.weight.grad) <= 1e-6
        assert rel(r["w_grad_naive"], layer.weight.grad) == pytest.approx(1 - 1 / WORLD, abs=1e-6)


# ---- (b) NT-Xent over two ranks with DDP ---------------------------------------------------------------
def simclr_inputs():
    x1, x2 = fixed((WORLD * N_LOCAL, 6), 3), fixed((WORLD * N_LOCAL, 6), 4)
    linear = init_parameters(nn.Linear(6, 4), make_generator(5)).double()
    with_bn = init_parameters(nn.Sequential(nn.Linear(6, 8, bias=False), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4)),
                              make_generator(6)).double()
    return x1, x2, {"linear": linear, "bn": with_bn}


def worker_simclr(d: Dist, ddp: bool = False) -> dict:
    """The gradients averaged over ranks by DistributedDataParallel itself (ddp) or by `average_gradients`,
    its all-reduce mean (DDP's construction imports torch._dynamo: seconds per process)."""
    x1_all, x2_all, encoders = simclr_inputs()
    rows = slice(d.rank * N_LOCAL, (d.rank + 1) * N_LOCAL)
    out = {}
    for name, encoder in encoders.items():
        encoder = convert_sync_batchnorm(encoder)
        out[f"{name}_global_bn"] = any(isinstance(m, GlobalBatchNorm) for m in encoder.modules())
        model = DistributedDataParallel(encoder) if ddp else encoder
        z = model(torch.cat([x1_all[rows], x2_all[rows]]))  # one pass: BN sees both views, as in SimCLR
        loss, logits, _ = nt_xent_distributed(z[:N_LOCAL], z[N_LOCAL:], TAU, rank=d.rank)
        loss.backward()
        if not ddp:
            average_gradients(encoder.parameters())
        global_loss = loss.detach().clone()
        dist.all_reduce(global_loss)
        out[f"{name}_loss"] = global_loss / d.world_size
        out[f"{name}_grads"] = [p.grad.clone() for p in encoder.parameters()]
        out[f"{name}_buffers"] = [b.clone() for b in encoder.buffers()]
        out[f"{name}_logits_shape"] = tuple(logits.shape)
    return out


@pytest.mark.parametrize("ddp", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_nt_xent_over_two_ranks_equals_one_process(tmp_path, float64, ddp):
    x1, x2, encoders = simclr_inputs()
    ranks = spawn(functools.partial(worker_simclr, ddp=ddp), tmp_path)
    for name, encoder in encoders.items():
        z = encoder(torch.cat([x1, x2]))
        loss, _, _ = nt_xent(z[: len(x1)], z[len(x1) :], TAU)
        loss.backward()
        for r in ranks:
            assert r[f"{name}_logits_shape"] == (2 * N_LOCAL, 2 * WORLD * N_LOCAL)
            assert r[f"{name}_global_bn"] == (name == "bn")
            assert abs(float(r[f"{name}_loss"]) - loss.item()) <= 1e-6 * abs(loss.item())
            for g, p in zip(r[f"{name}_grads"], encoder.parameters(), strict=True):
                assert rel(g, p.grad) <= 1e-6, name
            for b, ref in zip(r[f"{name}_buffers"], encoder.buffers(), strict=True):  # BN running statistics
                assert torch.allclose(b.double(), ref.double(), rtol=1e-9, atol=1e-12), name


def test_nt_xent_distributed_with_one_rank_is_the_single_process_loss(float64):
    z1, z2 = fixed((5, 3), 7), fixed((5, 3), 8)
    one = lambda t: t
    for dist_fn, ref_fn in ((nt_xent_distributed, nt_xent), (nt_xent_l2_distributed, nt_xent_l2)):
        loss, logits, positive = dist_fn(z1, z2, TAU, rank=0, gather=one)
        ref_loss, ref_logits, ref_positive = ref_fn(z1, z2, TAU)
        assert torch.allclose(loss, ref_loss, rtol=1e-12)
        assert torch.allclose(logits, ref_logits, rtol=1e-12)
        assert torch.equal(positive, ref_positive)


# ---- (c) MoCo's shuffle-BN across ranks (the queue and the bank: tests/engine/test_distributed_trainer.py) --
def worker_keys(d: Dist) -> dict:
    """The keys of this rank's inputs with MoCo's shuffle-BN across ranks."""
    key_net = init_parameters(nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6)), make_generator(40)).double()
    x_all = fixed((WORLD * 2 * N_LOCAL, 4), 41)
    rows = slice(d.rank * 2 * N_LOCAL, (d.rank + 1) * 2 * N_LOCAL)
    return {"keys": shuffled_keys(key_net, x_all[rows], rank=d.rank, gen=make_generator(42))}


@pytest.fixture(scope="module")
def state_ranks(tmp_path_factory):
    return spawn(worker_keys, tmp_path_factory.mktemp("keys"))


def test_shuffled_keys_equal_one_process_with_one_bn_group_per_rank(state_ranks, float64):
    ranks = state_ranks
    key_net = init_parameters(nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6)), make_generator(40)).double()
    x_all = fixed((WORLD * 2 * N_LOCAL, 4), 41)
    order, _ = shuffle_plan(len(x_all), make_generator(42), x_all.device)
    with torch.no_grad():
        keys = _grouped(copy.deepcopy(key_net), x_all, WORLD, order)
    assert rel(torch.cat([r["keys"] for r in ranks]), keys) <= 1e-12
    with torch.no_grad():  # and it is not the keys of per-rank BN without the shuffle
        unshuffled = _grouped(copy.deepcopy(key_net), x_all, WORLD)
    assert rel(torch.cat([r["keys"] for r in ranks]), unshuffled) > 1e-3


# ---- (d) the shards --------------------------------------------------------------------------------------
@pytest.mark.parametrize("n, world", [(100, 4), (103, 4), (7, 2), (5, 1)])
def test_shard_indices_disjoint_covering_reproducible(n, world):
    for epoch in range(3):
        shards = [shard_indices(n, r, world, epoch, seed=11) for r in range(world)]
        assert {len(s) for s in shards} == {n // world}  # equal sizes: the last n mod world are dropped
        union = torch.cat(shards)
        assert len(set(union.tolist())) == len(union) == (n // world) * world  # disjoint
        assert set(union.tolist()) <= set(range(n))
        if n % world == 0:
            assert sorted(union.tolist()) == list(range(n))  # covering
        for r in range(world):
            assert torch.equal(shards[r], shard_indices(n, r, world, epoch, seed=11))  # reproducible
    epochs = [torch.cat([shard_indices(n, r, world, e, seed=11) for r in range(world)]) for e in range(30)]
    assert set(torch.cat(epochs).tolist()) == set(range(n))  # what one epoch drops, another visits
    if n > 5:
        assert not torch.equal(epochs[0], epochs[1])  # a new permutation every epoch
        assert not torch.equal(shard_indices(n, 0, world, 0, seed=11), shard_indices(n, 0, world, 0, seed=12))
        assert not torch.equal(shard_indices(n, 0, world, 1, seed=0), shard_indices(n, 0, world, 0, seed=1))


def test_sharded_batches_resume_and_errors():
    a = ShardedBatches(50, 4, rank=1, world=2, seed=3)
    for _ in range(9):  # 25 images per rank: 6 batches an epoch; step 7 starts epoch 1
        a.next()
    b = ShardedBatches(50, 4, rank=1, world=2, seed=3)
    b.load_state_dict(a.state_dict())
    assert a.epoch == b.epoch == 1
    for _ in range(10):
        assert torch.equal(a.next(), b.next())
    with pytest.raises(SettingError, match="batch_size"):
        ShardedBatches(50, 26, rank=0, world=2, seed=3)
    assert local_batch_size(256, 4) == 64
    with pytest.raises(SettingError, match="batch_size"):
        local_batch_size(255, 4)
    with pytest.raises(ValueError):
        shard_indices(10, 2, 2, 0, 0)


# ---- one process: the identity --------------------------------------------------------------------------
def test_without_torchrun_everything_is_one_process(monkeypatch):
    for name in TORCHRUN_VARS:
        monkeypatch.delenv(name, raising=False)
    d = init_from_env("auto", "cpu")
    assert (d.rank, d.world_size, d.is_main, d.distributed, d.backend) == (0, 1, True, False, None)
    assert not dist.is_initialized()
    d.barrier()
    x = torch.arange(6.0).reshape(3, 2).requires_grad_(True)
    assert gather_with_grad(x) is x
    assert torch.equal(all_gather_no_grad(x), x)
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    assert convert_sync_batchnorm(model) is model
    d.destroy()


def test_torchrun_environment_is_parsed_and_checked():
    env = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "10.0.0.1",
           "MASTER_PORT": "29500", "TORCHELASTIC_RESTART_COUNT": "1"}
    d = dist_from_env(env)
    assert (d.rank, d.world_size, d.local_rank, d.local_world_size) == (3, 4, 1, 2)
    assert (d.master_addr, d.master_port, d.restart_count, d.is_main) == ("10.0.0.1", 29500, 1, False)
    with pytest.raises(DeviceError, match="RANK"):
        dist_from_env({**env, "RANK": "4"})
    with pytest.raises(DeviceError, match="MASTER"):
        dist_from_env({k: v for k, v in env.items() if k != "MASTER_PORT"})
    with pytest.raises(DeviceError, match="integer"):
        dist_from_env({**env, "WORLD_SIZE": "two"})
    with pytest.raises(SettingError, match="backend"):
        init_from_env("mpi")
