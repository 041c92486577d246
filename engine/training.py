"""What every trainer shares: per-run random generators, deterministic initialisation, the optimiser,
checkpoints (deep copies) and the headless budget run.

A trainer (toy 2-D, DAE, binary, images) subclasses `TrainerBase`, sets `self.gen`, `self.step_count`
and lists in `state_modules()` what a checkpoint holds; `engine.run.Run` drives it.

Randomness is per run: each trainer draws from its own `torch.Generator` (seeded from the run's seed),
models are initialised from it by `init_parameters`, and nothing seeds the process-global generators,
so the same settings and seed give the same numbers even while other runs train in other threads.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.errors import SettingError

OPTIMIZERS = ("adam", "adamw", "sgd")


def make_generator(seed: int, offset: int = 0) -> torch.Generator:
    """A CPU generator for one run (offset: an independent stream for another purpose, e.g. test data)."""
    gen = torch.Generator()
    gen.manual_seed(int(seed) + offset)
    return gen


def mixed_generator(*numbers: int) -> torch.Generator:
    """A generator seeded by a tuple of integers, mixed by numpy's SeedSequence (no two tuples share a
    stream): e.g. (seed, epoch) for an epoch's permutation."""
    state = np.random.SeedSequence([int(n) for n in numbers]).generate_state(1, np.uint64)[0]
    gen = torch.Generator()
    gen.manual_seed(int(state))
    return gen


def step_generator(seed: int, stream: int, rank: int, step: int) -> torch.Generator:
    """A generator for one step of one process: the draws of step `step` on process `rank` depend on
    nothing else, so a run resumed from a checkpoint (or restarted by torchrun) draws what it would have
    drawn."""
    return mixed_generator(seed, stream, rank, step)


class GeneratorState:
    """A generator as a checkpoint entry (state_dict / load_state_dict), for `state_modules()`."""

    def __init__(self, gen: torch.Generator) -> None:
        self.gen = gen

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"state": self.gen.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.gen.set_state(state["state"])


def numpy_generator(gen: torch.Generator) -> np.random.Generator:
    """A numpy generator seeded from a draw of the run's torch generator (for numpy-side sampling)."""
    return np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=gen)))


@torch.no_grad()
def init_parameters(module: nn.Module, gen: torch.Generator) -> nn.Module:
    """Initialise `module` from `gen`, with the same distributions as PyTorch's defaults.

    Linear and convolutions: weight ~ kaiming_uniform(a=√5), bias ~ U(±1/√fan_in); norms: 1 and 0.
    A module with parameters of its own (not one of these) must offer `init_parameters(gen)`.
    """
    for m in module.modules():
        own = list(m.parameters(recurse=False))
        if not own:
            continue
        if hasattr(m, "init_parameters") and m is not module:
            m.init_parameters(gen)
        elif isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d | nn.ConvTranspose2d):
            _fill(nn.init.kaiming_uniform_, m.weight, gen, a=math.sqrt(5))
            if m.bias is not None:
                fan_in = nn.init._calculate_fan_in_and_fan_out(m.weight)[0]
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                _fill(nn.init.uniform_, m.bias, gen, a=-bound, b=bound)
        elif isinstance(m, nn.modules.batchnorm._NormBase | nn.LayerNorm | nn.GroupNorm):
            if getattr(m, "weight", None) is not None:
                m.weight.fill_(1.0)
            if getattr(m, "bias", None) is not None:
                m.bias.zero_()
        elif m is module and hasattr(m, "init_parameters"):
            m.init_parameters(gen)
        else:
            raise TypeError(f"{type(m).__name__} has parameters of its own: give it init_parameters(gen)")
    return module


def _fill(init: Callable[..., Any], tensor: torch.Tensor, gen: torch.Generator, **kw: Any) -> None:
    # draw on the CPU from the run's generator, then copy: the same numbers on every device
    cpu = torch.empty(tensor.shape, dtype=tensor.dtype)
    init(cpu, generator=gen, **kw)
    tensor.copy_(cpu)


def build_optimizer(params: Iterable[nn.Parameter], name: str, lr: float, *, weight_decay: float = 0.0,
                    betas: tuple[float, float] = (0.9, 0.999), momentum: float = 0.0) -> torch.optim.Optimizer:
    """Adam, AdamW (decoupled weight decay) or SGD with the given settings."""
    params = [p for p in params if p.requires_grad]
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise SettingError(f"optimizer = {name!r} is not allowed: it must be one of {', '.join(OPTIMIZERS)}",
                       setting="optimizer", value=name)


class TrainerBase:
    """Shared behaviour of the trainers `engine.run.Run` drives (see the module docstring).

    Subclasses implement `step()`, `snapshot()`, `evaluate()` and `state_modules()`.
    """

    #: appended to the message of a run that diverged; name only settings this experiment has
    failure_advice: str = "Try a lower learning rate."
    #: its text key in the language catalogues (a page shows the advice in its language); a class that declares its
    #: own advice and no key is read under errors.advice.<class name> (engine/run/guard.py's `advice_text`)
    failure_advice_key: str | None = None
    step_count: int = 0
    gen: torch.Generator

    def state_modules(self) -> dict[str, Any]:
        """What a checkpoint saves: objects with state_dict()/load_state_dict() (models, optimisers)."""
        raise NotImplementedError

    def checkpoint(self) -> dict[str, Any]:
        """A deep copy of the training state (the run's guard keeps it only if every number is finite)."""
        state = {name: obj.state_dict() for name, obj in self.state_modules().items()}
        return copy.deepcopy({"modules": state, "step": self.step_count, "rng": self.gen.get_state()})

    def restore(self, state: dict[str, Any]) -> None:
        for name, obj in self.state_modules().items():
            obj.load_state_dict(copy.deepcopy(state["modules"][name]))
        self.step_count = state["step"]
        self.gen.set_state(state["rng"])

    def headless(self, *, max_steps: int | None = None, max_seconds: float | None = None,
                 evaluate_every_steps: int | None = None, name: str = "run",
                 on_evaluate: Callable[[Any], None] | None = None,
                 on_step: Callable[[Any], None] | None = None) -> Any:
        """Train to a step and/or time budget in the calling thread (the CLI's way); raises Diverged."""
        from engine.run import train_headless

        return train_headless(self, max_steps=max_steps, max_seconds=max_seconds,
                              evaluate_every_steps=evaluate_every_steps, name=name,
                              on_evaluate=on_evaluate, on_step=on_step, snapshot_hz=0.2)
