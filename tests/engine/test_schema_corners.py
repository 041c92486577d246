"""Every experiment at its declared-maximum corner, and ~10 random valid settings, builds a trainer and
completes 2 steps in a subprocess; time and peak RSS of each go to .pytest_cache/schema-corners.json.

Slow (the corner is the heaviest run each declaration admits): `python -m pytest -m slow
tests/engine/test_schema_corners.py -s`.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.schema import Spec
from tests.engine.test_cli_errors import EXPERIMENTS, expected_bad

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / ".pytest_cache" / "schema-corners.json"
STEP_BUDGET = {"toy": {"steps": "2"}, "scoreboard": {"steps": "2"}, "pcd-dimension": {"steps": "2"},
               "dae": {"steps": "2"}, "binary": {"steps": "2"}, "embed": {"max_steps": "2", "no_baselines": "true"},
               "image-ebm": {"max_steps": "2"}}
# settings that are not the model's size: left at their defaults in the corner
NOT_SIZE = {"seed", "device", "steps", "max_steps", "budget_seconds", "data_dir", "download", "samples_out", "save"}
# data sets read from files that a fresh clone does not have (the data error they give is tested elsewhere)
NEEDS_FILES = {"mnist", "fashion_mnist", "cifar10"}
# runs the CLI and reports its own peak RSS (ru_maxrss: KiB on Linux) on stderr's last line
WRAPPER = ("import resource, sys; from engine.cli import main; code = main(sys.argv[1:]); "
           "print('maxrss_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(code)")


def maximum(spec: Spec):
    high = spec.le if spec.le is not None else spec.lt
    if spec.kind is int:
        return int(high) - (1 if spec.le is None else 0)
    return float(high) if spec.le is not None else math.nextafter(float(high), -math.inf)


def text(v) -> str:
    if isinstance(v, tuple):
        return ",".join(map(text, v))
    return str(v).lower() if isinstance(v, bool) else repr(v) if isinstance(v, float) else str(v)


def corner(cls) -> dict[str, object]:
    values = cls.defaults_for()
    for name, spec in cls.specs().items():
        if spec.cli and name not in NOT_SIZE and spec.kind in (int, float) and not spec.many:
            trial = {**values, name: maximum(spec)}
            if expected_bad(cls, trial) is None:  # a rule between two maxima keeps the default
                values = trial
    return values


def random_valid(cls, rng: np.random.Generator) -> dict[str, object]:
    while True:
        values = cls.defaults_for()
        for name, spec in cls.specs().items():
            if not spec.cli or name in NOT_SIZE or rng.random() > 0.3:
                continue
            choices = spec.allowed_choices()
            if spec.many:
                continue
            if choices is not None:
                choices = [c for c in choices if c not in NEEDS_FILES]
                values[name] = choices[int(rng.integers(len(choices)))]
            elif spec.kind is bool:
                values[name] = bool(rng.integers(2))
            elif spec.kind in (int, float):
                low = spec.ge if spec.ge is not None else spec.gt
                high = spec.le if spec.le is not None else spec.lt
                lo, hi = max(float(low), 1e-6), max(float(high), 1e-6)
                x = float(np.exp(rng.uniform(math.log(lo), math.log(hi)))) if hi / lo > 100 else rng.uniform(lo, hi)
                x = min(max(x, float(low)), float(high))
                values[name] = int(round(x)) if spec.kind is int else x
        values = {**cls.defaults_for(values.get(cls.layers.dataset_key), values.get(cls.layers.method_key)),
                  **{k: v for k, v in values.items() if v != cls.defaults_for()[k]}}
        if expected_bad(cls, values) is None:
            return values


def run_two_steps(experiment: str, values: dict[str, object], classes) -> dict[str, object]:
    specs = {n: s for cls in classes for n, s in cls.specs().items()}
    given = {n: v for n, v in values.items() if specs[n].cli}
    given.update(STEP_BUDGET[experiment])
    given["device"] = "cpu"
    argv = [experiment]
    for n, v in given.items():
        argv += [f"--{n.replace('_', '-')}", v if isinstance(v, str) else text(v)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2"}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", WRAPPER, *argv], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=1800)
    seconds = time.perf_counter() - t0
    rss = [line for line in out.stderr.splitlines() if line.startswith("maxrss_kib")]
    return {"argv": " ".join(argv), "code": out.returncode, "seconds": round(seconds, 1),
            "peak_rss_mb": round(int(rss[-1].split()[1]) / 1024) if rss else None,
            "last_line": out.stdout.strip().splitlines()[-1][:300] if out.stdout.strip() else out.stderr[-300:]}


@pytest.mark.slow
@pytest.mark.parametrize("experiment", sorted(set(EXPERIMENTS) & set(STEP_BUDGET)))
def test_corner_and_random_valid_settings_complete_two_steps(experiment):
    classes = EXPERIMENTS[experiment]
    main = classes[0]
    rng = np.random.default_rng(0)
    runs = [("corner", corner(main))] + [(f"random-{i}", random_valid(main, rng)) for i in range(10)]
    report = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    rows = []
    for label, values in runs:
        row = {"case": label, **run_two_steps(experiment, values, classes)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    report[experiment] = rows
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=1))
    failed = [r for r in rows if r["code"] != 0]
    assert not failed, failed
