"""Capture a fixed-shape step once as a CUDA graph and replay it.

The toy trainers' Langevin loops and the binary samplers are launch-bound on a GPU: a CD-10 step is a
few hundred tiny kernels, each costing more to launch than to run. Captured once and replayed, the
whole loop is one launch. `CapturedStep(fn, inputs, generators=...)`:

- **static buffers.** The inputs are copied into buffers the graph reads; each call copies the new
  inputs in, replays, and returns clones of the graph's outputs (so a caller may keep them);
- **warm-up on a side stream.** `fn` runs `warmup` times eagerly on a side stream before the capture
  (cuBLAS handles, autograd and the caching allocator set themselves up outside the graph);
- **randomness replays.** Every generator `fn` draws from is a CUDA generator registered with the
  graph (`CUDAGraph.register_generator_state`). Its state is saved before the warm-up and restored
  after, so the warm-up draws nothing from the run's stream; each replay then reads the generator's
  current offset and advances it by what one eager call would, so replay i draws exactly the numbers
  eager call i would have drawn (checked by tests/engine/test_capture.py where CUDA is present).

Limits (what a captured `fn` may do): fixed shapes, dtypes and Python control flow (decided once, at
the capture); no host synchronisation inside (`.item()`, `float(t)`, a CPU generator's draw copied to
the device); parameters it reads may change only in place (optimiser steps and `load_state_dict` copy
in place; `module.to(...)` or `assign=True` would leave the graph reading the old storage); a new input
shape needs a new capture (`CaptureCache` keeps one per key).

On anything but a CUDA device capture is unavailable: `capture_unavailable(device)` says why, and
`CaptureCache` with the setting "auto" then runs `fn` eagerly and keeps that reason to report.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import torch

from engine.schema import setting

Tensor = torch.Tensor
CAPTURE_CHOICES = ("auto", "off")
WARMUP_CALLS = 3  # eager calls on the side stream before the capture (PyTorch's examples use 3)


def capture_setting() -> Any:
    """The `capture` setting: "auto" captures on a CUDA device and runs eagerly elsewhere; "off" is eager."""
    return setting("auto", choices=CAPTURE_CHOICES, label="Capture (CUDA graphs)",
                   help="auto: on a CUDA GPU the sampler loop is captured once and replayed (same numbers, "
                        "fewer launches); off: run it op by op. No effect on the CPU", form=False)


class CaptureUnavailable(RuntimeError):
    """Capture cannot run here; str(error) says why."""


def capture_unavailable(device: torch.device | str) -> str | None:
    """Why a step on `device` cannot be captured as a CUDA graph, or None when it can."""
    device = torch.device(device)
    if device.type != "cuda":
        return f"CUDA graphs need a CUDA device; this run is on {device.type}"
    if not torch.cuda.is_available():
        return "CUDA graphs need a CUDA GPU; torch.cuda.is_available() is False here"
    if not hasattr(torch.cuda.CUDAGraph, "register_generator_state"):
        return f"this torch ({torch.__version__}) cannot register a generator with a CUDA graph"
    return None


def chain_generator(run_gen: torch.Generator, seed: int, device: torch.device, offset: int) -> torch.Generator:
    """The generator a sampler's chains draw their noise from: on a CUDA device one of their own there,
    seeded from the run's seed + `offset` (it can be registered with a graph, so captured draws replay);
    on any other device the run's own generator (the CPU numbers stay what they were)."""
    if device.type != "cuda":
        return run_gen
    return torch.Generator(device=device).manual_seed(int(seed) + offset)


def _as_tuple(out: Any) -> tuple[Tensor, ...]:
    return out if isinstance(out, tuple) else (out,)


class CapturedStep:
    """`fn(*inputs)` captured once on CUDA (see the module docstring); call it like `fn`.

    `fn` takes tensors of the shapes of `inputs` and returns a tensor or a tuple of tensors. It must not
    synchronise with the host. Raises CaptureUnavailable off CUDA.
    """

    def __init__(self, fn: Callable[..., Any], inputs: Sequence[Tensor], *,
                 generators: Sequence[torch.Generator] = (), warmup: int = WARMUP_CALLS):
        if not inputs:
            raise ValueError("a captured step needs at least one input tensor (it sets the device)")
        device = inputs[0].device
        reason = capture_unavailable(device)
        if reason is not None:
            raise CaptureUnavailable(reason)
        for gen in generators:
            if gen.device.type != "cuda":
                raise CaptureUnavailable(f"a captured step draws only from CUDA generators, not one on {gen.device}")
        self.fn, self.device, self.generators = fn, device, tuple(generators)
        self.static_inputs = tuple(x.detach().clone() for x in inputs)
        saved = [gen.get_state() for gen in self.generators]
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(warmup):
                fn(*self.static_inputs)
        torch.cuda.current_stream(device).wait_stream(side)
        torch.cuda.synchronize(device)
        for gen, state in zip(self.generators, saved, strict=True):
            gen.set_state(state)  # the warm-up drew nothing, as far as the run can tell
        self.graph = torch.cuda.CUDAGraph()
        for gen in self.generators:
            self.graph.register_generator_state(gen)  # before the capture begins
        entry = torch.cuda.current_stream(device)
        try:
            # thread_local: another run's thread may allocate on this GPU while this one captures
            with torch.cuda.graph(self.graph, stream=side, capture_error_mode="thread_local"):
                out = fn(*self.static_inputs)
        except BaseException:
            torch.cuda.set_stream(entry)  # a capture_end that raises skips torch's own restore
            raise
        self._tuple = isinstance(out, tuple)
        self.static_outputs = _as_tuple(out)

    def __call__(self, *inputs: Tensor) -> Any:
        if len(inputs) != len(self.static_inputs):
            raise ValueError(f"this captured step takes {len(self.static_inputs)} inputs, not {len(inputs)}")
        for buf, x in zip(self.static_inputs, inputs, strict=True):
            if buf.shape != x.shape:
                raise ValueError(f"captured for inputs of shape {tuple(buf.shape)}, given {tuple(x.shape)}")
            buf.copy_(x)
        self.graph.replay()
        outs = tuple(o.clone() for o in self.static_outputs)  # the next replay overwrites the buffers
        return outs if self._tuple else outs[0]


class CaptureCache:
    """Runs a step eagerly or, with capture "auto" on a CUDA device, captured once per key and replayed.

    `reason` says why the step runs eagerly (None while it is captured); a capture that fails falls
    back to eager with the error as the reason and the generators' states as they were before it.
    """

    def __init__(self, mode: str, device: torch.device | str, generators: Sequence[torch.Generator] = ()):
        if mode not in CAPTURE_CHOICES:
            raise ValueError(f"capture must be one of {CAPTURE_CHOICES}, not {mode!r}")
        self.mode, self.generators = mode, list(generators)
        self.reason: str | None = "capture = off" if mode == "off" else capture_unavailable(device)
        if self.reason is None and any(gen.device.type != "cuda" for gen in self.generators):
            self.reason = "the step draws from a CPU generator (its numbers would be copied to the GPU)"
        self._steps: dict[Hashable, CapturedStep] = {}

    @property
    def active(self) -> bool:
        return self.reason is None

    def run(self, key: Hashable, fn: Callable[..., Any], *inputs: Tensor) -> Any:
        """fn(*inputs), replayed from the capture made for `key` (made at the first call with it)."""
        if self.reason is not None:
            return fn(*inputs)
        step = self._steps.get(key)
        if step is None:
            saved = [gen.get_state() for gen in self.generators]
            try:
                step = CapturedStep(fn, inputs, generators=self.generators)
            except Exception as error:  # any capture failure: say why, run eagerly
                while error.__context__ is not None and isinstance(error.__context__, Exception):
                    error = error.__context__  # the body's error, not capture_end's complaint about it
                self._fall_back(f"capture failed, running eagerly: {type(error).__name__}: {error}", saved)
                return fn(*inputs)
            self._steps[key] = step
        return step(*inputs)

    def _fall_back(self, reason: str, saved: list[Tensor]) -> None:
        self.reason = reason
        self._steps.clear()
        for gen, state in zip(self.generators, saved, strict=True):
            gen.set_state(state)
