"""Train binary energies with any registered objective, score them exactly, snapshot them live.

`Lane` (a TrainerBase) trains one model with one method: its own model, optimiser and random
generators, seeded from its config alone, so a method gives the same numbers alone or next to others.
`BinaryTrainer` implements engine.run.Trainer and steps one or several lanes in lockstep; its
scalars and metrics are keyed "<name>" for one lane and "<metric>/<lane label>" for every lane.
"""

from __future__ import annotations

from typing import Any

import torch

from engine.binary.config import BinaryConfig
from engine.binary.data import BinaryData, bits_to_index, get_encoding, load_data
from engine.binary.exact import coupling_errors, log_partition, log_probs, nll_from_log_probs, sample_states
from engine.binary.models import FVBM, build_model
from engine.binary.objectives import ObjectiveContext, build_objective
from engine.device import pick_device
from engine.errors import SettingError
from engine.training import TrainerBase, build_optimizer, init_parameters, make_generator

# what a diverged binary run prints after saying why it stopped (only settings this experiment has)
ADVICE = ("Try a lower learning rate (lr) or a larger batch_size; for CD and PCD, plain SGD "
          "(optimizer = sgd) and more sampler sweeps k.")


def data_for(config: BinaryConfig) -> BinaryData:
    return load_data(config.dataset, config.ising_c, config.ising_train, config.data_seed)


def run_generator(seed: int, device: torch.device, offset: int = 0) -> torch.Generator:
    """The run's generator on `device` (the samplers draw where the chains live)."""
    if device.type == "cpu":
        return make_generator(seed, offset)
    return torch.Generator(device=device).manual_seed(int(seed) + offset)


class Lane(TrainerBase):
    """One model trained by one method, with its own generators, seeded from its config alone."""

    failure_advice = ADVICE

    def __init__(self, config: BinaryConfig, device: torch.device, label: str | None = None):
        self.config = config
        self.label = label or config.label
        self.device = device
        self.data = data_for(config)
        self.encoding = get_encoding(config.encoding)
        self.gen = run_generator(config.seed, device)  # batches, samplers, noise
        self.view_gen = make_generator(config.seed, 2)  # samples drawn for the view
        self.model = build_model(config.model, self.data.d, self.encoding, config.hidden)
        init_parameters(self.model, make_generator(config.seed, 1))  # the RBM's W; the FVBM starts at 0
        self.model.to(device)
        ctx = ObjectiveContext(self.data, self.model, self.gen, device, config.capture)
        self.objective = build_objective(config.method, ctx, config).to(device)
        self.opt = build_optimizer([*self.model.parameters(), *self.objective.parameters()], config.optimizer,
                                   config.lr)
        self.train_y = self.encoding.encode(self.data.train).to(device)
        self._order = torch.arange(0)
        self._cursor = len(self.train_y)  # the first batch starts a fresh epoch
        self.step_count = 0
        self.last_scalars: dict[str, float] = {}
        self._negatives: torch.Tensor | None = None
        self._log_p: tuple[int, torch.Tensor] | None = None

    def state_modules(self) -> dict[str, Any]:
        return {"model": self.model, "objective": self.objective, "optimizer": self.opt}

    def next_batch(self) -> torch.Tensor:
        """The next batch_size training samples, in epochs: shuffled, each seen once per epoch
        (so a batch as large as bars-and-stripes' 30 patterns is the exact full-data gradient)."""
        n, need = self.train_y.shape[0], self.config.batch_size
        parts = []
        while need > 0:
            if self._cursor >= n:
                self._order = torch.randperm(n, generator=self.gen, device=self.device)
                self._cursor = 0
            take = self._order[self._cursor:self._cursor + need]
            self._cursor += len(take)
            need -= len(take)
            parts.append(take)
        return self.train_y[torch.cat(parts)]

    def step(self) -> dict[str, float]:
        out = self.objective(self.model, self.next_batch())
        self.opt.zero_grad(set_to_none=True)
        out.loss.backward()
        self.opt.step()
        self.step_count += 1
        self._negatives = None if out.negatives is None else out.negatives.detach()
        self.last_scalars = out.scalars
        return out.scalars

    def log_p(self) -> torch.Tensor:
        """log p_θ of every state, enumerated once per step and reused by evaluate/snapshot."""
        if self._log_p is None or self._log_p[0] != self.step_count:
            self._log_p = (self.step_count, log_probs(self.model).cpu())
        return self._log_p[1]

    def evaluate(self) -> dict[str, float]:
        data, log_p = self.data, self.log_p()
        nll = nll_from_log_probs(log_p, data.eval_states, data.eval_weights)
        out = {"nll": nll, "train_nll": nll_from_log_probs(
            log_p, self.data.train, torch.full((len(self.data.train),), 1 / len(self.data.train)))}
        if data.entropy is not None:
            out["kl"] = nll - data.entropy
        if data.patterns is not None:
            out["mass_on_patterns"] = float(log_p[bits_to_index(data.patterns)].double().exp().sum())
        if data.true_j is not None and isinstance(self.model, FVBM):
            out["j_mae"], out["j_corr"] = coupling_errors(self.model.couplings_pm(), data.true_j)
        if self.config.method == "nce":
            # how far the learned log-normaliser c is from the true −log Z
            with torch.no_grad():
                out["nce_norm_gap"] = float(self.objective.log_norm) + float(log_partition(self.model))
        return out

    def snapshot(self) -> dict[str, Any]:
        n = self.config.shown_samples
        log_p = self.log_p()
        snap: dict[str, Any] = {}
        if bool(torch.isfinite(log_p).all()):  # a diverged model has no distribution to draw from
            snap["samples"] = sample_states(log_p, n, self.view_gen).numpy()
        if self._negatives is not None:
            snap["negatives"] = self.encoding.decode(self._negatives[:n]).cpu().numpy()
        if self.data.patterns is not None:
            snap["pattern_p"] = log_p[bits_to_index(self.data.patterns)].double().exp().numpy()
        if isinstance(self.model, FVBM):
            snap["J"] = self.model.couplings_pm().cpu().numpy()
        snap["params"] = self.model.numpy_params()
        return snap

    def checkpoint(self) -> dict[str, Any]:
        return {**super().checkpoint(), "order": (self._order.clone(), self._cursor)}

    def restore(self, state: dict[str, Any]) -> None:
        super().restore(state)
        self._order, self._cursor = state["order"][0].clone(), state["order"][1]
        self._log_p = None


class BinaryTrainer(TrainerBase):
    """Implements engine.run.Trainer: one or several methods on the same data, stepped in lockstep.
    Each lane keeps its own generators, so a method gives the same numbers alone or beside others."""

    failure_advice = ADVICE

    def __init__(self, configs: BinaryConfig | list[BinaryConfig]):
        configs = [configs] if isinstance(configs, BinaryConfig) else list(configs)
        if not configs:
            raise SettingError("choose at least one method", setting="method")
        first = configs[0]
        for c in configs[1:]:
            same = (c.dataset, c.ising_c, c.ising_train, c.data_seed) == (
                first.dataset, first.ising_c, first.ising_train, first.data_seed)
            if not same:
                raise SettingError("methods compared in lockstep must train on the same data set", setting="dataset")
        labels = [c.label for c in configs]
        if len(set(labels)) != len(labels):
            raise SettingError(f"each method may appear once (got {labels})", setting="method")
        self.device = pick_device(first.device)
        self.configs = configs
        self.data = data_for(first)
        self.lanes = [Lane(c, self.device) for c in configs]
        self.step_count = 0

    @property
    def labels(self) -> list[str]:
        return [lane.label for lane in self.lanes]

    def _keyed(self, per_lane: list[dict[str, float]]) -> dict[str, float]:
        out = dict(per_lane[0])  # the first lane's figures also under their plain names
        for lane, values in zip(self.lanes, per_lane, strict=True):
            out.update({f"{k}/{lane.label}": v for k, v in values.items()})
        return out

    def step(self) -> dict[str, float]:
        scalars = self._keyed([lane.step() for lane in self.lanes])
        self.step_count += 1
        return scalars

    def evaluate(self) -> dict[str, float]:
        return self._keyed([lane.evaluate() for lane in self.lanes])

    def snapshot(self) -> dict[str, Any]:
        snap: dict[str, Any] = {"labels": self.labels, "step": self.step_count}
        for lane in self.lanes:
            for key, value in lane.snapshot().items():
                snap[f"{key}/{lane.label}"] = value
        return snap

    def state_modules(self) -> dict[str, Any]:
        return {f"{name}/{lane.label}": obj for lane in self.lanes for name, obj in lane.state_modules().items()}

    def checkpoint(self) -> dict[str, Any]:
        # each lane's own checkpoint (its modules, generator and epoch order), not one shared generator
        return {"step": self.step_count, "lanes": [lane.checkpoint() for lane in self.lanes]}

    def restore(self, state: dict[str, Any]) -> None:
        self.step_count = state["step"]
        for lane, s in zip(self.lanes, state["lanes"], strict=True):
            lane.restore(s)
