"""`python -m engine binary`: train one method on binary data headless and print exact metrics as JSON.

    python -m engine binary --data bars_stripes --model fvbm --method cd --k 10 --steps 3000 --seed 0
    python -m engine binary --data bars_stripes --method nce --encoding all   # both encodings, best one
    python -m engine binary --data ising --method mpf                          # + J MAE / correlation
    python -m engine binary --check-sampler metropolis                         # TV vs the exact model

Unset knobs take the per-data-set/method defaults of engine.binary.defaults.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

from engine.binary.config import METHODS, BinaryConfig
from engine.binary.data import DATASETS, ENCODINGS
from engine.binary.defaults import defaults_for
from engine.binary.models import MODELS
from engine.cli import progress
from engine.device import describe
from engine.run import Run, RunOptions

FLAGS = {  # config fields offered as flags besides data/model/method/steps/encoding
    "k": int, "lr": float, "batch_size": int, "optimizer": str, "sampler": str, "chains": int,
    "hidden": int, "nce_nu": int, "ising_c": float, "ising_train": int, "data_seed": int,
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="bars_stripes", choices=sorted(DATASETS))
    p.add_argument("--model", default="fvbm", choices=sorted(MODELS))
    p.add_argument("--method", default="ml", choices=list(METHODS))
    p.add_argument("--steps", type=int, default=3000, help="parameter updates")
    p.add_argument("--encoding", default=None, choices=[*sorted(ENCODINGS), "all"],
                   help="01 = {0,1}, pm1 = {−1,+1}, all = train with each and report the best "
                        "(default: per data set/method)")
    for name, kind in FLAGS.items():
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, default=None,
                       help=f"(default: per data set/method, else {BinaryConfig.__dataclass_fields__[name].default})")
    p.add_argument("--eval-every", type=int, default=500, help="steps between exact evaluations (progress)")
    p.add_argument("--check-sampler", choices=["metropolis", "gibbs"], default=None,
                   help="instead of training: run the sampler on a random 10-bit model and report the total "
                        "variation from the exact distribution (4096 chains, 500 burn-in, 250 samples 10 apart)")
    p.add_argument("--chains-check", type=int, default=4096, help="chains for --check-sampler")


def config_from_args(args: argparse.Namespace, encoding: str | None = None) -> BinaryConfig:
    values: dict[str, Any] = defaults_for(args.data, args.method)
    values.update(model=args.model, steps=args.steps, seed=args.seed, device=args.device)
    for f in fields(BinaryConfig):
        v = getattr(args, f.name, None) if f.name in FLAGS else None
        if v is not None:
            values[f.name] = v
    if encoding is not None:
        values["encoding"] = encoding
    return BinaryConfig(**values)


def train(config: BinaryConfig, eval_every: int = 500) -> tuple[Run, dict[str, Any]]:
    from engine.binary.trainer import BinaryTrainer

    trainer = BinaryTrainer(config)
    options = RunOptions(max_steps=config.steps, evaluate_every_steps=max(1, eval_every), snapshot_hz=0.1)
    run = Run(trainer, options, name="binary")
    run.add_callback("on_evaluate", lambda r: progress(
        f"[{config.label} {config.encoding}] step {r.step}: nll {r.last_evaluation().get('nll', float('nan')):.4f}"))
    run.run_to_end()
    if run.state == "failed":
        raise RuntimeError(run.message)
    ev = run.last_evaluation()
    result: dict[str, Any] = {
        "data": config.data, "model": config.model, "method": config.method, "label": config.label,
        "encoding": config.encoding, "steps": run.step, "nll": round(ev["nll"], 4),
    }
    for key in ("kl", "mass_on_patterns", "j_mae", "j_corr", "nce_norm_gap"):
        if key in ev:
            result[key] = round(ev[key], 4)
    if trainer.data.entropy is not None:
        result["entropy"] = round(trainer.data.entropy, 4)
    result.update(k=config.k, lr=config.lr, optimizer=config.optimizer, batch_size=config.batch_size,
                  train_seconds=round(run.elapsed, 2), steps_per_s=round(run.steps_per_second(), 1),
                  device=describe(trainer.device), seed=config.seed)
    return run, result


def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.check_sampler:
        from engine.binary.sampler_check import check_sampler

        progress(f"checking the {args.check_sampler} sampler against the exact distribution …")
        out = check_sampler(args.check_sampler, chains=args.chains_check, seed=args.seed)
        return {k: round(v, 5) if isinstance(v, float) else v for k, v in out.items()}
    if args.encoding != "all":
        return train(config_from_args(args, args.encoding), args.eval_every)[1]
    results = {enc: train(config_from_args(args, enc), args.eval_every)[1] for enc in sorted(ENCODINGS)}
    best = min(results, key=lambda e: results[e]["nll"])
    return {**results[best], "best_encoding": best,
            "nll_by_encoding": {e: r["nll"] for e, r in results.items()},
            **({"j_corr_by_encoding": {e: r["j_corr"] for e, r in results.items()}}
               if "j_corr" in results[best] else {})}
