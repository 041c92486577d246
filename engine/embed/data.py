"""Image sets for contrastive embedding, all as one `ImageSet` (uint8 N×C×H×W, labels, a fixed split).

- ``digits``: scikit-learn's 8×8 digits (ship offline), a fixed stratified 70/30 split.
- ``shapes``: generated here (`engine.embed.shapes`): coloured shapes at random position, scale,
  rotation and colour on a random background, so raw pixels and a random encoder do poorly.
- ``mnist``, ``fashion_mnist``: the standard IDX files (gzip or not) in a data folder.
- ``cifar10``: the standard python batches (``cifar-10-batches-py``) in a data folder.

Nothing is downloaded unless asked (`download=True`); offline, that fails with a message that says
where to put the files.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
import tarfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import torch

from engine.embed.imageset import ImageSet, split_train_test
from engine.embed.shapes import make_shapes
from engine.errors import DataError, SettingError

Tensor = torch.Tensor
DEFAULT_DATA_DIR = Path(os.environ.get("ENERGY_LAB_DATA", Path(__file__).resolve().parents[2] / "data"))

FASHION_CLASSES = ("T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                   "boot")
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
DIGIT_CLASSES = tuple(str(i) for i in range(10))

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MIRRORS = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion_mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
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
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzip-compressed when the name ends in .gz or the bytes say so)."""
    try:
        raw = Path(path).read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path} cannot be read ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path} is not an IDX file (bad magic number)")
    dtype, ndim = raw[2], raw[3]
    if dtype not in _IDX_DTYPES:
        raise DataError(f"{path}: unknown IDX element type 0x{dtype:02x}")
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path}: the IDX header is cut short")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=_IDX_DTYPES[dtype], offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path}: header says {dims} but holds {data.size} values")
    return data.reshape(dims)


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
                _download(MIRRORS[name] + f + ".gz", folder / (f + ".gz"))
    parts = []
    for images, labels in IDX_FILES.values():
        x = read_idx(_find(folder, images))  # type: ignore[arg-type]
        y = read_idx(_find(folder, labels))  # type: ignore[arg-type]
        parts += [torch.from_numpy(x.astype(np.uint8)).unsqueeze(1), torch.from_numpy(y.astype(np.int64))]
    classes = DIGIT_CLASSES if name == "mnist" else FASHION_CLASSES
    return ImageSet(name, *parts, classes=classes)


# ---- CIFAR-10 python batches ------------------------------------------------------------------------
def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR python batch → (N×3×32×32 uint8, N labels)."""
    try:
        with open(path, "rb") as fh:
            d = pickle.load(fh, encoding="bytes")
        data = np.asarray(d[b"data"], dtype=np.uint8)
        labels = np.asarray(d[b"labels"], dtype=np.int64)
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{path} is not a readable CIFAR-10 batch ({type(exc).__name__}: {exc})") from exc
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise DataError(f"{path} is not a CIFAR-10 batch (data {data.shape}, {len(labels)} labels)")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(root: Path, download: bool = False) -> ImageSet:
    folder = root / "cifar-10-batches-py"
    if not folder.exists() and (root / "cifar10" / "cifar-10-batches-py").exists():
        folder = root / "cifar10" / "cifar-10-batches-py"
    if not (folder / "test_batch").exists():
        if not download:
            raise DataError(f"cifar10: the python batches are not in {folder} (data_batch_1…5, test_batch); "
                             "put them there or pass --download")
        archive = root / "cifar-10-python.tar.gz"
        _download(MIRRORS["cifar10"], archive)
        with tarfile.open(archive) as tar:
            tar.extractall(root, filter="data")
        folder = root / "cifar-10-batches-py"
    xs, ys = zip(*(read_cifar_batch(folder / f"data_batch_{i}") for i in range(1, 6)), strict=True)
    xte, yte = read_cifar_batch(folder / "test_batch")
    return ImageSet("cifar10", torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys)),
                    torch.from_numpy(xte), torch.from_numpy(yte), CIFAR_CLASSES)


def _download(url: str, dest: Path, timeout: float = 30) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r, open(tmp, "wb") as out:
            while chunk := r.read(1 << 20):
                out.write(chunk)
    except (urllib.error.URLError, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"could not download {url} ({exc}); without network, copy the file to {dest}") from exc
    tmp.replace(dest)


def missing_files(name: str, data_dir: str | Path | None = None) -> str | None:
    """None when `name` can be loaded without a download, else what is missing (cheap: no reading)."""
    root = Path(data_dir) if data_dir else DEFAULT_DATA_DIR
    if name in ("mnist", "fashion_mnist") and _idx_folder(root, name) is None:
        return f"{name}: the IDX files are not in {root / name} (gzip or not)"
    if name == "cifar10" and not any((f / "test_batch").exists() for f in
                                     (root / "cifar-10-batches-py", root / "cifar10" / "cifar-10-batches-py")):
        return f"cifar10: the python batches are not in {root / 'cifar-10-batches-py'}"
    return None


# ---- one entry point ------------------------------------------------------------------------------
DATASETS = ("digits", "shapes", "mnist", "fashion_mnist", "cifar10")


def load_dataset(name: str, data_dir: str | Path | None = None, download: bool = False,
                 train_size: int | None = None, test_size: int | None = None) -> ImageSet:
    """Load a data set by name; `train_size`/`test_size` keep a stratified subset (CPU budgets)."""
    root = Path(data_dir) if data_dir else DEFAULT_DATA_DIR
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
