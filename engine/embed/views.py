"""What the contrastive-embedding page shows, computed here: the page binds widgets and draws.

- `curves`: the loss, a trailing mean of the batch's contrastive accuracy, the probe and kNN
  evaluations, and the cosine loss's floor when the objective reports one;
- `MapView`: the embedding map of one run — PCA at once (one per evaluated step, its signs aligned
  with the previous map), UMAP from the process's shared projector worker when asked and ready;
- `neighbours`: an anchor's hardest negatives; `gallery`: an image and random views of it;
- the sweeps' pictures as arrays (`why_curves`, `negatives_grids`, `temperature_curve`).

Nothing here draws and nothing writes to a trainer: these read snapshots, histories and rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from engine.embed.augment import Augmenter, default_augment, positive_pair_gallery
from engine.embed.config import EmbedConfig
from engine.embed.project import MapProjector, WarmUp, hardest_negatives, pca_2d
from engine.embed.trainer import dataset_for
from engine.training import make_generator

SMOOTH_FRACTION = 0.02  # the batch's contrastive accuracy is averaged over the last ~2 % of the curve
GALLERY_IMAGES, GALLERY_VIEWS = 6, 5


def trailing_mean(values: np.ndarray, fraction: float = SMOOTH_FRACTION) -> np.ndarray:
    """Mean of each value and the ones before it, over a window of `fraction` of the series (≥ 1)."""
    x = np.asarray(values, dtype=np.float64)
    width = max(1, int(len(x) * fraction))
    csum = np.concatenate([[0.0], np.cumsum(x)])
    ends = np.arange(1, len(x) + 1)
    starts = np.maximum(ends - width, 0)
    return ((csum[ends] - csum[starts]) / (ends - starts)).astype(np.float32)


def curves(history: list[dict[str, float]], evaluations: list[dict[str, float]]) -> dict[str, Any]:
    """Arrays for the live curves; None for a curve the run does not have."""
    out: dict[str, Any] = {"step": None, "loss": None, "contrastive_acc": None, "loss_floor": None,
                           "eval_step": None, "probe": None, "knn": None}
    if history:
        out["step"] = np.array([h["step"] for h in history], dtype=np.float32)
        out["loss"] = np.array([h["loss"] for h in history], dtype=np.float32)
        if "contrastive_acc" in history[-1]:
            out["contrastive_acc"] = trailing_mean(np.array([h.get("contrastive_acc", np.nan) for h in history]))
        if "loss_floor" in history[-1]:
            out["loss_floor"] = float(history[-1]["loss_floor"])
    if evaluations:
        out["eval_step"] = np.array([e["step"] for e in evaluations], dtype=np.float32)
        out["probe"] = np.array([e["linear_probe_acc"] for e in evaluations], dtype=np.float32)
        out["knn"] = np.array([e["knn_acc"] for e in evaluations], dtype=np.float32)
    return out


def baseline_lines(baselines: dict[str, float], supervised: dict[str, float] | None) -> dict[str, float]:
    """The horizontal lines: raw pixels and random encoder (when computed), supervised (when finished)."""
    lines = dict(baselines)
    if supervised and "linear_probe_acc" in supervised:
        lines["supervised_acc"] = supervised["linear_probe_acc"]
    return lines


def status(snap: dict[str, Any]) -> dict[str, float]:
    """Epoch, images per second and seconds of training, from a snapshot."""
    return {"epoch": snap.get("epoch", 0), "ips": snap.get("images_per_s", 0.0),
            "seconds": snap.get("train_seconds", 0.0)}


def map_points(snap: dict[str, Any]) -> tuple[np.ndarray, int, int]:
    """The map's input: the map set's z, then the two views of the first pairs (same projection);
    returns (all points, images on the map, pairs)."""
    z, pa, pb = snap["map_z"], snap["map_pair_a"], snap["map_pair_b"]
    return np.concatenate([z, pa, pb]), len(z), len(pa)


def metric_of(method: str) -> str:
    return "l2" if method == "simclr_l2" else "cosine"


@dataclass
class Projection:
    """xy of every map point and what it is: kind "pca", "warming" (UMAP not compiled yet: PCA),
    "umap_error" (PCA), "umap_busy" (being computed; shows PCA or an older UMAP), "umap_queued" (waiting for
    the process's shared UMAP worker, `place` in line; shows PCA or an older UMAP) or "umap"."""

    xy: np.ndarray
    kind: str
    step: int
    shown_step: int | None = None  # for umap_busy: the step of the UMAP shown (None: PCA)
    seconds: float = 0.0
    error: str = ""
    place: int = 0  # for umap_queued: 1 = the next map the shared worker computes


class MapView:
    """The map of one run: PCA cached per evaluated step, UMAP layouts from a background projector."""

    def __init__(self, metric: str = "cosine"):
        self.projector = MapProjector(metric=metric)
        self._pca: tuple[int, np.ndarray] | None = None  # (step, xy)
        self._versions: dict[int, int] = {}  # projector request version -> step

    def pca(self, snap: dict[str, Any]) -> np.ndarray:
        step = int(snap["map_step"])
        if self._pca is None or self._pca[0] != step:
            allz, _, _ = map_points(snap)
            previous = self._pca[1] if self._pca is not None and len(self._pca[1]) == len(allz) else None
            self._pca = (step, pca_2d(allz, previous))
        return self._pca[1]

    def project(self, snap: dict[str, Any], mode: str, warm: WarmUp) -> Projection:
        step = int(snap["map_step"])
        pca_xy = self.pca(snap)
        if mode != "umap":
            return Projection(pca_xy, "pca", step)
        if not warm.done.is_set():
            return Projection(pca_xy, "warming", step, seconds=warm.seconds)
        if warm.error:
            return Projection(pca_xy, "umap_error", step, error=warm.error)
        latest = self.projector.latest()
        shown = self._versions.get(latest.version) if latest is not None else None
        if shown != step and step not in self._versions.values() and not self.projector.busy:
            allz, _, _ = map_points(snap)
            self._versions[self.projector.submit(allz)] = step
        if self.projector.error:
            return Projection(pca_xy, "umap_error", step, error=self.projector.error)
        place = self.projector.place()
        busy = "umap_queued" if place else "umap_busy"
        if latest is None or len(latest.xy) != len(pca_xy):
            return Projection(pca_xy, busy, step, place=place)
        if shown != step:
            return Projection(latest.xy, busy, step, shown_step=shown, place=place)
        return Projection(latest.xy, "umap", step, seconds=latest.seconds)

    def layout_version(self) -> int | None:
        latest = self.projector.latest()
        return latest.version if latest is not None else None


def neighbours(snap: dict[str, Any], anchor: int, method: str, k: int = 8) -> tuple[int, np.ndarray, np.ndarray]:
    """The anchor (clipped to the map) and the k images the embedding puts closest to it."""
    anchor = min(max(int(anchor), 0), len(snap["map_z"]) - 1)
    negs, sims = hardest_negatives(snap["map_z"], anchor, k, metric_of(method))
    return anchor, negs, sims


def map_image(data: Any, i: int) -> np.ndarray:
    """Image i of the map set (test split first, then training images) as H×W×C uint8."""
    n_test = len(data.x_test)
    x = data.x_test[i] if i < n_test else data.x_train[i - n_test]
    return x.permute(1, 2, 0).numpy()


def gallery(config: EmbedConfig, seed: int) -> np.ndarray:
    """A grid of `GALLERY_IMAGES` training images, each followed by `GALLERY_VIEWS` random views of it."""
    data = dataset_for(config)
    aug = Augmenter(default_augment(config.dataset, strength=config.augment_strength), data.channels)
    gen = make_generator(seed)
    pick = torch.randperm(len(data.x_train), generator=gen)[:GALLERY_IMAGES]
    return positive_pair_gallery(data.x_train[pick], aug, GALLERY_VIEWS, gen, scale=max(1, 64 // data.size)).numpy()


# ---- sweeps ------------------------------------------------------------------------------------
def why_curves(d: dict[str, Any]) -> tuple[list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], float | None]:
    """(label, steps, mean ‖z‖, loss) per variant that has points, and the cosine loss's floor."""
    out, floor = [], None
    for label, curve in d["curves"].items():
        if "step" not in curve or not len(curve["step"]):
            continue
        out.append((label, curve["step"], curve["embedding_norm"], curve["loss"]))
        if "loss_floor" in curve and len(curve["loss_floor"]):
            floor = float(curve["loss_floor"][0])
    return out, floor


def negatives_grids(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> tuple[list[int], list[int], dict]:
    """The d × K grid of each measure in `keys` (NaN where a cell has not finished)."""
    ds = sorted({r["d"] for r in rows})
    ks = sorted({r["K"] for r in rows})
    grids = {key: np.full((len(ds), len(ks)), np.nan, dtype=np.float32) for key in keys}
    for r in rows:
        for key in keys:
            grids[key][ds.index(r["d"]), ks.index(r["K"])] = r[key]
    return ds, ks, grids


def temperature_curve(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """Rows sorted by τ, and τ, held-out contrastive accuracy and probe accuracy as arrays."""
    rows = sorted(rows, key=lambda r: r["temperature"])
    arrays = {key: np.array([r[key] for r in rows], dtype=np.float32)
              for key in ("temperature", "contrastive_acc_test", "linear_probe_acc")}
    return rows, arrays
