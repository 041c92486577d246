"""Baselines on the same split as the probe: raw pixels, a randomly initialised encoder, and (in
`trainer.SupervisedTrainer`) the same encoder trained with labels for the same time.

The two cheap ones are computed as a `Run` of `Baselines` (`baselines_run`): step 1 probes the random
encoder, step 2 the raw pixels (seconds each on 3,072-pixel colour images, tens of seconds through a
ResNet-18 on a CPU). So they start only when a page asks (its Train button), stop like any run — between
two chunks of the feature extraction or the probe's fit — and a session's run slot holds at most one.
Finished results are kept per setting (the newest `RESULTS_KEPT`), so training again with the same
settings draws the lines at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from engine.device import pick_device
from engine.embed.config import EmbedConfig
from engine.embed.evaluate import extract, linear_probe, stoppable
from engine.embed.imageset import ImageSet, to_float
from engine.embed.models import build_encoder
from engine.run import Run, RunOptions
from engine.training import init_parameters, make_generator

RANDOM_ENCODER_OFFSET = 2  # the random encoder is initialised from the generator of seed + this
RESULTS_KEPT = 16  # settings whose finished baselines the process remembers
PARTS = ("random_encoder_acc", "raw_pixels_acc")  # in the order the run's steps compute them

_results: OrderedDict[tuple, dict[str, float]] = OrderedDict()
_results_lock = threading.Lock()


def raw_pixel_probe(data: ImageSet) -> float:
    return linear_probe(to_float(data.x_train).flatten(1), data.y_train, to_float(data.x_test).flatten(1),
                        data.y_test)


def random_encoder_probe(config: EmbedConfig, data: ImageSet) -> float:
    """Linear probe on a randomly initialised encoder of the same architecture (eval mode)."""
    enc = build_encoder(config.encoder, data.channels, data.size, config.width)
    init_parameters(enc, make_generator(config.seed, RANDOM_ENCODER_OFFSET)).eval()
    device = pick_device(config.device)
    enc.to(device)
    with stoppable(enc):
        ftr = extract(enc, data.x_train, device)
        fte = extract(enc, data.x_test, device)
    return linear_probe(ftr, data.y_train, fte, data.y_test)


def settings_key(config: EmbedConfig) -> tuple:
    """What the two baselines depend on."""
    return (config.dataset, config.encoder, config.width, config.seed, config.train_size, config.test_size,
            config.data_dir, config.device)


def known_results(config: EmbedConfig) -> dict[str, float]:
    """The finished baselines of these settings, if this process computed them recently, else {}."""
    with _results_lock:
        return dict(_results.get(settings_key(config), {}))


def results_of(config: EmbedConfig, job: Run | None) -> dict[str, float]:
    """The baselines of `config` known so far: the finished ones, and what `job` (a baselines run, if it is
    for the same settings) has computed already."""
    results = known_results(config)
    if job is not None and settings_key(job.trainer.config) == settings_key(config):  # type: ignore[attr-defined]
        results.update(job.trainer.results)  # type: ignore[attr-defined]
    return results


def _remember(config: EmbedConfig, results: dict[str, float]) -> None:
    with _results_lock:
        _results[settings_key(config)] = dict(results)
        _results.move_to_end(settings_key(config))
        while len(_results) > RESULTS_KEPT:
            _results.popitem(last=False)


class Baselines:
    """The Trainer of a baselines run: each step computes one of `PARTS` (or takes it from the results
    this process already has); `results` holds what is done."""

    def __init__(self, config: EmbedConfig) -> None:
        self.config = config
        self.step_count = 0
        self.results = known_results(config)

    @property
    def done(self) -> bool:
        return all(name in self.results for name in PARTS)

    def step(self) -> dict[str, float]:
        from engine.embed.trainer import dataset_for  # the trainer module imports this package's evaluate

        name = PARTS[self.step_count]
        if name not in self.results:
            data = dataset_for(self.config)
            self.results[name] = (random_encoder_probe(self.config, data) if name == "random_encoder_acc"
                                  else raw_pixel_probe(data))
        self.step_count += 1
        if self.done:
            _remember(self.config, self.results)
        return {name: self.results[name]}

    def snapshot(self) -> dict[str, Any]:
        return dict(self.results)

    def evaluate(self) -> dict[str, float]:
        return dict(self.results)


def baselines_run(config: EmbedConfig) -> Run:
    """A Run (not started) that computes the raw-pixel and random-encoder baselines of `config`."""
    options = RunOptions(max_steps=len(PARTS), evaluate_every_s=None, snapshot_hz=1.0, frames_kept=2,
                         checkpoint_every_s=1e9)
    return Run(Baselines(config), options, name="embed-baselines")
