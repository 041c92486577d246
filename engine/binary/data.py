"""Binary data sets of ≤ 20 bits, each with the distribution its exact NLL is measured against.

Samples are stored as bits {0,1} (one row per sample, pixel i = bit i, row-major for images);
`Encoding` maps them to the {0,1} or {−1,+1} values a model sees. Bit i of state index k is
(k >> i) & 1, so the enumeration in `engine.binary.exact` and `bits_to_index` agree.

- bars_stripes: the 30 4×4 bars-and-stripes patterns, uniform; the exact NLL floor is log 30.
- digits / digits_5x4: scikit-learn's 8×8 digits (shipped with the package, no download), the
  six inked columns area-resampled to 4×4 (16 bits) or 5×4 (20 bits) and thresholded at 6/16;
  scored on a held-out fifth (their empirical distribution; no known entropy).
- ising: 16 spins drawn exactly (by enumeration) from p(s) ∝ exp(½ sᵀJs), J_ij = J_ji ~ N(0, (c/√d)²)
  for i < j, no field; the true J is kept to score coupling recovery; scored against the true p.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch

Tensor = torch.Tensor


@dataclass(frozen=True)
class Encoding:
    """The two values a bit takes in the model: {0,1} ("01") or {−1,+1} ("pm1")."""

    name: str
    lo: float
    hi: float

    def encode(self, bits: Tensor) -> Tensor:
        return self.lo + (self.hi - self.lo) * bits.to(torch.get_default_dtype())

    def decode(self, x: Tensor) -> Tensor:
        return (x > (self.lo + self.hi) / 2).to(torch.uint8)

    def flip_step(self, x: Tensor) -> Tensor:
        """δ such that x + δ is x with every bit flipped (lo ↔ hi)."""
        return (self.lo + self.hi) - 2 * x


ENCODINGS: dict[str, Encoding] = {"01": Encoding("01", 0.0, 1.0), "pm1": Encoding("pm1", -1.0, 1.0)}


def get_encoding(name: str) -> Encoding:
    try:
        return ENCODINGS[name]
    except KeyError:
        raise ValueError(f"unknown encoding {name!r}; choose one of {sorted(ENCODINGS)}") from None


def index_to_bits(index: Tensor, d: int) -> Tensor:
    """(n,) state indices → (n, d) bits, bit i = (index >> i) & 1."""
    return ((index[:, None] >> torch.arange(d, device=index.device)) & 1).to(torch.uint8)


def bits_to_index(bits: Tensor) -> Tensor:
    """(n, d) bits → (n,) int64 state indices (inverse of index_to_bits)."""
    d = bits.shape[1]
    weights = 2 ** torch.arange(d, device=bits.device, dtype=torch.int64)
    return (bits.to(torch.int64) * weights).sum(1)


@dataclass(frozen=True)
class BinaryData:
    name: str
    description: str
    shape: tuple[int, int]  # how one sample is drawn as a little image (rows, cols)
    train: Tensor  # (N, d) uint8 bits: what the methods learn from
    eval_states: Tensor  # (M, d) uint8 bits ...
    eval_weights: Tensor  # (M,) float64, sums to 1: the target distribution of the exact NLL
    entropy: float | None  # entropy of the target when it is the true distribution (the NLL floor)
    patterns: Tensor | None = None  # the patterns to count mass on (bars-and-stripes)
    true_j: Tensor | None = None  # Ising couplings in the {−1,+1} parametrisation
    ising_c: float | None = None
    # the numbers in `description`, so that a page can say it in its own words (key: the data set's name)
    params: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def d(self) -> int:
        return int(self.train.shape[1])

    def marginals(self) -> Tensor:
        """P(bit i = 1) in the training data, Laplace-smoothed so no bit is certain."""
        n = self.train.shape[0]
        return (self.train.double().sum(0) + 1) / (n + 2)


# ---- bars and stripes --------------------------------------------------------------------------
def bars_stripes_patterns(side: int = 4) -> Tensor:
    """All side×side images whose rows are all constant or whose columns are: 2·2^side − 2 of them."""
    masks = index_to_bits(torch.arange(2**side), side).bool()  # (2^side, side)
    rows = masks[:, :, None].expand(-1, side, side)  # row r on/off
    cols = masks[:, None, :].expand(-1, side, side)  # column c on/off
    every = torch.cat([rows, cols]).reshape(-1, side * side).to(torch.uint8)
    index = torch.unique(bits_to_index(every))  # drops the doubly counted all-off / all-on
    return index_to_bits(index, side * side)


def _bars_stripes() -> BinaryData:
    pats = bars_stripes_patterns(4)
    n = pats.shape[0]
    return BinaryData(
        "bars_stripes", f"bars and stripes 4×4: {n} patterns, uniform (entropy log {n})", (4, 4),
        train=pats, eval_states=pats, eval_weights=torch.full((n,), 1.0 / n, dtype=torch.float64),
        entropy=math.log(n), patterns=pats, params={"n": n})


# ---- digits ------------------------------------------------------------------------------------
DIGITS_THRESHOLD = 6.0  # of 16 grey levels, after area resampling
DIGITS_TEST_FRACTION = 0.2


def _digit_images() -> np.ndarray:
    """scikit-learn's 1797 8×8 digits (0..16), read from the file it ships (importing sklearn is slow)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz" if spec else None
    if path is not None and path.exists():
        return np.loadtxt(path, delimiter=",")[:, :64].reshape(-1, 8, 8)
    from sklearn.datasets import load_digits  # pragma: no cover (a layout we do not know)

    return load_digits().images


def _digits(shape: tuple[int, int], data_seed: int) -> BinaryData:
    images = torch.tensor(_digit_images(), dtype=torch.float32)[:, None, :, 1:7]  # the inked columns
    small = torch.nn.functional.interpolate(images, size=shape, mode="area")[:, 0]
    bits = (small > DIGITS_THRESHOLD).reshape(len(small), -1).to(torch.uint8)
    perm = torch.randperm(len(bits), generator=torch.Generator().manual_seed(data_seed))
    n_test = int(round(DIGITS_TEST_FRACTION * len(bits)))
    test, train = bits[perm[:n_test]], bits[perm[n_test:]]
    index, counts = torch.unique(bits_to_index(test), return_counts=True)
    d = shape[0] * shape[1]
    name = "digits" if shape == (4, 4) else f"digits_{shape[0]}x{shape[1]}"
    return BinaryData(
        name, f"scikit-learn digits binarised to {shape[0]}×{shape[1]} ({d} bits); "
        f"{len(train)} train, NLL on {n_test} held out", shape,
        train=train, eval_states=index_to_bits(index, d),
        eval_weights=counts.double() / counts.sum(), entropy=None,
        params={"rows": shape[0], "cols": shape[1], "d": d, "train": len(train), "test": n_test})


# ---- Ising -------------------------------------------------------------------------------------
ISING_SPINS = 16


def ising_couplings(d: int, c: float, gen: torch.Generator) -> Tensor:
    """Symmetric J with zero diagonal, J_ij ~ N(0, (c/√d)²) for i < j (float64)."""
    upper = torch.triu(torch.randn(d, d, generator=gen, dtype=torch.float64) * c / math.sqrt(d), 1)
    return upper + upper.T


def ising_log_probs(j: Tensor) -> Tensor:
    """log p(s) for all 2^d states (index order) of p(s) ∝ exp(½ sᵀJs), s ∈ {−1,+1}^d."""
    d = j.shape[0]
    s = 2.0 * index_to_bits(torch.arange(2**d), d).double() - 1
    neg_e = 0.5 * ((s @ j) * s).sum(1)
    return neg_e - torch.logsumexp(neg_e, 0)


def _ising(c: float, n_train: int, data_seed: int) -> BinaryData:
    gen = torch.Generator().manual_seed(data_seed)
    d = ISING_SPINS
    j = ising_couplings(d, c, gen)
    log_p = ising_log_probs(j)
    p = log_p.exp()
    index = torch.multinomial(p, n_train, replacement=True, generator=gen)
    entropy = float(-(p * log_p).sum())
    return BinaryData(
        "ising", f"Ising, {d} spins, J ~ N(0, ({c:g}/√{d})²), {n_train} exact samples; scored against the "
        "true distribution", (4, 4), train=index_to_bits(index, d),
        eval_states=index_to_bits(torch.arange(2**d), d), eval_weights=p, entropy=entropy, true_j=j,
        ising_c=c, params={"d": d, "c": c, "n": n_train})


DATASETS: dict[str, str] = {
    "bars_stripes": "bars and stripes 4×4 (30 patterns)",
    "digits": "digits, 4×4 bits",
    "digits_5x4": "digits, 5×4 bits",
    "ising": "Ising, 16 spins, known J",
}


@lru_cache(maxsize=8)
def load_data(name: str, ising_c: float = 1.0, ising_train: int = 10_000, data_seed: int = 0) -> BinaryData:
    """The data set `name` (cached: it is immutable). Ising and the digits' split depend on data_seed."""
    if name == "bars_stripes":
        return _bars_stripes()
    if name == "digits":
        return _digits((4, 4), data_seed)
    if name == "digits_5x4":
        return _digits((5, 4), data_seed)
    if name == "ising":
        if not (0 < ising_c <= 10):
            raise ValueError("ising_c must be within (0, 10]")
        if ising_train < 10:
            raise ValueError("ising_train must be >= 10")
        return _ising(float(ising_c), int(ising_train), data_seed)
    raise ValueError(f"unknown binary data set {name!r}; choose one of {sorted(DATASETS)}")


def images(bits: Tensor | np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(n, d) bits → (n, rows, cols) uint8 images."""
    arr = bits.cpu().numpy() if isinstance(bits, Tensor) else np.asarray(bits)
    return arr.reshape(len(arr), *shape).astype(np.uint8)
