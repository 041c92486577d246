"""The denoising autoencoder objective.

Corrupt a data point y into ỹ ~ c(ỹ | y) and train the autoencoder r = decoder ∘ encoder to undo it:

    L(θ) = E_{y ~ data} E_{ỹ ~ c(·|y)} ‖y − r_θ(ỹ)‖²        (a batch mean of the squared norm)

Two corruptions c:
- Gaussian:  ỹ = y + σ ε,  ε ~ N(0, I).
- Masking (dropout noise, as in the course's MNIST notebook, where ``nn.Dropout()(torch.ones(...))``
  multiplies the image):  ỹ = y ⊙ m / (1 − p),  m_j ~ Bernoulli(1 − p) independently per coordinate.

The trained r defines the energy E(y) = ‖y − r(y)‖² and the field r(y) − y (engine.dae.model): the
loss pushes E down on the data only implicitly, by teaching r to send the corrupted points ỹ — the
"pushed-up" points — back to y, so that E grows with the distance from the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

Tensor = torch.Tensor
CORRUPTIONS = ("gaussian", "masking")


@dataclass(frozen=True)
class Corruption:
    kind: str = "gaussian"
    sigma: float = 0.5  # Gaussian: the noise std σ
    drop: float = 0.5  # masking: the drop probability p

    def __post_init__(self) -> None:
        if self.kind not in CORRUPTIONS:
            raise ValueError(f"unknown corruption {self.kind!r}; choose one of {list(CORRUPTIONS)}")
        if not self.sigma > 0:
            raise ValueError("sigma (the Gaussian corruption's std) must be > 0")
        if not 0 < self.drop < 1:
            raise ValueError("drop (the masking probability) must be within (0, 1)")

    def __call__(self, y: Tensor, gen: torch.Generator) -> Tensor:
        """ỹ ~ c(· | y), drawing from `gen` (a CPU generator) so runs are reproducible on any device."""
        if self.kind == "gaussian":
            eps = torch.randn(y.shape, generator=gen).to(y.device)
            return y + self.sigma * eps
        keep = (torch.rand(y.shape, generator=gen) >= self.drop).to(y.device, y.dtype)
        return y * keep / (1 - self.drop)

    def label(self) -> str:
        return f"Gaussian σ = {self.sigma:g}" if self.kind == "gaussian" else f"masking p = {self.drop:g}"


@dataclass
class DAEOut:
    loss: Tensor
    corrupted: Tensor  # ỹ
    reconstructed: Tensor  # r(ỹ)


def dae_loss(model: nn.Module, y: Tensor, corruption: Corruption, gen: torch.Generator) -> DAEOut:
    """L = mean_i ‖y_i − r(ỹ_i)‖² for one batch y (N, d)."""
    y_tilde = corruption(y, gen)
    recon = model(y_tilde)
    loss = ((y - recon) ** 2).sum(1).mean()
    return DAEOut(loss, y_tilde, recon)
