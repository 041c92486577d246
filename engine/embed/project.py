"""2-D maps of embeddings: PCA at once, UMAP when ready.

UMAP (umap-learn) is slow in two ways on a small CPU: numba compiles its kernels on the first fit in
a process (tens of CPU-seconds on a cold cache), and its own nearest-neighbour search costs seconds.
So: `start_warm_up()` compiles in a background thread when the app starts; the kNN graph is computed
here with torch and passed as ``precomputed_knn``; the first layout starts from the PCA map and every
later one from the previous layout (``init=``), which also keeps successive maps aligned so the
points move smoothly between updates. `MapProjector` keeps the latest finished layout of one map for the
page to draw; its UMAP jobs run on one worker thread shared by the whole process (`ProjectorPool`), so a
class of maps fits one UMAP at a time, each map's newest request replacing its older one still waiting.
"""

from __future__ import annotations

import threading
import time
import warnings
import weakref
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch

from engine.embed import background

UMAP_NEIGHBOURS = 10
BOX = 10.0  # UMAP's initial coordinates span about [0, 10]


def pca_2d(z: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray:
    """First two principal components of z (N×d). Signs are fixed (towards `previous` when given,
    else so that each axis' largest loading is positive) so the map does not flip between updates."""
    x = torch.as_tensor(np.asarray(z, dtype=np.float32))
    x = x - x.mean(0)
    if x.shape[1] == 1:
        x = torch.cat([x, torch.zeros_like(x)], 1)
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    axes = vh[:2]
    for i in range(2):
        if axes[i][axes[i].abs().argmax()] < 0:
            axes[i] = -axes[i]
    out = (x @ axes.T).numpy()
    if previous is not None and previous.shape == out.shape:
        for i in range(2):
            if np.dot(out[:, i] - out[:, i].mean(), previous[:, i] - previous[:, i].mean()) < 0:
                out[:, i] = -out[:, i]
    return out.astype(np.float32)


def scale_to_box(xy: np.ndarray, box: float = BOX) -> np.ndarray:
    lo, hi = xy.min(0), xy.max(0)
    return (box * (xy - lo) / np.maximum(hi - lo, 1e-9)).astype(np.float32)


def knn_graph(z: np.ndarray, k: int = UMAP_NEIGHBOURS, metric: str = "cosine", chunk: int = 2048
              ) -> tuple[np.ndarray, np.ndarray]:
    """Each point's k nearest neighbours (itself first, at distance 0) by torch: (indices, distances).
    'cosine' uses Euclidean distance between unit vectors (same order as cosine): ‖u − v‖ = √(2 − 2uᵀv)."""
    x = torch.as_tensor(np.asarray(z, dtype=np.float32))
    if metric not in ("cosine", "euclidean"):
        raise ValueError("metric must be cosine or euclidean")
    if metric == "cosine":
        x = torch.nn.functional.normalize(x, dim=1)
    k = min(k, len(x))
    half_sq = 0.5 * x.pow(2).sum(1)
    idx_parts, dist_parts = [], []
    for i in range(0, len(x), chunk):
        xb = x[i : i + chunk]
        # score = uᵀv − ½‖v‖²: the largest score is the nearest v (½‖u − v‖² = ½‖u‖² − score)
        score = torch.addmm(-half_sq[None, :], xb, x.T)
        rows = torch.arange(len(xb))
        score[rows, rows + i] = float("inf")  # itself first
        top, j = score.topk(k, dim=1)
        d2 = (2 * (half_sq[i : i + chunk, None] - top)).clamp_(min=0)
        d2[:, 0] = 0.0
        idx_parts.append(j)
        dist_parts.append(d2.sqrt_())
    return torch.cat(idx_parts).numpy().astype(np.int64), torch.cat(dist_parts).numpy().astype(np.float32)


def umap_layout(z: np.ndarray, init: np.ndarray | None = None, metric: str = "cosine",
                n_neighbors: int = UMAP_NEIGHBOURS, n_epochs: int | None = None,
                seed: int | None = None) -> np.ndarray:
    """UMAP of z with a torch kNN graph; starts from `init` (the previous layout) when its shape
    fits, else from the PCA map. A seed makes it reproducible but single-threaded."""
    import umap

    z = np.asarray(z, dtype=np.float32)
    if len(z) <= n_neighbors + 1:
        return scale_to_box(pca_2d(z))
    idx, dist = knn_graph(z, n_neighbors, metric)
    start = init if init is not None and init.shape == (len(z), 2) else scale_to_box(pca_2d(z))
    # few epochs and 10 neighbours: the start is already a good layout (PCA, or the previous map), and
    # the cost is epochs × edges — 5k points take ~1 s on one free core
    epochs = n_epochs or (25 if init is not None and init.shape == (len(z), 2) else 40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no NNDescent index: transform unavailable" — not needed
        reducer = umap.UMAP(n_neighbors=n_neighbors, precomputed_knn=(idx, dist, None), init=start,
                            n_epochs=epochs, random_state=seed, metric="euclidean", low_memory=True)
        return reducer.fit_transform(z).astype(np.float32)


# ---- numba warm-up ------------------------------------------------------------------------------
@dataclass
class WarmUp:
    started: float = 0.0
    finished: float = 0.0
    error: str = ""
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def seconds(self) -> float:
        return (self.finished or time.time()) - self.started if self.started else 0.0


_WARM = WarmUp()
_WARM_LOCK = threading.Lock()


def warm_up_umap() -> WarmUp:
    """Import umap and fit a tiny map once so numba compiles its kernels (blocking)."""
    _WARM.started = _WARM.started or time.time()
    try:
        rng = np.random.default_rng(0)
        umap_layout(rng.normal(size=(300, 8)).astype(np.float32), n_epochs=20)
    except Exception as exc:  # the page says UMAP is unavailable and keeps PCA
        _WARM.error = f"{type(exc).__name__}: {exc}"
    finally:
        _WARM.finished = time.time()
        _WARM.done.set()
    return _WARM


def start_warm_up() -> WarmUp:
    """Start `warm_up_umap` in a daemon thread once per process; returns its status object."""
    with _WARM_LOCK:
        if not _WARM.started:
            _WARM.started = time.time()
            background.start(warm_up_umap, "energy-lab-umap-warm-up")
    return _WARM


def warm_up_status() -> WarmUp:
    return _WARM


# ---- background projector ----------------------------------------------------------------------
@dataclass
class Layout:
    xy: np.ndarray
    version: int  # which submitted embedding it maps
    seconds: float
    kind: str = "umap"


class ProjectorPool:
    """One worker thread for the whole process serves every map's UMAP requests, first come, first served.

    A class on one server would otherwise fit as many UMAPs at once as there are maps (one per student), each
    using every core. Each projector has at most one request waiting here — its newest: a newer one replaces
    the older in place (`MapProjector.submit`) — so the line is at most one entry per live map, and a map whose
    page dropped it (a new run, a closed session) is skipped. The worker ends when the line is empty and is
    started again by the next request.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._line: deque[weakref.ref[MapProjector]] = deque()
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()  # set at interpreter exit (engine.embed.background)

    def request(self, projector: MapProjector) -> None:
        """Put `projector` in line unless it is there already (its newest request is what it serves)."""
        with self._lock:
            if not any(ref() is projector for ref in self._line):
                self._line.append(weakref.ref(projector))
            if self._thread is None or not self._thread.is_alive():
                self._thread = background.start(self._work, "energy-lab-umap", self._closing)

    def place(self, projector: MapProjector) -> int:
        """1 for the next map served, 2 for the one after…; 0 when not waiting (served now, or nothing asked)."""
        with self._lock:
            return next((i for i, ref in enumerate(self._line, 1) if ref() is projector), 0)

    def waiting(self) -> int:
        """How many maps wait for the worker."""
        with self._lock:
            return sum(ref() is not None for ref in self._line)

    def _next(self) -> MapProjector | None:
        with self._lock:
            while self._line and not self._closing.is_set():
                projector = self._line.popleft()()
                if projector is not None:
                    return projector
            self._thread = None
            return None

    def _work(self) -> None:
        while (projector := self._next()) is not None:
            projector.serve()
            del projector  # a dropped map can be collected while the worker waits for the next


POOL = ProjectorPool()


class MapProjector:
    """UMAP layouts of one map, computed by the process's shared worker (`POOL`) on the most recently
    submitted embedding (an older request still waiting is dropped), each initialised from the previous one."""

    def __init__(self, metric: str = "cosine", pool: ProjectorPool | None = None):
        self.metric = metric
        self.pool = pool or POOL
        self._lock = threading.Lock()
        self._pending: tuple[int, np.ndarray] | None = None
        self._latest: Layout | None = None
        self._busy_since: float | None = None
        self.error = ""
        self._version = 0

    def submit(self, z: np.ndarray) -> int:
        """Ask for a UMAP of z; returns the request's version number."""
        with self._lock:
            self._version += 1
            self._pending = (self._version, np.asarray(z, dtype=np.float32))
            version = self._version
        self.pool.request(self)
        return version

    def latest(self) -> Layout | None:
        with self._lock:
            return self._latest

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._busy_since is not None or self._pending is not None

    def busy_seconds(self) -> float:
        with self._lock:
            return time.time() - self._busy_since if self._busy_since else 0.0

    def place(self) -> int:
        """This map's place in the shared worker's line (0: being computed, or nothing asked)."""
        return self.pool.place(self)

    def serve(self) -> None:
        """Compute the pending request, if any (the pool's worker calls this)."""
        with self._lock:
            if self._pending is None:
                return
            version, z = self._pending
            self._pending = None
            self._busy_since = time.time()
            previous = self._latest.xy if self._latest is not None else None
        t0 = time.perf_counter()
        try:
            xy = umap_layout(z, init=previous, metric=self.metric)
        except Exception as exc:
            with self._lock:
                self.error = f"{type(exc).__name__}: {exc}"
                self._busy_since = None
            return
        with self._lock:
            self._latest = Layout(xy, version, time.perf_counter() - t0)
            self._busy_since = None


def hardest_negatives(z: np.ndarray, anchor: int, k: int = 8, metric: str = "cosine") -> tuple[np.ndarray, np.ndarray]:
    """The k images (other than the anchor) the embedding puts closest to it: for a contrastive loss
    every other image is a negative, and these are the ones it pushes hardest. Returns (indices,
    similarities: cosine, or −squared distance for the L2 variant), most similar first."""
    x = torch.as_tensor(np.asarray(z, dtype=np.float32))
    if not 0 <= anchor < len(x):
        raise ValueError(f"anchor must be within [0, {len(x) - 1}]")
    if metric == "cosine":
        x = torch.nn.functional.normalize(x, dim=1)
        sim = x @ x[anchor]
    else:
        sim = -(x - x[anchor]).pow(2).sum(1)
    sim[anchor] = -float("inf")
    top = sim.topk(min(k, len(x) - 1))
    return top.indices.numpy(), top.values.numpy()
