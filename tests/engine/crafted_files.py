"""Writers of data files for the tests: CIFAR-10 batches in the published format (protocol 2, Python 2
strings, numpy.core names) or as Python 3 pickles them, batches crafted to run code when unpickled,
IDX files with any header, and gzip bombs that stay small on disk."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
from pathlib import Path

import numpy as np


class Python2Pickler(pickle._Pickler):  # type: ignore[name-defined]
    """Pickles bytes as Python 2 `str` (SHORT_BINSTRING / BINSTRING), as the published batches are."""

    dispatch = dict(pickle._Pickler.dispatch)  # type: ignore[attr-defined]

    def save_str8(self, obj: bytes) -> None:
        n = len(obj)
        head = pickle.SHORT_BINSTRING + bytes([n]) if n < 256 else pickle.BINSTRING + struct.pack("<i", n)
        self.write(head + obj)
        self.memoize(obj)

    dispatch[bytes] = save_str8


def cifar_pickle(batch: dict, style: str = "python2") -> bytes:
    """A batch as the published files hold it (protocol 2, Python 2 strings, numpy.core names), or as
    Python 3 writes it with protocol 2 or 4."""
    if style == "python2":
        buf = io.BytesIO()
        Python2Pickler(buf, protocol=2).dump(batch)
        return buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    return pickle.dumps(batch, protocol=int(style[-1]))


def cifar_batch(n: int = 6, seed: int = 0, labels: list | None = None) -> dict:
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"testing batch 1 of 1", b"labels": labels if labels is not None else
            [int(v) for v in rng.integers(0, 10, n)], b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [f"img_{i}.png".encode() for i in range(n)]}


class FileMaker:
    """Unpickling this calls `builtins.open(path, "w")`: it would create `path`."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return open, (str(self.path), "w")


class ShellCommand:
    """Unpickling this runs `touch path` through os.system."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


def tampered_checkpoint(target: Path) -> bytes:
    """A checkpoint.pt whose unpickling would create `target` (what a tampered run folder could hold)."""
    return pickle.dumps({"step": 5, "modules": FileMaker(target)})


def crafted_batch(target: Path, maker: type = FileMaker, protocol: int = 2) -> bytes:
    batch = cifar_batch()
    batch[b"labels"] = maker(target)
    return pickle.dumps(batch, protocol=protocol)


def write_cifar_folder(root: Path, test_batch: bytes | None = None) -> Path:
    """Five real-format training batches and a test batch (crafted when given) under root."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i in range(1, 6):
        (folder / f"data_batch_{i}").write_bytes(cifar_pickle(cifar_batch(seed=i)))
    (folder / "test_batch").write_bytes(test_batch if test_batch is not None else cifar_pickle(cifar_batch(seed=9)))
    return folder


def idx_bytes(array: np.ndarray, code: int = 0x08, dims: tuple[int, ...] | None = None) -> bytes:
    dims = array.shape if dims is None else dims
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + array.tobytes()


def gzip_bomb(path: Path, claimed: tuple[int, ...], zero_mib: int) -> Path:
    """A gzip file: an IDX header claiming `claimed` uint8 values, then `zero_mib` MiB of zeros, stored as
    repeated gzip members (each ~1 KiB for 1 MiB: the whole file stays small)."""
    member = gzip.compress(bytes(2**20), compresslevel=9)
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(0, np.uint8), dims=claimed)) + member * zero_mib)
    return path
