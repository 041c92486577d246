"""The CLI never shows a traceback: every flag of every experiment, given hostile values on top of a
2-step budget, exits 2 with a JSON last line exactly when the value is outside its declaration, and 0
otherwise (the entry function in-process, plus a sample of real subprocess calls)."""

from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine import cli
from engine.errors import DataError, LabError, SettingError
from engine.schema import NONE_WORDS, Spec
from tests.engine.test_schema_properties import expected_bad

ROOT = Path(__file__).resolve().parents[2]
BAD_VALUES = ("nan", "inf", "-1", "0", "1e12", "abc")

# the cheapest honest run of each experiment: a 2-step budget and small pictures/metrics
BUDGET: dict[str, list[str]] = {
    "toy": ["--steps", "2", "--eval-grid", "32", "--test-size", "200", "--device", "cpu"],
    "scoreboard": ["--steps", "2", "--methods", "ml,cd-1", "--device", "cpu"],
    "pcd-dimension": ["--steps", "2", "--dims", "2", "--methods", "cd", "--samples", "10", "--sample-steps", "0",
                      "--device", "cpu"],
    "dae": ["--steps", "2", "--eval-grid", "32", "--latent-z", "16", "--device", "cpu"],
    "binary": ["--steps", "2", "--device", "cpu"],
    "embed": ["--max-steps", "2", "--no-baselines", "true", "--map-size", "10", "--device", "cpu"],
    "image-ebm": ["--max-steps", "2", "--device", "cpu"],
}
SKIP = {"bench"}  # speed figures, not a training budget


def experiments() -> dict[str, tuple]:
    found = {}
    for name, (module, _) in cli._available().items():
        if name in SKIP:
            continue
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        classes = cli.settings_classes(mod)
        if classes:
            found[name] = classes
    return found


EXPERIMENTS = experiments()


def parse_oracle(spec: Spec, text: str):
    """Read text as the declaration's type, independently of Spec.parse; raises ValueError if unreadable."""
    if spec.nullable and text.strip().lower() in NONE_WORDS:
        return None
    if spec.many:
        return tuple(parse_oracle(Spec(name=spec.name, kind=spec.kind, nullable=False, default=None), p)
                     for p in text.split(","))
    if spec.kind is bool:
        return {"true": True, "1": True, "yes": True, "on": True,
                "false": False, "0": False, "no": False, "off": False}[text.lower()]
    if spec.kind is int:
        x = float(text)
        if not (math.isfinite(x) and x.is_integer()):
            raise ValueError(text)
        return int(x)
    if spec.kind is float:
        return float(text)
    return text


def expect_ok(classes: tuple, flag: str, text: str, budget: list[str]) -> bool:
    """Is `--flag text` (after the budget flags) inside the declarations? (Oracle: the test's own reading.)"""
    given: dict[str, str] = {}
    pairs = [*zip(budget[::2], budget[1::2], strict=True), (f"--{flag.replace('_', '-')}", text)]
    for f, t in pairs:
        given[f[2:].replace("-", "_")] = t
    for cls in classes:
        specs = cls.specs()
        mine = {n: t for n, t in given.items() if n in specs}
        try:
            parsed = {n: parse_oracle(specs[n], t) for n, t in mine.items()}
        except (ValueError, KeyError):
            return False
        lay = cls.layers
        values = cls.defaults_for(parsed.get(lay.dataset_key) if _hashable(parsed.get(lay.dataset_key)) else None,
                                  parsed.get(lay.method_key) if _hashable(parsed.get(lay.method_key)) else None)
        values.update(parsed)
        if expected_bad(cls, values) is not None:
            return False
    return True


def _hashable(x) -> bool:
    try:
        hash(x)
        return True
    except TypeError:
        return False


def cases() -> list[tuple[str, str, str]]:
    out = []
    for name, classes in EXPERIMENTS.items():
        for cls in classes:
            for flag, spec in cls.specs().items():
                if spec.cli:
                    out.extend((name, flag, v) for v in BAD_VALUES)
    return out


def run_in_process(capsys, argv: list[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_every_experiment_has_a_two_step_budget():
    assert set(EXPERIMENTS) <= set(BUDGET), set(EXPERIMENTS) - set(BUDGET)
    assert {"toy", "dae", "binary", "embed"} <= set(EXPERIMENTS)


@pytest.mark.parametrize(("experiment", "flag", "text"), cases())
def test_flag_value(capsys, monkeypatch, tmp_path, experiment, flag, text):
    monkeypatch.chdir(tmp_path)  # a file setting given "abc" writes abc.npy: here, not in the repository
    budget = BUDGET[experiment]
    argv = [experiment, *budget, f"--{flag.replace('_', '-')}", text]
    code, out, err = run_in_process(capsys, argv)
    assert "Traceback" not in out + err
    want_ok = expect_ok(EXPERIMENTS[experiment], flag, text, budget)
    if want_ok:
        assert code == 0, (argv, err[-2000:])
        last = json.loads(out.strip().splitlines()[-1])
        assert "error" not in (last if isinstance(last, dict) else {})
    else:
        assert code == 2, (argv, out[-500:])
        last = json.loads(out.strip().splitlines()[-1])
        assert last["kind"] in ("invalid_setting", "device"), last
        assert last.get("setting") == flag, (last, flag)
        assert err.strip().startswith("error:") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("flag", "text"), [(f, v) for f in cli.Output.specs() for v in BAD_VALUES])
def test_output_flag_value(capsys, monkeypatch, tmp_path, flag, text):
    """The run-folder flags every experiment takes (one experiment suffices: they are read by the CLI)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ENERGY_LAB_RUNS", raising=False)  # a --save name lands in ./runs, here
    budget = BUDGET["toy"]
    code, out, err = run_in_process(capsys, ["toy", *budget, f"--{flag.replace('_', '-')}", text])
    assert "Traceback" not in out + err
    if expect_ok((cli.Output,), flag, text, []):
        assert code == 0, err[-2000:]
        assert flag != "save" or (tmp_path / "runs" / text / "run.json").is_file()
    else:
        assert code == 2
        last = json.loads(out.strip().splitlines()[-1])
        assert last["kind"] == "invalid_setting" and last.get("setting") == flag, last


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.parametrize(("args", "kind", "setting"), [
    (["toy", "--lr", "nan", "--steps", "2"], "invalid_setting", "lr"),
    (["toy", "--k", "abc", "--steps", "2"], "invalid_setting", "k"),
    (["toy", "--device", "foo", "--steps", "2"], "invalid_setting", "device"),
    (["toy", "--device", "cuda:7", "--steps", "2"], "device", "device"),
    (["toy", "--no-such-flag", "1"], "invalid_setting", None),
    (["dae", "--sigma", "inf", "--steps", "2"], "invalid_setting", "sigma"),
    (["binary", "--k", "1e12", "--steps", "2"], "invalid_setting", "k"),
    (["embed", "--temperature", "-1", "--max-steps", "2"], "invalid_setting", "temperature"),
])
def test_real_subprocess_failures_are_one_line_and_json(args, kind, setting):
    out = run_cli(*args)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    last = json.loads(out.stdout.strip().splitlines()[-1])
    assert last["kind"] == kind and "error" in last
    if setting is not None:
        assert last["setting"] == setting
    assert len(out.stderr.strip().splitlines()) == 1


def test_real_subprocess_success_prints_json():
    out = run_cli("toy", *BUDGET["toy"], "--seed", "4")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["steps"] == 2


def test_help_shows_each_flag_with_its_range():
    out = run_cli("toy", "--help")
    assert out.returncode == 0
    assert "--k" in out.stdout and "an integer from 1 to" in out.stdout and "eight_gaussians" in out.stdout


@pytest.mark.parametrize(("exc", "kind"), [
    (SettingError("x = 1 is not allowed", setting="x"), "invalid_setting"),
    (DataError("the file f is not an IDX file"), "data"),
    (MemoryError("cannot allocate"), "out_of_memory"),
    (ImportError("No module named 'umap'"), "missing_package"),
    (RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"), "out_of_memory"),
    (ZeroDivisionError("division by zero"), "internal"),
])
def test_every_failure_becomes_one_json_line(monkeypatch, capsys, exc, kind):
    import engine.toy.cli as toy_cli

    def boom(*_):
        raise exc

    monkeypatch.setattr(toy_cli, "run", boom)
    code, out, err = run_in_process(capsys, ["toy", "--steps", "2"])
    assert code == 2 and "Traceback" not in out + err
    assert json.loads(out.strip().splitlines()[-1])["kind"] == kind
    code, out, err = run_in_process(capsys, ["toy", "--steps", "2", "--debug"])
    assert code == 2 and "Traceback" in err  # --debug shows where


def test_divergence_is_reported_as_diverged(monkeypatch, capsys):
    import engine.toy.cli as toy_cli
    from engine.run import Diverged

    def boom(*_):
        raise Diverged("Stopped: the loss became non-finite at step 3. Try a lower learning rate.")

    monkeypatch.setattr(toy_cli, "run", boom)
    code, out, _ = run_in_process(capsys, ["toy", "--steps", "2"])
    assert code == 2 and json.loads(out.strip().splitlines()[-1])["kind"] == "diverged"
    assert isinstance(cli._as_lab_error(Diverged("x")), LabError)
