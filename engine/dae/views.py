"""What the "Denoising autoencoder" page draws, computed here so the page only binds widgets and plots.

- `live_run` / `sweep_run`, `dataset_of`: the page's runs (how often they publish pictures and score
  themselves) and the data set each trains on.
- `Scale` / `scale_for`, `shown_energy`, `grid_axis`, `branch_lines`: one colour scale for both
  energies (up to (twice the half gap)²), linear or log₁₀, on the data set's box.
- `latent_view`: F_∞ from the snapshot, or F_β for a chosen β read from the model under the run's
  `model_lock` (the page passes β; it never writes the trainer).
- `reconstruct`: r(y) for points the user picked (under the lock).
- `field_arrows`, `moves`, `paths`, `click_targets`: the geometry of the arrows, the corrupted points'
  moves, the repeated-denoising paths and the grid of pickable points.
- `readings`, `percent`, `midpoint_split`: the metrics in words (numbers and the bowl's shape); the
  page writes the numbers in its language and reads the manifolds' texts under `branch_key` /
  `description_key`.
- `sweep_progress`, `sweep_pick`: the σ sweep's progress and the member shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from engine.dae.arrows import Arrows, arrow_geometry
from engine.dae.config import DAEConfig
from engine.dae.manifolds import get_manifold
from engine.dae.sweep import SigmaSweepTrainer, SweepConfig
from engine.dae.trainer import DAETrainer
from engine.run import Run, RunOptions

LOG_FLOOR = 1e-4  # energies drawn on the log scale are clamped here (10⁻⁴ → −4; the colour scale starts at −3)
LOG_LOW = -3.0
ARROW_BINS = 6
TARGETS_PER_AXIS = 25  # the faint grid of points the user can pick
BOWL = (1.6, 2.5)  # growth exponents read as "a quadratic bowl"
NO_FLAT_SPOT = 0.1  # a midpoint ratio within this of 1 is read as "no flat spot"
NO_POINTS = np.zeros((0, 2), np.float32)


# ---- runs ------------------------------------------------------------------------------------------
def live_run(config: DAEConfig) -> Run:
    """The page's run (not started): pictures 4×/s, exact metrics about once a second."""
    return Run(DAETrainer(config), RunOptions(max_steps=config.steps, snapshot_hz=4, evaluate_every_s=1.0),
               name="dae")


def sweep_run(config: DAEConfig, sweep: SweepConfig) -> Run:
    """The σ sweep's run (not started): one DAE per σ, pictures 2×/s, metrics every 2 s."""
    return Run(SigmaSweepTrainer.from_settings(config, sweep),
               RunOptions(max_steps=sweep.steps, snapshot_hz=2, evaluate_every_s=2.0), name="dae_sweep")


def dataset_of(run: Run) -> str:
    """The data set a run trains on (the sidebar may have changed since it started)."""
    return run.trainer.config.dataset


# ---- colour scale and grid -------------------------------------------------------------------------
@dataclass(frozen=True)
class Scale:
    box: float  # the pictures cover [−box, box]²
    half_gap: float  # the largest distance from a midpoint to the manifold
    top: float  # energies are drawn up to (2 · half_gap)², the energy of the outside partners' double

    @property
    def arrow_top(self) -> float:
        """The arrows' colour runs up to 2 · half_gap (the length of a move across the widest gap)."""
        return 2 * self.half_gap


@lru_cache(maxsize=16)
def scale_for(dataset: str) -> Scale:
    m = get_manifold(dataset)
    half_gap = m.half_gap()
    return Scale(m.box, half_gap, 4 * half_gap**2)


def shown_energy(e: np.ndarray, scale: Scale, log: bool) -> tuple[np.ndarray, float, float, str]:
    """(values drawn, colour low, colour high, colour-bar label): E clipped at the top, or log₁₀ E."""
    if log:
        return np.log10(np.maximum(e, LOG_FLOOR)), LOG_LOW, float(np.log10(scale.top)), "log₁₀ E"
    return np.minimum(e, scale.top), 0.0, scale.top, "E"


def grid_axis(n: int, box: float) -> np.ndarray:
    """The cell centres of an n-cell axis over [−box, box] (engine.toy.grid.Grid's)."""
    return -box + (np.arange(n) + 0.5) * 2 * box / n


@lru_cache(maxsize=16)
def branch_lines(dataset: str, n: int = 256) -> tuple[np.ndarray, ...]:
    return tuple(b.numpy() for b in get_manifold(dataset).branches(n))


# ---- reading the model (under the run's lock) ----------------------------------------------------
def latent_view(run: Run, snapshot: dict[str, Any], beta: float | None) -> dict[str, Any] | None:
    """The latent energy to draw: the snapshot's F_∞ (beta None), or F_β on the view grid and the profile,
    read from the model now under `run.model_lock`. None when the trainer has no latent model."""
    if "latent_energy" not in snapshot:
        return None
    if beta is None:
        return {"energy": snapshot["latent_energy"], "profile": snapshot["profile_latent"], "beta": None}
    trainer: DAETrainer = run.trainer
    with run.model_lock:
        return {"energy": trainer.latent_grid(beta), "profile": trainer.latent_profile(beta), "beta": float(beta)}


def reconstruct(run: Run, points: np.ndarray) -> np.ndarray:
    """r(y) for each picked point (none: an empty array)."""
    if len(points) == 0:
        return NO_POINTS
    with run.model_lock:
        return run.trainer.reconstruct(points)


# ---- geometry of the pictures -------------------------------------------------------------------------
def field_arrows(snapshot: dict[str, Any], scale: Scale) -> Arrows:
    """The reconstruction field's arrows: drawn at most 0.9 of the grid spacing long, coloured by length."""
    xy, uv = snapshot["field_xy"], snapshot["field_uv"]
    spacing = float(xy[1, 0] - xy[0, 0]) if len(xy) > 1 else 1.0
    return arrow_geometry(xy, uv, max_len=0.9 * spacing, edges=np.linspace(0, scale.arrow_top, ARROW_BINS + 1))


def moves(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x, y of the segments start[i] → end[i], NaN between them (one trace draws them all)."""
    seg = np.full((len(start), 3, 2), np.nan)
    seg[:, 0], seg[:, 1] = start, end
    return seg[..., 0].ravel(), seg[..., 1].ravel()


def paths(path: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(steps + 1, n, 2) repeated-denoising paths → x, y of n polylines, NaN between them."""
    seg = np.concatenate([path, np.full((1,) + path.shape[1:], np.nan)]).transpose(1, 0, 2).reshape(-1, 2)
    return seg[:, 0], seg[:, 1]


def click_targets(box: float, n: int = TARGETS_PER_AXIS) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(-box, box, n + 2)[1:-1]
    tx, ty = np.meshgrid(t, t)
    return tx.ravel(), ty.ravel()


# ---- the metrics in words ---------------------------------------------------------------------------
def _fixed(value: float, digits: int) -> str:
    return f"{value:.{digits}f}"


def percent(v: float, number: Callable[[float, int], str] = _fixed) -> str:
    """v as a percentage, 0 decimals from 10 % up, 1 below; `number(value, digits)` writes the number
    (the page passes its language's, app.i18n.num)."""
    return f"{number(100 * v, 0 if v >= 0.1 else 1)} %"


def readings(snapshot: dict[str, Any], number: Callable[[float, int], str] = _fixed) -> dict[str, Any] | None:
    """The numbers the page's plain-language reading quotes, once the run has been scored (percentages
    written by `number`, as in `percent`; the growth exponents as numbers)."""
    if "dae_midpoint_ratio" not in snapshot or "latent_midpoint_ratio" not in snapshot:
        return None
    g = snapshot["dae_growth_exponent"]
    return {
        "mid_dae": percent(snapshot["dae_midpoint_ratio"], number),
        "mid_latent": percent(snapshot["latent_midpoint_ratio"], number),
        "latent_no_flat_spot": abs(snapshot["latent_midpoint_ratio"] - 1) < NO_FLAT_SPOT,
        "false_dae": percent(snapshot["dae_false_low"], number),
        "false_latent": percent(snapshot["latent_false_low"], number),
        "growth_dae": g,
        "growth_latent": snapshot["latent_growth_exponent"],
        "shape": "quadratic" if BOWL[0] <= g <= BOWL[1] else "flat" if g < BOWL[0] else "steep",
    }


def midpoint_split(snapshot: dict[str, Any], dataset: str) -> list[tuple[int, str]]:
    """(how many of the points near the midpoints the DAE sent to it, branch name) per branch; the page
    shows branch i's name under the text key `branch_key(dataset, i)`."""
    names = get_manifold(dataset).branch_names
    return [(int(k), b) for k, b in zip(snapshot["midpoint_split"], names, strict=True)]


def branch_key(dataset: str, i: int) -> str:
    """The text key of branch i's name (assets/locales/*/dae.toml), its English default the manifold's own."""
    return f"dae.manifold.{dataset}.branch_{i}"


def description_key(dataset: str) -> str:
    """The text key of a manifold's one-line description (its English default: `Manifold.description`)."""
    return f"dae.manifold.{dataset}.description"


# ---- the σ sweep ------------------------------------------------------------------------------------
def sweep_progress(run: Run) -> tuple[float, int, int]:
    """(fraction done, step, budget)."""
    total = run.options.max_steps or 1
    return min(1.0, run.step / total), run.step, total


def sweep_pick(sigmas: np.ndarray) -> tuple[list[float], float]:
    """The σ values to choose from and the one shown first (the middle one)."""
    values = [float(s) for s in sigmas]
    return values, values[len(values) // 2]
