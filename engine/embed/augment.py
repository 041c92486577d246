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
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from kornia import color, enhance, filters

Tensor = torch.Tensor


@dataclass(frozen=True)
class AugmentConfig:
    crop_scale: tuple[float, float] = (0.25, 1.0)  # area fraction of the crop
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    rotation: float = 0.0  # degrees, uniform in ±rotation
    translate: float = 0.0  # fraction of the image side, uniform in ±translate
    flip: float = 0.5  # probability of a horizontal flip
    jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1  # fraction of a full turn
    grayscale_p: float = 0.2
    blur_p: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 1.0)  # in pixels
    noise: float = 0.0  # std of additive pixel noise (images in [0, 1])
    padding: str = "reflection"  # what a warp shows outside the image: zeros | border | reflection
    strength: float = 1.0

    def __post_init__(self) -> None:
        lo, hi = self.crop_scale
        checks = [
            (0 < lo <= hi <= 1, "crop_scale must satisfy 0 < min <= max <= 1"),
            (0 < self.crop_ratio[0] <= self.crop_ratio[1], "crop_ratio must satisfy 0 < min <= max"),
            (0 <= self.rotation <= 180, "rotation must be within [0, 180] degrees"),
            (0 <= self.translate <= 0.5, "translate must be within [0, 0.5]"),
            (all(0 <= p <= 1 for p in (self.flip, self.jitter_p, self.grayscale_p, self.blur_p)),
             "flip, jitter_p, grayscale_p and blur_p are probabilities"),
            (all(0 <= v <= 1 for v in (self.brightness, self.contrast, self.saturation)),
             "brightness, contrast and saturation must be within [0, 1]"),
            (0 <= self.hue <= 0.5, "hue must be within [0, 0.5]"),
            (0 < self.blur_sigma[0] <= self.blur_sigma[1], "blur_sigma must satisfy 0 < min <= max"),
            (self.noise >= 0, "noise must be >= 0"),
            (self.padding in ("zeros", "border", "reflection"), "padding must be zeros, border or reflection"),
            (0 <= self.strength <= 2, "strength must be within [0, 2]"),
        ]
        for ok, why in checks:
            if not ok:
                raise ValueError(f"augmentation: {why}")

    def as_dict(self) -> dict:
        return asdict(self)


# Per data set: no flips for digits and MNIST (a flipped 2, 3, 7 is no longer that digit); gentle crops
# on 8×8 digits, whose strokes reach the border; small rotations only (a 6 turned over is a 9).
DEFAULTS: dict[str, AugmentConfig] = {
    "digits": AugmentConfig(crop_scale=(0.6, 1.0), rotation=15, translate=0.1, flip=0.0, jitter_p=0.8,
                            brightness=0.4, contrast=0.4, saturation=0, hue=0, grayscale_p=0, blur_p=0.3,
                            blur_sigma=(0.1, 0.8), noise=0.05, padding="zeros"),
    "mnist": AugmentConfig(crop_scale=(0.4, 1.0), rotation=15, translate=0.1, flip=0.0, jitter_p=0.8,
                           brightness=0.4, contrast=0.4, saturation=0, hue=0, grayscale_p=0, blur_p=0.3,
                           blur_sigma=(0.1, 1.0), noise=0.05, padding="zeros"),
    "fashion_mnist": AugmentConfig(crop_scale=(0.3, 1.0), rotation=10, translate=0.05, flip=0.5, jitter_p=0.8,
                                   brightness=0.4, contrast=0.4, saturation=0, hue=0, grayscale_p=0,
                                   blur_p=0.3, noise=0.03, padding="zeros"),
    # shapes: colour is the nuisance to remove → full-turn hue and strong jitter; crops kept ≥ half the
    # area so both views still show the shape
    "shapes": AugmentConfig(crop_scale=(0.5, 1.0), rotation=10, translate=0.05, flip=0.5, jitter_p=0.8,
                            brightness=0.6, contrast=0.6, saturation=0.6, hue=0.5, grayscale_p=0.2,
                            blur_p=0.3, blur_sigma=(0.1, 1.0), noise=0.03, padding="reflection"),
    "cifar10": AugmentConfig(crop_scale=(0.2, 1.0), rotation=0, translate=0.0, flip=0.5, jitter_p=0.8,
                             brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1, grayscale_p=0.2,
                             blur_p=0.0, noise=0.0, padding="reflection"),
}


def default_augment(dataset: str, **overrides) -> AugmentConfig:
    if dataset not in DEFAULTS:
        raise ValueError(f"no augmentation defaults for data set {dataset!r}")
    return replace(DEFAULTS[dataset], **overrides)


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
            raise ValueError("images must have 1 or 3 channels")
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
