"""Grey images for energy-based models, scaled to [−1, 1]: digits (8×8), MNIST and Fashion-MNIST
(28×28), the generated shapes (32×32, converted to grey).

The files are read by the contrastive-embedding package's readers (`engine.embed.data.load_dataset`:
scikit-learn's digits with its fixed split, the IDX files of MNIST / Fashion-MNIST in the data folder,
the generated shapes); nothing is downloaded. An optional `size` resamples the images (bilinear, with
antialiasing when shrinking): the dimension comparison trains on digits at 8×8, 16×16 and 28×28.

Pixels: the model sees x ∈ [−1, 1] (x = 2p − 1 for a pixel p ∈ [0, 1]); judges, pictures and the CLI's
`--samples-out` use p ∈ [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.errors import DataError, Text

Tensor = torch.Tensor
DATASETS = ("digits", "mnist", "fashion_mnist", "shapes")
NATIVE_SIZE = {"digits": 8, "mnist": 28, "fashion_mnist": 28, "shapes": 32}
# the other data set an energy should score higher (less likely) than its own held-out images
OTHER = {"digits": "shapes", "shapes": "digits", "mnist": "fashion_mnist", "fashion_mnist": "mnist"}
# the generated shapes: about as many images as digits has, so that they are quick to make (~5 s)
SHAPES_TRAIN, SHAPES_TEST = 2000, 1000
LUMA = (0.299, 0.587, 0.114)  # RGB → grey (ITU-R BT.601)


@dataclass(frozen=True)
class Images:
    """One data set in the model's pixel range [−1, 1]: N×1×H×W float32 tensors and their labels."""

    name: str
    train: Tensor
    y_train: Tensor
    test: Tensor
    y_test: Tensor
    classes: tuple[str, ...]

    @property
    def size(self) -> int:
        return int(self.train.shape[-1])

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train.shape[1:])  # type: ignore[return-value]


def to_unit(x: Tensor) -> Tensor:
    """Model range [−1, 1] → pixel range [0, 1]."""
    return ((x + 1) / 2).clamp(0, 1)


def to_model(p: Tensor) -> Tensor:
    """Pixel range [0, 1] → model range [−1, 1]."""
    return p * 2 - 1


def resize(x: Tensor, size: int) -> Tensor:
    """N×C×H×W → N×C×size×size, bilinear (antialiased when shrinking)."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    shrink = size < x.shape[-1]
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)


def _grey(x: Tensor) -> Tensor:
    """uint8 N×C×H×W → float N×1×H×W in [0, 1]."""
    x = x.float() / 255.0
    if x.shape[1] == 3:
        x = sum(w * x[:, i : i + 1] for i, w in enumerate(LUMA))
    return x[:, :1]


@lru_cache(maxsize=8)
def load_images(name: str, size: int | None = None, data_dir: str | None = None) -> Images:
    """The data set `name` in [−1, 1] at its own size or resampled to `size` (cached per process;
    the tensors are shared: never write into them)."""
    if name not in DATASETS:
        raise DataError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    from engine.embed.data import load_dataset  # the file readers of the embedding package

    root = Path(data_dir) if data_dir else None
    try:
        if name == "shapes":
            raw = load_dataset("shapes", train_size=SHAPES_TRAIN, test_size=SHAPES_TEST)
        else:
            raw = load_dataset(name, data_dir=root)
    except DataError:
        raise
    except (ValueError, OSError) as exc:  # a missing or malformed file
        raise DataError(str(exc)) from exc
    parts = []
    for x in (raw.x_train, raw.x_test):
        p = _grey(x)
        if size is not None:
            p = resize(p, size).clamp(0, 1)
        parts.append(to_model(p).contiguous())
    return Images(name, parts[0], raw.y_train.long(), parts[1], raw.y_test.long(), tuple(raw.classes))


def other_images(name: str, size: int, data_dir: str | None = None) -> Images | None:
    """The comparison data set at the same size, or None when its files are not there."""
    try:
        return load_images(OTHER[name], size, data_dir)
    except DataError:
        return None


def missing(name: str, data_dir: str | None = None) -> Text | None:
    """None when `name` can be read here, else what is missing (cheap: no reading)."""
    from engine.embed.data import missing_files

    return missing_files(name, data_dir) if name in ("mnist", "fashion_mnist") else None


def missing_folder(name: str, data_dir: str | None = None) -> str | None:
    """Where `name`'s IDX files should be when they are not there (None when `name` can be read here):
    what `missing` says, as a folder a page can put into its own words."""
    if missing(name, data_dir) is None:
        return None
    from engine.embed.data import data_root

    return str(data_root(data_dir) / name)


# ---- references the judges score beside the particles ----------------------------------------------
def uniform_noise(n: int, size: int, gen: torch.Generator) -> Tensor:
    """n images of i.i.d. uniform pixels, in [−1, 1] (where re-initialised chains start)."""
    return torch.rand(n, 1, size, size, generator=gen) * 2 - 1


def smooth_blobs(n: int, size: int, gen: torch.Generator) -> Tensor:
    """n images of 1–3 Gaussian blobs of random place, width and brightness on black, in [−1, 1].

    Smooth, bright-on-dark and stroke-free: a classifier trained on digits often gives them a
    confident label, which is why the density judge is shown beside it.
    """
    lin = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    yy, xx = torch.meshgrid(lin, lin, indexing="ij")
    img = torch.zeros(n, size, size)
    count = torch.randint(1, 4, (n,), generator=gen)
    for j in range(3):
        centre = 0.2 + 0.6 * torch.rand(n, 2, generator=gen)
        width = 0.08 + 0.17 * torch.rand(n, generator=gen)
        bright = 0.5 + 0.5 * torch.rand(n, generator=gen)
        d2 = (xx[None] - centre[:, 0, None, None]) ** 2 + (yy[None] - centre[:, 1, None, None]) ** 2
        blob = bright[:, None, None] * torch.exp(-d2 / (2 * width[:, None, None] ** 2))
        img = img + blob * (j < count).float()[:, None, None]
    return to_model(img.clamp(0, 1)[:, None])


def as_pixels(x: Tensor) -> np.ndarray:
    """N×1×H×W in [−1, 1] → N×H×W float32 numpy in [0, 1] (what `--samples-out` writes)."""
    return to_unit(x.detach().float().cpu())[:, 0].numpy().astype(np.float32)
