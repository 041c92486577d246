"""Run folders (engine/runfolder.py): the format round trip, live reading, atomic rewrites, stale runs, names
that stay inside the runs folder, checkpoints that load without running code, and the CLI's --save /
--resume (a toy run killed mid-way continues from its checkpoint and ends where an uninterrupted one does)."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import cli, runfolder
from engine.errors import DataError, SettingError
from engine.run import Run, RunOptions
from engine.runfolder import RunFolder, attach, latest_snapshot, list_runs, read_metrics, read_run, run_path

ROOT = Path(__file__).resolve().parents[2]
# a toy run that takes ~1 ms a step: small model, small grids
TOY = ["toy", "--width", "16", "--depth", "1", "--train-grid", "16", "--view-grid", "8", "--eval-grid", "16",
       "--test-size", "100", "--batch-size", "64", "--device", "cpu"]


@pytest.fixture
def runs(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "runs"
    monkeypatch.setenv("ENERGY_LAB_RUNS", str(root))
    monkeypatch.delenv("RANK", raising=False)
    return root



def new_folder(path: Path, **kw) -> RunFolder:
    return RunFolder.create(path, "toy", {"toy": {"schema_version": 1, "seed": 3, "steps": 10}}, **kw)


def cli_json(capsys, *argv: str) -> tuple[int, dict]:
    code = cli.main(list(argv))
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1]) if out else {}


# ---- the format -------------------------------------------------------------------------------------------
def test_round_trip(tmp_path):
    folder = new_folder(tmp_path / "a")
    for step in range(1, 4):
        folder.append({"kind": "step", "run": "toy", "step": step, "t": step / 10, "loss": 1.0 / step,
                       "bad": float("nan"), "n": np.float32(2.5)})
    folder.save_snapshot(3, {"map_z": np.arange(6.0).reshape(3, 2), "labels": np.array([1, 2, 3]),
                             "text": "skipped", "objects": np.array([{}], dtype=object)})
    state = {"modules": {"model": {"w": torch.randn(3, 2)}}, "step": 3, "rng": torch.Generator().get_state()}
    folder.save_checkpoint(state)
    folder.finish("finished", {"nll": 1.5}, message="done")

    info = read_run(tmp_path / "a")
    assert (info.experiment, info.state, info.message, info.result) == ("toy", "finished", "done", {"nll": 1.5})
    assert info.settings == {"toy": {"schema_version": 1, "seed": 3, "steps": 10}} and not info.stale
    rows, offset = read_metrics(tmp_path / "a")
    assert [r["step"] for r in rows] == [1, 2, 3] and rows[2]["loss"] == pytest.approx(1 / 3)
    assert rows[0]["bad"] is None and rows[0]["n"] == 2.5  # strict JSON: NaN becomes null
    assert offset == (tmp_path / "a" / "metrics.jsonl").stat().st_size
    step, arrays = latest_snapshot(tmp_path / "a")
    assert step == 3 and set(arrays) == {"map_z", "labels"}
    np.testing.assert_array_equal(arrays["map_z"], np.arange(6.0).reshape(3, 2))
    loaded = folder.load_checkpoint()
    assert loaded["step"] == 3 and torch.equal(loaded["modules"]["model"]["w"], state["modules"]["model"]["w"])
    assert not [p for p in (tmp_path / "a").rglob("*") if p.name.endswith(".tmp")]  # no temporary files left


def test_metrics_are_read_incrementally_and_a_partial_line_waits(tmp_path):
    folder = new_folder(tmp_path / "a")
    folder.append({"kind": "step", "run": "r", "step": 1, "t": 0.0})
    folder.flush()
    rows, offset = read_metrics(folder.path)
    assert [r["step"] for r in rows] == [1]
    with open(folder.path / "metrics.jsonl", "a") as f:  # a writer caught in the middle of a line
        f.write('{"kind": "step", "run": "r", "step": 2, "t": 0.1}\n{"kind": "step", "ru')
    rows, offset = read_metrics(folder.path, offset)
    assert [r["step"] for r in rows] == [2]
    with open(folder.path / "metrics.jsonl", "a") as f:
        f.write('n": "r", "step": 3, "t": 0.2}\n')
    rows, offset = read_metrics(folder.path, offset)
    assert [r["step"] for r in rows] == [3]
    assert read_metrics(folder.path, offset) == ([], offset)
    assert read_metrics(tmp_path / "nothing") == ([], 0)


def test_rows_reach_the_file_in_batches_and_on_flush(tmp_path):
    folder = new_folder(tmp_path / "a")
    folder.append({"kind": "step", "run": "r", "step": 1, "t": 0.0})
    folder.append({"kind": "step", "run": "r", "step": 2, "t": 0.0})
    assert read_metrics(folder.path)[0] == []  # buffered: a fast run is not slowed by a write per step
    folder.flush()
    assert len(read_metrics(folder.path)[0]) == 2


def test_rewrites_are_atomic(tmp_path, monkeypatch):
    folder = new_folder(tmp_path / "a")
    folder.save_checkpoint({"step": 1})
    before = (folder.path / "run.json").read_bytes()

    def crash(*_):
        raise OSError("disk full")

    monkeypatch.setattr(runfolder.os, "replace", crash)
    with pytest.raises(OSError):
        folder.update(step=99)
    with pytest.raises(OSError):
        folder.save_checkpoint({"step": 2})
    monkeypatch.undo()
    assert (folder.path / "run.json").read_bytes() == before  # the old file, whole
    assert read_run(folder.path).step == 0 and folder.load_checkpoint() == {"step": 1}


def test_stale_means_running_but_silent_for_a_minute(tmp_path):
    folder = new_folder(tmp_path / "a")
    updated = read_run(folder.path).updated
    assert not read_run(folder.path, now=updated + 30).stale
    assert read_run(folder.path, now=updated + 61).stale
    folder.finish("stopped")
    assert not read_run(folder.path, now=time.time() + 3600).stale


def test_list_runs_newest_first_and_skips_what_is_not_a_run(tmp_path):
    for name in ("old", "new"):
        new_folder(tmp_path / name)
        time.sleep(0.01)
    (tmp_path / "junk").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "run.json").write_text("{not json")
    assert [r.name for r in list_runs(tmp_path)] == ["new", "old"]
    with pytest.raises(DataError, match="broken"):
        read_run(tmp_path / "broken")
    assert list_runs(tmp_path / "absent") == []


def test_names_stay_inside_the_runs_folder(tmp_path):
    root = tmp_path / "runs"
    assert run_path("week8-pcd", root) == root / "week8-pcd"
    assert run_path(tmp_path / "elsewhere", root) == tmp_path / "elsewhere"  # absolute: as given
    for bad in ("..", "../x", "a/../../x", "a/b", "./x/..", "", "  "):
        with pytest.raises(SettingError):
            run_path(bad, root)


def test_a_non_writer_writes_nothing(tmp_path):
    folder = new_folder(tmp_path / "a", writer=False)
    folder.append({"kind": "step", "run": "r", "step": 1, "t": 0.0})
    folder.save_snapshot(1, {"x": np.zeros(2)})
    folder.save_checkpoint({"step": 1})
    folder.finish("finished", {"x": 1})
    assert not (tmp_path / "a").exists()


# ---- checkpoints that would run code --------------------------------------------------------------------------
class _Payload:
    """Unpickling this creates a file: the code a tampered checkpoint would run."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


@pytest.mark.parametrize("writer", ["torch.save", "pickle", "garbage"])
def test_a_tampered_checkpoint_is_refused_and_does_not_run(tmp_path, writer):
    folder = new_folder(tmp_path / "a")
    target = tmp_path / "pwned"
    file = folder.path / "checkpoint.pt"
    payload = {"step": 1, "modules": _Payload(target)}
    if writer == "torch.save":
        torch.save(payload, file)
    elif writer == "pickle":
        file.write_bytes(pickle.dumps(payload))
    else:
        file.write_bytes(b"\x80\x04 not a checkpoint")
    with pytest.raises(DataError, match="tampered") as err:
        folder.load_checkpoint()
    assert "checkpoint.pt" in str(err.value)
    assert not target.exists()


# ---- a Run's callbacks ------------------------------------------------------------------------------------------
def toy_trainer(steps: int = 12):
    from engine.toy.config import ToyConfig
    from engine.toy.trainer import ToyTrainer

    return ToyTrainer(ToyConfig.create(width=16, depth=1, train_grid=16, view_grid=8, eval_grid=16, test_size=100,
                                       batch_size=64, device="cpu", steps=steps))


def test_attach_writes_a_runs_steps_evaluations_snapshot_checkpoint_and_end(tmp_path):
    trainer = toy_trainer()
    run = Run(trainer, RunOptions(max_steps=12, evaluate_every_s=None, evaluate_every_steps=4,
                                  checkpoint_every_s=0.0), name="ml")
    seen = []
    run.add_callback("on_checkpoint", lambda r: seen.append(r.guard.latest()[0]))
    folder = new_folder(tmp_path / "a")
    attach(run, folder, checkpoint_every_s=0.0)
    run.run_to_end()
    assert seen == list(range(13))  # the loop's first checkpoint, then one per step
    rows, _ = read_metrics(folder.path)
    assert [r["step"] for r in rows if r["kind"] == "step"] == list(range(1, 13))
    assert [r["step"] for r in rows if r["kind"] == "eval"] == [4, 8, 12]
    assert all(r["run"] == "ml" and "loss" in r for r in rows if r["kind"] == "step")
    info = read_run(folder.path)
    assert (info.state, info.step, info.result["step"]) == ("finished", 12, 12) and info.steps_per_s > 0
    assert latest_snapshot(folder.path)[0] == 12
    assert folder.load_checkpoint()["step"] == 12


# ---- the CLI ---------------------------------------------------------------------------------------------------
def test_cli_save_writes_a_finished_folder(runs, capsys):
    code, result = cli_json(capsys, *TOY, "--steps", "40", "--seed", "2", "--save", "first")
    assert code == 0, result
    info = read_run(runs / "first")
    assert info.state == "finished" and info.step == 40 and info.experiment == "toy"
    assert info.result == result and info.resumed_from is None
    assert info.settings["toy"]["schema_version"] == 1 and info.settings["toy"]["seed"] == 2
    rows, _ = read_metrics(runs / "first")
    assert [r["step"] for r in rows if r["kind"] == "step"] == list(range(1, 41))
    closing = [r for r in rows if r["kind"] == "eval"][-1]
    assert closing["step"] == 40 and round(closing["nll"], 4) == result["nll"]
    assert RunFolder.create(runs / "first", "toy", info.settings, resume=True,
                            budgets=("steps",)).load_checkpoint()["step"] == 40


@pytest.mark.parametrize("experiment, argv, model_setting", [
    ("dae", ["dae", "--steps", "20"], "corruption"),
    ("binary", ["binary", "--steps", "10"], "model"),
])
def test_cli_options_do_not_overwrite_the_model_settings_in_run_json(runs, capsys, experiment, argv, model_setting):
    """The CLI's own options (log cadence, encodings…) are an entry of their own: the model's settings stay
    whole in run.json, so `--resume` checks them and a page can rebuild the model from them."""
    assert cli_json(capsys, *argv, "--save", "r")[0] == 0
    settings = read_run(runs / "r").settings
    assert model_setting in settings[experiment], settings
    assert f"{experiment}_cli" in settings and model_setting not in settings[f"{experiment}_cli"]
    code, last = cli_json(capsys, *argv[:-1], str(int(argv[-1]) + 5), "--save", "r", "--resume", "--seed", "9")
    assert code == 2 and last["setting"] == "resume" and "seed" in last["error"], last


def test_cli_refuses_to_overwrite_and_checks_what_it_resumes(runs, capsys):
    assert cli_json(capsys, *TOY, "--steps", "5", "--save", "r")[0] == 0
    cases = [
        (["--save", "r"], "save", "not empty"),
        (["--resume"], "resume", "--save"),
        (["--save", "r", "--resume", "--seed", "7"], "resume", "seed"),
        (["--save", "../escape"], "save", "plain name"),
        (["--save", "r", "--checkpoint-every-s", "0.1"], "checkpoint_every_s", "checkpoint_every_s"),
    ]
    for extra, setting, words in cases:
        code, last = cli_json(capsys, *TOY, "--steps", "5", *extra)
        assert code == 2 and last["kind"] == "invalid_setting" and last["setting"] == setting, (extra, last)
        assert words in last["error"], (extra, last)
    (runs / "r" / "checkpoint.pt").unlink()
    code, last = cli_json(capsys, *TOY, "--steps", "9", "--save", "r", "--resume")
    assert code == 2 and "no checkpoint" in last["error"]
    assert read_run(runs / "r").state == "finished"  # a refused call leaves the saved run as it was


def test_a_failed_call_is_recorded(runs, capsys, monkeypatch):
    import engine.toy.cli as toy_cli
    from engine.run import Diverged

    def boom(*_):
        raise Diverged("Stopped: the loss became non-finite at step 3.")

    monkeypatch.setattr(toy_cli, "run", boom)
    code, last = cli_json(capsys, *TOY, "--save", "f")
    assert code == 2 and last["kind"] == "diverged"
    info = read_run(runs / "f")
    assert info.state == "failed" and "non-finite at step 3" in info.message


def test_other_ranks_write_nothing_and_print_no_json(runs, capsys, monkeypatch):
    import engine.toy.cli as toy_cli

    monkeypatch.setenv("RANK", "1")
    monkeypatch.setattr(toy_cli, "run", lambda *_: None)  # what a rank other than 0 returns
    assert cli.main([*TOY, "--save", "x"]) == 0
    assert capsys.readouterr().out == "" and not (runs / "x").exists()

    def boom(*_):
        raise SettingError("the data set is missing", setting="dataset")

    monkeypatch.setattr(toy_cli, "run", boom)
    assert cli.main([*TOY, "--save", "x"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.strip() == "rank 1: error: the data set is missing"


def test_a_killed_run_resumes_from_its_checkpoint_and_ends_as_an_uninterrupted_one(runs, capsys, one_thread):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "ENERGY_LAB_RUNS": str(runs)}
    proc = subprocess.Popen([sys.executable, "-m", "engine", *TOY, "--steps", "1000000", "--save", "k",
                             "--checkpoint-every-s", "0.5"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while not (runs / "k" / "checkpoint.pt").exists():
            assert proc.poll() is None and time.time() < deadline, "no checkpoint was written"
            time.sleep(0.05)
        time.sleep(0.3)  # a few more steps logged after the checkpoint: the resume must drop them
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    saved = RunFolder.create(runs / "k", "toy", read_run(runs / "k").settings, resume=True,
                             budgets=("steps",), writer=False).load_checkpoint()
    at = saved["step"]
    assert at > 0 and read_run(runs / "k").state == "running"
    target = at + 25
    code, resumed = cli_json(capsys, *TOY, "--steps", str(target), "--save", "k", "--resume")
    assert code == 0, resumed
    info = read_run(runs / "k")
    assert (info.state, info.resumed_from, info.step, resumed["steps"]) == ("finished", at, target, target)
    rows, _ = read_metrics(runs / "k")
    assert [r["step"] for r in rows if r["kind"] == "step"] == list(range(1, target + 1))  # no step twice
    code, straight = cli_json(capsys, *TOY, "--steps", str(target))
    assert code == 0 and straight["nll"] == resumed["nll"] and straight["kl"] == resumed["kl"]


def test_a_heartbeat_keeps_a_busy_run_from_looking_stale(tmp_path):
    folder = new_folder(tmp_path / "a")
    first = read_run(folder.path).updated
    with folder.heartbeat(every_s=0.05):
        time.sleep(0.3)
    assert read_run(folder.path).updated > first
    folder.finish("finished")
    last = read_run(folder.path).updated
    with folder.heartbeat(every_s=0.05):  # a finished run's folder is left alone
        time.sleep(0.2)
    assert read_run(folder.path).updated == last


def test_an_elastic_restart_continues_from_the_checkpoint(runs, capsys, monkeypatch):
    assert cli_json(capsys, *TOY, "--steps", "20", "--save", "e")[0] == 0
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")  # torchrun ran the same command again
    code, result = cli_json(capsys, *TOY, "--steps", "30", "--save", "e")
    assert code == 0 and result["steps"] == 30
    assert read_run(runs / "e").resumed_from == 20


def test_a_secondary_run_adds_rows_only(tmp_path):
    folder = new_folder(tmp_path / "a")
    run = Run(toy_trainer(4), RunOptions(max_steps=4, evaluate_every_s=None, checkpoint_every_s=0.0), name="extra")
    attach(run, folder, main=False, checkpoint_every_s=0.0)
    run.run_to_end()
    rows, _ = read_metrics(folder.path)
    assert [(r["run"], r["step"]) for r in rows] == [("extra", s) for s in (1, 2, 3, 4, 4)]
    assert latest_snapshot(folder.path) is None and folder.load_checkpoint() is None
    assert read_run(folder.path).step == 0 and read_run(folder.path).state == "running"


def test_a_terminated_call_is_recorded_as_stopped(runs, capsys, monkeypatch):
    import engine.toy.cli as toy_cli

    def terminated(*_):  # what torchrun does to the other ranks when one fails
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(toy_cli, "run", terminated)
    code, last = cli_json(capsys, *TOY, "--save", "t")
    assert code == 2 and last["error"] == "terminated"
    info = read_run(runs / "t")
    assert (info.state, info.message) == ("stopped", "terminated")
    assert signal.getsignal(signal.SIGTERM) is before
