"""Safe readers for the data files someone puts in the data folder: IDX (MNIST, Fashion-MNIST, plain or
gzip) and CIFAR-10 python batches.

A data folder is input: on a shared server whoever can write to it chooses what these readers see. So
nothing in a file is trusted before it is checked, and every bad file raises one `DataError` naming it:

- IDX: the magic number, element type and dimensions are read first; the size they declare is capped
  (`MAX_IDX_BYTES`) and compared with the file (plain) before anything is allocated, and a gzip stream
  is decompressed only up to that size plus one byte (a stream longer or shorter than its header says
  is refused), so a gzip bomb costs no more memory than an honest file of the size it claims.
- CIFAR batches are pickles, and unpickling can run code. `CifarUnpickler` admits only the globals a
  CIFAR batch references (numpy's array reconstruction, `numpy.ndarray`, `numpy.dtype`, and the
  builtins and `_codecs.encode` a protocol-2 pickle uses for bytes); any other is refused before it is
  imported. The numpy ones are stand-ins that check the pickled state (numeric dtype, shape × item
  size = the bytes given) and only then hand numpy plain bytes (`np.frombuffer`): numpy's own
  `__setstate__` never sees what the file says.
"""

from __future__ import annotations

import gzip
import math
import os
import pickle
import re
import struct
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from engine.errors import DataError

MIB = 2**20
MAX_IDX_BYTES = 256 * MIB  # the data one IDX file may declare (MNIST's training images: 47 MB)
MAX_IDX_DIMS = 4
MAX_CIFAR_BATCH_BYTES = 64 * MIB  # a real batch is 31 MB
READ_CHUNK = 4 * MIB
IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
CIFAR_PIXELS = 3 * 32 * 32


# ---- IDX --------------------------------------------------------------------------------------------
def read_idx(path: str | Path, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """An IDX file (gzip-compressed when its first bytes say so) as an array of the header's shape."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            compressed = fh.read(2) == b"\x1f\x8b"
            fh.seek(0)
            if not compressed:
                return _read_idx_stream(fh, path, max_bytes, os.fstat(fh.fileno()).st_size)
            with gzip.GzipFile(fileobj=fh) as stream:
                return _read_idx_stream(stream, path, max_bytes, None)  # type: ignore[arg-type]
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path} cannot be read ({exc})") from exc


def _read_idx_stream(stream: BinaryIO, path: Path, max_bytes: int, file_size: int | None) -> np.ndarray:
    head = _read_exact(stream, 4, path, "the IDX header")
    if head[:2] != b"\0\0":
        raise DataError(f"{path} is not an IDX file (bad magic number 0x{head.hex()})")
    code, ndim = head[2], head[3]
    if code not in IDX_TYPES:
        raise DataError(f"{path}: unknown IDX element type 0x{code:02x}")
    if not 1 <= ndim <= MAX_IDX_DIMS:
        raise DataError(f"{path}: an IDX file of {ndim} dimensions is not images or labels (1 to {MAX_IDX_DIMS})")
    dims = struct.unpack(f">{ndim}I", _read_exact(stream, 4 * ndim, path, "the IDX header"))
    dtype = np.dtype(IDX_TYPES[code])
    nbytes = math.prod(dims) * dtype.itemsize
    if nbytes > max_bytes:
        raise DataError(f"{path}: the header claims {dims} values ({nbytes / MIB:,.0f} MiB), more than the "
                        f"{max_bytes / MIB:,.0f} MiB an IDX file may hold here")
    header = 4 + 4 * ndim
    if file_size is not None and file_size != header + nbytes:
        raise DataError(f"{path}: the header says {dims} ({nbytes:,} bytes of data) but the file holds "
                        f"{file_size - header:,}")
    body = _read_exact(stream, nbytes, path, f"the {dims} values of the header")
    if stream.read(1):
        raise DataError(f"{path} holds more data than its header's {dims} declares")
    return np.frombuffer(body, dtype=dtype).reshape(dims)


def _read_exact(stream: BinaryIO, n: int, path: Path, what: str) -> bytearray:
    """Exactly `n` bytes, read in chunks (never more than `n` decompressed), or a DataError."""
    out = bytearray()
    while len(out) < n:
        chunk = stream.read(min(READ_CHUNK, n - len(out)))
        if not chunk:
            raise DataError(f"{path} is cut short: {what} needs {n:,} more bytes, only {len(out):,} follow")
        out += chunk
    return out


def read_idx_images(path: str | Path, side: int) -> np.ndarray:
    """N×side×side uint8 images from an IDX file."""
    x = read_idx(path)
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (side, side):
        raise DataError(f"{path}: expected N×{side}×{side} unsigned bytes (IDX type 0x08), "
                        f"found {x.dtype} {x.shape}")
    return x


def read_idx_labels(path: str | Path, n_classes: int) -> np.ndarray:
    """N integer labels in 0..n_classes−1 from an IDX file, as int64."""
    y = read_idx(path)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataError(f"{path}: labels must be one integer per image, found {y.dtype} {y.shape}")
    return _check_labels(y.astype(np.int64), n_classes, path)


def _check_labels(y: np.ndarray, n_classes: int, path: str | Path) -> np.ndarray:
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise DataError(f"{path}: labels must lie in 0..{n_classes - 1}, found {y.min()}..{y.max()}")
    return y


# ---- CIFAR-10 python batches --------------------------------------------------------------------------
_NUMERIC_DTYPE = re.compile(r"[biuf]\d{1,2}")
_BYTE_ORDERS = ("|", "=", "<", ">")
_DTYPE_STATES = {6: 4, 7: 5, 8: 5, 9: 5}  # state length → end of its sub-array/names/fields items


class _Dtype:
    """`numpy.dtype(spec, …)` as a pickle names it: numeric kinds only (no objects, which unpickle
    arbitrary values; no strings or records), and a BUILD state that may set the byte order only."""

    __slots__ = ("dtype",)

    def __init__(self, spec: Any, _align: Any = False, _copy: Any = True):
        text = spec.decode("ascii", "replace") if isinstance(spec, bytes) else spec
        if not isinstance(text, str) or not _NUMERIC_DTYPE.fullmatch(text):
            raise pickle.UnpicklingError(f"a non-numeric numpy dtype {text!r}")
        self.dtype = np.dtype(text)

    def __setstate__(self, state: Any) -> None:
        # (version, byte order, sub-array, [names,] fields, item size, alignment[, flags[, metadata]]):
        # numpy's layouts of 6 to 9 items; only the byte order is taken from it
        end = _DTYPE_STATES.get(len(state)) if isinstance(state, tuple) else None
        order = state[1] if end else None
        if isinstance(order, bytes):
            order = order.decode("ascii", "replace")
        if order not in _BYTE_ORDERS or any(part is not None for part in state[2:end]):
            raise pickle.UnpicklingError("a numpy dtype state with sub-arrays, fields or a bad byte order")
        self.dtype = self.dtype.newbyteorder(order) if order in "<>" else self.dtype


class _Array:
    """A pickled ndarray: numpy's reconstruction gives this empty stand-in, and its BUILD state
    (shape, a `_Dtype`, order, raw bytes) is checked before numpy sees the bytes (`np.frombuffer`)."""

    __slots__ = ("array",)

    def __init__(self) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 5 and state[0] == 1:
            state = state[1:]
        if not isinstance(state, tuple) or len(state) != 4:
            raise pickle.UnpicklingError("an ndarray state of an unknown layout")
        shape, dtype, fortran, raw = state
        if not (isinstance(shape, tuple) and all(type(n) is int and n >= 0 for n in shape)
                and isinstance(dtype, _Dtype) and isinstance(raw, bytes)):
            raise pickle.UnpicklingError("an ndarray state that is not (shape, numeric dtype, order, bytes)")
        if math.prod(shape) * dtype.dtype.itemsize != len(raw):
            raise pickle.UnpicklingError(f"an ndarray of shape {shape} with {len(raw):,} bytes of data")
        flat = np.frombuffer(raw, dtype=dtype.dtype)
        self.array = flat.reshape(shape, order="F" if fortran else "C").copy()


def _new_array(subtype: Any, shape: Any, _typecode: Any) -> _Array:
    """numpy's `_reconstruct(ndarray, (0,), b'b')`: the empty array a pickled ndarray starts from."""
    if subtype is not _Array or shape != (0,):
        raise pickle.UnpicklingError("an array reconstruction other than numpy's own")
    return _Array()


def _latin1(text: Any, encoding: Any = "latin1") -> bytes:
    """`_codecs.encode(str, 'latin1')`: how a protocol-2 pickle written by Python 3 stores bytes."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode other than str → latin1 bytes")
    return text.encode("latin1")


def _bytes(*args: Any) -> bytes:
    """`bytes()` / `bytes(str, encoding)`, never `bytes(n)` (n zero bytes: a memory bomb)."""
    if args and not isinstance(args[0], str | bytes):
        raise pickle.UnpicklingError("bytes() of something other than text")
    return bytes(*args)


_BUILTINS = ("builtins", "__builtin__")  # Python 3 and Python 2 names
ADMITTED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _new_array,  # the real batches (Python 2, numpy < 2)
    ("numpy._core.multiarray", "_reconstruct"): _new_array,  # the same written by numpy ≥ 2
    ("numpy", "ndarray"): _Array,
    ("numpy", "dtype"): _Dtype,
    ("_codecs", "encode"): _latin1,
    **{(module, "bytes"): _bytes for module in _BUILTINS},
    **{(module, kind.__name__): kind for module in _BUILTINS for kind in (dict, list, str, int)},
}


class RefusedGlobal(pickle.UnpicklingError):
    """A global outside `ADMITTED`; its text is `module.name`."""


class CifarUnpickler(pickle.Unpickler):
    """An unpickler that builds only what a CIFAR-10 batch holds (dicts, lists, str/bytes, ints,
    numeric arrays): every global comes from `ADMITTED`; any other is refused before it is imported."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ADMITTED:
            return ADMITTED[module, name]
        raise RefusedGlobal(f"{module}.{name}")


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch → (N×3×32×32 uint8 images, N int64 labels in 0..9)."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DataError(f"{path} cannot be read ({exc})") from exc
    if size > MAX_CIFAR_BATCH_BYTES:
        raise DataError(f"{path} is {size / MIB:,.0f} MiB, more than a CIFAR-10 batch can be "
                        f"({MAX_CIFAR_BATCH_BYTES / MIB:.0f} MiB)")
    try:
        with open(path, "rb") as fh:
            d = CifarUnpickler(fh, encoding="bytes").load()
    except RefusedGlobal as exc:
        raise DataError(f"{path} refused: it asks to load {exc}, which a CIFAR batch never contains") from exc
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, struct.error) as exc:
        raise DataError(f"{path} is not a readable CIFAR-10 batch ({type(exc).__name__}: {exc})") from exc
    return _batch_arrays(d, path)


def _batch_arrays(d: Any, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels of an unpickled batch, with their types, shapes and ranges checked."""
    if not isinstance(d, dict):
        raise DataError(f"{path} is not a CIFAR-10 batch (it holds a {type(d).__name__}, not a dict)")
    fields = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in d.items()}
    data, labels = fields.get("data"), fields.get("labels")
    if not isinstance(data, _Array) or data.array is None or labels is None:
        raise DataError(f"{path} is not a CIFAR-10 batch (it needs 'data', an array, and 'labels')")
    x = data.array
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != CIFAR_PIXELS:
        raise DataError(f"{path}: CIFAR-10 data must be N×{CIFAR_PIXELS} unsigned bytes, found {x.dtype} {x.shape}")
    if isinstance(labels, _Array) and labels.array is not None and labels.array.dtype.kind in "iu":
        labels = labels.array.tolist()
    if not isinstance(labels, list) or not all(type(v) is int for v in labels):
        raise DataError(f"{path}: CIFAR-10 labels must be a list of integers")
    if len(labels) != len(x):
        raise DataError(f"{path}: {len(x)} images but {len(labels)} labels")
    return x.reshape(-1, 3, 32, 32), _check_labels(np.asarray(labels, dtype=np.int64), 10, path)
