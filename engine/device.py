"""Pick the device once: cuda → mps → cpu. Everything else is device-agnostic."""

from __future__ import annotations

import torch


def pick_device(requested: str | None = None) -> torch.device:
    """`requested` is 'auto'/None, 'cpu', 'cuda', 'cuda:N' or 'mps'; a clear error if unavailable."""
    if requested in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {requested!r} was asked for, but this machine has no CUDA GPU")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {requested!r} was asked for, but MPS is not available here")
    return device


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type
