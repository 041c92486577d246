"""A generated image set: coloured shapes at random position, scale, rotation and colour.

The class is the shape (ten of them). Everything else varies at random per image, so that raw
pixels are a poor feature (a shape's pixels land anywhere, in any colour) and a random
convolutional encoder is not much better (its pooled responses are dominated by colour, contrast
and size), while an encoder trained to be invariant to crops and colour — what contrastive
augmentations teach — can read the shape. Each image: a background colour with a linear shading
ramp and pixel noise, one shape of random colour, position, size and tilt drawn with an
anti-aliased edge (rendered at 2× and averaged down); optional distractor blobs.

Measured at the defaults (6000/2000 images, 32×32): linear probe 20 % on raw pixels, 25 % on a
random small CNN (chance is 10 %); see the CLI runs in the issue's closing note for SimCLR.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from engine.embed.imageset import ImageSet
from engine.errors import SettingError

Tensor = torch.Tensor
SHAPES_SEED = 2024  # the generated set is fixed: every run sees the same images
SHAPE_CLASSES = ("disk", "ring", "square", "triangle", "cross", "star", "crescent", "bar", "tee", "half-disk")


def _polygon(u: Tensor, v: Tensor, n: int) -> Tensor:
    """Inside a regular n-gon of circumradius 1 (one vertex up)."""
    apothem = math.cos(math.pi / n)
    inside = torch.ones_like(u, dtype=torch.bool)
    for k in range(n):
        a = math.pi / 2 + math.pi / n + 2 * math.pi * k / n  # normal of edge k
        inside &= u * math.cos(a) + v * math.sin(a) <= apothem
    return inside


def _inside(cls: int, u: Tensor, v: Tensor) -> Tensor:
    """Indicator of shape `cls` in its own frame (about the unit disk)."""
    r = torch.sqrt(u * u + v * v)
    if cls == 0:  # disk
        return r <= 0.85
    if cls == 1:  # ring
        return (r <= 0.95) & (r >= 0.55)
    if cls == 2:  # square
        return torch.maximum(u.abs(), v.abs()) <= 0.72
    if cls == 3:  # triangle
        return _polygon(u, v, 3)
    if cls == 4:  # cross
        return ((u.abs() <= 0.28) & (v.abs() <= 0.95)) | ((v.abs() <= 0.28) & (u.abs() <= 0.95))
    if cls == 5:  # five-pointed star
        theta = torch.atan2(v, u)
        return r <= 0.5 + 0.45 * torch.cos(5 * theta).clamp(min=0) ** 0.7
    if cls == 6:  # crescent
        return (r <= 0.9) & (((u - 0.45) ** 2 + v * v) >= 0.7**2)
    if cls == 7:  # bar
        return (u.abs() <= 0.95) & (v.abs() <= 0.25)
    if cls == 8:  # T
        return ((v >= 0.45) & (v <= 0.9) & (u.abs() <= 0.85)) | ((u.abs() <= 0.22) & (v >= -0.9) & (v <= 0.9))
    if cls == 9:  # half disk
        return (r <= 0.9) & (v >= -0.25)
    raise ValueError(f"no shape {cls}")


def render_shapes(labels: Tensor, gen: torch.Generator, size: int = 32,
                  scale_range: tuple[float, float] = (0.45, 0.75), distractors: int = 0, noise: float = 0.02,
                  rotation: float = 15.0) -> Tensor:
    """Draw one image per label → uint8 N×3×size×size. `scale_range`: shape radius as a fraction of
    the half-width; `rotation`: tilt uniform in ±degrees; `distractors`: small blobs per image."""
    n = len(labels)
    hi = 2 * size  # rendered at 2× and averaged down: anti-aliased edges
    lin = (torch.arange(hi, dtype=torch.float32) + 0.5) / hi * 2 - 1
    yy, xx = torch.meshgrid(-lin, lin, indexing="ij")  # y up, in [-1, 1]
    rand = lambda *s: torch.rand(*s, generator=gen)
    scale = scale_range[0] + (scale_range[1] - scale_range[0]) * rand(n)
    centre = (rand(n, 2) * 2 - 1) * (0.85 - scale)[:, None]  # keep most of the shape inside
    angle = (2 * rand(n) - 1) * math.radians(rotation)
    bg = rand(n, 3)
    fg = rand(n, 3)
    # enough contrast between shape and background
    far = (fg - bg).abs().sum(1) < 0.6
    fg[far] = 1 - bg[far]

    c, s = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
    dx = xx[None] - centre[:, 0, None, None]
    dy = yy[None] - centre[:, 1, None, None]
    u = (c * dx + s * dy) / scale[:, None, None]
    v = (-s * dx + c * dy) / scale[:, None, None]
    mask = torch.zeros(n, hi, hi)
    for cls in labels.unique().tolist():
        idx = (labels == cls).nonzero().squeeze(1)
        mask[idx] = _inside(cls, u[idx], v[idx]).float()
    mask = F.avg_pool2d(mask[:, None], 2)  # N×1×size×size coverage

    # background: colour + a linear shading ramp in a random direction
    ramp_dir = rand(n) * 2 * math.pi
    lo_lin = lin[1::2]
    ramp = (torch.cos(ramp_dir)[:, None, None] * lo_lin[None, None, :]
            - torch.sin(ramp_dir)[:, None, None] * lo_lin[None, :, None])
    img = bg[:, :, None, None] + 0.15 * rand(n)[:, None, None, None] * ramp[:, None]
    # distractors: small blobs of random colour, anywhere
    lo_y, lo_x = torch.meshgrid(-lo_lin, lo_lin, indexing="ij")
    for _ in range(distractors):
        pos = rand(n, 2) * 2 - 1
        rad = 0.05 + 0.07 * rand(n)
        d2 = (lo_x[None] - pos[:, 0, None, None]) ** 2 + (lo_y[None] - pos[:, 1, None, None]) ** 2
        blob = (d2 <= rad[:, None, None] ** 2).float()[:, None]
        img = img * (1 - blob) + rand(n, 3)[:, :, None, None] * blob
    img = img * (1 - mask) + fg[:, :, None, None] * mask
    img = img + noise * torch.randn(img.shape, generator=gen)
    return (img.clamp(0, 1) * 255).round().to(torch.uint8)


def make_shapes(n_train: int = 6000, n_test: int = 2000, size: int = 32, seed: int = SHAPES_SEED) -> ImageSet:
    """The generated set, balanced over the classes, identical for a given (n_train, n_test, size, seed)."""
    if n_train < len(SHAPE_CLASSES) or n_test < len(SHAPE_CLASSES):
        raise SettingError(f"shapes needs at least {len(SHAPE_CLASSES)} train and test images",
                           setting="train_size" if n_train < len(SHAPE_CLASSES) else "test_size")
    if not 16 <= size <= 128:
        raise SettingError(f"shapes: size = {size} is not allowed: it must be from 16 to 128")
    gen = torch.Generator().manual_seed(seed)
    k = len(SHAPE_CLASSES)
    parts = []
    for n in (n_train, n_test):
        y = torch.arange(n) % k
        y = y[torch.randperm(n, generator=gen)]
        x = torch.cat([render_shapes(y[i : i + 2000], gen, size) for i in range(0, n, 2000)])
        parts += [x, y]
    return ImageSet("shapes", *parts, classes=SHAPE_CLASSES)
