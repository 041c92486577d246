"""Downloads of published data files, only when asked: https only (redirects too), a size limit, the
published size and SHA-256 where known, written to a temporary file beside the destination and moved
into place only after every check passed (a failed or interrupted download leaves nothing behind).

`PUBLISHED` holds the files whose size and SHA-256 are published by their authors' mirrors and
reproduced by independent projects (e.g. TensorFlow Datasets, Keras, torchvision's prototype
datasets); a file not in it is still limited to `MAX_DOWNLOAD_BYTES`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from engine.errors import DataError

MIB = 2**20
MAX_DOWNLOAD_BYTES = 200 * MIB  # CIFAR-10's archive, the largest file here, is 163 MiB
CHUNK = MIB

# (data set, file name) → (size in bytes, SHA-256)
PUBLISHED: dict[tuple[str, str], tuple[int, str]] = {
    ("mnist", "train-images-idx3-ubyte.gz"):
        (9_912_422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    ("mnist", "train-labels-idx1-ubyte.gz"):
        (28_881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    ("mnist", "t10k-images-idx3-ubyte.gz"):
        (1_648_877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    ("mnist", "t10k-labels-idx1-ubyte.gz"):
        (4_542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    ("fashion_mnist", "train-images-idx3-ubyte.gz"):
        (26_421_880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
    ("fashion_mnist", "train-labels-idx1-ubyte.gz"):
        (29_515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
    ("fashion_mnist", "t10k-images-idx3-ubyte.gz"):
        (4_422_102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
    ("fashion_mnist", "t10k-labels-idx1-ubyte.gz"):
        (5_148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    ("cifar10", "cifar-10-python.tar.gz"):
        (170_498_071, "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),
}

Opener = Callable[[str, float], Any]  # (url, timeout) → a response: a context manager with read(n), headers


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to another https address."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if urlsplit(newurl).scheme != "https":
            raise urllib.error.URLError(f"redirected to {newurl}, which is not https")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def https_opener(url: str, timeout: float) -> Any:
    return urllib.request.build_opener(_HttpsOnlyRedirects).open(url, timeout=timeout)


def download(url: str, dest: Path, dataset: str, *, opener: Opener = https_opener, timeout: float = 30,
             max_bytes: int = MAX_DOWNLOAD_BYTES) -> Path:
    """Fetch `url` to `dest`, checked against `PUBLISHED[dataset, dest.name]` when it is there."""
    if urlsplit(url).scheme != "https":
        raise DataError(f"refused to download {url}: only https addresses are allowed")
    size, sha256 = PUBLISHED.get((dataset, dest.name), (None, None))
    limit = size if size is not None else max_bytes
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            got, digest = _fetch(url, out, limit, opener, timeout)
        if size is not None and got != size:
            raise DataError(f"{url} gave {got:,} bytes, but {dest.name} has {size:,}: not the published file")
        if sha256 is not None and digest != sha256:
            raise DataError(f"{url} is not the published {dest.name}: its SHA-256 is {digest}, not {sha256}")
        tmp.replace(dest)
    except (urllib.error.URLError, OSError) as exc:
        raise DataError(f"could not download {url} ({exc}); without network, copy the file to {dest}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _fetch(url: str, out: Any, limit: int, opener: Opener, timeout: float) -> tuple[int, str]:
    """Copy the response into `out`, refusing more than `limit` bytes; (bytes, SHA-256 hex)."""
    digest, got = hashlib.sha256(), 0
    with opener(url, timeout) as response:
        declared = response.headers.get("Content-Length") if response.headers is not None else None
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise DataError(f"{url} is {int(declared):,} bytes, more than the {limit:,} expected")
        while chunk := response.read(min(CHUNK, limit + 1 - got)):
            got += len(chunk)
            if got > limit:
                raise DataError(f"{url} sent more than the {limit:,} bytes expected; download stopped")
            digest.update(chunk)
            out.write(chunk)
    return got, digest.hexdigest()
