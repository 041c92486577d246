"""Toy 2-D data sets, each with its density.

Three have a closed-form density (eight_gaussians, rings, checkerboard). Three are a curve blurred
by Gaussian noise (two_moons, spiral, and the course's ellipse); their density is the noise kernel
averaged along the curve, p(y) = ∫ N(y; c(t), σ²I) dt, computed by quadrature over t with enough
nodes that the error is far below what any metric here can see. The UI says which is which.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from engine.errors import SettingError

Tensor = torch.Tensor
LOG2PI = math.log(2 * math.pi)

CLOSED_FORM = "closed form"
QUADRATURE = "curve ⊛ Gaussian, integrated in closed form along a fine polyline (within 0.5 %)"
# the catalogue keys of the texts above (assets/locales/*/toy.toml): the pages show them translated
DENSITY_KEYS = {CLOSED_FORM: "toy.density.closed_form", QUADRATURE: "toy.density.quadrature"}


@dataclass(frozen=True)
class ToyDataset:
    name: str
    box: float  # the grid covers [-box, box]²
    density_kind: str
    description: str
    sample: Callable[[int, torch.Generator], Tensor]
    log_density: Callable[[Tensor], Tensor]

    @property
    def text_key(self) -> str:
        """The catalogue key of `description` (assets/locales/*/toy.toml), for the pages to translate it."""
        return f"toy.dataset.{self.name}"

    @property
    def density_key(self) -> str:
        """The catalogue key of `density_kind`."""
        return DENSITY_KEYS[self.density_kind]


def _uniform(n: int, gen: torch.Generator) -> Tensor:
    return torch.rand(n, generator=gen)


def _gauss(shape: tuple[int, ...], gen: torch.Generator) -> Tensor:
    return torch.randn(shape, generator=gen)


def _logmeanexp(x: Tensor, dim: int) -> Tensor:
    return torch.logsumexp(x, dim=dim) - math.log(x.shape[dim])


# ---- eight Gaussians --------------------------------------------------------------------------
_EG_RADIUS, _EG_STD = 2.0, 0.2
_EG_MEANS = torch.tensor(
    [[_EG_RADIUS * math.cos(k * math.pi / 4), _EG_RADIUS * math.sin(k * math.pi / 4)] for k in range(8)]
)


def _eg_sample(n: int, gen: torch.Generator) -> Tensor:
    idx = torch.randint(0, 8, (n,), generator=gen)
    return _EG_MEANS[idx] + _EG_STD * _gauss((n, 2), gen)


def _eg_logp(y: Tensor) -> Tensor:
    d2 = ((y[:, None, :] - _EG_MEANS.to(y)[None]) ** 2).sum(-1)
    comp = -0.5 * d2 / _EG_STD**2 - LOG2PI - 2 * math.log(_EG_STD)
    return _logmeanexp(comp, 1)


# ---- concentric rings: r ~ N(R_k, s²), θ ~ U[0, 2π), ring k chosen ∝ R_k ---------------------------
_RING_RADII = torch.tensor([0.9, 1.8, 2.7])
_RING_STD = 0.12
_RING_W = _RING_RADII / _RING_RADII.sum()


def _rings_sample(n: int, gen: torch.Generator) -> Tensor:
    k = torch.multinomial(_RING_W, n, replacement=True, generator=gen)
    r = _RING_RADII[k] + _RING_STD * _gauss((n,), gen)
    th = 2 * math.pi * _uniform(n, gen)
    return torch.stack([r * torch.cos(th), r * torch.sin(th)], 1)


def _rings_logp(y: Tensor) -> Tensor:
    # density in the plane of a radial law: p(y) = p_r(|y|) / (2π|y|); the mass of r < 0 is < 1e-13
    r = y.norm(dim=1).clamp_min(1e-9)
    radii, w = _RING_RADII.to(y), _RING_W.to(y)
    comp = -0.5 * ((r[:, None] - radii) / _RING_STD) ** 2 - 0.5 * LOG2PI - math.log(_RING_STD)
    log_pr = torch.logsumexp(comp + w.log(), 1)
    return log_pr - math.log(2 * math.pi) - r.log()


# ---- checkerboard: uniform on the 8 dark squares of a 4×4 board on [-2, 2]² ------------------------
def _cb_sample(n: int, gen: torch.Generator) -> Tensor:
    x = 4 * _uniform(n, gen) - 2
    col = torch.floor(x + 2)
    row = torch.randint(0, 2, (n,), generator=gen) * 2 + (col.long() % 2 == 0).long()
    y = row.float() + _uniform(n, gen) - 2
    return torch.stack([x, y], 1)


def _cb_logp(y: Tensor) -> Tensor:
    inside = (y.abs() < 2).all(1)
    cells = torch.floor(y + 2).long()
    dark = (cells[:, 0] + cells[:, 1]) % 2 == 1
    logp = torch.full((y.shape[0],), -math.inf, dtype=y.dtype, device=y.device)
    logp[inside & dark] = -math.log(8.0)
    return logp


# ---- curves blurred by Gaussian noise ----------------------------------------------------------
def _log_diff_ndtr(a: Tensor, b: Tensor) -> Tensor:
    """log(Φ(b) − Φ(a)) for a ≤ b, stable in both tails (uses Φ(b) − Φ(a) = Φ(−a) − Φ(−b))."""
    flip = a > 0
    lo, hi = torch.where(flip, -b, a), torch.where(flip, -a, b)
    l_hi, l_lo = torch.special.log_ndtr(hi), torch.special.log_ndtr(lo)
    return l_hi + torch.log1p(-torch.exp((l_lo - l_hi).clamp(max=-1e-12)))


def _curve_dataset(curve: Callable[[Tensor], Tensor], std: float, pieces: list[tuple[float, float]],
                   segments: int = 400):
    """t ~ U[0, 1), y = c(t) + σε. The density integrates the Gaussian along a fine polyline of c:
    on a segment from a with unit direction u and length L, carrying mass w spread evenly,
        ∫ N(y; a + s u, σ²I) ds / L = exp(−d⊥²/2σ²)/(σ√(2π)) · [Φ((L − s₀)/σ) − Φ(−s₀/σ)] / L,
    with s₀ = (y − a)·u and d⊥ the distance to the segment's line. Chords of 400 segments per piece
    stay within 0.5 % of the exact density (tests/engine/test_toy_grid.py)."""
    starts, dirs, lengths, log_w = [], [], [], []
    for t0, t1 in pieces:
        # stop a hair before t1: a piece's end belongs to it, not to the next piece
        t = torch.linspace(t0, t1 - 1e-12, segments + 1, dtype=torch.float64)
        pts = curve(t)
        d = pts[1:] - pts[:-1]
        length = d.norm(dim=1)
        starts.append(pts[:-1])
        dirs.append(d / length[:, None])
        lengths.append(length)
        log_w.append(torch.full((segments,), math.log((t1 - t0) / segments), dtype=torch.float64))
    a, u, seg_len, lw = (torch.cat(v).float() for v in (starts, dirs, lengths, log_w))

    def sample(n: int, gen: torch.Generator) -> Tensor:
        return curve(_uniform(n, gen).double()).float() + std * _gauss((n, 2), gen)

    def log_density(y: Tensor) -> Tensor:
        out = []
        aa, uu, ll, ww = a.to(y), u.to(y), seg_len.to(y), lw.to(y)
        for chunk in torch.split(y, 2048):
            rel = chunk[:, None, :] - aa[None]  # (m, S, 2)
            s0 = (rel * uu[None]).sum(-1)
            d_perp2 = ((rel**2).sum(-1) - s0**2).clamp_min(0)
            log_along = _log_diff_ndtr(-s0 / std, (ll - s0) / std) - ll.log()
            terms = ww + log_along - 0.5 * d_perp2 / std**2 - 0.5 * LOG2PI - math.log(std)
            out.append(torch.logsumexp(terms, 1))
        return torch.cat(out)

    return sample, log_density


def _moons_curve(t: Tensor) -> Tensor:
    # first half of t: the upper moon, second half: the lower one (scikit-learn's layout, centred)
    upper = t < 0.5
    a = torch.where(upper, 2 * t, 2 * t - 1) * math.pi
    x = torch.where(upper, torch.cos(a), 1 - torch.cos(a))
    y = torch.where(upper, torch.sin(a), 0.5 - torch.sin(a))
    return 1.5 * torch.stack([x - 0.5, y - 0.25], 1)


def _spiral_curve(t: Tensor) -> Tensor:
    theta = 0.5 + 3 * math.pi * t
    r = 0.4 + 2.4 * t
    return torch.stack([r * torch.cos(theta), r * torch.sin(theta)], 1)


# the course's ellipse (NYU DL week 15), unconditional case x = 0: ρ = [β, α] = [2, 1.5], ε ~ N(0, 1/20²)
ELLIPSE_RHO = (2.0, 1.5)
ELLIPSE_STD = 1 / 20


def _ellipse_curve(t: Tensor) -> Tensor:
    th = 2 * math.pi * t
    return torch.stack([ELLIPSE_RHO[0] * torch.cos(th), ELLIPSE_RHO[1] * torch.sin(th)], 1)


_moons = _curve_dataset(_moons_curve, 0.1, [(0.0, 0.5), (0.5, 1.0)])
_spiral = _curve_dataset(_spiral_curve, 0.1, [(0.0, 1.0)])
_ellipse = _curve_dataset(_ellipse_curve, ELLIPSE_STD, [(0.0, 1.0)])

DATASETS: dict[str, ToyDataset] = {
    d.name: d
    for d in [
        ToyDataset("eight_gaussians", 3.5, CLOSED_FORM, "8 Gaussians (σ 0.2) on a circle of radius 2",
                   _eg_sample, _eg_logp),
        ToyDataset("rings", 3.5, CLOSED_FORM, "3 concentric rings, radii 0.9/1.8/2.7, radial σ 0.12",
                   _rings_sample, _rings_logp),
        ToyDataset("checkerboard", 2.5, CLOSED_FORM, "uniform on the 8 dark squares of a 4×4 board",
                   _cb_sample, _cb_logp),
        ToyDataset("two_moons", 3.0, QUADRATURE, "two interleaved half circles, noise σ 0.1",
                   *_moons),
        ToyDataset("spiral", 3.5, QUADRATURE, "one spiral arm (1.5 turns), noise σ 0.1", *_spiral),
        ToyDataset("ellipse", 2.5, QUADRATURE,
                   "the course's ellipse y = [2 cos θ, 1.5 sin θ] + ε, ε ~ N(0, 1/20²)", *_ellipse),
    ]
}


def get_dataset(name: str) -> ToyDataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise SettingError(f"dataset = {name!r} is not allowed: it must be one of {', '.join(DATASETS)}",
                           setting="dataset", value=name) from None
