r"""LARS: SGD with momentum and a layer-wise trust ratio, for the large global batches of several GPUs.

With one learning rate for every layer, a large batch (a large learning rate) makes the update of some
layers large next to their weights and training diverges. LARS (You et al., 2017) scales each layer's
update by a trust ratio so that its size is a fixed fraction η of the layer's weight norm. Per
parameter tensor w with gradient g, weight decay λ and momentum m:

    d = g + λ w                              (weight decay)
    q = η ‖w‖ / ‖d‖   if ‖w‖ > 0 and ‖d‖ > 0, else 1
    μ ← m μ + q d
    w ← w − lr μ

— the form of SimCLR's, Barlow Twins' and VICReg's PyTorch LARS. Biases and batch-norm weights (the
1-D tensors) are neither adapted (q = 1) nor decayed: their norms say nothing about a layer's scale
and decaying them hurts (SimCLR's and BYOL's "exclude bias and BN from LARS and weight decay").
`lars_param_groups` makes the two groups; each group carries `adapt` and `weight_decay`, so the
optimiser's state_dict is plain data (checkpoints, --resume).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

Tensor = torch.Tensor
TRUST_COEFFICIENT = 0.001  # η of the papers (SimCLR, Barlow Twins)


def lars_param_groups(modules: Iterable[nn.Module], weight_decay: float) -> list[dict]:
    """Two groups: ≥2-D tensors (weights of linear and convolution layers) adapted and decayed; 1-D
    tensors (biases, batch-norm weights and biases) neither. Parameters without gradients are left out;
    a parameter shared by two modules appears once."""
    seen: set[int] = set()
    adapted: list[nn.Parameter] = []
    plain: list[nn.Parameter] = []
    for module in modules:
        for p in module.parameters():
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            (adapted if p.ndim > 1 else plain).append(p)
    return [{"params": adapted, "adapt": True, "weight_decay": weight_decay},
            {"params": plain, "adapt": False, "weight_decay": 0.0}]


class LARS(torch.optim.Optimizer):
    """LARS (see the module's formula). `params`: tensors or groups; a group's `adapt` (default True) and
    `weight_decay` say whether its tensors get the trust ratio and the decay."""

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 1e-6,
                 trust_coefficient: float = TRUST_COEFFICIENT, adapt: bool = True):
        if lr <= 0 or not 0 <= momentum < 1 or weight_decay < 0 or trust_coefficient <= 0:
            raise ValueError(f"LARS needs lr > 0, 0 ≤ momentum < 1, weight_decay ≥ 0, trust_coefficient > 0 "
                             f"(got {lr}, {momentum}, {weight_decay}, {trust_coefficient})")
        defaults = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "eta": trust_coefficient,
                    "adapt": adapt}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = p.grad
                if group["weight_decay"]:
                    d = d.add(p, alpha=group["weight_decay"])
                if group["adapt"]:
                    w_norm, d_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(d)
                    one = torch.ones_like(w_norm)
                    q = torch.where((w_norm > 0) & (d_norm > 0), group["eta"] * w_norm / d_norm, one)
                    d = d.mul(q)
                state = self.state[p]
                if "mu" not in state:
                    state["mu"] = torch.zeros_like(p)
                mu = state["mu"]
                mu.mul_(group["momentum"]).add_(d)
                p.add_(mu, alpha=-group["lr"])
        return loss
