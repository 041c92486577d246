"""The embedding map's sprites: a small thumbnail of every image on the map and one positive view of it
(a random augmentation, as the training draws them), for the map's hover panel — what the Embedding
Projector does with its sprite atlas.

Thumbnails are the images themselves when their side is at most `MAX_SIDE` pixels (digits 8×8), else
area-averaged by an integer factor (MNIST 28 → 14, CIFAR-10 and shapes 32 → 16). At most `MAX_BYTES`
of pixels (both sets together) are kept: a larger map carries images for its first points only.
The positive views come from a generator seeded by the run's seed (stream `VIEW_STREAM`), so a run's
map shows the same views at every step. Pure torch/numpy: the page ships these arrays to the browser.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from engine.embed.augment import Augmenter, default_augment
from engine.embed.imageset import ImageSet, to_float
from engine.errors import DataError
from engine.training import make_generator

MAX_SIDE = 16  # thumbnails at most this many pixels a side
MAX_BYTES = 3_000_000  # pixels of thumbnails + views shipped for one map (uint8; 4 MB as base64)
VIEW_STREAM = 7919  # make_generator offset of the positive views (apart from the training's streams)


@dataclass(frozen=True)
class Sprites:
    """Thumbnails of the map's first `count` images and one positive view of each: uint8 N×side×side×C."""

    images: np.ndarray
    views: np.ndarray

    @property
    def count(self) -> int:
        return len(self.images)

    @property
    def side(self) -> int:
        return int(self.images.shape[1])

    @property
    def channels(self) -> int:
        return int(self.images.shape[3])


def shrink_factor(size: int, max_side: int = MAX_SIDE) -> int:
    """The smallest integer factor that brings a `size`-pixel side to at most `max_side` pixels."""
    if size < 1 or max_side < 1:
        raise DataError(f"an image side must be ≥ 1 pixel (got {size}, at most {max_side})")
    return size // (max_side + 1) + 1  # the thumbnail's side is size // factor (a block's remainder is dropped)


def thumbnails(x: torch.Tensor, factor: int) -> np.ndarray:
    """uint8 N×C×H×W images → uint8 N×h×w×C, each `factor`×`factor` block averaged (the border
    pixels that do not fill a block are dropped)."""
    if x.dtype != torch.uint8 or x.dim() != 4:
        raise DataError(f"thumbnails need uint8 N×C×H×W images, got {x.dtype} {tuple(x.shape)}")
    y = to_float(x)
    if factor > 1:
        y = F.avg_pool2d(y, factor)
    return (y * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def map_images(data: ImageSet, n: int) -> torch.Tensor:
    """The map set's first `n` images (test split first, then training images, as the map's z)."""
    n_test = len(data.x_test)
    if n <= n_test:
        return data.x_test[:n]
    return torch.cat([data.x_test, data.x_train[: n - n_test]])


def sprite_count(n: int, size: int, channels: int, max_bytes: int = MAX_BYTES) -> int:
    """How many of `n` map points carry sprites within `max_bytes` (thumbnail and view each)."""
    side = size // shrink_factor(size)
    return int(min(n, max_bytes // (2 * side * side * channels)))


def map_sprites(data: ImageSet, n: int, dataset: str, strength: float, seed: int,
                max_bytes: int = MAX_BYTES) -> Sprites:
    """Thumbnails of the map's first images (as many of `n` as `max_bytes` allows) and a positive view of
    each, drawn with the data set's augmentation at `strength` from a generator seeded by `seed`."""
    if n < 0:
        raise DataError(f"a map has ≥ 0 points, not {n}")
    count = sprite_count(n, data.size, data.channels, max_bytes)
    x = map_images(data, count)
    augment = Augmenter(default_augment(dataset, strength=strength), data.channels)
    views = augment(to_float(x), make_generator(seed, VIEW_STREAM)) if count else to_float(x)
    views_u8 = (views * 255).round().clamp(0, 255).to(torch.uint8)
    factor = shrink_factor(data.size)
    return Sprites(thumbnails(x, factor), thumbnails(views_u8, factor))
