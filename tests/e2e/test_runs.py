"""The Runs page in a real browser, against a server whose ENERGY_LAB_RUNS is a fresh folder: a CLI run
started in a subprocess with `--save` appears, and its step and loss curve advance while it trains; two
finished runs overlay on one chart."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.runfolder import RunFolder, read_run
from tests.e2e.conftest import goto, poll_above, serve

ROOT = Path(__file__).resolve().parents[2]
# a cheap toy run (denoising score matching, a small MLP) with a budget far beyond the test: it trains
# for as long as the test follows it, and is stopped at the end
LIVE_RUN = ["-m", "engine", "toy", "--dataset", "eight_gaussians", "--method", "dsm", "--width", "16",
            "--eval-grid", "32", "--test-size", "500", "--steps", "1000000"]

# each Plotly chart's title (the theme wraps it in <b>), trace names and the last x of its first trace
CHARTS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(d => ({
  title: d.layout && d.layout.title ? String(d.layout.title.text).replace(/<[^>]*>/g, '') : null,
  names: d.data.map(t => t.name),
  last: d.data.length && d.data[0].x.length ? Number(d.data[0].x[d.data[0].x.length - 1]) : 0}))"""


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def server_url(runs_dir):
    """This module's own server (the session's has no ENERGY_LAB_RUNS): it lists `runs_dir`."""
    with serve({"ENERGY_LAB_RUNS": str(runs_dir)}, "e2e-runs-server.log") as url:
        yield url


@pytest.fixture
def live_run(runs_dir):
    """`python -m engine toy … --save <runs_dir>/live`, running; stopped after the test."""
    with open(ROOT / ".pytest_cache" / "e2e-runs-cli.log", "w") as log:
        proc = subprocess.Popen([sys.executable, *LIVE_RUN, "--save", str(runs_dir / "live")], cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            yield runs_dir / "live"
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def metric(page, label: str) -> str:
    box = page.locator("[data-testid='stMetric']").filter(
        has=page.locator("[data-testid='stMetricLabel']", has_text=re.compile(f"^{label}$")))
    return box.locator("[data-testid='stMetricValue']").first.inner_text()


def step_shown(page) -> int:
    if page.locator("[data-testid='stMetricValue']").count() == 0:
        return 0
    return int(metric(page, "Step").replace(",", "") or 0)


def chart(page, title: str) -> dict:
    found = [c for c in page.evaluate(CHARTS) if c["title"] == title]
    return found[0] if found else {"title": title, "names": [], "last": 0}


def pick(page, name: str) -> None:
    """Choose `name` in the run picker, as a user does (type, Enter)."""
    box = page.locator(".st-key-run").get_by_role("combobox")  # not the sidebar's language switch
    box.click()
    box.fill(name)
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")


def finished_run(path: Path, slope: float) -> None:
    folder = RunFolder.create(path, "toy", {"toy": {"method": "nce", "dataset": "rings"}})
    for s in range(1, 101):
        folder.append({"kind": "step", "run": "toy", "step": s, "t": s / 50, "loss": slope / s})
    folder.update(step=100, steps_per_s=50.0)
    folder.finish("finished", result={"kl": slope / 10})


@pytest.mark.e2e
def test_a_cli_run_is_followed_live_and_finished_runs_compare(page, live_run, runs_dir):
    goto(page, "runs")
    # the run appears in the browser (the page re-reads the folders every 2 s) and is picked
    deadline = time.time() + 60
    while step_shown(page) == 0:
        assert time.time() < deadline, "the CLI run never showed a step on the page"
        if (live_run / "run.json").exists():
            pick(page, "live")
        page.wait_for_timeout(1000)
    assert metric(page, "State") == "running"
    first_step = step_shown(page)
    first_x = poll_above(lambda: chart(page, "Loss")["last"], 0, "the loss curve's last step", timeout=20)
    page.wait_for_timeout(3000)
    second_step = poll_above(lambda: step_shown(page), first_step, "the step shown", timeout=20)
    second_x = poll_above(lambda: chart(page, "Loss")["last"], first_x, "the loss curve's last step", timeout=20)
    assert second_step <= read_run(live_run).step
    print(f"\nfollowed live: step {first_step} → {second_step}, loss curve to step {first_x:.0f} → {second_x:.0f}")

    finished_run(runs_dir / "done-a", 1.0)
    finished_run(runs_dir / "done-b", 2.0)
    goto(page, "runs?run=done-a&run=done-b")  # the picker is bound to the address: a shareable comparison
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length > 0", timeout=30_000)
    loss = chart(page, "loss")
    assert sorted(loss["names"]) == ["done-a", "done-b"], loss
    assert page.locator("[data-testid='stException']").count() == 0
