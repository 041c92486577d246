"""Manifold data sets in 2-D whose distance to the manifold is known.

Each set is a union of curves ("branches"). Samples lie on the curves (the course's ellipse adds its
noise ε ~ N(0, (1/20)²)); `distance(y)` is the Euclidean distance from y to the clean curves, in closed
form for the circles and lines and, for the ellipse and spiral, to a polyline of 1024 vertices per
branch (its chords are off the curve by < 2e-5, far below anything a metric here can see).

Each set also says where its *flat spot* should be looked for (`midpoint_pairs`): points halfway between
two branches, each paired with a point at the same distance from the manifold on the outside, and a
line that crosses the branches for the energy profile. It also names the latent decoder family that
traces it (engine.dae.latent) and that decoder's true parameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

Tensor = torch.Tensor
TWO_PI = 2 * math.pi
POLY_VERTICES = 1024

# the two parallel lines y = ±1 are sampled for |x| ≤ LINE_HALF_LENGTH, beyond every grid's box
LINE_HALF_LENGTH = 3.5
# the course's ellipse (NYU DL week 15): y = [2 cos θ, 1.5 sin θ] + ε, ε ~ N(0, (1/20)²)
ELLIPSE_AXES = (2.0, 1.5)
ELLIPSE_NOISE = 1 / 20
# an Archimedean spiral r = b θ with two turns one unit apart (2π b = 1), θ ∈ [π, 5π]
SPIRAL_B = 1 / TWO_PI
SPIRAL_THETA = (math.pi, 5 * math.pi)


_PAIRS_CACHE: dict[str, tuple[Tensor, Tensor]] = {}


@dataclass(frozen=True)
class LatentSpec:
    """The decoder family g(z; w) that traces a manifold (see engine.dae.latent)."""

    family: str  # "ellipse": g_k(z) = [w_k1 cos z, w_k2 sin z]; "line": g_k(z) = [z, w_k]; "spiral"
    w_true: tuple[tuple[float, ...], ...]  # one row per branch k
    z_range: tuple[float, float]
    periodic: bool  # z ∈ [lo, hi) (the end point is the start point) or [lo, hi]


@dataclass(frozen=True)
class Manifold:
    name: str
    description: str
    box: float  # pictures and metrics cover [-box, box]²
    noise: float  # std of the isotropic Gaussian noise added to samples
    branch_names: tuple[str, ...]
    latent: LatentSpec
    profile_ends: tuple[tuple[float, float], tuple[float, float]]  # a line crossing the branches
    _clean_sample: Callable[[int, torch.Generator], Tensor]
    _branch_curves: Callable[[Tensor], list[Tensor]]  # s ∈ [0, 1] → one (n, 2) curve per branch
    _distance: Callable[[Tensor], Tensor] | None  # closed form, else the polyline distance
    _pairs: Callable[[Manifold], tuple[Tensor, Tensor]]

    # ---- data ----------------------------------------------------------------------------------
    def sample(self, n: int, gen: torch.Generator) -> Tensor:
        """n training points (float32, CPU): on the manifold, plus the set's noise if it has one."""
        y = self._clean_sample(n, gen)
        if self.noise > 0:
            y = y + self.noise * torch.randn(y.shape, generator=gen)
        return y.float()

    def branches(self, n: int = 512) -> list[Tensor]:
        """Each branch as an (n, 2) polyline, for drawing and for the polyline distance."""
        s = torch.linspace(0, 1, n, dtype=torch.float64)
        return [c.float() for c in self._branch_curves(s)]

    def on_manifold(self, n: int = 512) -> Tensor:
        """Points on the clean manifold inside the box (the reference for "on-manifold energy")."""
        pts = torch.cat(self.branches(n))
        inside = (pts.abs() <= self.box).all(1)
        return pts[inside]

    # ---- geometry ------------------------------------------------------------------------------
    def distance(self, y: Tensor) -> Tensor:
        """Euclidean distance from each row of y (N, 2) to the clean manifold."""
        if self._distance is not None:
            return self._distance(y)
        return self.branch_distances(y).min(1).values

    def branch_distances(self, y: Tensor) -> Tensor:
        """(N, K): distance to each branch's polyline (exact for the polyline)."""
        polys = self.branches(POLY_VERTICES)
        return torch.stack([polyline_distance(y, p.to(y)) for p in polys], 1)

    def branch_of(self, y: Tensor) -> Tensor:
        """Index of the nearest branch for each row of y."""
        return self.branch_distances(y).argmin(1)

    def midpoint_pairs(self) -> tuple[Tensor, Tensor]:
        """(mid, out), both (n, 2). mid: points halfway between two branches (equidistant from both).
        out[i]: a point at the same distance d(mid[i]) from the manifold, on the outside of a branch
        (a side with no other branch behind it). Computed once per data set."""
        if self.name not in _PAIRS_CACHE:
            _PAIRS_CACHE[self.name] = self._pairs(self)
        mid, out = _PAIRS_CACHE[self.name]
        return mid.clone(), out.clone()

    def half_gap(self) -> float:
        """The largest distance from a midpoint to the manifold (half the widest gap between branches):
        the natural unit for drawing the energy (the outside partners sit this far out, too)."""
        mid, _ = self.midpoint_pairs()
        return float(self.distance(mid).max())

    def profile(self, n: int = 301) -> tuple[Tensor, Tensor]:
        """(s, points): n points on the profile line and their signed position s along it."""
        a, b = (torch.tensor(p, dtype=torch.float32) for p in self.profile_ends)
        t = torch.linspace(0, 1, n)
        pts = a + t[:, None] * (b - a)
        length = float((b - a).norm())
        return (t - 0.5) * length, pts


# ---- polyline geometry (also the brute-force reference in the tests) ----------------------------
def polyline_distance(y: Tensor, poly: Tensor, chunk: int = 4096) -> Tensor:
    """Distance from each row of y to the polyline through the rows of `poly`: the nearest vertex is
    found with a fast matrix product, then the exact distance to its two adjacent segments is taken
    (for a finely sampled smooth curve the nearest segment touches the nearest vertex)."""
    return (y - nearest_on_polyline(y, poly, chunk)).norm(dim=1)


def nearest_on_polyline(y: Tensor, poly: Tensor, chunk: int = 4096) -> Tensor:
    """The nearest point of the polyline to each row of y (see polyline_distance)."""
    m = poly.shape[0]
    out = []
    for p in torch.split(y, chunk):
        v = torch.cdist(p, poly).argmin(1)
        best = None
        for a_idx in ((v - 1).clamp(0, m - 2), v.clamp(0, m - 2)):  # the segments before and after v
            a, b = poly[a_idx], poly[a_idx + 1]
            ab = b - a
            t = (((p - a) * ab).sum(1) / (ab * ab).sum(1).clamp_min(1e-20)).clamp(0, 1)
            foot = a + t[:, None] * ab
            if best is None:
                best = foot
            else:
                closer = ((p - foot) ** 2).sum(1) < ((p - best) ** 2).sum(1)
                best = torch.where(closer[:, None], foot, best)
        out.append(best)
    return torch.cat(out)


def reflect_outward(m: Manifold, mid: Tensor, outer: Tensor) -> Tensor:
    """c + d·(c − mid)/‖c − mid‖ for each midpoint, with c its nearest point on branch outer[i] and
    d = d(mid): the point as far from the manifold as mid, beyond the branch (its normal line)."""
    d = m.distance(mid)
    polys = m.branches(POLY_VERTICES)
    out = torch.empty_like(mid)
    for k in outer.unique().tolist():
        rows = outer == k
        c = nearest_on_polyline(mid[rows], polys[k])
        u = c - mid[rows]
        out[rows] = c + d[rows, None] * u / u.norm(dim=1, keepdim=True)
    return out


def _on_circle(r: Tensor | float, theta: Tensor) -> Tensor:
    return torch.stack([r * torch.cos(theta), r * torch.sin(theta)], -1)


# ---- one circle (radius 1) -----------------------------------------------------------------------
def _circle_sample(n: int, gen: torch.Generator) -> Tensor:
    return _on_circle(1.0, TWO_PI * torch.rand(n, generator=gen))


def _circle_branches(s: Tensor) -> list[Tensor]:  # upper and lower half
    return [_on_circle(1.0, math.pi * s), _on_circle(1.0, math.pi * (1 + s))]


def _circle_distance(y: Tensor) -> Tensor:
    return (y.norm(dim=1) - 1.0).abs()


def _circle_pairs(m: Manifold) -> tuple[Tensor, Tensor]:
    # the centre is halfway between opposite arcs (distance 1); outside at distance 1: radius 2
    theta = TWO_PI * torch.arange(64) / 64
    return torch.zeros(64, 2), _on_circle(2.0, theta).float()


# ---- two concentric circles, radii 1 and 2 --------------------------------------------------------
_RADII = (1.0, 2.0)


def _rings_sample(n: int, gen: torch.Generator) -> Tensor:
    # uniform along the total length: the outer circle, twice as long, gets twice the points
    outer = torch.rand(n, generator=gen) < _RADII[1] / sum(_RADII)
    r = torch.where(outer, _RADII[1], _RADII[0])
    return _on_circle(r, TWO_PI * torch.rand(n, generator=gen))


def _rings_branches(s: Tensor) -> list[Tensor]:
    return [_on_circle(r, TWO_PI * s) for r in _RADII]


def _rings_distance(y: Tensor) -> Tensor:
    r = y.norm(dim=1)
    return torch.minimum((r - _RADII[0]).abs(), (r - _RADII[1]).abs())


def _rings_pairs(m: Manifold) -> tuple[Tensor, Tensor]:
    # radius 1.5 is 0.5 from both circles; radius 2.5 is 0.5 outside the outer one
    theta = TWO_PI * torch.arange(256) / 256
    return _on_circle(1.5, theta).float(), _on_circle(2.5, theta).float()


# ---- two parallel lines y = ±1 -------------------------------------------------------------------
def _lines_sample(n: int, gen: torch.Generator) -> Tensor:
    x = LINE_HALF_LENGTH * (2 * torch.rand(n, generator=gen) - 1)
    side = 2 * torch.randint(0, 2, (n,), generator=gen) - 1
    return torch.stack([x, side.float()], 1)


def _lines_branches(s: Tensor) -> list[Tensor]:
    x = LINE_HALF_LENGTH * (2 * s - 1)
    return [torch.stack([x, torch.full_like(x, v)], 1) for v in (-1.0, 1.0)]


def _lines_distance(y: Tensor) -> Tensor:
    # |x| ≤ LINE_HALF_LENGTH everywhere the metrics look, so the lines can be taken as infinite
    return torch.minimum((y[:, 1] - 1).abs(), (y[:, 1] + 1).abs())


def _lines_pairs(m: Manifold) -> tuple[Tensor, Tensor]:
    # y = 0 is 1 from both lines; y = ±2 is 1 beyond them (each x twice: partners above and below)
    x = torch.linspace(-2, 2, 129).repeat_interleave(2)
    side = 2.0 * (torch.arange(x.shape[0]) % 2) - 1
    return torch.stack([x, torch.zeros_like(x)], 1), torch.stack([x, 2 * side], 1)


# ---- the course's ellipse -------------------------------------------------------------------------
def _ellipse_sample(n: int, gen: torch.Generator) -> Tensor:
    a, b = ELLIPSE_AXES
    th = TWO_PI * torch.rand(n, generator=gen)
    return torch.stack([a * torch.cos(th), b * torch.sin(th)], 1)


def _ellipse_branches(s: Tensor) -> list[Tensor]:  # upper and lower arc
    a, b = ELLIPSE_AXES
    th_up, th_lo = math.pi * s, math.pi * (1 + s)
    return [torch.stack([a * torch.cos(t), b * torch.sin(t)], 1) for t in (th_up, th_lo)]


def _ellipse_pairs(m: Manifold) -> tuple[Tensor, Tensor]:
    # the medial axis: points of y = 0 with |x| < (a² − b²)/a are equidistant from both arcs;
    # each is paired with the points beyond the upper and the lower arc
    a, b = ELLIPSE_AXES
    half = 0.9 * (a * a - b * b) / a
    x = torch.linspace(-half, half, 65).repeat_interleave(2)
    mid = torch.stack([x, torch.zeros_like(x)], 1)
    return mid, reflect_outward(m, mid, torch.arange(mid.shape[0]) % 2)


# ---- an Archimedean spiral, two turns ---------------------------------------------------------------
def _spiral_point(theta: Tensor) -> Tensor:
    return _on_circle(SPIRAL_B * theta, theta)


def _spiral_sample(n: int, gen: torch.Generator) -> Tensor:
    # uniform in arc length ∝ θ²/2 (the radial part of ds is small): θ = sqrt(θ0² + u (θ1² − θ0²))
    t0, t1 = SPIRAL_THETA
    u = torch.rand(n, generator=gen, dtype=torch.float64)
    return _spiral_point((t0 * t0 + u * (t1 * t1 - t0 * t0)).sqrt()).float()


def _spiral_branches(s: Tensor) -> list[Tensor]:  # inner turn θ ∈ [π, 3π], outer turn [3π, 5π]
    t0, t1 = SPIRAL_THETA
    mid = (t0 + t1) / 2
    return [_spiral_point(t0 + (mid - t0) * s), _spiral_point(mid + (t1 - mid) * s)]


def _spiral_pairs(m: Manifold) -> tuple[Tensor, Tensor]:
    # on the ray at angle θ, the point between the inner turn (radius bθ) and the outer turn (b(θ + 2π))
    # that is equally far from both, found by bisection on the radius; the partner lies beyond the outer
    # turn, which has nothing outside it
    theta = torch.linspace(SPIRAL_THETA[0] + 0.3, SPIRAL_THETA[0] + TWO_PI - 0.3, 129, dtype=torch.float64)
    lo, hi = SPIRAL_B * theta, SPIRAL_B * (theta + TWO_PI)
    for _ in range(30):
        rho = (lo + hi) / 2
        d = m.branch_distances(_on_circle(rho, theta).float())
        nearer_inner = d[:, 0] < d[:, 1]
        lo, hi = torch.where(nearer_inner, rho, lo), torch.where(nearer_inner, hi, rho)
    mid = _on_circle((lo + hi) / 2, theta).float()
    return mid, reflect_outward(m, mid, torch.ones(mid.shape[0], dtype=torch.long))


_ELLIPSE_W = ((ELLIPSE_AXES[0], ELLIPSE_AXES[1]),)

MANIFOLDS: dict[str, Manifold] = {
    m.name: m
    for m in [
        Manifold("circle", "one circle of radius 1", 2.5, 0.0, ("upper half", "lower half"),
                 LatentSpec("ellipse", ((1.0, 1.0),), (0.0, TWO_PI), True),
                 ((0.0, -2.5), (0.0, 2.5)), _circle_sample, _circle_branches, _circle_distance, _circle_pairs),
        Manifold("two_circles", "two concentric circles, radii 1 and 2", 3.0, 0.0, ("inner circle", "outer circle"),
                 LatentSpec("ellipse", ((1.0, 1.0), (2.0, 2.0)), (0.0, TWO_PI), True),
                 ((-3.0, 0.0), (3.0, 0.0)), _rings_sample, _rings_branches, _rings_distance, _rings_pairs),
        Manifold("two_lines", "two parallel lines y = ±1", 2.5, 0.0, ("lower line", "upper line"),
                 LatentSpec("line", ((-1.0,), (1.0,)), (-LINE_HALF_LENGTH, LINE_HALF_LENGTH), False),
                 ((0.0, -2.5), (0.0, 2.5)), _lines_sample, _lines_branches, _lines_distance, _lines_pairs),
        Manifold("ellipse", "the course's ellipse y = [2 cos θ, 1.5 sin θ] + ε, ε ~ N(0, 1/20²)", 3.0,
                 ELLIPSE_NOISE, ("upper arc", "lower arc"),
                 LatentSpec("ellipse", _ELLIPSE_W, (0.0, TWO_PI), True),
                 ((0.0, -3.0), (0.0, 3.0)), _ellipse_sample, _ellipse_branches, None, _ellipse_pairs),
        Manifold("spiral", "an Archimedean spiral r = θ/2π, two turns one unit apart", 3.25, 0.0,
                 ("inner turn", "outer turn"),
                 LatentSpec("spiral", ((SPIRAL_B, 0.0),), SPIRAL_THETA, False),
                 ((-3.25, 0.0), (3.25, 0.0)), _spiral_sample, _spiral_branches, None, _spiral_pairs),
    ]
}


def get_manifold(name: str) -> Manifold:
    try:
        return MANIFOLDS[name]
    except KeyError:
        raise ValueError(f"unknown manifold data set {name!r}; choose one of {sorted(MANIFOLDS)}") from None
