"""Per-sample random transformations: the "content-preserving transformation y of x" that makes a
positive pair (x, y).

Every image of a batch gets its own random parameters (torchvision's transforms would draw one set
per call, i.e. per batch, and then the two views of every image would differ in the same way).
Parameters are drawn on the CPU from the run's own `torch.Generator` (reproducible, and cheap: a few
numbers per image) and applied on the images' device in a handful of batched kernels:

1. geometry, one affine warp per image (`grid_sample`): random resized crop (area scale, aspect
   ratio), rotation, translation and horizontal flip (never for digits, where a flip changes meaning);
2. colour jitter with probability p: brightness (×), contrast and saturation (kornia.enhance), hue
   (a rotation about the grey axis in YIQ space: the same effect as an HSV hue shift for moderate
   angles, at the cost of one 3×3 matrix per image);
3. grayscale with probability p (kornia.color);
4. Gaussian blur with probability p and a per-image σ (kornia.filters);
5. additive Gaussian pixel noise.

`strength` scales the photometric and geometric ranges together (0 = identity, 1 = the defaults).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from kornia import color, enhance, filters

from engine.errors import DataError, SettingError
from engine.schema import Layers, Rule, Settings, setting

Tensor = torch.Tensor


# Per data set: no flips for digits and MNIST (a flipped 2, 3, 7 is no longer that digit); gentle crops
# on 8×8 digits, whose strokes reach the border; small rotations only (a 6 turned over is a 9).
LAYERS = Layers(dataset={
    "digits": dict(crop_scale=(0.6, 1.0), rotation=15, translate=0.1, flip=0.0, jitter_p=0.8, brightness=0.4,
                   contrast=0.4, saturation=0, hue=0, grayscale_p=0, blur_p=0.3, blur_sigma=(0.1, 0.8),
                   noise=0.05, padding="zeros"),
    "mnist": dict(crop_scale=(0.4, 1.0), rotation=15, translate=0.1, flip=0.0, jitter_p=0.8, brightness=0.4,
                  contrast=0.4, saturation=0, hue=0, grayscale_p=0, blur_p=0.3, blur_sigma=(0.1, 1.0), noise=0.05,
                  padding="zeros"),
    "fashion_mnist": dict(crop_scale=(0.3, 1.0), rotation=10, translate=0.05, flip=0.5, jitter_p=0.8,
                          brightness=0.4, contrast=0.4, saturation=0, hue=0, grayscale_p=0, blur_p=0.3, noise=0.03,
                          padding="zeros"),
    # shapes: colour is the nuisance to remove → full-turn hue and strong jitter; crops kept ≥ half the
    # area so both views still show the shape
    "shapes": dict(crop_scale=(0.5, 1.0), rotation=10, translate=0.05, flip=0.5, jitter_p=0.8, brightness=0.6,
                   contrast=0.6, saturation=0.6, hue=0.5, grayscale_p=0.2, blur_p=0.3, blur_sigma=(0.1, 1.0),
                   noise=0.03, padding="reflection"),
    "cifar10": dict(crop_scale=(0.2, 1.0), rotation=0, translate=0.0, flip=0.5, jitter_p=0.8, brightness=0.4,
                    contrast=0.4, saturation=0.4, hue=0.1, grayscale_p=0.2, blur_p=0.0, noise=0.0,
                    padding="reflection"),
})


def _interval(name: str) -> Rule:
    return Rule((name,), lambda c: len(getattr(c, name)) == 2 and getattr(c, name)[0] <= getattr(c, name)[1],
                "two values, the smaller first")


@dataclass(frozen=True)
class AugmentConfig(Settings):
    """The random transformations of one data set (its layered defaults), scaled by `strength`."""

    experiment: ClassVar[str] = "embed_augment"
    layers: ClassVar[Layers] = LAYERS
    rules: ClassVar[tuple[Rule, ...]] = (_interval("crop_scale"), _interval("crop_ratio"), _interval("blur_sigma"))

    crop_scale: tuple[float, ...] = setting((0.25, 1.0), gt=0, le=1, max_items=2, label="Crop area",
                                            help="the crop's area as a fraction of the image: min, max")
    crop_ratio: tuple[float, ...] = setting((3 / 4, 4 / 3), ge=0.1, le=10, max_items=2, label="Crop aspect ratio",
                                            help="width ÷ height of the crop (log-uniform): min, max")
    rotation: float = setting(0.0, ge=0, le=180, label="Rotation (degrees)", help="uniform in ±rotation")
    translate: float = setting(0.0, ge=0, le=0.5, label="Translation",
                               help="fraction of the image side, uniform in ±translate")
    flip: float = setting(0.5, ge=0, le=1, label="Flip probability", help="probability of a horizontal flip")
    jitter_p: float = setting(0.8, ge=0, le=1, label="Colour-jitter probability",
                              help="probability that brightness, contrast, saturation and hue are jittered")
    brightness: float = setting(0.4, ge=0, le=1, label="Brightness", help="× a factor uniform in 1 ± brightness")
    contrast: float = setting(0.4, ge=0, le=1, label="Contrast", help="contrast factor uniform in 1 ± contrast")
    saturation: float = setting(0.4, ge=0, le=1, label="Saturation",
                                help="saturation factor uniform in 1 ± saturation")
    hue: float = setting(0.1, ge=0, le=0.5, label="Hue", help="hue shift uniform in ± hue of a full turn")
    grayscale_p: float = setting(0.2, ge=0, le=1, label="Grayscale probability",
                                 help="probability that a colour view is turned grey")
    blur_p: float = setting(0.0, ge=0, le=1, label="Blur probability", help="probability of a Gaussian blur")
    blur_sigma: tuple[float, ...] = setting((0.1, 1.0), gt=0, le=10, max_items=2, label="Blur σ (pixels)",
                                            help="the blur's σ, uniform between min and max")
    noise: float = setting(0.0, ge=0, le=1, label="Pixel noise", help="std of additive noise (images in [0, 1])")
    padding: str = setting("reflection", choices=("zeros", "border", "reflection"), label="Padding",
                           help="what a warp shows outside the image")
    strength: float = setting(1.0, ge=0, le=2, label="Strength",
                              help="scales the photometric and geometric ranges together (0 = identity)")


def default_augment(dataset: str, **overrides: Any) -> AugmentConfig:
    """The data set's augmentation (its layer over the declarations), with `overrides`; validated."""
    if dataset not in LAYERS.dataset:
        raise SettingError(f"dataset = {dataset!r} has no augmentation defaults: it must be one of "
                           f"{', '.join(LAYERS.dataset)}", setting="dataset", value=dataset)
    for name in overrides:
        AugmentConfig.spec(name)  # an unknown name raises, naming it
    return AugmentConfig(**{**AugmentConfig.defaults_for(dataset), **overrides})


# YIQ: a hue shift is a rotation of the (I, Q) chroma plane about the luminance axis Y
_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ2RGB = torch.linalg.inv(_RGB2YIQ)


@dataclass
class AugmentParams:
    """One draw of every random choice, one row per image (kept for the positive-pair gallery)."""

    theta: Tensor  # B×2×3 affine (output → input, normalised coordinates)
    jitter: Tensor  # B bool
    brightness: Tensor
    contrast: Tensor
    saturation: Tensor
    hue: Tensor  # radians
    grayscale: Tensor  # B bool
    blur: Tensor  # B bool
    sigma: Tensor  # B
    noise_seed: int

    def to(self, device: torch.device) -> AugmentParams:
        moved = {k: (v.to(device, non_blocking=True) if isinstance(v, Tensor) else v)
                 for k, v in self.__dict__.items()}
        return AugmentParams(**moved)


class Augmenter:
    """Draws per-sample parameters with a CPU generator and applies them on the images' device."""

    def __init__(self, config: AugmentConfig, channels: int):
        if channels not in (1, 3):
            raise DataError(f"images must have 1 or 3 channels, not {channels}")
        self.config = config
        self.channels = channels

    def sample(self, n: int, gen: torch.Generator) -> AugmentParams:
        c, s = self.config, self.config.strength
        u = lambda: torch.rand(n, generator=gen)
        # resized crop: area fraction a, aspect ratio r (log-uniform) → half-sides (w, h) ≤ 1
        lo, hi = c.crop_scale
        lo = 1 - s * (1 - lo) if s <= 1 else max(lo - (s - 1) * lo, 0.05)
        area = lo + (hi - lo) * u()
        log_r = math.log(c.crop_ratio[0]) + (math.log(c.crop_ratio[1]) - math.log(c.crop_ratio[0])) * u()
        ratio = torch.exp(log_r * min(s, 1.0))
        w = torch.sqrt(area * ratio).clamp(max=1.0)
        h = torch.sqrt(area / ratio).clamp(max=1.0)
        cx = (2 * u() - 1) * (1 - w)
        cy = (2 * u() - 1) * (1 - h)
        angle = (2 * u() - 1) * math.radians(c.rotation) * s
        tx = (2 * u() - 1) * 2 * c.translate * s
        ty = (2 * u() - 1) * 2 * c.translate * s
        flip = torch.where(u() < c.flip * min(s, 1.0), -1.0, 1.0)
        cos, sin = torch.cos(angle), torch.sin(angle)
        # input = centre + R(angle) · diag(w·flip, h) · output + translation
        theta = torch.stack([
            torch.stack([cos * w * flip, -sin * h, cx + tx], 1),
            torch.stack([sin * w * flip, cos * h, cy + ty], 1),
        ], 1)
        span = lambda v: 1 + (2 * u() - 1) * v * min(s, 1.0)
        hue = (2 * u() - 1) * c.hue * min(s, 1.0) * 2 * math.pi
        sig_lo, sig_hi = c.blur_sigma
        return AugmentParams(
            theta=theta, jitter=u() < c.jitter_p * min(s, 1.0), brightness=span(c.brightness),
            contrast=span(c.contrast), saturation=span(c.saturation), hue=hue,
            grayscale=u() < c.grayscale_p * min(s, 1.0), blur=u() < c.blur_p * min(s, 1.0),
            sigma=sig_lo + (sig_hi - sig_lo) * u(),
            noise_seed=int(torch.randint(0, 2**31 - 1, (1,), generator=gen)),
        )

    def apply(self, x: Tensor, p: AugmentParams) -> Tensor:
        """x: B×C×H×W float in [0, 1] on any device; p: parameters on the same device."""
        c = self.config
        x = F.grid_sample(x, F.affine_grid(p.theta.to(x.dtype), list(x.shape), align_corners=False),
                          mode="bilinear", padding_mode=c.padding, align_corners=False)
        if c.jitter_p > 0 and c.strength > 0:
            x = self._jitter(x, p)
        if self.channels == 3 and c.grayscale_p > 0:
            gray = color.rgb_to_grayscale(x).expand_as(x)
            x = torch.where(p.grayscale[:, None, None, None], gray, x)
        if c.blur_p > 0:
            k = 2 * math.ceil(2 * c.blur_sigma[1]) + 1
            sigma = p.sigma[:, None].expand(-1, 2).to(x.dtype)
            blurred = filters.gaussian_blur2d(x, (k, k), sigma, border_type="reflect")
            x = torch.where(p.blur[:, None, None, None], blurred, x)
        if c.noise > 0:
            noise_gen = torch.Generator(device=x.device).manual_seed(p.noise_seed)
            x = x + c.noise * c.strength * torch.randn(x.shape, generator=noise_gen, device=x.device, dtype=x.dtype)
        return x.clamp(0, 1)

    def _jitter(self, x: Tensor, p: AugmentParams) -> Tensor:
        on = p.jitter
        one = torch.ones_like(p.brightness)
        b = torch.where(on, p.brightness, one).to(x.dtype)
        ct = torch.where(on, p.contrast, one).to(x.dtype)
        y = (x * b[:, None, None, None]).clamp(0, 1)
        y = enhance.adjust_contrast_with_mean_subtraction(y, ct).clamp(0, 1)
        if self.channels == 3:
            sat = torch.where(on, p.saturation, one).to(x.dtype)
            y = enhance.adjust_saturation(y, sat).clamp(0, 1)
            hue = torch.where(on, p.hue, torch.zeros_like(p.hue)).to(x.dtype)
            y = hue_rotate(y, hue).clamp(0, 1)
        return y

    def __call__(self, x: Tensor, gen: torch.Generator) -> Tensor:
        return self.apply(x, self.sample(len(x), gen).to(x.device))

    def pair(self, x: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        """Two independent views of every image: the positive pairs."""
        return self(x, gen), self(x, gen)


def hue_rotate(x: Tensor, angle: Tensor) -> Tensor:
    """Rotate the hue of RGB images by `angle` radians (one per image) about the grey axis (YIQ)."""
    cos, sin = torch.cos(angle), torch.sin(angle)
    zero, one = torch.zeros_like(angle), torch.ones_like(angle)
    rot = torch.stack([torch.stack([one, zero, zero], 1),
                       torch.stack([zero, cos, -sin], 1),
                       torch.stack([zero, sin, cos], 1)], 1)  # B×3×3
    m = _YIQ2RGB.to(x) @ rot @ _RGB2YIQ.to(x)
    return torch.einsum("bij,bjhw->bihw", m, x)


def positive_pair_gallery(images: Tensor, augmenter: Augmenter, views: int, gen: torch.Generator,
                          scale: int = 1) -> Tensor:
    """A grid, one row per image: the image x, then `views` random views of it (the transformations
    that make positive pairs). images: uint8 N×C×H×W → uint8 (N·H·s)×((1+views)·W·s)×C."""
    x = images.float() / 255.0
    tiles = [x] + [augmenter(x, gen) for _ in range(views)]
    grid = torch.stack(tiles, 1)  # N×(1+v)×C×H×W
    n, v, c, h, w = grid.shape
    grid = grid.permute(0, 3, 1, 4, 2).reshape(n * h, v * w, c)
    if scale > 1:
        grid = grid.repeat_interleave(scale, 0).repeat_interleave(scale, 1)
    return (grid.clamp(0, 1) * 255).round().to(torch.uint8)
