"""Image sets for contrastive embedding, all as one `ImageSet` (uint8 N×C×H×W, labels, a fixed split).

- ``digits``: scikit-learn's 8×8 digits (ship offline), a fixed stratified 70/30 split.
- ``shapes``: generated here (`engine.embed.shapes`): coloured shapes at random position, scale,
  rotation and colour on a random background, so raw pixels and a random encoder do poorly.
- ``mnist``, ``fashion_mnist``: the standard IDX files (gzip or not) in a data folder.
- ``cifar10``: the standard python batches (``cifar-10-batches-py``) in a data folder.

The files are read by the checked readers of `engine.datafiles` (IDX headers and sizes checked before
anything is allocated, CIFAR pickles through an unpickler that admits only what a batch holds), so a
bad or crafted file gives one `DataError` naming it. Nothing is downloaded unless asked
(`download=True`), and then over https only, size-limited and checked against the published SHA-256
(`engine.download`); offline, that fails with a message that says where to put the files.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import numpy as np
import torch

from engine.datafiles import read_cifar_batch, read_idx_images, read_idx_labels
from engine.download import download as fetch
from engine.embed.imageset import ImageSet, split_train_test
from engine.embed.shapes import make_shapes
from engine.errors import DataError, SettingError, Text

Tensor = torch.Tensor
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "data"

FASHION_CLASSES = ("T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                   "boot")
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
DIGIT_CLASSES = tuple(str(i) for i in range(10))

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IDX_SIDE = 28
IDX_CLASSES = {"mnist": DIGIT_CLASSES, "fashion_mnist": FASHION_CLASSES}
MIRRORS = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion_mnist": "https://fashion-mnist.s3.eu-central-1.amazonaws.com/",  # the authors' bucket, over TLS
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
}


# ---- scikit-learn digits ----------------------------------------------------------------------------
def load_digits() -> ImageSet:
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = torch.from_numpy(np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)).unsqueeze(1)
    y = torch.from_numpy(d.target.astype(np.int64))
    return ImageSet("digits", *split_train_test(x, y, 0.3), classes=DIGIT_CLASSES)


# ---- IDX (MNIST, Fashion-MNIST) -------------------------------------------------------------------
def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).exists():
            return folder / name
    return None


def _idx_folder(root: Path, name: str) -> Path | None:
    """The folder holding the four IDX files: root/<name>, root/<name>/raw, torchvision's layout, root."""
    tv = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}[name]
    for folder in (root / name, root / name / "raw", root / tv / "raw", root / tv, root):
        if all(_find(folder, f) for pair in IDX_FILES.values() for f in pair):
            return folder
    return None


def load_idx_set(name: str, root: Path, download: bool = False) -> ImageSet:
    folder = _idx_folder(root, name)
    if folder is None:
        if not download:
            raise DataError(
                f"{name}: the IDX files ({', '.join(f for p in IDX_FILES.values() for f in p)}, gzip or not) "
                f"are not in {root / name}; put them there or pass --download")
        folder = root / name
        for pair in IDX_FILES.values():
            for f in pair:
                fetch(MIRRORS[name] + f + ".gz", folder / (f + ".gz"), name)
    parts = []
    for images, labels in IDX_FILES.values():
        x_path, y_path = _find(folder, images), _find(folder, labels)
        x, y = read_idx_images(x_path, IDX_SIDE), read_idx_labels(y_path, len(IDX_CLASSES[name]))  # type: ignore[arg-type]
        if len(x) != len(y):
            raise DataError(f"{y_path} holds {len(y):,} labels for the {len(x):,} images of {x_path}")
        parts += [torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)]
    return ImageSet(name, *parts, classes=IDX_CLASSES[name])


# ---- CIFAR-10 python batches ------------------------------------------------------------------------
def load_cifar10(root: Path, download: bool = False) -> ImageSet:
    folder = root / "cifar-10-batches-py"
    if not folder.exists() and (root / "cifar10" / "cifar-10-batches-py").exists():
        folder = root / "cifar10" / "cifar-10-batches-py"
    if not (folder / "test_batch").exists():
        if not download:
            raise DataError(f"cifar10: the python batches are not in {folder} (data_batch_1…5, test_batch); "
                             "put them there or pass --download")
        archive = root / "cifar-10-python.tar.gz"
        fetch(MIRRORS["cifar10"], archive, "cifar10")
        with tarfile.open(archive) as tar:
            tar.extractall(root, filter="data")
        folder = root / "cifar-10-batches-py"
    xs, ys = zip(*(read_cifar_batch(folder / f"data_batch_{i}") for i in range(1, 6)), strict=True)
    xte, yte = read_cifar_batch(folder / "test_batch")
    return ImageSet("cifar10", torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys)),
                    torch.from_numpy(xte), torch.from_numpy(yte), CIFAR_CLASSES)


def data_root(data_dir: str | Path | None = None) -> Path:
    """`data_dir`, else $ENERGY_LAB_DATA (read at each call), else the project's data/ folder."""
    return Path(data_dir or os.environ.get("ENERGY_LAB_DATA") or DEFAULT_DATA_DIR)


def missing_files(name: str, data_dir: str | Path | None = None) -> Text | None:
    """None when `name` can be loaded without a download, else what is missing (cheap: no reading): English as
    `str()`, the page's language inside a page's formatted message (engine/errors.py `Text`)."""
    root = data_root(data_dir)
    if name in ("mnist", "fashion_mnist") and _idx_folder(root, name) is None:
        return Text("embed_engine.missing.idx", "{name}: the IDX files are not in {folder} (gzip or not)",
                    name=name, folder=str(root / name))
    if name == "cifar10" and not any((f / "test_batch").exists() for f in
                                     (root / "cifar-10-batches-py", root / "cifar10" / "cifar-10-batches-py")):
        return Text("embed_engine.missing.cifar", "cifar10: the python batches are not in {folder}",
                    folder=str(root / "cifar-10-batches-py"))
    return None


# ---- one entry point ------------------------------------------------------------------------------
DATASETS = ("digits", "shapes", "mnist", "fashion_mnist", "cifar10")


def load_dataset(name: str, data_dir: str | Path | None = None, download: bool = False,
                 train_size: int | None = None, test_size: int | None = None) -> ImageSet:
    """Load a data set by name; `train_size`/`test_size` keep a stratified subset (CPU budgets)."""
    root = data_root(data_dir)
    if name == "digits":
        data = load_digits()
    elif name == "shapes":
        data = make_shapes(train_size or 6000, test_size or 2000)
    elif name in ("mnist", "fashion_mnist"):
        data = load_idx_set(name, root, download)
    elif name == "cifar10":
        data = load_cifar10(root, download)
    else:
        raise SettingError(f"dataset = {name!r} is not allowed: it must be one of {', '.join(DATASETS)}",
                           setting="dataset", value=name)
    return data.subset(train_size, test_size)


def thumbnail(image_hwc: np.ndarray, size: int = 64) -> np.ndarray:
    """Nearest-neighbour upscaling of a small H×W×C uint8 image to about `size` pixels (RGB out)."""
    h = image_hwc.shape[0]
    k = max(1, size // h)
    out = image_hwc.repeat(k, 0).repeat(k, 1)
    return np.repeat(out, 3, axis=2) if out.shape[2] == 1 else out
