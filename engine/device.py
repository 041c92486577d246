"""Pick the device once: cuda → mps → cpu. Everything else is device-agnostic."""

from __future__ import annotations

import torch

from engine.errors import DeviceError


def pick_device(requested: str | None = None) -> torch.device:
    """`requested` is 'auto'/None, 'cpu', 'cuda', 'cuda:N' or 'mps'; a clear error if unavailable."""
    if requested in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise DeviceError(f"device = {requested!r} is not a device: use auto, cpu, cuda, cuda:N or mps",
                          setting="device") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {requested!r} was asked for, but this machine has no CUDA GPU", setting="device")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise DeviceError(f"device {requested!r} was asked for, but this machine has {torch.cuda.device_count()} "
                          "GPU(s)", setting="device")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"device {requested!r} was asked for, but MPS is not available here", setting="device")
    if device.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"device {requested!r} is not supported: use auto, cpu, cuda, cuda:N or mps",
                          setting="device")
    return device


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type
