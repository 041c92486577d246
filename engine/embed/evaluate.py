"""How good is an embedding? Linear probe and kNN on frozen features, contrastive accuracy, and the
geometry of the embedding (effective rank, uniformity on the sphere).

The probe is multinomial logistic regression on standardised features, fitted by L-BFGS on the
training split; its L2 penalty is chosen on a validation fifth of the training split, then the
probe is refitted on the whole training split and scored once on the held-out test split.

Every chunked loop here (feature batches, an encoder's blocks under `stoppable`, the probe's L-BFGS
evaluations, kNN batches) calls engine.run.cancel.check(), so a Stop ends an evaluation within a
fraction of a second even where the whole of it takes a minute (ResNet-18 on a CPU).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from engine.embed.imageset import to_float
from engine.errors import SettingError
from engine.run import cancel

Tensor = torch.Tensor
PROBE_PENALTIES = (1e-4, 1e-3, 1e-2)
CPU_BATCH, DEVICE_BATCH = 256, 1024  # images per chunk of a feature extraction


@torch.no_grad()
def extract(fn: Callable[[Tensor], Tensor], x: Tensor, device: torch.device, batch: int | None = None,
            autocast: Callable | None = None) -> Tensor:
    """fn applied to uint8 images in batches on `device` → float32 features on the CPU. Default batch:
    1,024 images on an accelerator; 256 on the CPU, as fast per image there, and a 4× finer grain for a Stop
    (one ResNet-18 layer over 1,024 shapes images takes up to a second on a loaded 2-core CPU)."""
    batch = batch or (CPU_BATCH if torch.device(device).type == "cpu" else DEVICE_BATCH)
    out = []
    for i in range(0, len(x), batch):
        cancel.check("the feature extraction")
        xb = to_float(x[i : i + batch].to(device, non_blocking=True))
        if autocast is not None:
            with autocast():
                out.append(fn(xb).float().cpu())
        else:
            out.append(fn(xb).float().cpu())
    return torch.cat(out)


@contextmanager
def stoppable(module: nn.Module) -> Iterator[None]:
    """Within this block, a Stop is checked before the forward of each of `module`'s submodules: one
    ResNet-18 forward of 1,024 images takes seconds on a CPU, one of its layers a fraction of that.
    Nothing is added outside a cancel scope (the CLI, benchmarks)."""
    if not cancel.active():
        yield
        return
    handles = [m.register_forward_pre_hook(lambda *_: cancel.check("the evaluation")) for m in module.modules()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def frozen(module: nn.Module):
    """Context: eval mode (batch-norm running statistics) for the duration, then the previous mode."""

    class _Ctx:
        def __enter__(self):
            self.was = module.training
            module.eval()

        def __exit__(self, *exc):
            module.train(self.was)

    return _Ctx()


def _standardise(train: Tensor, test: Tensor) -> tuple[Tensor, Tensor]:
    mean, std = train.mean(0), train.std(0).clamp(min=1e-6)
    return (train - mean) / std, (test - mean) / std


def _fit_logistic(x: Tensor, y: Tensor, n_classes: int, penalty: float, max_iter: int) -> nn.Linear:
    # the probe starts from zero (deterministic, no random draw)
    lin = nn.utils.skip_init(nn.Linear, x.shape[1], n_classes)
    nn.init.zeros_(lin.weight)
    nn.init.zeros_(lin.bias)
    xd = x.float()
    opt = torch.optim.LBFGS(lin.parameters(), lr=1, max_iter=max_iter, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-6, tolerance_change=1e-9)

    def closure():
        cancel.check("the probe")
        opt.zero_grad()
        loss = F.cross_entropy(lin(xd), y) + 0.5 * penalty * lin.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return lin


def _accuracy(lin: nn.Linear, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return (lin(x.float()).argmax(1) == y).float().mean().item()


def linear_probe(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor,
                 penalties: tuple[float, ...] = PROBE_PENALTIES, max_iter: int = 150) -> float:
    """Held-out accuracy of a linear classifier on frozen features (penalty chosen on validation)."""
    train_x, test_x = _standardise(train_x.float().flatten(1), test_x.float().flatten(1))
    n_classes = int(max(train_y.max(), test_y.max())) + 1
    best = penalties[0]
    if len(penalties) > 1:
        gen = torch.Generator().manual_seed(0)
        perm = torch.randperm(len(train_y), generator=gen)
        n_val = max(len(perm) // 5, 1)
        val, fit = perm[:n_val], perm[n_val:]
        scores = [_accuracy(_fit_logistic(train_x[fit], train_y[fit], n_classes, p, max_iter // 2),
                            train_x[val], train_y[val]) for p in penalties]
        best = penalties[max(range(len(penalties)), key=lambda i: (scores[i], -i))]
    lin = _fit_logistic(train_x, train_y, n_classes, best, max_iter)
    return _accuracy(lin, test_x, test_y)


def knn_accuracy(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, k: int = 20) -> float:
    """Cosine kNN: each test point takes the similarity-weighted vote of its k nearest training points."""
    a = F.normalize(train_x.float().flatten(1), dim=1)
    b = F.normalize(test_x.float().flatten(1), dim=1)
    n_classes = int(max(train_y.max(), test_y.max())) + 1
    correct = 0
    for i in range(0, len(b), 1024):
        cancel.check("the kNN vote")
        sim = b[i : i + 1024] @ a.T
        top, idx = sim.topk(min(k, len(a)), dim=1)
        votes = torch.zeros(len(top), n_classes).scatter_add_(1, train_y[idx], top.clamp(min=0) + 1e-6)
        correct += (votes.argmax(1) == test_y[i : i + 1024]).sum().item()
    return correct / len(b)


def contrastive_accuracy(a: Tensor, b: Tensor, metric: str = "cosine") -> float:
    """SimCLR's "contrastive accuracy": among all other 2M−1 views, is view i's positive the closest?"""
    from engine.embed.objectives import top1_positive
    from engine.embed.objectives.l2 import neg_sq_distance
    from engine.embed.objectives.simclr import pair_logits

    if metric == "cosine":
        sim = lambda u, v: F.normalize(u, dim=1) @ F.normalize(v, dim=1).T
    elif metric == "l2":
        sim = neg_sq_distance
    else:
        raise SettingError(f"metric = {metric!r} is not allowed: it must be cosine or l2", setting="metric")
    logits, positive = pair_logits(a.float(), b.float(), sim)
    return top1_positive(logits, positive)


def effective_rank(z: Tensor) -> float:
    """exp(entropy of the normalised singular values) of the centred embeddings (Roy & Vetterli)."""
    s = torch.linalg.svdvals((z - z.mean(0)).double())
    p = s / s.sum().clamp(min=1e-12)
    p = p[p > 0]
    return math.exp(-(p * p.log()).sum().item())


def uniformity(z: Tensor, t: float = 2.0, max_points: int = 2000) -> float:
    """log E exp(−t‖u − v‖²) over pairs of unit vectors (Wang & Isola): lower = more uniform."""
    u = F.normalize(z[:max_points].double(), dim=1)
    d2 = torch.pdist(u).pow(2)
    return (torch.logsumexp(-t * d2, 0) - math.log(len(d2))).item()
