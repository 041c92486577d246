"""`torchrun … -m engine embed` end to end: real torchrun, two CPU processes over gloo, the JSON contract,
the step budget it requires, `--resume` after the processes are killed, and (slow) the accuracy of two
processes against one with the same global batch."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EMBED = ["-m", "engine", "embed", "--dataset", "digits", "--method", "simclr", "--device", "cpu", "--no-baselines"]


def torchrun(*args: str, procs: int = 2) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(procs), *EMBED,
            *args]


def run(cmd: list[str], timeout: float = 600) -> tuple[int, list[dict], str]:
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    objects = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return done.returncode, objects, done.stderr


def test_two_processes_print_one_json_line_with_world_size_2():
    code, objects, err = run(torchrun("--max-steps", "12", "--seed", "0"))
    assert code == 0, err[-2000:]
    assert len(objects) == 1, objects  # process 0 alone prints the result
    result = objects[0]
    assert result["world_size"] == 2 and result["steps"] == 12 and result["batch_size"] == 256
    assert 0.1 < result["linear_probe_acc"] <= 1


def test_a_time_budget_alone_is_refused_under_torchrun():
    code, objects, err = run(torchrun("--seed", "0"))  # the default budget is 60 s, no step budget
    assert code != 0
    assert objects and objects[-1]["kind"] == "invalid_setting" and objects[-1]["setting"] == "max_steps"
    assert f'File "{ROOT / "engine"}' not in err  # no traceback of ours (torchrun prints its own report)
    assert "rank 1: error: max_steps is unset" in err


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (torchrun starts its workers in sessions of their own, so killing its
    process group would leave them training)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def test_killed_run_resumes_from_its_checkpoint(tmp_path):
    folder = tmp_path / "run"
    cmd = torchrun("--max-steps", "100000", "--seed", "1", "--save", str(folder), "--checkpoint-every-s", "1")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:  # wait for a checkpoint a few steps in
            info = read_json(folder / "run.json")
            if (folder / "checkpoint.pt").exists() and info.get("step", 0) >= 5:
                break
            time.sleep(0.5)
        else:
            pytest.fail("no checkpoint was written within 240 s")
    finally:
        for pid in [proc.pid, *descendants(proc.pid)]:  # the agent and both processes, mid-run
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(30)
    import torch

    saved = torch.load(folder / "checkpoint.pt", weights_only=True)["step"]
    assert saved >= 1
    code, objects, err = run(torchrun("--max-steps", str(saved + 4), "--seed", "1", "--save", str(folder),
                                      "--resume"))
    assert code == 0, err[-2000:]
    result = objects[-1]
    assert result["steps"] == saved + 4 and result["world_size"] == 2
    info = read_json(folder / "run.json")
    assert info["resumed_from"] == saved and info["state"] == "finished"


@pytest.mark.slow
def test_two_processes_probe_like_one_with_the_same_global_batch():
    """Acceptance: 300 steps, 3 seeds; the mean linear probe of 2 processes is within 1 point of 1."""
    two, one = [], []
    for seed in ("0", "1", "2"):
        code, objects, err = run(torchrun("--max-steps", "300", "--seed", seed), timeout=1200)
        assert code == 0, err[-2000:]
        two.append(objects[-1]["linear_probe_acc"])
        # all 300 steps however loaded the machine (the single process's default time budget would cut it short)
        code, objects, err = run([sys.executable, *EMBED, "--max-steps", "300", "--budget-seconds", "none",
                                  "--seed", seed], timeout=1200)
        assert code == 0, err[-2000:]
        one.append(objects[-1]["linear_probe_acc"])
    assert all(o["steps"] == 300 for o in (objects[-1],))
    assert abs(sum(two) / 3 - sum(one) / 3) <= 0.01, (two, one)
