"""Train a denoising autoencoder and, beside it, a latent-variable energy; snapshot both live.

A `TrainerBase` (engine/training.py) that `engine.run.Run` drives. Each step draws one batch y from the
manifold, takes one Adam step on the DAE loss (engine.dae.objective) and one on the latent model's free
energy of the same batch (engine.dae.latent). A snapshot carries what the page draws: both energies on
the view grid (the latent one as F_∞), the reconstruction field on a coarse grid, the energy profile
along a line crossing the branches, a fixed set of corrupted points with where the DAE sends them, and
the latest metrics (engine.dae.metrics).

Randomness is per run: the batches and corruptions come from `gen` (the run's seed), the autoencoder's
initial weights from their own generator with the run's seed, the latent model's perturbed start and
the drawn probes from generators at offsets 1 and 2. (The weights are the ones the process-global
generator seeded with the run's seed gave before, so the measured figures did not move.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from engine.dae.config import DAEConfig
from engine.dae.latent import LatentCurveModel
from engine.dae.manifolds import get_manifold
from engine.dae.metrics import score_energy
from engine.dae.model import MLPAutoencoder, dae_energy
from engine.dae.objective import dae_loss
from engine.device import pick_device
from engine.toy.grid import Grid
from engine.training import TrainerBase, build_optimizer, init_parameters, make_generator

MIDPOINT_PROBES = 12  # corrupted points placed near the midpoints, to watch them split
MIDPOINT_JITTER = 0.15
PATH_STEPS = 20  # repeated denoising y ← r(y) from the midpoint probes, drawn as their paths
# a path that leaves the picture is held at this many boxes out: iterating an expanding r (early in a run
# with a large learning rate) would otherwise overflow to ±inf and be mistaken for a diverged model
PATH_REACH = 4.0
SHOWN_DATA = 256
CURVE_POINTS = 180  # per branch, for drawing the latent decoder's curve
METRICS = ("midpoint_ratio", "false_low", "growth_exponent")
LATENT_OFFSET, PROBE_OFFSET = 1, 2  # generator offsets (engine.training.make_generator) from the run's seed


class DAETrainer(TrainerBase):
    """The DAE energy, with the latent model beside it unless with_latent=False."""

    failure_advice = ("Try a lower learning rate (lr, or latent_lr for the latent model), a smaller noise σ "
                      "or a smaller batch.")

    def __init__(self, config: DAEConfig, with_latent: bool = True):
        self.config = config
        self.gen = make_generator(config.seed)
        self.device = pick_device(config.device)
        self.manifold = get_manifold(config.dataset)
        self.corruption = config.corruption_fn
        model = MLPAutoencoder(2, config.width, config.depth, config.code)
        self.model = init_parameters(model, make_generator(config.seed)).to(self.device)
        self.opt = build_optimizer(self.model.parameters(), "adam", config.lr)
        self.latent: LatentCurveModel | None = None
        if with_latent:
            latent_gen = make_generator(config.seed, LATENT_OFFSET)
            self.latent = LatentCurveModel.perturbed(self.manifold.latent, config.latent_z,
                                                     config.latent_jitter, latent_gen).to(self.device)
            self.latent_opt = build_optimizer(self.latent.parameters(), "adam", config.latent_lr)
        self.step_count = 0
        self.metrics: dict[str, float] = {}
        self._fixed_pictures(config)

    def _fixed_pictures(self, config: DAEConfig) -> None:
        """Everything drawn that does not change while training: grids, data, corrupted probes."""
        m = self.manifold
        self.view_grid = Grid(m.box, config.view_grid)
        self._view_pts = self.view_grid.points().to(self.device)
        a = np.linspace(-m.box, m.box, config.field_grid + 2)[1:-1]  # arrows keep off the frame
        xx, yy = np.meshgrid(a, a)
        self._field_pts = torch.tensor(np.stack([xx.ravel(), yy.ravel()], 1), dtype=torch.float32)
        s, pts = m.profile(config.profile_points)
        self._profile_s, self._profile_pts = s.numpy(), pts
        self._profile_d2 = (m.distance(pts) ** 2).numpy()
        probe_gen = make_generator(config.seed, PROBE_OFFSET)
        self.data_shown = m.sample(SHOWN_DATA, probe_gen).numpy()
        clean = m.sample(config.probes, probe_gen)
        self.probe_in = self.corruption(clean, probe_gen).numpy() if config.probes else np.zeros((0, 2), np.float32)
        mid, _ = m.midpoint_pairs()
        pick = torch.linspace(0, mid.shape[0] - 1, MIDPOINT_PROBES).round().long()
        near = mid[pick] + MIDPOINT_JITTER * torch.randn((MIDPOINT_PROBES, 2), generator=probe_gen)
        self.midpoint_probe_in = near.numpy()

    # ---- the two energies ------------------------------------------------------------------------
    def dae_energy(self, y: torch.Tensor) -> torch.Tensor:
        return dae_energy(self.model, y)

    def latent_energy(self, y: torch.Tensor, beta: float | None = None) -> torch.Tensor:
        if self.latent is None:
            raise RuntimeError("this trainer has no latent model")
        return self.latent.free_energy(y, beta)

    def latent_grid(self, beta: float | None = None) -> np.ndarray:
        """F_∞ (beta None) or F_β on the view grid (from a UI thread: hold the Run's model_lock)."""
        return self._on_grid(lambda y: self.latent_energy(y, beta), self._view_pts)

    def latent_profile(self, beta: float | None = None) -> np.ndarray:
        """F_∞ or F_β along the profile line (from a UI thread: hold the Run's model_lock)."""
        with torch.no_grad():
            return self.latent_energy(self._profile_pts.to(self.device), beta).cpu().numpy()

    def reconstruct(self, points: np.ndarray) -> np.ndarray:
        """r(y) for arbitrary points, e.g. clicked on the page (from a UI thread: hold the Run's model_lock)."""
        y = torch.as_tensor(np.asarray(points, dtype=np.float32).reshape(-1, 2), device=self.device)
        with torch.no_grad():
            return self.model(y).cpu().numpy()

    def denoising_path(self, points: np.ndarray, steps: int = PATH_STEPS) -> np.ndarray:
        """(steps + 1, n, 2): y, r(y), r(r(y)), … — where repeated denoising carries each point (held
        within PATH_REACH boxes of the origin)."""
        y = torch.as_tensor(np.asarray(points, dtype=np.float32).reshape(-1, 2), device=self.device)
        reach = PATH_REACH * self.manifold.box
        path = [y]
        with torch.no_grad():
            for _ in range(steps):
                path.append(self.model(path[-1]).clamp(-reach, reach))
        return torch.stack(path).cpu().numpy()

    # ---- Trainer protocol --------------------------------------------------------------------------
    def step(self) -> dict[str, float]:
        y = self.manifold.sample(self.config.batch_size, self.gen).to(self.device)
        out = dae_loss(self.model, y, self.corruption, self.gen)
        self.opt.zero_grad(set_to_none=True)
        out.loss.backward()
        self.opt.step()
        scalars = {"loss": out.loss.item()}
        if self.latent is not None:
            latent_loss = self.latent.free_energy(y).mean()
            self.latent_opt.zero_grad(set_to_none=True)
            latent_loss.backward()
            self.latent_opt.step()
            scalars["latent_loss"] = latent_loss.item()
        self.step_count += 1
        return scalars

    def _on_grid(self, energy: Callable[[torch.Tensor], torch.Tensor], pts: torch.Tensor) -> np.ndarray:
        n = self.view_grid.n
        with torch.no_grad():
            return energy(pts).view(n, n).cpu().numpy()

    def snapshot(self) -> dict[str, Any]:
        dev = self.device
        with torch.no_grad():
            field_pts = self._field_pts.to(dev)
            field = (self.model(field_pts) - field_pts).cpu().numpy()
            prof = self._profile_pts.to(dev)
            snap: dict[str, Any] = {
                "energy": self._on_grid(self.dae_energy, self._view_pts),
                "field_xy": self._field_pts.numpy(),
                "field_uv": field,
                "profile_s": self._profile_s,
                "profile_dae": self.dae_energy(prof).cpu().numpy(),
                "profile_d2": self._profile_d2,
                "data": self.data_shown,
                "probe_in": self.probe_in,
                "probe_out": self.model(torch.as_tensor(self.probe_in, dtype=torch.float32, device=dev)).cpu().numpy(),
                "midpoint_probe_in": self.midpoint_probe_in,
            }
            mid_out = self.model(torch.as_tensor(self.midpoint_probe_in, device=dev)).cpu()
            snap["midpoint_probe_out"] = mid_out.numpy()
            branch = self.manifold.branch_of(mid_out)
            snap["midpoint_split"] = np.bincount(branch.numpy(), minlength=len(self.manifold.branch_names))
            snap["midpoint_probe_path"] = self.denoising_path(self.midpoint_probe_in)
            if self.latent is not None:  # F_∞; the page asks for F_β through engine.dae.views.latent_view
                snap["latent_energy"] = self._on_grid(self.latent_energy, self._view_pts)
                snap["profile_latent"] = self.latent_energy(prof).cpu().numpy()
                k = self.latent.w.shape[0]
                curve = self.latent.curve().view(k, -1, 2).cpu()
                stride = max(1, curve.shape[1] // CURVE_POINTS)
                snap["latent_curve"] = curve[:, ::stride].numpy()
                snap["latent_w"] = self.latent.w.detach().cpu().numpy()
        snap.update({k: float(v) for k, v in self.metrics.items()})
        return snap

    def evaluate(self) -> dict[str, float]:
        n = self.config.eval_grid
        with torch.no_grad():
            metrics = {f"dae_{k}": v for k, v in score_energy(self.dae_energy, self.manifold, n, self.device).items()}
            if self.latent is not None:
                latent = score_energy(self.latent_energy, self.manifold, n, self.device)
                metrics.update({f"latent_{k}": v for k, v in latent.items()})
                w_true = torch.tensor(self.manifold.latent.w_true, device=self.device)
                metrics["latent_w_error"] = float((self.latent.w - w_true).abs().max())
        self.metrics = metrics
        return dict(metrics)

    def state_modules(self) -> dict[str, Any]:
        modules: dict[str, Any] = {"model": self.model, "opt": self.opt}
        if self.latent is not None:
            modules.update(latent=self.latent, latent_opt=self.latent_opt)
        return modules
