"""The image trainer itself over two processes (gloo on the CPU, float64, fixed views): for SimCLR, MoCo
and PIRL, one step of `EmbedTrainer` under DistributedDataParallel gives the loss and the parameter
gradients of one process on the concatenated batch (MoCo: one process whose batch norm uses as many
groups as there are ranks), and after five steps MoCo's queue and PIRL's bank are the same on both ranks
and equal to the single process's."""

from __future__ import annotations

import pytest
import torch

from engine.distributed import Dist
from engine.embed.config import EmbedConfig
from engine.embed.trainer import EmbedTrainer
from tests.engine.test_distributed import WORLD, fixed, rel, spawn

N_LOCAL = 4  # images per rank
STEPS = 5
METHODS = ("simclr", "moco", "pirl", "simclr_l2")
STATE = {"moco": "queue", "pirl": "bank"}


def config(method: str) -> EmbedConfig:
    return EmbedConfig.create(dataset="digits", method=method, width=4, proj_dim=8, batch_size=WORLD * N_LOCAL,
                              temperature=0.5, queue_size=16, bn_groups=WORLD, bank_negatives=16, device="cpu",
                              seed=3, budget_seconds=None)


def views(step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The global batch of a step: two fixed views of WORLD·N_LOCAL distinct images (8×8 digits)."""
    n = WORLD * N_LOCAL
    return fixed((n, 1, 8, 8), 2 * step), fixed((n, 1, 8, 8), 2 * step + 1), torch.arange(step * n, (step + 1) * n)


def grads(trainer: EmbedTrainer) -> dict[str, torch.Tensor]:
    named = [*trainer.encoder.named_parameters(prefix="encoder"), *trainer.objective.named_parameters(prefix="obj")]
    return {name: p.grad.clone() for name, p in named if p.grad is not None}


def train(trainer: EmbedTrainer, rows: slice) -> dict:
    out: dict = {}
    for step in range(STEPS):
        x1, x2, idx = views(step)
        row = trainer.train_on_views(x1[rows], x2[rows], idx[rows])
        if step == 0:
            out["loss"], out["grads"] = row["loss"], grads(trainer)
    state = STATE.get(trainer.config.method)
    if state is not None:
        out["state"] = getattr(trainer.objective, state).clone()
    return out


def worker(d: Dist) -> dict:
    rows = slice(d.rank * N_LOCAL, (d.rank + 1) * N_LOCAL)
    return {method: train(EmbedTrainer(config(method), dist=d), rows) for method in METHODS}


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    return spawn(worker, tmp_path_factory.mktemp("trainer"))


@pytest.mark.parametrize("method", METHODS)
def test_one_step_over_two_ranks_equals_one_process(ranks, method, float64):
    reference = train(EmbedTrainer(config(method)), slice(None))
    for r in ranks:
        got = r[method]
        assert abs(got["loss"] - reference["loss"]) <= 1e-6 * abs(reference["loss"]), method
        assert got["grads"].keys() == reference["grads"].keys()
        for name, g in reference["grads"].items():
            if g.norm() <= 1e-12:  # zero up to rounding (the L2 loss does not see the head's last bias)
                assert got["grads"][name].norm() <= 1e-12, name
            else:
                assert rel(got["grads"][name], g) <= 1e-6, (method, name, rel(got["grads"][name], g))


@pytest.mark.parametrize("method", sorted(STATE))
def test_queue_and_bank_identical_on_both_ranks_after_five_steps(ranks, method, float64):
    reference = train(EmbedTrainer(config(method)), slice(None))
    assert torch.equal(ranks[0][method]["state"], ranks[1][method]["state"])  # bit for bit
    assert torch.allclose(ranks[0][method]["state"], reference["state"], rtol=0, atol=1e-10)


def test_per_rank_batch_norm_would_not_match(ranks, float64):
    """The check can fail: SimCLR with each rank's own batch-norm statistics is not the global step."""
    trainer = EmbedTrainer(config("simclr"))
    x1, x2, idx = views(0)
    halves = [trainer.train_on_views(x1[s], x2[s], idx[s]) for s in (slice(0, N_LOCAL), slice(N_LOCAL, None))]
    assert abs(sum(h["loss"] for h in halves) / 2 - ranks[0]["simclr"]["loss"]) > 1e-4
