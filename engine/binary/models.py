"""Energies of binary vectors y ∈ {lo, hi}^d ({0,1} or {−1,+1}, see data.Encoding).

Fully visible Boltzmann machine:   E_θ(y) = −½ yᵀJy − bᵀy,   J symmetric, zero diagonal.
RBM (hidden h ∈ {lo, hi}^m):      E_θ(y, h) = −yᵀWh − bᵀy − cᵀh, and the model of y alone has the
free energy  F_θ(y) = −log Σ_h exp(−E_θ(y, h)) = −bᵀy − Σ_j log(e^{lo·a_j} + e^{hi·a_j}),  a = c + Wᵀy,
which plays the part of E_θ(y) for every objective and sampler here.

Flipping bit i moves y_i by δ_i = lo + hi − 2y_i; for the FVBM the energy change is local,
E(ȳ^i) − E(y) = −δ_i (Jy + b)_i, which is what makes single-bit-flip Metropolis cheap.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from engine.binary.data import Encoding

Tensor = torch.Tensor


class BinaryEnergy(nn.Module):
    """E_θ(y) for y in `encoding`; forward returns one energy per row."""

    kind = "energy"

    def __init__(self, d: int, encoding: Encoding):
        super().__init__()
        if not (1 <= d <= 24):
            raise ValueError("binary models here have 1 to 24 bits")
        self.d = d
        self.encoding = encoding

    def flip_delta(self, y: Tensor, index: Tensor) -> Tensor:
        """E(y with bit index[n] flipped) − E(y), one bit per row (generic: two evaluations)."""
        rows = torch.arange(y.shape[0], device=y.device)
        flipped = y.clone()
        flipped[rows, index] = self.encoding.lo + self.encoding.hi - y[rows, index]
        return self(flipped) - self(y)

    def neighbour_deltas(self, y: Tensor) -> Tensor:
        """(n, d): E(ȳ^i) − E(y) for every single-bit flip ȳ^i of every row (generic: n·d evaluations)."""
        n, d = y.shape
        eye = torch.eye(d, dtype=y.dtype, device=y.device)
        flipped = y[:, None, :] + eye * self.encoding.flip_step(y)[:, None, :]
        return self(flipped.reshape(n * d, d)).view(n, d) - self(y)[:, None]

    def numpy_params(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy().copy() for k, v in self.state_dict().items()}


class FVBM(BinaryEnergy):
    """Fully visible Boltzmann machine; J is built from the strict upper triangle of a free matrix."""

    kind = "fvbm"

    def __init__(self, d: int, encoding: Encoding):
        super().__init__(d, encoding)
        self.weight = nn.Parameter(torch.zeros(d, d))  # only the strict upper triangle is used
        self.bias = nn.Parameter(torch.zeros(d))

    @torch.no_grad()
    def init_parameters(self, gen: torch.Generator | None = None) -> FVBM:
        """J = 0, b = 0: the uniform distribution, whose NLL is d log 2 (nothing is drawn)."""
        self.weight.zero_()
        self.bias.zero_()
        return self

    @property
    def J(self) -> Tensor:  # noqa: N802 (the lecture's name)
        upper = torch.triu(self.weight, 1)
        return upper + upper.T

    def forward(self, y: Tensor) -> Tensor:
        return -0.5 * ((y @ self.J) * y).sum(-1) - y @ self.bias

    def local_fields(self, y: Tensor) -> Tensor:
        return y @ self.J + self.bias

    def flip_delta(self, y: Tensor, index: Tensor) -> Tensor:
        rows = torch.arange(y.shape[0], device=y.device)
        yi = y[rows, index]
        field = (y * self.J[index]).sum(1) + self.bias[index]
        return -self.encoding.flip_step(yi) * field

    def neighbour_deltas(self, y: Tensor) -> Tensor:
        return -self.encoding.flip_step(y) * self.local_fields(y)

    def couplings_pm(self) -> Tensor:
        """J in the {−1,+1} parametrisation: y = (s+1)/2 gives ½ yᵀJy = ⅛ sᵀJs + linear, so J/4."""
        j = self.J.detach()
        return j / 4 if self.encoding.lo == 0 else j.clone()

    @torch.no_grad()
    def set_params(self, j: Tensor, b: Tensor) -> FVBM:
        self.weight.copy_(torch.triu(j, 1))
        self.bias.copy_(b)
        return self


class RBM(BinaryEnergy):
    """Restricted Boltzmann machine scored by its free energy F(y); hidden units use the same encoding."""

    kind = "rbm"

    def __init__(self, d: int, hidden: int, encoding: Encoding, init_std: float = 0.1):
        super().__init__(d, encoding)
        if hidden < 1:
            raise ValueError("an RBM needs at least one hidden unit")
        self.hidden, self.init_std = hidden, init_std
        self.weight = nn.Parameter(torch.zeros(d, hidden))
        self.bias = nn.Parameter(torch.zeros(d))
        self.hidden_bias = nn.Parameter(torch.zeros(hidden))

    @torch.no_grad()
    def init_parameters(self, gen: torch.Generator) -> RBM:
        """W ~ N(0, init_std²) drawn from the run's generator (on the CPU, so every device gets the same
        numbers); both biases 0."""
        self.weight.copy_(torch.randn(self.weight.shape, generator=gen) * self.init_std)
        self.bias.zero_()
        self.hidden_bias.zero_()
        return self

    def hidden_input(self, y: Tensor) -> Tensor:
        return self.hidden_bias + y @ self.weight

    def forward(self, y: Tensor) -> Tensor:
        a = self.hidden_input(y)
        lo, hi = self.encoding.lo, self.encoding.hi
        # log(e^{lo a} + e^{hi a}) = lo·a + softplus((hi − lo)·a)
        return -(y @ self.bias) - (lo * a + F.softplus((hi - lo) * a)).sum(-1)

    def joint_energy(self, y: Tensor, h: Tensor) -> Tensor:
        return -((y @ self.weight) * h).sum(-1) - y @ self.bias - h @ self.hidden_bias

    def _draw(self, drive: Tensor, gen: torch.Generator) -> Tensor:
        """Units with P(hi) = σ((hi − lo)·drive), drawn independently."""
        lo, hi = self.encoding.lo, self.encoding.hi
        p_hi = torch.sigmoid((hi - lo) * drive)
        u = torch.rand(drive.shape, generator=gen, device=drive.device, dtype=drive.dtype)
        return torch.where(u < p_hi, hi, lo).to(drive.dtype)

    def sample_hidden(self, y: Tensor, gen: torch.Generator) -> Tensor:
        return self._draw(self.hidden_input(y), gen)

    def sample_visible(self, h: Tensor, gen: torch.Generator) -> Tensor:
        return self._draw(self.bias + h @ self.weight.T, gen)


MODELS = {"fvbm": "fully visible Boltzmann machine", "rbm": "restricted Boltzmann machine"}


def build_model(kind: str, d: int, encoding: Encoding, hidden: int = 8) -> BinaryEnergy:
    """The model with every parameter 0; `engine.training.init_parameters(model, gen)` draws its start."""
    if kind == "fvbm":
        return FVBM(d, encoding)
    if kind == "rbm":
        return RBM(d, hidden, encoding)
    raise ValueError(f"unknown model {kind!r}; choose one of {sorted(MODELS)}")


def model_from_params(kind: str, params: dict[str, Any], encoding: Encoding) -> BinaryEnergy:
    """Rebuild a model from `numpy_params()` (e.g. from a snapshot, to watch a chain on it)."""
    d = int(np.asarray(params["bias"]).shape[0])
    hidden = int(np.asarray(params["hidden_bias"]).shape[0]) if "hidden_bias" in params else 1
    model = build_model(kind, d, encoding, hidden)
    model.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in params.items()})
    return model

