"""Crafted and broken data files each give one clear DataError naming the file: CIFAR pickles that
would run code or allocate without bound, IDX files with short headers, non-integer labels or gzip
bombs (within 2 GB of address space), and downloads that are not https, too large or not the
published file. Admitted files are checked for shapes, types and label ranges."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import pickle
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from engine import download as dl
from engine.datafiles import MAX_CIFAR_BATCH_BYTES, read_cifar_batch, read_idx, read_idx_images, read_idx_labels
from engine.embed import data as data_mod
from engine.embed.data import load_idx_set
from engine.errors import DataError
from tests.engine.crafted_files import (
    FileMaker,
    ShellCommand,
    cifar_batch,
    cifar_pickle,
    crafted_batch,
    gzip_bomb,
    idx_bytes,
    write_cifar_folder,
)

ROOT = Path(__file__).resolve().parents[2]


# ---- CIFAR-10 -------------------------------------------------------------------------------------
@pytest.mark.parametrize("style", ["python2", "protocol2", "protocol4"])
def test_a_real_format_batch_is_admitted_with_its_shapes_types_and_labels(tmp_path, style):
    batch = cifar_batch(n=7, seed=3)
    path = tmp_path / "data_batch_1"
    path.write_bytes(cifar_pickle(batch, style))
    if style == "python2":
        assert b"cnumpy.core.multiarray\n_reconstruct\n" in path.read_bytes() and b"U\x04data" in path.read_bytes()
    x, y = read_cifar_batch(path)
    assert x.shape == (7, 3, 32, 32) and x.dtype == np.uint8 and x.flags.writeable
    assert y.dtype == np.int64 and y.tolist() == batch[b"labels"] and y.min() >= 0 and y.max() <= 9
    np.testing.assert_array_equal(x.reshape(7, -1), batch[b"data"])
    np.testing.assert_array_equal(x[4, 2].ravel(), batch[b"data"][4, 2048:])  # channel-major rows


@pytest.mark.parametrize("maker", [FileMaker, ShellCommand])
@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_a_batch_that_would_run_code_is_refused_before_anything_runs(tmp_path, maker, protocol):
    target = tmp_path / "pwned"
    path = tmp_path / "test_batch"
    path.write_bytes(crafted_batch(target, maker, protocol))
    with pytest.raises(DataError, match=r"test_batch refused: it asks to load \w+\.\w+, which a CIFAR batch"):
        read_cifar_batch(path)
    assert not target.exists()


def test_admitted_names_cannot_be_misused(tmp_path):
    path = tmp_path / "b"
    cases = {
        # bytes(2**30): a gigabyte from a few bytes of file
        b"\x80\x02c__builtin__\nbytes\nJ\x00\x00\x00\x40\x85R.": "bytes",
        # numpy's reconstruction asked for a 2**40-element array up front
        b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n\x8a\x06\x00\x00\x00\x00\x00\x01\x85"
        b"U\x01b\x87R.": "reconstruction",
        # an object array (it would unpickle arbitrary values) and a string dtype
        pickle.dumps({b"data": np.array([1, None], dtype=object)}, protocol=2): "non-numeric",
        pickle.dumps({b"data": np.array(["a"])}, protocol=2): "non-numeric",
        # a dtype state that adds fields, and an array state that claims more data than it holds
        b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00u1\x85R(K\x03X\x01\x00\x00\x00|NN}J\xff\xff\xff\xffJ\xff\xff"
        b"\xff\xffK\x00tb.": "fields",
        b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R(K\x01M\x00\x10"
        b"\x85cnumpy\ndtype\nU\x02u1\x85R\x89U\x03abctb.": "shape",
    }
    for raw, why in cases.items():
        path.write_bytes(raw)
        with pytest.raises(DataError, match="not a readable CIFAR-10 batch") as err:
            read_cifar_batch(path)
        assert why in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize("batch,message", [
    ({**cifar_batch(), b"labels": [0.5, 1, 2, 3, 4, 5]}, "labels must be a list of integers"),
    ({**cifar_batch(), b"labels": [True] * 6}, "labels must be a list of integers"),
    ({**cifar_batch(), b"labels": [0, 1, 2, 3, 4, 10]}, r"labels must lie in 0..9, found 0..10"),
    ({**cifar_batch(), b"labels": [0, 1]}, "6 images but 2 labels"),
    ({**cifar_batch(), b"data": np.zeros((6, 3072), np.float32)}, "unsigned bytes, found float32"),
    ({**cifar_batch(), b"data": np.zeros((6, 100), np.uint8)}, r"found uint8 \(6, 100\)"),
    ({b"labels": [1]}, "needs 'data'"),
    ([1, 2], "holds a list"),
])
def test_batches_of_the_wrong_shape_type_or_labels_are_refused(tmp_path, batch, message):
    path = tmp_path / "data_batch_3"
    path.write_bytes(cifar_pickle(batch))
    with pytest.raises(DataError, match=message) as err:
        read_cifar_batch(path)
    assert str(path) in str(err.value)


def test_an_oversized_or_missing_batch_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "data_batch_1"
    with open(path, "wb") as fh:
        fh.truncate(MAX_CIFAR_BATCH_BYTES + 1)  # sparse: nothing written
    with pytest.raises(DataError, match="more than a CIFAR-10 batch can be"):
        read_cifar_batch(path)
    with pytest.raises(DataError, match="cannot be read"):
        read_cifar_batch(tmp_path / "nothing")


def test_the_cli_refuses_a_crafted_batch_and_creates_nothing(tmp_path):
    target = tmp_path / "created-by-the-pickle"
    write_cifar_folder(tmp_path / "data", crafted_batch(target))
    out = subprocess.run([sys.executable, "-m", "engine", "embed", "--dataset", "cifar10", "--data-dir",
                          str(tmp_path / "data"), "--max-steps", "1", "--no-baselines"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr
    error = json.loads(out.stdout.strip().splitlines()[-1])
    assert error["kind"] == "data" and "test_batch refused: it asks to load" in error["error"]
    assert not target.exists()


# ---- IDX --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("raw", [b"", b"\x00\x00\x08", b"\x00\x00\x08\x03\x00\x00", b"\x00\x00\x08\x01\x00\x00\x00"])
def test_a_short_header_is_one_clear_error(tmp_path, raw, compress):
    path = tmp_path / ("short.gz" if compress else "short")
    path.write_bytes(gzip.compress(raw) if compress else raw)
    with pytest.raises(DataError, match="is cut short: the IDX header needs") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_headers_that_do_not_match_the_file_are_refused(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(idx_bytes(np.zeros(10, np.uint8), dims=(100, 28, 28)))
    with pytest.raises(DataError, match=r"says \(100, 28, 28\) \(78,400 bytes of data\) but the file holds 10"):
        read_idx(path)
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(10, np.uint8), dims=(100, 28, 28))))
    with pytest.raises(DataError, match="cut short"):
        read_idx(path)
    path.write_bytes(idx_bytes(np.zeros(10, np.uint8), dims=(4,)))
    with pytest.raises(DataError, match="holds 10"):
        read_idx(path)
    path.write_bytes(b"\x00\x00\x08\x00")
    with pytest.raises(DataError, match="0 dimensions"):
        read_idx(path)
    path.write_bytes(b"\x00\x00\x07\x01\x00\x00\x00\x00")
    with pytest.raises(DataError, match="unknown IDX element type 0x07"):
        read_idx(path)


@pytest.mark.parametrize("array,code,message", [
    (np.array([0.0, 1.0, 2.5], dtype=">f4"), 0x0D, "labels must be one integer per image, found >f4"),
    (np.array([0, 1, 12], dtype=np.uint8), 0x08, r"labels must lie in 0..9, found 0..12"),
    (np.array([0, -1, 3], dtype=">i4"), 0x0C, r"labels must lie in 0..9, found -1..3"),
    (np.zeros((3, 2), dtype=np.uint8), 0x08, r"one integer per image, found uint8 \(3, 2\)"),
])
def test_non_integer_or_out_of_range_labels_are_refused(tmp_path, array, code, message):
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(idx_bytes(array, code))
    with pytest.raises(DataError, match=message):
        read_idx_labels(path, 10)


def test_integer_labels_and_images_are_admitted(tmp_path):
    (tmp_path / "y").write_bytes(idx_bytes(np.array([9, 0, 3], dtype=">i4"), 0x0C))
    y = read_idx_labels(tmp_path / "y", 10)
    assert y.dtype == np.int64 and y.tolist() == [9, 0, 3]
    (tmp_path / "x").write_bytes(idx_bytes(np.full((2, 28, 28), 7, dtype=np.uint8)))
    assert read_idx_images(tmp_path / "x", 28).shape == (2, 28, 28)
    (tmp_path / "f").write_bytes(idx_bytes(np.zeros((2, 28, 28), dtype=">f4"), 0x0D))
    with pytest.raises(DataError, match="N×28×28 unsigned bytes"):
        read_idx_images(tmp_path / "f", 28)


def test_gzip_bombs_are_refused_within_2_gb_of_address_space(tmp_path):
    # a million 28×28 images claimed with 760 MiB of zeros behind it (refused from its header); 10 images
    # claimed with 200 MiB, and 330,000 (247 MiB, under the cap) with 1,000 MiB (read to the claim, no further)
    (tmp_path / "mnist").mkdir()
    claims_a_million = gzip_bomb(tmp_path / "mnist" / "train-images-idx3-ubyte.gz", (10**6, 28, 28), 760)
    longer_than_declared = gzip_bomb(tmp_path / "longer.gz", (10, 28, 28), 200)
    much_longer = gzip_bomb(tmp_path / "much-longer.gz", (330_000, 28, 28), 1000)
    assert all(f.stat().st_size < 2**21 for f in (claims_a_million, longer_than_declared, much_longer))
    script = f"""
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
from engine.embed.data import load_dataset
from engine.datafiles import read_idx
from engine.errors import DataError
for load in (lambda: load_dataset("mnist", {str(tmp_path)!r}), lambda: read_idx({str(longer_than_declared)!r}),
             lambda: read_idx({str(much_longer)!r})):
    try:
        load()
    except DataError as exc:
        print("DataError:", exc)
    else:
        print("no error")
"""
    for f in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / "mnist" / f).write_bytes(idx_bytes(np.zeros(10 if "images" not in f else (10, 28, 28), np.uint8)))
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith(f"DataError: {claims_a_million}: the header claims (1000000, 28, 28) values")
    assert lines[1] == f"DataError: {longer_than_declared} holds more data than its header's (10, 28, 28) declares"
    assert lines[2] == f"DataError: {much_longer} holds more data than its header's (330000, 28, 28) declares"


def test_load_idx_set_names_the_labels_file_when_the_counts_differ(tmp_path):
    folder = tmp_path / "fashion_mnist"
    folder.mkdir()
    for part, n in (("train", 5), ("t10k", 4)):
        (folder / f"{part}-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((n, 28, 28), np.uint8)))
        (folder / f"{part}-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(n + 1, np.uint8)))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte holds 6 labels for the 5 images of"):
        load_idx_set("fashion_mnist", tmp_path)


# ---- downloads ------------------------------------------------------------------------------------
class FakeResponse(io.BytesIO):
    def __init__(self, body: bytes, length: int | None = None):
        super().__init__(body)
        self.headers = {} if length is None else {"Content-Length": str(length)}
        self.sent = 0

    def read(self, n: int = -1) -> bytes:
        chunk = super().read(n)
        self.sent += len(chunk)
        return chunk


def fake_opener(body: bytes, length: int | None = None):
    responses = []

    def opener(url: str, timeout: float) -> FakeResponse:
        responses.append(FakeResponse(body, length))
        return responses[-1]

    opener.responses = responses  # type: ignore[attr-defined]
    return opener


def test_downloads_are_https_only(tmp_path):
    assert all(url.startswith("https://") for url in data_mod.MIRRORS.values())
    for url in ("http://example.org/f.gz", "file:///etc/passwd", "ftp://example.org/f.gz"):
        with pytest.raises(DataError, match="only https addresses are allowed"):
            dl.download(url, tmp_path / "f.gz", "mnist", opener=fake_opener(b"x"))
    assert not list(tmp_path.iterdir())
    handler = dl._HttpsOnlyRedirects()
    request = urllib.request.Request("https://example.org/a")
    with pytest.raises(urllib.error.URLError, match="not https"):
        handler.redirect_request(request, None, 302, "Found", {}, "http://example.org/b")
    assert handler.redirect_request(request, None, 302, "Found", {}, "https://example.org/b").full_url == \
        "https://example.org/b"


def test_downloads_are_size_limited_and_leave_nothing_behind(tmp_path):
    opener = fake_opener(bytes(5000))
    with pytest.raises(DataError, match="sent more than the 1,000 bytes expected"):
        dl.download("https://example.org/new.bin", tmp_path / "new.bin", "mnist", opener=opener, max_bytes=1000)
    assert opener.responses[0].sent == 1001  # stopped one byte past the limit, not read to the end
    with pytest.raises(DataError, match="is 9,000 bytes, more than the 1,000 expected"):
        dl.download("https://example.org/new.bin", tmp_path / "new.bin", "mnist",
                    opener=fake_opener(bytes(9000), length=9000), max_bytes=1000)
    # a known file: limited to its published size, and refused when shorter
    with pytest.raises(DataError, match="sent more than the 4,542 bytes"):
        dl.download("https://example.org/x", tmp_path / "t10k-labels-idx1-ubyte.gz", "mnist",
                    opener=fake_opener(bytes(5000)))
    with pytest.raises(DataError, match="gave 10 bytes, but t10k-labels-idx1-ubyte.gz has 4,542"):
        dl.download("https://example.org/x", tmp_path / "t10k-labels-idx1-ubyte.gz", "mnist",
                    opener=fake_opener(bytes(10)))
    assert not list(tmp_path.iterdir())


def test_downloads_are_checked_against_the_published_hash(tmp_path, monkeypatch):
    body = b"the published bytes"
    good = hashlib.sha256(body).hexdigest()
    monkeypatch.setitem(dl.PUBLISHED, ("demo", "file.gz"), (len(body), good))
    with pytest.raises(DataError, match="is not the published file.gz: its SHA-256 is"):
        dl.download("https://example.org/file.gz", tmp_path / "file.gz", "demo",
                    opener=fake_opener(b"the tampered bytes!"[: len(body)]))
    assert not list(tmp_path.iterdir())
    dest = dl.download("https://example.org/file.gz", tmp_path / "file.gz", "demo", opener=fake_opener(body))
    assert dest.read_bytes() == body and [p.name for p in tmp_path.iterdir()] == ["file.gz"]


def test_the_published_table_covers_every_file_the_loaders_download():
    names = [f + ".gz" for pair in data_mod.IDX_FILES.values() for f in pair]
    for dataset in ("mnist", "fashion_mnist"):
        assert all((dataset, n) in dl.PUBLISHED for n in names)
    assert ("cifar10", data_mod.MIRRORS["cifar10"].rsplit("/", 1)[1]) in dl.PUBLISHED
    assert all(len(sha) == 64 and set(sha) <= set("0123456789abcdef") and size > 0
               for size, sha in dl.PUBLISHED.values())
