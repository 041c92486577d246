"""Stop means stop, measured on the real server: Reset pressed while the embedding page's ResNet-18
evaluates the shapes set on the CPU. The busy threads of that evaluation (the run's, its baselines')
end within 1 s of the click, and from 2 s after it the server's CPU time (utime + stime of its process,
from /proc) grows by less than 0.2 s per second while the page stays open (its fragments still poll)."""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import goto
from tests.e2e.test_contrastive_embedding import pick

pytestmark = pytest.mark.e2e

TICK = os.sysconf("SC_CLK_TCK")
BUSY_CPU_S = 0.05  # a thread that used this much CPU in the second before the click was working (load 14: ~0.15)
ENDED_WITHIN_S = 1.0
MAX_CPU_RATE = 0.2
WARM_UP_WAIT_S = 180  # not what this test measures: wait as long as a loaded machine needs


def server_pid(url: str) -> int:
    """The pid of the `streamlit run` process that listens on `url`'s port."""
    port = url.rsplit(":", 1)[1]
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"streamlit" in b" ".join(args) and port.encode() in args:
            return int(proc.name)
    raise AssertionError(f"no streamlit process serves port {port}")


def cpu_seconds(stat: Path) -> float:
    """utime + stime of a /proc/<pid>[/task/<tid>]/stat file, in seconds."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def thread_cpu(pid: int) -> dict[int, float]:
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # the thread ended meanwhile
            out[int(task.name)] = cpu_seconds(task / "stat")
    return out


@pytest.mark.parametrize("window_s", [4.0, pytest.param(20.0, marks=pytest.mark.slow)])
def test_reset_during_a_resnet_evaluation_ends_its_threads_and_frees_the_cpu(page, window_s):
    pid = server_pid(page.base_url)
    goto(page, "contrastive_embedding")
    pick(page, "Data set", "shapes")
    pick(page, "Encoder", "resnet18")
    # numba's UMAP warm-up (started with the page) would use the CPU too: let it finish first
    expect(page.get_by_text(re.compile(r"UMAP ready"))).to_be_visible(timeout=WARM_UP_WAIT_S * 1000)
    page.get_by_role("button", name="Step", exact=True).click()
    # the set is generated and the model built, one step taken: its evaluation (a minute here) follows
    expect(page.get_by_text(re.compile(r"Paused · step 1\b")).first).to_be_visible(timeout=120_000)
    time.sleep(1.0)
    before = thread_cpu(pid)
    time.sleep(1.0)
    during = thread_cpu(pid)
    busy = {tid for tid, cpu in during.items() if cpu - before.get(tid, 0.0) >= BUSY_CPU_S}
    used = sorted(round(during[t] - before.get(t, 0.0), 2) for t in during)
    assert busy, f"nothing was evaluating when Reset was pressed (CPU-s per thread over 1 s: {used})"

    page.get_by_role("button", name="Reset", exact=True).click()
    clicked = time.perf_counter()
    ended: dict[int, float] = {}
    while time.perf_counter() - clicked < 2.0:
        alive = thread_cpu(pid)
        for tid in busy - alive.keys() - ended.keys():
            ended[tid] = time.perf_counter() - clicked
        time.sleep(0.02)
    cpu_start, wall_start = cpu_seconds(Path(f"/proc/{pid}/stat")), time.perf_counter()
    time.sleep(window_s)
    rate = (cpu_seconds(Path(f"/proc/{pid}/stat")) - cpu_start) / (time.perf_counter() - wall_start)
    expect(page.get_by_text(re.compile(r"Paused · step 0\b")).first).to_be_visible(timeout=10_000)
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.get_by_text("PCA of step 1.").count() == 0  # the stopped evaluation published nothing
    last = max(ended.values(), default=float("nan"))
    print(f"\nReset during the ResNet-18 evaluation: {len(ended)} of {len(busy)} busy threads ended, the last "
          f"{last:.2f} s after the click; server CPU from 2 s after, over {window_s:.0f} s: {rate:.3f} s/s")
    assert ended, "no thread of the evaluation ended (the others are torch's pool, kept for the next run)"
    assert last <= ENDED_WITHIN_S
    assert rate < MAX_CPU_RATE
