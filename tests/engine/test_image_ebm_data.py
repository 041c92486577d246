"""Image sets for energies: ranges, sizes, the generated references, and MNIST / Fashion-MNIST read from
small IDX files the tests write (no downloads)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import DataError
from engine.image_ebm.data import (
    DATASETS,
    NATIVE_SIZE,
    as_pixels,
    load_images,
    missing,
    other_images,
    resize,
    smooth_blobs,
    to_model,
    to_unit,
    uniform_noise,
)


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every test of these modules with one torch thread (tests/engine/conftest.py)."""


def _idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_idx_set(root: Path, name: str, n_train: int = 60, n_test: int = 30, seed: int = 0) -> Path:
    """A tiny MNIST-like set in IDX files: class c is a bright bar at a class-specific place, plus noise."""
    rng = np.random.default_rng(seed)
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    for part, n in (("train", n_train), ("t10k", n_test)):
        y = np.arange(n) % 10
        x = rng.integers(0, 40, (n, 28, 28))
        for i, c in enumerate(y):
            if name == "mnist":
                x[i, 4 + 2 * c: 7 + 2 * c, 6:22] = 250  # horizontal bars
            else:
                x[i, 6:22, 4 + 2 * c: 7 + 2 * c] = 250  # vertical bars
        _idx(folder / f"{part}-images-idx3-ubyte", x)
        _idx(folder / f"{part}-labels-idx1-ubyte", y)
    return root


def test_digits_in_model_range_with_fixed_split():
    d = load_images("digits")
    assert d.train.shape[1:] == (1, 8, 8) and d.size == 8 == NATIVE_SIZE["digits"]
    assert d.train.min() >= -1 and d.train.max() <= 1 and d.train.dtype == torch.float32
    assert len(d.train) + len(d.test) == 1797 and len(d.classes) == 10
    assert load_images("digits") is d  # cached


def test_resampled_sizes_keep_the_range():
    for size in (4, 16, 28):
        d = load_images("digits", size)
        assert d.train.shape[-2:] == (size, size) and d.train.min() >= -1 and d.train.max() <= 1
    x = torch.rand(3, 1, 8, 8)
    assert torch.equal(resize(x, 8), x)


def test_pixel_conversions_round_trip():
    p = torch.rand(5, 1, 4, 4)
    assert torch.allclose(to_unit(to_model(p)), p)
    out = as_pixels(to_model(p))
    assert out.shape == (5, 4, 4) and out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1


def test_references_in_range_and_reproducible():
    a = uniform_noise(10, 8, torch.Generator().manual_seed(1))
    b = smooth_blobs(10, 8, torch.Generator().manual_seed(1))
    for x in (a, b):
        assert x.shape == (10, 1, 8, 8) and x.min() >= -1 and x.max() <= 1
    assert torch.equal(b, smooth_blobs(10, 8, torch.Generator().manual_seed(1)))
    # blobs are smooth: neighbouring pixels differ far less than in noise
    assert (b.diff(dim=-1).abs().mean() * 2) < a.diff(dim=-1).abs().mean()


def test_idx_sets_read_from_files(tmp_path):
    write_idx_set(tmp_path, "mnist")
    write_idx_set(tmp_path, "fashion_mnist", seed=1)
    m = load_images("mnist", None, str(tmp_path))
    assert m.train.shape == (60, 1, 28, 28) and m.test.shape == (30, 1, 28, 28)
    assert m.train.min() >= -1 and m.train.max() <= 1
    assert missing("mnist", str(tmp_path)) is None
    other = other_images("mnist", 28, str(tmp_path))
    assert other is not None and other.name == "fashion_mnist"


def test_missing_idx_files_are_a_data_error(tmp_path):
    assert missing("mnist", str(tmp_path)) is not None
    with pytest.raises(DataError):
        load_images("mnist", None, str(tmp_path))
    assert other_images("fashion_mnist", 28, str(tmp_path)) is None  # no MNIST to compare with: None


def test_every_data_set_has_a_native_size():
    assert set(NATIVE_SIZE) == set(DATASETS)


def test_shapes_in_grey():
    s = load_images("shapes", 8)
    assert s.train.shape[1:] == (1, 8, 8) and len(s.classes) == 10
