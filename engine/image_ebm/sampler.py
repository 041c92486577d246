"""The sampler every method and view shares: (clipped) Langevin dynamics on an image energy.

    x ← clamp(x − ε · clip(∇_x E_θ(x), c) + s ξ, −1, 1),   ξ ~ N(0, I)      (k times)

clip(g, c) caps every pixel's gradient at ±c (no cap when c is unset). With s = √(2ε) and no clip this
is the unadjusted Langevin algorithm, which samples p_θ ∝ exp(−E_θ) as ε → 0. The image recipe (the
UvA tutorial's, IGEBM's) sets ε and s separately — ε = 10, s = 0.005 — and clips the gradient: then it
is a noisy, clipped gradient descent, at temperature T = s² / (2ε) (≈ 1e-6), not a sampler of p_θ;
`not_true_langevin` says so in words (the CLI), `departures` in numbers (the page says them in its language).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn

Tensor = torch.Tensor


@dataclass(frozen=True)
class Langevin:
    steps: int
    eps: float
    noise: float | None  # None: true Langevin, s = √(2ε)
    clip_grad: float | None = None
    low: float = -1.0
    high: float = 1.0

    @property
    def s(self) -> float:
        return math.sqrt(2 * self.eps) if self.noise is None else self.noise

    @property
    def temperature(self) -> float:
        """T = s² / (2ε): the chains sample exp(−E/T) (when ε is small and nothing is clipped)."""
        return self.s**2 / (2 * self.eps)

    def departures(self) -> list[tuple[str, dict[str, float]]]:
        """How this departs from true Langevin, as (reason, its numbers): "noise" (s is not √(2ε): s, root,
        temperature), "clip" (the gradient is clipped: clip), "eps" (the step is far from small: eps)."""
        out: list[tuple[str, dict[str, float]]] = []
        if not math.isclose(self.s, math.sqrt(2 * self.eps), rel_tol=1e-6):
            out.append(("noise", {"s": self.s, "root": math.sqrt(2 * self.eps), "temperature": self.temperature}))
        if self.clip_grad is not None:
            out.append(("clip", {"clip": self.clip_grad}))
        if self.eps > 0.1:
            out.append(("eps", {"eps": self.eps}))
        return out

    def not_true_langevin(self) -> str | None:
        """Why this is not true Langevin (a sentence), or None when it is."""
        words = {
            "noise": lambda s, root, temperature: (f"the noise s = {s:g} is not √(2ε) = {root:.3g}: the chains "
                                                   f"sample exp(−E/T) at temperature T = s²/(2ε) = "
                                                   f"{temperature:.3g}, not p_θ"),
            "clip": lambda clip: f"each pixel's gradient is clipped at ±{clip:g}",
            "eps": lambda eps: f"the step ε = {eps:g} is far from small",
        }
        return "; ".join(words[reason](**numbers) for reason, numbers in self.departures()) or None

    def run(self, energy: nn.Module, x: Tensor, gen: torch.Generator, *, free: Tensor | None = None,
            autocast: Callable[[], AbstractContextManager] = nullcontext,
            every: Callable[[int, Tensor], None] | None = None) -> Tensor:
        """`steps` updates from x (not modified); `free` (same shape, 0/1) marks the pixels that may move
        (inpainting holds the others); `every(i, x)` sees each state. Noise comes from `gen`, which
        must live on x's device."""
        x = x.detach().clone()
        for i in range(self.steps):
            x.requires_grad_(True)
            with autocast():
                e = energy(x).float().sum()
            (grad,) = torch.autograd.grad(e, x)
            grad = grad.float()
            if self.clip_grad is not None:
                grad = grad.clamp(-self.clip_grad, self.clip_grad)
            with torch.no_grad():
                move = -self.eps * grad
                if self.s > 0:
                    move = move + self.s * torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
                if free is not None:
                    move = move * free
                x = (x + move).clamp_(self.low, self.high)
            if every is not None:
                every(i, x)
        return x.detach()
