"""Image-set readers on tiny files written here (IDX raw and gzip, CIFAR python batches), the
download option's offline failure, and the generated shapes set."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.datafiles import read_cifar_batch, read_idx
from engine.embed import data as data_mod
from engine.embed.data import load_cifar10, load_dataset, load_idx_set
from engine.embed.shapes import SHAPE_CLASSES, make_shapes
from engine.errors import DataError, SettingError


def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}
    header = struct.pack(">BBBB", 0, 0, codes[array.dtype], array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        raw = gzip.compress(raw)
    path.write_bytes(raw)


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip(tmp_path, compress):
    images = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    write_idx(tmp_path / "imgs", images, compress)
    got = read_idx(tmp_path / ("imgs.gz" if compress else "imgs"))
    np.testing.assert_array_equal(got, images)
    ints = np.array([1, -2, 70000], dtype=">i4")
    write_idx(tmp_path / "ints", ints, compress)
    np.testing.assert_array_equal(read_idx(tmp_path / ("ints.gz" if compress else "ints")), ints)


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x05abc")
    with pytest.raises(DataError, match="magic"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(struct.pack(">BBBBI", 0, 0, 8, 1, 10) + b"abc")
    with pytest.raises(DataError, match="holds 3"):
        read_idx(tmp_path / "short")
    (tmp_path / "cut").write_bytes(b"\x00\x00\x08\x03\x00")
    with pytest.raises(DataError, match="cut short"):
        read_idx(tmp_path / "cut")
    (tmp_path / "broken.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(DataError, match="cannot be read"):
        read_idx(tmp_path / "broken.gz")


def _write_mnist_like(folder: Path, n_train: int, n_test: int, compress: bool) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for (img, lab), n in zip(data_mod.IDX_FILES.values(), (n_train, n_test), strict=True):
        write_idx(folder / img, rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), compress)
        write_idx(folder / lab, (np.arange(n) % 10).astype(np.uint8), compress)


@pytest.mark.parametrize("name,compress", [("mnist", True), ("fashion_mnist", False)])
def test_load_idx_set_from_a_data_folder(tmp_path, name, compress):
    _write_mnist_like(tmp_path / name, 30, 20, compress)
    d = load_idx_set(name, tmp_path)
    assert d.x_train.shape == (30, 1, 28, 28) and d.x_test.shape == (20, 1, 28, 28)
    assert d.x_train.dtype == torch.uint8 and d.y_train.tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert d.n_classes == 10
    sub = load_dataset(name, tmp_path, train_size=20, test_size=10)
    assert len(sub.x_train) == 20 and sorted(sub.y_train.bincount().tolist()) == [2] * 10  # stratified


def test_torchvision_layout_is_found(tmp_path):
    _write_mnist_like(tmp_path / "MNIST" / "raw", 10, 10, compress=True)
    assert len(load_idx_set("mnist", tmp_path).x_train) == 10


def test_cifar_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for k, name in enumerate(names):
        batch = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": [k % 10, 1, 2, 3]}
        with open(folder / name, "wb") as fh:
            pickle.dump(batch, fh)
    x, y = read_cifar_batch(folder / "data_batch_1")
    assert x.shape == (4, 3, 32, 32) and y.tolist() == [0, 1, 2, 3]
    with open(folder / "data_batch_1", "rb") as fh:
        raw = pickle.load(fh)[b"data"]
    np.testing.assert_array_equal(x[2, 1].ravel(), raw[2, 1024:2048])  # channel-major rows
    d = load_cifar10(tmp_path)
    assert d.x_train.shape == (20, 3, 32, 32) and d.x_test.shape == (4, 3, 32, 32)
    assert d.classes[0] == "airplane"
    (folder / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="not a readable CIFAR-10 batch"):
        load_cifar10(tmp_path)


def test_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(DataError, match="--download"):
        load_idx_set("mnist", tmp_path)
    with pytest.raises(DataError, match="cifar-10-batches-py"):
        load_cifar10(tmp_path)


def test_download_fails_clearly_offline(tmp_path, monkeypatch):
    # port 9 (discard) on localhost: refused at once, no network touched
    monkeypatch.setitem(data_mod.MIRRORS, "mnist", "https://127.0.0.1:9/")
    monkeypatch.setitem(data_mod.MIRRORS, "cifar10", "https://127.0.0.1:9/cifar-10-python.tar.gz")
    with pytest.raises(DataError, match="could not download https://127.0.0.1:9/train-images-idx3-ubyte.gz"):
        load_idx_set("mnist", tmp_path, download=True)
    with pytest.raises(DataError, match="could not download"):
        load_cifar10(tmp_path, download=True)
    assert not list((tmp_path / "mnist").glob("*.part")) and not list(tmp_path.glob("*.part"))  # nothing left


def test_digits_split_is_fixed_and_stratified():
    a, b = load_dataset("digits"), load_dataset("digits")
    assert torch.equal(a.x_test, b.x_test) and len(a.x_train) + len(a.x_test) == 1797
    assert a.x_train.shape[1:] == (1, 8, 8) and int(a.x_train.max()) == 255
    counts = a.y_test.bincount().float()
    assert counts.min() / counts.max() > 0.9


def test_shapes_are_balanced_reproducible_and_varied():
    d1, d2 = make_shapes(60, 20), make_shapes(60, 20)
    assert torch.equal(d1.x_train, d2.x_train) and d1.x_train.shape == (60, 3, 32, 32)
    assert d1.y_train.bincount().tolist() == [6] * len(SHAPE_CLASSES)
    # same class, different images: colour and position vary
    same = d1.x_train[d1.y_train == 0].float()
    assert (same[0] - same[1]).abs().mean() > 10
    with pytest.raises(SettingError):
        make_shapes(5, 5)


def test_loaders_and_the_generated_set_do_not_import_each_other():
    import ast
    from pathlib import Path

    root = Path(data_mod.__file__).parent
    imports = {}
    for name in ("data", "shapes", "imageset"):
        tree = ast.parse((root / f"{name}.py").read_text())
        imports[name] = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "engine.embed.data" not in imports["shapes"] and "engine.embed.shapes" in imports["data"]
    assert not {"engine.embed.data", "engine.embed.shapes"} & imports["imageset"]
