"""`python -m engine image-ebm`: train an image energy by PCD (or CD) headless and judge its particles.

    python -m engine image-ebm --dataset digits --budget-seconds 120 --seed 0
    python -m engine image-ebm --dataset digits --max-steps 300 --seed 0 --samples-out particles.npy
    python -m engine image-ebm --dataset digits --max-steps 300 --compare-sizes 8,16,28

Prints one JSON object: the particles' class shares (mode coverage), the classifier's mean top
probability and the density judge's realistic fraction, each beside the same judges' scores for
uniform noise and smooth blobs; the energy's AUROC between held-out data and uniform noise and
between the data set and another one; "freeze and sample" (denoising and inpainting of held-out
images by the learned energy, PSNR before → after); the sampler's speed in chains·steps per second.
`--samples-out F.npy` writes the final particles, N×H×W float32 in [0, 1].
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.cli import progress
from engine.device import describe
from engine.errors import DataError, SettingError
from engine.image_ebm.config import ImageEBMConfig, ImageEBMRunOptions
from engine.image_ebm.data import OTHER, as_pixels, missing

SETTINGS = (ImageEBMConfig, ImageEBMRunOptions)


def run(config: ImageEBMConfig, options: ImageEBMRunOptions) -> dict[str, Any]:
    if options.max_steps is None and options.budget_seconds is None:
        raise SettingError("give a step budget (--max-steps N) or a time budget (--budget-seconds S)",
                           setting="max_steps")
    if options.threads is not None:
        torch.set_num_threads(options.threads)
    why = missing(config.dataset, config.data_dir)
    if why is not None:
        raise DataError(why)
    if options.compare_sizes is not None:
        return _compare(config, options)
    return train_and_judge(config, options)


def train_and_judge(config: ImageEBMConfig, options: ImageEBMRunOptions) -> dict[str, Any]:
    from engine.image_ebm.judges import fit_judges
    from engine.image_ebm.trainer import ImageEBMTrainer, reference_scores
    from engine.image_ebm.views import freeze_and_sample

    trainer = ImageEBMTrainer(config)
    progress(f"image-ebm: {config.dataset} {trainer.images.size}×{trainer.images.size}, {config.method}, "
             f"{trainer.device}; judges fitted at the end")
    run_ = trainer.headless(max_steps=options.max_steps, max_seconds=options.budget_seconds,
                            evaluate_every_steps=options.eval_every, name="image-ebm",
                            on_evaluate=lambda r: progress(f"step {r.step}: {_brief(r.last_evaluation())}"))
    ev = run_.last_evaluation()
    judges = fit_judges(config.dataset, config.image_size, config.data_dir)
    refs = reference_scores(config.dataset, config.image_size, config.data_dir)
    restoration = freeze_and_sample(trainer, options.restore_steps, judge=judges) if options.restore_steps else {}
    steps = run_.step
    result: dict[str, Any] = {
        "dataset": config.dataset, "method": config.method, "image_size": trainer.images.size,
        "steps": steps, "train_seconds": round(run_.elapsed, 2),
        "steps_per_s": round(run_.steps_per_second(), 2),
        "chain_steps_per_s": round(run_.steps_per_second() * config.batch_size * config.k, 1),
        "particles": {"class_shares": [ev[f"class_{i}"] for i in range(len(judges.classes))],
                      "min_class_share": ev["min_class_share"], "classes_over_5pct": int(ev["classes_over_5pct"]),
                      "top_prob": ev["top_prob"], "realistic": ev["realistic"]},
        "noise": _judged(refs["noise"]), "blobs": _judged(refs["blobs"]), "held_out": _judged(refs["held_out"]),
        "classifier_held_out_accuracy": round(judges.held_out_accuracy, 4),
        "auroc_data_vs_noise": ev["auroc_noise"],
        "auroc_data_vs_other": ev.get("auroc_other"), "other_dataset": OTHER[config.dataset],
        "energy": {"data": round(ev["e_data"], 4), "particles": round(ev["e_particles"], 4),
                   "noise": round(ev["e_noise"], 4)},
        "freeze_and_sample": {"steps": options.restore_steps, **restoration},
        "sampler": trainer.sampler.not_true_langevin() or "true Langevin",
        "device": describe(trainer.device), "seed": config.seed,
    }
    if options.samples_out is not None:
        result["samples_out"] = _write_samples(options.samples_out, trainer.particles())
    return result


def _compare(config: ImageEBMConfig, options: ImageEBMRunOptions) -> dict[str, Any]:
    from engine.image_ebm.dimension import compare_sizes

    if options.max_steps is None:
        raise SettingError("the size comparison trains the same number of updates at every size: give --max-steps",
                           setting="max_steps")
    result = compare_sizes(config, options.compare_sizes, options.max_steps, progress=progress)
    return {"dataset": config.dataset, "method": config.method, "steps_per_size": options.max_steps,
            "seed": config.seed, **result}


def _judged(scores: dict[str, Any]) -> dict[str, Any]:
    return {k: scores[k] for k in ("min_class_share", "classes_over_5pct", "top_prob", "realistic")}


def _brief(ev: dict[str, float]) -> dict[str, float]:
    return {k: round(ev[k], 3) for k in ("min_class_share", "top_prob", "realistic", "auroc_noise") if k in ev}


def _write_samples(path: str, particles: torch.Tensor) -> dict[str, Any]:
    pixels = as_pixels(particles)
    target = Path(path)
    if target.suffix != ".npy":
        target = target.with_name(target.name + ".npy")  # what np.save would write anyway
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        np.save(target, pixels)
    except OSError as exc:
        raise SettingError(f"samples_out = {path!r}: cannot write it ({exc})", setting="samples_out") from exc
    return {"path": str(target), "shape": list(pixels.shape), "min": float(pixels.min()), "max": float(pixels.max())}
