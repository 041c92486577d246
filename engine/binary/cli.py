"""`python -m engine binary`: train one method on binary data headless and print exact metrics as JSON.

    python -m engine binary --dataset bars_stripes --model fvbm --method cd --k 10 --steps 3000 --seed 0
    python -m engine binary --method nce --encodings 01,pm1      # each encoding; report the best
    python -m engine binary --dataset ising --method mpf         # + J MAE / correlation
    python -m engine binary --check-sampler metropolis           # TV vs the exact model

The flags are the settings of engine/binary/config.py (unset ones take the data set's and method's
layered defaults) and the options below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from engine.binary.config import BinaryConfig
from engine.binary.data import ENCODINGS
from engine.binary.samplers import SAMPLERS
from engine.cli import progress
from engine.device import describe
from engine.schema import Settings, setting


@dataclass
class BinaryOptions(Settings):
    """What the command does besides one training run (not model settings: no form)."""

    experiment: ClassVar[str] = "binary_cli"  # its own entry in run.json, beside the model's "binary"

    encodings: tuple[str, ...] | None = setting(
        None, choices=tuple(ENCODINGS), max_items=len(ENCODINGS), none="the configured encoding", form=False,
        label="Encodings to compare", help="train once with each (e.g. 01,pm1) and report the best")
    check_sampler: str | None = setting(
        None, choices=SAMPLERS, none="train instead", form=False, label="Check a sampler",
        help="instead of training: run the sampler on a random 10-bit model and report the total variation "
             "from the exact distribution (500 burn-in sweeps, 250 samples 10 apart per chain)")
    chains_check: int = setting(4096, ge=1, le=16_384, form=False, label="Chains for the sampler check",
                                help="chains of --check-sampler")
    eval_every: int = setting(500, ge=1, le=1_000_000, form=False, label="Evaluate every",
                              help="steps between exact evaluations (progress on stderr)")


SETTINGS = (BinaryConfig, BinaryOptions)


def train(config: BinaryConfig, eval_every: int = 500) -> dict[str, Any]:
    """Train `config` to its step budget; the exact metrics of the last evaluation (raises Diverged)."""
    from engine.binary.trainer import BinaryTrainer

    trainer = BinaryTrainer(config)
    run = trainer.headless(max_steps=config.steps, evaluate_every_steps=eval_every, name="binary",
                           on_evaluate=lambda r: progress(f"[{config.label} {config.encoding}] step {r.step}: "
                                                          f"nll {r.last_evaluation().get('nll', float('nan')):.4f}"))
    ev = run.last_evaluation()
    result: dict[str, Any] = {
        "dataset": config.dataset, "model": config.model, "method": config.method, "label": config.label,
        "encoding": config.encoding, "steps": run.step, "nll": round(ev["nll"], 4),
    }
    for key in ("kl", "mass_on_patterns", "j_mae", "j_corr", "nce_norm_gap"):
        if key in ev:
            result[key] = round(ev[key], 4)
    if trainer.data.entropy is not None:
        result["entropy"] = round(trainer.data.entropy, 4)
    result.update({name: getattr(config, name) for name in ("lr", "optimizer", "batch_size")})
    result.update({name: getattr(config, name) for name in BinaryConfig.method_settings(config.method)})
    result.update(train_seconds=round(run.elapsed, 2), steps_per_s=round(run.steps_per_second(), 1),
                  device=describe(trainer.device), seed=config.seed)
    return result


def check(options: BinaryOptions, seed: int) -> dict[str, Any]:
    from engine.binary.sampler_check import check_sampler

    progress(f"checking the {options.check_sampler} sampler against the exact distribution …")
    out = check_sampler(options.check_sampler, chains=options.chains_check, seed=seed)
    return {k: round(v, 5) if isinstance(v, float) else v for k, v in out.items()}


def run(config: BinaryConfig, options: BinaryOptions | None = None) -> dict[str, Any]:
    options = options or BinaryOptions()
    if options.check_sampler is not None:
        return check(options, config.seed)
    if options.encodings is None:
        return train(config, options.eval_every)
    results = {enc: train(config.with_(encoding=enc), options.eval_every) for enc in dict.fromkeys(options.encodings)}
    best = min(results, key=lambda e: results[e]["nll"])
    out = {**results[best], "best_encoding": best, "nll_by_encoding": {e: r["nll"] for e, r in results.items()}}
    if "j_corr" in results[best]:
        out["j_corr_by_encoding"] = {e: r["j_corr"] for e, r in results.items()}
    return out
