"""Why contrastive embedding needs more negatives as the dimension grows: the log(K+1) cap of InfoNCE.

The lecture (SimCLR, "the limit of contrastive methods"): as the dimension of the representation grows,
more and more negatives are needed. This experiment measures one exact reason. PIRL's / SimCLR's loss,
in the lecture's notation, with one positive y and the K negatives y' ∈ D_N of an anchor x:

    h(x, y) = exp[s(x, y)] / ( exp[s(x, y)] + Σ_{y' ∈ D_N} exp[s(x, y')] ),      L = −E log h(x, y)

Since h ≤ 1, L ≥ 0, so the mutual information it certifies (van den Oord et al., 2018),

    Î = log(K + 1) − L  ≤  log(K + 1),

can never exceed log(K + 1) nats, whatever the critic s and the data: with K negatives the loss can tell
the positive from at most K + 1 candidates. Here the data carry an exact, known amount of information
that grows linearly with the dimension d: pairs (x, y) in R^d whose coordinates are independent pairs
of standard Gaussians with correlation ρ,

    y = ρ x + √(1 − ρ²) ξ,   ξ ~ N(0, I_d),      I(X; Y) = −(d/2) log(1 − ρ²)  nats,

so the fewest negatives whose cap reaches the truth, K* = e^{I(X;Y)} − 1, grows exponentially with d.

The critic is an energy between two embeddings of dimension d (linear encoders f, g: R^d → R^d, no
bias), s(x, y) = −E(x, y) = −‖f(x) − g(y)‖² (the temperature τ is absorbed into the scale of f and g).
It can represent the optimal critic exactly: the density ratio s*(x, y) = log p(y|x)/p(y)
= −‖y − ρx‖²/(2(1 − ρ²)) + ‖y‖²/2 equals −‖a x − b y‖² with a = 1/√(2(1 − ρ²)), b = ρ a, up to terms in
x alone, which cancel in h. So a shortfall is the cap (and InfoNCE's own bias, ≈ I·K/(K+1) for a small
I), not a weak critic: every row also gives `optimal`, the same estimate with s* on the same held-out
pairs (the best any critic scores there).

Each cell (d, K) of the grid trains its own f, g with Adam for `steps` steps on fresh pairs: each step
draws `batch_pairs` pairs, split into groups of K + 1 (at least one group), and within a group each
x's negatives are the other K y's (SimCLR's in-batch negatives; the number of pairs per step does not
change with K). Î is measured on `test_pairs` held-out pairs, in groups of K + 1.

Measured, default grid (d ∈ {1, 4, 8, 16} × K ∈ {7, 63, 511}, 12 cells × 300 steps), CPU,
torch.set_num_threads(1), 2-core machine shared with other jobs: 5.5–6.5 s of CPU time; 6.5 s wall at a
load of 4, 26 s wall at a load of 12. Î in nats, seed 0 (the optimal critic's value on the same pairs
is within 0.07 of each):

    d   true MI   K* = e^I − 1   K=7    K=63   K=511   (caps log(K+1): 2.08, 4.16, 6.24)
    1    0.51         0.7        0.43   0.50   0.51
    4    2.04         6.7        1.35   1.89   2.03
    8    4.09        59          1.86   3.17   3.81
    16   8.17      3544          2.06   4.02   5.71

`summary(rows)` states the claim with thresholds set by the theory above (not fitted to these numbers):
at the largest d the smallest K is pinned at its cap (Î ≥ 0.9 log(K+1), while the true MI is at least
twice the cap), the largest K gains at least half of what its higher cap allows, at the smallest d
every K recovers at least 75 % of the true MI (an optimal critic gets ≈ K/(K+1) ≥ 87.5 % for K ≥ 7),
and the fewest negatives that recover 75 % grows with d.

`InfoNCECapSettings` + `InfoNCECapTrainer` (an `engine.run.Trainer`: one optimiser step of the current
cell per step(), its snapshot carries the finished rows) let a `Run` drive it in the background;
`run_cap_experiment(settings)` runs it headless and returns the rows and the summary.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from engine.device import pick_device
from engine.run import Run, RunOptions, train_headless
from engine.schema import MAX_SEED, Settings, device_setting, setting
from engine.training import TrainerBase, build_optimizer, init_parameters, mixed_generator

# the streams of a cell's generators: (seed, stream, d, K)
TRAIN_STREAM, TEST_STREAM = 1, 2
# the claim's thresholds, set by the theory (module docstring), not by the measured numbers
PINNED = 0.9  # Î ≥ PINNED · log(K+1): at the cap (an optimal critic, I ≫ log(K+1): Î → log(K+1))
FAR_ABOVE = 2.0  # "the true MI is far above the cap": I ≥ FAR_ABOVE · log(K+1)
GAIN_SHARE = 0.5  # more negatives gain ≥ this share of what the higher cap allows
RECOVERED = 0.75  # Î ≥ RECOVERED · I: recovered (an optimal critic: ≈ K/(K+1) ≥ 0.875 for K ≥ 7)


@dataclass
class InfoNCECapSettings(Settings):
    """The grid of dimensions d × negatives K, and how each cell trains."""

    experiment: ClassVar[str] = "infonce_cap"

    dims: tuple[int, ...] = setting((1, 4, 8, 16), ge=1, le=64, max_items=8, label="Dimensions d",
                                    help="data and embedding dimensions, comma-separated")
    negatives: tuple[int, ...] = setting((7, 63, 511), ge=1, le=4095, max_items=8, label="Negatives K",
                                         help="negatives per positive pair, comma-separated")
    rho: float = setting(0.8, ge=0.05, le=0.99, label="Correlation ρ", step=0.05,
                         help="of each coordinate pair: I(X;Y) = −(d/2) log(1 − ρ²)")
    steps: int = setting(300, ge=1, le=100_000, label="Training steps per cell",
                         help="Adam steps of each (d, K) cell")
    batch_pairs: int = setting(512, ge=2, le=16_384, label="Pairs per step",
                               help="split into groups of K + 1 (at least one group)")
    lr: float = setting(0.03, gt=0, le=1, label="Learning rate", help="Adam's step size", step=0.005)
    test_pairs: int = setting(8192, ge=64, le=262_144, label="Held-out pairs",
                              help="Î is measured on these, in groups of K + 1")
    seed: int = setting(0, ge=0, le=MAX_SEED, label="Seed", help="same seed, same numbers on the CPU")
    device: str = device_setting()

    def cells(self) -> list[tuple[int, int]]:
        """The grid's (d, K) cells in training order: each d, then each K."""
        return [(d, k) for d in self.dims for k in self.negatives]


# ---- the exact quantities ---------------------------------------------------------------------------
def true_mi(d: int, rho: float) -> float:
    """I(X;Y) = −(d/2) log(1 − ρ²) nats for d independent coordinate pairs of correlation ρ."""
    return -0.5 * d * math.log1p(-rho * rho)


def cap(k: int) -> float:
    """The most InfoNCE with K negatives can certify: log(K + 1) nats."""
    return math.log(k + 1)


def negatives_bound(mi: float) -> float:
    """K* = e^I − 1: the fewest negatives whose cap log(K+1) reaches I."""
    return math.expm1(mi)


def sample_pairs(n: int, d: int, rho: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n pairs (x, y), y = ρx + √(1−ρ²) ξ, drawn on the CPU from `gen`."""
    x = torch.randn(n, d, generator=gen)
    y = rho * x + math.sqrt(1.0 - rho * rho) * torch.randn(n, d, generator=gen)
    return x, y


def energy_scores(fx: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    """s = −‖f(x_i) − g(y_j)‖² for every anchor i and candidate j of each group: (G, n, e) → (G, n, n)."""
    cross = fx @ gy.transpose(-1, -2)
    return 2 * cross - (fx * fx).sum(-1)[..., :, None] - (gy * gy).sum(-1)[..., None, :]


def infonce_loss(scores: torch.Tensor) -> torch.Tensor:
    """L = −mean log h: row i of each group holds anchor x_i's scores; its positive is column i."""
    return -(torch.diagonal(scores, dim1=-2, dim2=-1) - torch.logsumexp(scores, dim=-1)).mean()


def optimal_scores(x: torch.Tensor, y: torch.Tensor, rho: float) -> torch.Tensor:
    """s*(x_i, y_j) = log p(y_j|x_i)/p(y_j) up to terms in x_i alone: (G, n, d) → (G, n, n)."""
    a = 1.0 / math.sqrt(2.0 * (1.0 - rho * rho))
    return energy_scores(a * x, rho * a * y)


def grouped(x: torch.Tensor, k: int) -> torch.Tensor:
    """(G·(K+1), d) → (G, K+1, d)."""
    return x.reshape(-1, k + 1, x.shape[-1])


# ---- one cell ---------------------------------------------------------------------------------------
class CapCell:
    """One (d, K) cell: the encoders f, g, their optimiser and the cell's own generators."""

    def __init__(self, settings: InfoNCECapSettings, d: int, k: int, device: torch.device) -> None:
        self.settings, self.d, self.k, self.device = settings, d, k, device
        self.gen = mixed_generator(settings.seed, TRAIN_STREAM, d, k)
        self.f = init_parameters(nn.Linear(d, d, bias=False), self.gen).to(device)
        self.g = init_parameters(nn.Linear(d, d, bias=False), self.gen).to(device)
        self.opt = build_optimizer([*self.f.parameters(), *self.g.parameters()], "adam", settings.lr)
        self.groups = max(1, settings.batch_pairs // (k + 1))
        self.step_count = 0
        self.train_seconds = 0.0
        self.last_loss = math.nan

    def step(self) -> float:
        t0 = time.perf_counter()
        x, y = sample_pairs(self.groups * (self.k + 1), self.d, self.settings.rho, self.gen)
        x, y = grouped(x.to(self.device), self.k), grouped(y.to(self.device), self.k)
        loss = infonce_loss(energy_scores(self.f(x), self.g(y)))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step_count += 1
        self.last_loss = float(loss.detach())
        self.train_seconds += time.perf_counter() - t0
        return self.last_loss

    @torch.no_grad()
    def result(self) -> dict[str, Any]:
        """The cell's row: Î on held-out pairs, the optimal critic's on the same pairs, and the theory."""
        s, d, k = self.settings, self.d, self.k
        blocks = max(1, math.ceil(s.test_pairs / (k + 1)))
        x, y = sample_pairs(blocks * (k + 1), d, s.rho, mixed_generator(s.seed, TEST_STREAM, d, k))
        x, y = grouped(x.to(self.device), k), grouped(y.to(self.device), k)
        loss = float(infonce_loss(energy_scores(self.f(x), self.g(y))))
        best = float(infonce_loss(optimal_scores(x, y, s.rho)))
        mi, top = true_mi(d, s.rho), cap(k)
        estimate = top - loss
        return {"d": d, "K": k, "true_mi": mi, "estimate": estimate, "cap": top,
                "ratio": estimate / min(mi, top), "optimal": top - best, "k_bound": negatives_bound(mi),
                "test_loss": loss, "train_loss": self.last_loss, "steps": self.step_count,
                "seconds": round(self.train_seconds, 3)}

    def state(self) -> dict[str, Any]:
        return {"f": self.f.state_dict(), "g": self.g.state_dict(), "opt": self.opt.state_dict(),
                "rng": self.gen.get_state(), "step": self.step_count, "seconds": self.train_seconds,
                "last_loss": self.last_loss}

    def load(self, state: dict[str, Any]) -> None:
        self.f.load_state_dict(state["f"])
        self.g.load_state_dict(state["g"])
        self.opt.load_state_dict(state["opt"])
        self.gen.set_state(state["rng"])
        self.step_count, self.train_seconds, self.last_loss = state["step"], state["seconds"], state["last_loss"]


# ---- the grid as a trainer ----------------------------------------------------------------------------
class InfoNCECapTrainer(TrainerBase):
    """Implements engine.run.Trainer: the cells in turn, one optimiser step of the current cell per step().
    A Run needs max_steps = `total_steps` (`make_run` sets it); a step after the last one is an error."""

    failure_advice = "Try a lower learning rate or a smaller correlation ρ."

    def __init__(self, settings: InfoNCECapSettings) -> None:
        self.settings = settings
        self.device = pick_device(settings.device)
        self.grid = settings.cells()
        self.total_steps = len(self.grid) * settings.steps
        self.step_count = 0
        self.rows: list[dict[str, Any]] = []
        self.gen = mixed_generator(settings.seed, 0)  # unused by the cells (each has its own); for TrainerBase
        self._cell: CapCell | None = None
        self._last_loss = 0.0

    @property
    def done(self) -> bool:
        return len(self.rows) == len(self.grid)

    @property
    def progress(self) -> float:
        return self.step_count / self.total_steps

    def _current(self) -> CapCell:
        if self._cell is None:
            d, k = self.grid[len(self.rows)]
            self._cell = CapCell(self.settings, d, k, self.device)
        return self._cell

    def step(self) -> dict[str, float]:
        if self.done:
            raise RuntimeError("the InfoNCE cap experiment is complete")
        cell = self._current()
        loss = cell.step()
        self.step_count += 1
        self._last_loss = loss
        scalars = {"loss": loss, "estimate": cap(cell.k) - loss, "cell": float(len(self.rows)),
                   "progress": self.progress}
        if cell.step_count >= self.settings.steps:
            self.rows.append(cell.result())
            self._cell = None
        return scalars

    def snapshot(self) -> dict[str, Any]:
        current = None if self.done else self.grid[len(self.rows)]
        return {"rows": [dict(r) for r in self.rows], "done": len(self.rows), "cells": len(self.grid),
                "progress": self.progress, "current": None if current is None else f"d={current[0]}, K={current[1]}",
                "summary": summary(self.rows) if self.done else None}

    def evaluate(self) -> dict[str, float]:
        return {"progress": self.progress, "cells_done": float(len(self.rows))}

    def state_modules(self) -> dict[str, Any]:
        cell = self._cell
        return {} if cell is None else {"f": cell.f, "g": cell.g, "opt": cell.opt}

    def checkpoint(self) -> dict[str, Any]:
        cell = None if self._cell is None else self._cell.state()
        return copy.deepcopy({"step": self.step_count, "rows": self.rows, "cell": cell,
                              "last_loss": self._last_loss})

    def restore(self, state: dict[str, Any]) -> None:
        state = copy.deepcopy(state)
        self.step_count, self.rows, self._last_loss = state["step"], state["rows"], state["last_loss"]
        self._cell = None
        if state["cell"] is not None:
            self._current().load(state["cell"])


def make_run(settings: InfoNCECapSettings, name: str = "infonce_cap", **options: Any) -> Run:
    """A Run (not started) that trains the whole grid: max_steps is the trainer's total."""
    trainer = InfoNCECapTrainer(settings)
    return Run(trainer, RunOptions(max_steps=trainer.total_steps, **options), name=name)


def run_cap_experiment(settings: InfoNCECapSettings | None = None, **given: Any) -> dict[str, Any]:
    """Train the grid headless (in this thread); the settings, the rows, the summary and the seconds."""
    settings = settings if settings is not None else InfoNCECapSettings.create(**given)
    trainer = InfoNCECapTrainer(settings)
    t0, cpu0 = time.perf_counter(), time.process_time()
    train_headless(trainer, max_steps=trainer.total_steps, name="infonce_cap", snapshot_hz=0.2)
    return {"settings": settings.to_dict(), "rows": trainer.rows, "summary": summary(trainer.rows),
            "seconds": round(time.perf_counter() - t0, 2), "cpu_seconds": round(time.process_time() - cpu0, 2)}


# ---- the claim ----------------------------------------------------------------------------------------
def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The claim's numbers (thresholds: PINNED, FAR_ABOVE, GAIN_SHARE, RECOVERED; see the docstring).

    - pinned: at the largest d, the smallest K's Î ≥ PINNED · log(K+1) and I ≥ FAR_ABOVE · log(K+1);
    - more_negatives_help: at the largest d, Î(K_max) − Î(K_min) ≥ GAIN_SHARE · (min(I, cap_max) − min(I, cap_min));
    - small_d_recovered: at the smallest d, every K has Î ≥ RECOVERED · I;
    - negatives_needed_grow: k_needed (the fewest K of the grid with Î ≥ RECOVERED · I; None: none of
      them) never falls as d grows (None counts as beyond the grid) and is larger at the largest d than
      at the smallest;
    - claim_holds: all four. Needs a complete grid of at least two d and two K (else `complete` False).
    """
    cell = {(r["d"], r["K"]): r for r in rows}
    dims = sorted({r["d"] for r in rows})
    ks = sorted({r["K"] for r in rows})
    complete = len(dims) >= 2 and len(ks) >= 2 and all((d, k) in cell for d in dims for k in ks)
    if not complete:
        return {"complete": False, "claim_holds": False}
    d_lo, d_hi, k_lo, k_hi = dims[0], dims[-1], ks[0], ks[-1]
    gain = {d: cell[(d, k_hi)]["estimate"] - cell[(d, k_lo)]["estimate"] for d in dims}
    needed: dict[int, int | None] = {
        d: next((k for k in ks if cell[(d, k)]["estimate"] >= RECOVERED * cell[(d, k)]["true_mi"]), None)
        for d in dims}
    mi_hi = cell[(d_hi, k_lo)]["true_mi"]
    gain_needed = GAIN_SHARE * (min(mi_hi, cap(k_hi)) - min(mi_hi, cap(k_lo)))
    pinned_row = cell[(d_hi, k_lo)]
    pinned = (pinned_row["estimate"] >= PINNED * pinned_row["cap"]
              and pinned_row["true_mi"] >= FAR_ABOVE * pinned_row["cap"])
    more_help = gain[d_hi] >= gain_needed and gain_needed > 0
    recovered = {k: cell[(d_lo, k)]["ratio"] for k in ks}
    small_ok = all(cell[(d_lo, k)]["estimate"] >= RECOVERED * cell[(d_lo, k)]["true_mi"] for k in ks)
    order = [math.inf if needed[d] is None else needed[d] for d in dims]
    grow = all(a <= b for a, b in zip(order, order[1:], strict=False)) and order[-1] > order[0]
    return {
        "complete": True, "d_min": d_lo, "d_max": d_hi, "k_min": k_lo, "k_max": k_hi,
        "pinned": {"d": d_hi, "K": k_lo, "estimate": pinned_row["estimate"], "cap": pinned_row["cap"],
                   "true_mi": pinned_row["true_mi"], "share_of_cap": pinned_row["estimate"] / pinned_row["cap"]},
        "gain_nats": gain, "gain_needed": gain_needed,
        "recovered_at_small_d": recovered,  # Î / min(I, cap) at the smallest d, per K
        "k_needed": needed, "k_bound": {d: cell[(d, k_lo)]["k_bound"] for d in dims},
        "thresholds": {"pinned": PINNED, "far_above": FAR_ABOVE, "gain_share": GAIN_SHARE, "recovered": RECOVERED},
        "pinned_at_cap": pinned, "more_negatives_help": more_help, "small_d_recovered": small_ok,
        "negatives_needed_grow": grow, "claim_holds": pinned and more_help and small_ok and grow,
    }
