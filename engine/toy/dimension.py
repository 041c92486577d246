"""PCD and CD as the dimension grows (the lecture: contrastive sampling does not scale with dimension).

The 2-D data y are embedded in d dimensions with a random rotation R (orthogonal, d × d) after
padding them with d − 2 Gaussian noise coordinates of standard deviation `spread`:

    x = R [y; spread · ξ],   ξ ~ N(0, I_{d−2})

so the data lie close to a 2-D plane of R^d. PCD and CD-k train an energy MLP on x with the same
budget (steps, Langevin steps k, step size, batch). Quality is measured in the original plane, the
same way for every d: draw samples from the learned energy by Langevin from uniform noise on the
d-dimensional box, project them back, P x = (Rᵀ x)[:2], and compare with the data

  * hist_kl: KL(p_data ‖ q̂) between the exact data cell probabilities on a coarse 2-D grid and the
    samples' histogram (add-½ smoothed); `hist_kl_exact_sample` is the same number for an exact data
    sample of the same size (what a perfect sampler scores), `hist_kl_uniform` for uniform noise on
    the box (a sampler that learned nothing);
  * mmd: the unbiased MMD² with a Gaussian kernel between the projected samples and data.

`python -m engine pcd-dimension` trains all (method, d) pairs and prints the curve as JSON.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from engine.cli import progress as print_progress
from engine.device import pick_device
from engine.run import train_headless
from engine.schema import MAX_SEED, Rule, Settings, device_setting, setting
from engine.toy.config import ToyConfig
from engine.toy.data import DATASETS, ToyDataset, get_dataset
from engine.toy.grid import Grid, data_cell_probs
from engine.toy.samplers import langevin, uniform_in_box
from engine.toy.scoreboard import JobSequence
from engine.toy.trainer import build_energy, data_log_density_on_grid
from engine.training import make_generator

DIMS = (2, 4, 8, 16, 32)
METHODS = ("pcd", "cd")
# generators of the experiment's fixed draws: the seed + these (the training draws use the seed itself)
ROTATION_OFFSET, SAMPLE_OFFSET, REFERENCE_OFFSET, LEVEL_OFFSET = 30_000, 40_000, 50_000, 60_000


@dataclass
class DimensionConfig(Settings):
    """The "PCD and dimension" experiment: every (method, d) pair trained with the same budget."""

    experiment: ClassVar[str] = "pcd_dimension"
    rules: ClassVar[tuple[Rule, ...]] = (
        Rule(("buffer", "batch_size"), lambda c: c.buffer >= c.batch_size,
             "the replay buffer must hold at least one batch"),
    )

    dataset: str = setting("eight_gaussians", choices=tuple(DATASETS), label="Data set",
                           help="the 2-D data embedded in d dimensions")
    dims: tuple[int, ...] = setting(DIMS, ge=2, le=256, max_items=16, label="Dimensions d",
                                    help="the data dimensions to train at (comma-separated)")
    methods: tuple[str, ...] = setting(METHODS, choices=METHODS, max_items=len(METHODS), label="Methods",
                                       help="persistent CD and CD-k (comma-separated)")
    steps: int = setting(600, ge=1, le=100_000, label="Training steps per (method, d)",
                         help="parameter updates of each pair")
    k: int = setting(10, ge=1, le=100, label="Langevin steps k", help="sampler steps per update")
    eps: float = setting(0.01, gt=0, le=1, label="Gradient step ε", help="the Langevin step size, in "
                         "training and when sampling for the score", step=0.001)
    alpha: float = setting(0.1, ge=0, le=100, label="Energy² regulariser α",
                           help="α (E₊² + E₋²) keeps the energies from drifting", step=0.01)
    lr: float = setting(3e-3, gt=0, le=1, label="Learning rate", help="Adam's step size", step=1e-4)
    batch_size: int = setting(256, ge=2, le=8192, label="Batch size", help="data points per update")
    # small enough that every chain is updated often within the budget
    buffer: int = setting(1024, ge=2, le=262_144, label="Replay buffer (chains)",
                          help="PCD's persistent chains")
    spread: float = setting(0.2, ge=0, le=10, label="Off-plane spread", step=0.05,
                            help="std of the d − 2 noise coordinates added to the data")
    samples: int = setting(2000, ge=10, le=5000, label="Samples scored",
                           help="particles drawn from each learned energy for the quality measure")
    sample_steps: int = setting(500, ge=0, le=2000, label="Sampling steps",
                                help="Langevin steps of those particles from uniform noise on the d-box")
    hist_grid: int = setting(24, ge=8, le=256, label="Histogram grid", form=False,
                             help="cells per axis of the 2-D histogram the KL is measured on")
    mmd_bandwidth: float = setting(0.5, gt=0, le=100, label="MMD bandwidth", form=False,
                                   help="h of the Gaussian kernel exp(−‖u − v‖² / (2h²))")
    seed: int = setting(0, ge=0, le=MAX_SEED, label="Seed", help="same seed, same numbers on the CPU")
    device: str = device_setting()

    def pairs(self) -> list[tuple[str, int]]:
        return [(m, d) for m in self.methods for d in self.dims]


class Embedding:
    """x = R [y; spread·ξ] and its projection back onto the data's plane."""

    def __init__(self, base: ToyDataset, dim: int, spread: float, seed: int):
        self.base, self.dim, self.spread = base, dim, spread
        g = make_generator(seed, ROTATION_OFFSET + dim)
        q, r = torch.linalg.qr(torch.randn(dim, dim, generator=g))
        self.rotation = q * torch.sign(torch.diagonal(r))  # Haar-distributed orthogonal matrix

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        y = self.base.sample(n, gen)
        pad = self.spread * torch.randn(n, self.dim - 2, generator=gen)
        return torch.cat([y, pad], 1) @ self.rotation.T

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return (x @ self.rotation.to(x))[:, :2]

    def as_dataset(self) -> ToyDataset:
        """A ToyDataset view for the objectives (they sample data and read the box from it)."""
        def no_density(y: torch.Tensor) -> torch.Tensor:
            raise ValueError("the embedded data have no density on a grid")

        return ToyDataset(f"{self.base.name}@{self.dim}d", self.base.box, "none",
                          f"{self.base.description}, embedded in {self.dim} dimensions",
                          self.sample, no_density)


def histogram_kl(data_cells: torch.Tensor, points: torch.Tensor, grid: Grid) -> float:
    """KL(P ‖ Q̂): P the exact data cell probabilities, Q̂ the points' histogram with ½ added to every
    cell (points outside the box are dropped; the smoothing makes KL finite and equally biased for
    every sampler that sees the same number of points)."""
    idx = torch.floor((points + grid.box) / grid.step).long()
    inside = ((idx >= 0) & (idx < grid.n)).all(1)
    flat = idx[inside, 1] * grid.n + idx[inside, 0]  # rows = y, as the grid's cells
    counts = torch.bincount(flat, minlength=grid.n * grid.n).double() + 0.5
    q = counts / counts.sum()
    p = data_cells.reshape(-1)
    mask = p > 0
    return float((p[mask] * (p[mask].log() - q[mask].log())).sum())


def mmd2(a: torch.Tensor, b: torch.Tensor, bandwidth: float) -> float:
    """Unbiased MMD² between samples a and b with the kernel exp(−‖u − v‖² / (2h²))."""
    def k(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return torch.exp(-torch.cdist(u, v).pow(2) / (2 * bandwidth**2))

    n, m = a.shape[0], b.shape[0]
    kaa, kbb = k(a, a), k(b, b)
    term_a = (kaa.sum() - kaa.diagonal().sum()) / (n * (n - 1))
    term_b = (kbb.sum() - kbb.diagonal().sum()) / (m * (m - 1))
    return float(term_a + term_b - 2 * k(a, b).mean())


class PairTrainer:
    """One (method, d) pair: step() is one optimiser step; score() samples the energy and measures."""

    def __init__(self, cfg: DimensionConfig, method: str, dim: int):
        self.cfg, self.method, self.dim = cfg, method, dim
        self.gen = make_generator(cfg.seed)
        self.device = pick_device(cfg.device)
        self.base = get_dataset(cfg.dataset)
        self.emb = Embedding(self.base, dim, cfg.spread, cfg.seed)
        toy = ToyConfig.create(dataset=cfg.dataset, method=method, steps=cfg.steps, seed=cfg.seed, device=cfg.device,
                               k=cfg.k, eps=cfg.eps, alpha=cfg.alpha, lr=cfg.lr, batch_size=cfg.batch_size,
                               buffer=cfg.buffer)
        self.batch_size = toy.batch_size
        self.model, self.objective, self.opt = build_energy(toy, self.emb.as_dataset(), self.gen, self.device, dim)
        self.step_count = 0
        self.status = "ok"
        self.diverged_at: int | None = None  # the step whose loss was not finite (the status, as a number)
        self.train_seconds = 0.0

    def step(self) -> float:
        t0 = time.perf_counter()
        out = self.objective(self.model, self.emb.sample(self.batch_size, self.gen).to(self.device))
        loss = out.loss.item()
        if math.isfinite(loss):
            self.opt.zero_grad(set_to_none=True)
            out.loss.backward()
            self.opt.step()
        elif self.status == "ok":
            self.diverged_at = self.step_count + 1
            self.status = f"diverged at step {self.diverged_at}"
        self.step_count += 1
        self.train_seconds += time.perf_counter() - t0
        return loss

    def score(self) -> dict[str, Any]:
        """The common quality measure: Langevin from uniform noise on the d-box, projected to the plane."""
        cfg, base = self.cfg, self.base
        t0 = time.perf_counter()
        sample_gen = make_generator(cfg.seed, SAMPLE_OFFSET)
        start = uniform_in_box(cfg.samples, self.dim, base.box, sample_gen).to(self.device)
        x = langevin(self.model, start, cfg.sample_steps, cfg.eps, generator=sample_gen, box=base.box).y
        proj = self.emb.project(x).cpu()
        ref = base.sample(cfg.samples, make_generator(cfg.seed, REFERENCE_OFFSET))
        grid = Grid(base.box, cfg.hist_grid)
        cells = data_cell_probs(data_log_density_on_grid(cfg.dataset, base.box, cfg.hist_grid))
        row: dict[str, Any] = {"method": self.method, "dim": self.dim, "status": self.status,
                               "diverged_at": self.diverged_at}
        ok = self.status == "ok" and bool(torch.isfinite(proj).all())
        row.update(hist_kl=histogram_kl(cells, proj, grid) if ok else math.nan,
                   mmd=mmd2(proj, ref, cfg.mmd_bandwidth) if ok else math.nan)
        if self.method == "pcd":  # the persistent chains themselves, projected
            chains = self.emb.project(self.objective.buffer[: cfg.samples]).cpu()
            row["buffer_hist_kl"] = histogram_kl(cells, chains, grid) if torch.isfinite(chains).all() else math.nan
        row.update(train_seconds=self.train_seconds,
                   seconds=self.train_seconds + time.perf_counter() - t0)
        row["samples"] = proj[:500].numpy()  # for the page's scatter (dropped from the JSON)
        return row


def train_one(cfg: DimensionConfig, method: str, dim: int) -> dict[str, Any]:
    """Train one (method, d) pair and score its samples in the original plane."""
    pair = PairTrainer(cfg, method, dim)
    while pair.step_count < cfg.steps:
        pair.step()
    return pair.score()


class DimensionTrainer(JobSequence):
    """Implements engine.run.Trainer: every (method, d) pair in turn, one optimiser step per step(),
    so the page can run the experiment in the background with progress and stop it at once."""

    def __init__(self, cfg: DimensionConfig):
        self.cfg = cfg
        self.pairs = cfg.pairs()
        super().__init__(len(self.pairs), cfg.steps)
        self._pair: PairTrainer | None = None

    def step(self) -> dict[str, float]:
        if self.done:
            return {"loss": self._last_loss, "progress": 1.0}
        if self._pair is None:
            self._pair = PairTrainer(self.cfg, *self.pairs[len(self.rows)])
        loss = self._pair.step()
        if math.isfinite(loss):
            self._last_loss = loss
        self.step_count += 1
        if self._pair.step_count >= self.cfg.steps:
            self.rows.append(self._pair.score())
            self._pair = None
        return {"loss": self._last_loss, "progress": self.progress}

    def snapshot(self) -> dict[str, Any]:
        current = None if self.done else self.pairs[len(self.rows)]
        return {"rows": list(self.rows), "progress": self.progress,
                "current": f"{current[0]} d={current[1]}" if current else None, "pair": current}


def reference_kl(cfg: DimensionConfig, sampler: str = "exact") -> float:
    """hist_kl of a sample of the same size from the data itself ("exact": what a perfect sampler
    scores) or uniform on the box ("uniform": a sampler that learned nothing)."""
    base = get_dataset(cfg.dataset)
    grid = Grid(base.box, cfg.hist_grid)
    cells = data_cell_probs(data_log_density_on_grid(cfg.dataset, base.box, cfg.hist_grid))
    gen = make_generator(cfg.seed, LEVEL_OFFSET)
    pts = base.sample(cfg.samples, gen) if sampler == "exact" else uniform_in_box(cfg.samples, 2, base.box, gen)
    return histogram_kl(cells, pts, grid)


def summarise(cfg: DimensionConfig, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON result: the curve per method, the exact-sample reference and the rows."""
    curve = {m: {str(r["dim"]): round(r["hist_kl"], 4) for r in rows if r["method"] == m} for m in cfg.methods}
    plain = [{k: (round(v, 5) if isinstance(v, float) else v) for k, v in r.items() if k != "samples"}
             for r in rows]
    return {"dataset": cfg.dataset, "steps": cfg.steps, "k": cfg.k, "dims": list(cfg.dims),
            "hist_kl_exact_sample": round(reference_kl(cfg), 4),
            "hist_kl_uniform": round(reference_kl(cfg, "uniform"), 4), "hist_kl": curve, "rows": plain}


def run_dimension(cfg: DimensionConfig,
                  on_row: Callable[[dict[str, Any], int, int], None] | None = None) -> dict[str, Any]:
    """All (method, d) pairs headless; `on_row(row, done, total)` after each one."""
    trainer = DimensionTrainer(cfg)
    done = [0]

    def after_step(_run: Any) -> None:
        if on_row is not None and len(trainer.rows) > done[0]:
            done[0] = len(trainer.rows)
            on_row(trainer.rows[-1], done[0], len(trainer.pairs))

    train_headless(trainer, max_steps=trainer.total_steps, name="pcd-dimension", on_step=after_step)
    return summarise(cfg, trainer.rows)


# ---- CLI: `python -m engine pcd-dimension` ------------------------------------------------------------
SETTINGS = DimensionConfig


def run(cfg: DimensionConfig) -> dict[str, Any]:
    def report(row: dict[str, Any], done: int, total: int) -> None:
        print_progress(f"[{done}/{total}] {row['method']} d={row['dim']}: hist_kl {row['hist_kl']:.4f}, "
                       f"mmd {row['mmd']:.4f}, {row['seconds']:.1f} s, {row['status']}")

    return run_dimension(cfg, on_row=report)
