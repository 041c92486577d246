"""Baselines on the same split as the probe: raw pixels, a randomly initialised encoder, and (in
`trainer.SupervisedTrainer`) the same encoder trained with labels for the same time.

`BaselineJob` computes the two cheap ones in a background thread (the raw-pixel probe on 3,072-pixel
colour images takes seconds), once per process and setting, for the page to draw as lines.
"""

from __future__ import annotations

import threading

from engine.device import pick_device
from engine.embed import background
from engine.embed.config import EmbedConfig
from engine.embed.evaluate import extract, linear_probe
from engine.embed.imageset import ImageSet, to_float
from engine.embed.models import build_encoder
from engine.training import init_parameters, make_generator

RANDOM_ENCODER_OFFSET = 2  # the random encoder is initialised from the generator of seed + this


def raw_pixel_probe(data: ImageSet, cancel: threading.Event | None = None) -> float:
    return linear_probe(to_float(data.x_train).flatten(1), data.y_train, to_float(data.x_test).flatten(1),
                        data.y_test, cancel=cancel)


def random_encoder_probe(config: EmbedConfig, data: ImageSet, cancel: threading.Event | None = None) -> float:
    """Linear probe on a randomly initialised encoder of the same architecture (eval mode)."""
    enc = build_encoder(config.encoder, data.channels, data.size, config.width)
    init_parameters(enc, make_generator(config.seed, RANDOM_ENCODER_OFFSET)).eval()
    device = pick_device(config.device)
    enc.to(device)
    ftr = extract(enc, data.x_train, device)
    fte = extract(enc, data.x_test, device)
    return linear_probe(ftr, data.y_train, fte, data.y_test, cancel=cancel)


class BaselineJob:
    """Raw-pixel and random-encoder probes for one setting, computed once in a background thread."""

    _jobs: dict[tuple, BaselineJob] = {}
    _lock = threading.Lock()

    def __init__(self, config: EmbedConfig):
        self.config = config
        self.results: dict[str, float] = {}
        self.error = ""
        self.done = threading.Event()
        self.cancel = threading.Event()

    @classmethod
    def for_config(cls, config: EmbedConfig) -> BaselineJob:
        key = (config.dataset, config.encoder, config.width, config.seed, config.train_size, config.test_size,
               config.data_dir)
        with cls._lock:
            job = cls._jobs.get(key)
            if job is None:
                job = cls._jobs[key] = cls(config)
                background.start(job._work, "energy-lab-baselines", job.cancel)
        return job

    def _work(self) -> None:
        from engine.embed.trainer import dataset_for

        try:
            data = dataset_for(self.config)
            self.results["random_encoder_acc"] = random_encoder_probe(self.config, data, self.cancel)
            self.results["raw_pixels_acc"] = raw_pixel_probe(data, self.cancel)
        except background.Cancelled:
            self.error = "cancelled"
        except Exception as exc:  # shown on the page; the curves still draw
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.done.set()
