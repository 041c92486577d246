"""A class on one server: N real browser sessions train at once; what each student would see, measured.

    python -m tests.load.simulate_class --sessions 20            # the acceptance run (~5 min on 2 cores)
    python -m tests.load.simulate_class --sessions 6 --max-jobs 2

One local server (`streamlit run app/main.py`, runs recorded under a temporary folder) and one headless
Chromium with N isolated contexts — N browsers. They arrive `--arrive-every` seconds apart and open the
maximum-likelihood page; each sets its seed (session i: seed i mod `--seeds`), a 1,000-step budget (the observer,
session 0: five times that, so that its view is measured while it trains) and
"Record to a run folder" (the lecturer has opened the page once before: the server's cold start is not theirs).
When all are in, session 0, the observer, presses Train and watches its live view; then the others press Train
and stay connected until their run finishes (most wait in the scheduler's line first).

Reported (JSON, also written to .pytest_cache/load-<N>.json): each session's open time, queue wait (Train
→ training) and largest place in line shown, whether it finished and showed no exception; /_stcore/health
latency p50/p95/max, sampled every 0.25 s from the first arrival to the last finish; the server's peak RSS
(the kernel's VmHWM and the sampled maximum); the observer's frame rate (canvas frames painted per second
while its run trains and the others are connected, waiting in line); the cores used meanwhile by the server,
by Chromium (its share of the machine: here the N browsers share the server's cores, in a class each has its
own laptop), by this client and by anything else on the machine; and each run's final NLL (its run folder's
result) against a solo headless run of the same settings and seed in this process, with the server's torch
thread count: "same seed, same numbers" under load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, serve  # noqa: E402

READY = "[data-testid='stApp'][data-test-script-state='notRunning']"
TICK = os.sysconf("SC_CLK_TCK")
WATCH_S = 8.0  # how long the observer's frame rate is measured
OBSERVER_FACTOR = 5  # the observer's run is this many times longer: its view is still live while the class clicks


def observer_steps(steps: int) -> int:
    """Session 0's step budget: long enough that its live view is measured while it trains (at ~200 steps/s, a
    1,000-step run would be over before the nineteen others have pressed Train)."""
    return steps * OBSERVER_FACTOR


@dataclass
class Session:
    index: int
    seed: int
    open_s: float = 0.0
    wait_s: float | None = None  # Train pressed → the page shows it training
    largest_place: int = 0  # the largest "Waiting: Nth in line" the page showed
    finished: bool = False
    exception: str = ""
    train_s: float | None = None  # Train pressed → finished
    fps: dict[str, float] | None = None  # its live view, measured if it is the one admitted mid-class


@dataclass
class Samples:
    health_ms: list[float] = field(default_factory=list)
    health_failures: int = 0
    rss_mb: list[float] = field(default_factory=list)


# ---- the server and the browser, from /proc -----------------------------------------------------
def children(pid: int) -> list[int]:
    """Every descendant of `pid`."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        out.extend(kids)
        frontier.extend(kids)
    return out


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def server_pid(port: int) -> int:
    return next(p for p in children(os.getpid()) if "streamlit" in cmdline(p) and f"--server.port {port}" in cmdline(p))


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            fields = (Path("/proc") / str(p) / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / TICK


def chromium_pids() -> list[int]:
    return [p for p in children(os.getpid()) if "chrom" in cmdline(p).split(" ")[0]]


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy since boot (every process, every core)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICK  # all but idle and iowait


class CpuMeter:
    """Cores used, from start to `read()`: by the server, by Chromium, by this test client, by everything else
    on the machine (other users: a shared machine's numbers are only comparable with this beside them)."""

    def __init__(self, server: int) -> None:
        self.server, self.t0 = server, time.perf_counter()
        self.start = self._now()

    def _now(self) -> dict[str, float]:
        browser = chromium_pids()
        client = [os.getpid(), *(p for p in children(os.getpid()) if p not in browser and p != self.server)]
        return {"machine": machine_busy_s(), "server": cpu_seconds([self.server]),
                "browser": cpu_seconds(browser), "client": cpu_seconds(client)}

    def read_cpu_s(self) -> dict[str, float]:
        now = self._now()
        return {k: round(now[k] - self.start[k], 1) for k in ("server", "browser")}

    def read(self) -> dict[str, float]:
        now, wall = self._now(), time.perf_counter() - self.t0
        used = {k: (now[k] - self.start[k]) / wall for k in now}
        used["others"] = used["machine"] - used["server"] - used["browser"] - used["client"]
        return {f"cores_{k}": round(v, 2) for k, v in used.items()}


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of process `pid` onto `cpus` (the threads and processes they start later inherit it)."""
    for task in (Path("/proc") / str(pid) / "task").iterdir():
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(task.name), cpus)


def status_kb(pid: int, key: str) -> float:
    for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
        if line.startswith(key + ":"):
            return float(line.split()[1])
    return 0.0


def sample(url: str, pid: int, samples: Samples, stop: threading.Event, every_s: float = 0.25) -> None:
    """Health latency and server RSS, every `every_s` seconds until `stop`."""
    while not stop.wait(every_s):
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as r:
                ok = r.read().decode().strip() == "ok"
        except OSError:
            ok = False
        if ok:
            samples.health_ms.append((time.perf_counter() - t0) * 1000)
        else:
            samples.health_failures += 1
        with contextlib.suppress(OSError):
            samples.rss_mb.append(status_kb(pid, "VmRSS") / 1024)


# ---- one student ---------------------------------------------------------------------------------
async def fill(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    await box.fill(str(value))
    await box.press("Enter")
    await page.wait_for_timeout(300)
    await page.wait_for_selector(READY, timeout=60_000)


# what a student sees, read in one round trip (Playwright's locators would make five per page and poll)
READ_PAGE = """() => {
  const texts = (sel) => Array.from(document.querySelectorAll(sel), (e) => e.innerText);
  return {status: texts("[data-testid='stMarkdownContainer']").find((t) => t.includes("· step ")) || "",
          infos: texts("[data-testid='stAlertContentInfo']"),
          finished: texts("[data-testid='stAlertContentSuccess']").some((t) => t.includes("Finished")),
          exception: texts("[data-testid='stException']").join(" ").slice(0, 300)};
}"""
POLL_S = 2.0


async def canvas(page, name: str) -> float:
    v = await page.locator("[data-testid='live-canvas']").first.get_attribute(f"data-{name}")
    return float(v) if v not in (None, "") else 0.0


async def student(browser, url: str, s: Session, steps: int, arrive_at: float, deadline_s: float, pages: dict,
                  opened: asyncio.Event, go: asyncio.Event, clicked: asyncio.Event, admitted: list[int],
                  middle: int) -> object:
    await asyncio.sleep(max(0.0, arrive_at - time.monotonic()))
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = pages[s.index] = await ctx.new_page()
    try:
        await train(page, url, s, observer_steps(steps) if s.index == 0 else steps, deadline_s, opened, go, clicked,
                    admitted, middle)
    except Exception as exc:  # a page that breaks is reported, and does not hold up the others
        s.exception = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        opened.set()
        clicked.set()
    return ctx


async def train(page, url: str, s: Session, steps: int, deadline_s: float, opened: asyncio.Event,
                go: asyncio.Event, clicked: asyncio.Event, admitted: list[int], middle: int) -> None:
    page.set_default_timeout(60_000)
    t0 = time.perf_counter()
    await page.goto(f"{url}/maximum_likelihood")
    await page.wait_for_selector(READY, timeout=120_000)
    s.open_s = round(time.perf_counter() - t0, 2)
    await fill(page, "Seed", s.seed)
    await fill(page, "Step budget", steps)
    record = page.get_by_role("checkbox", name="Record to a run folder")
    for _ in range(3):  # a click that lands while the page redraws can be lost: look, and click again
        if await record.is_checked():
            break
        await page.get_by_text("Record to a run folder", exact=True).click()
        await page.wait_for_timeout(500)
        await page.wait_for_selector(READY, timeout=60_000)
    opened.set()
    await go.wait()
    t_click = time.perf_counter()
    await page.get_by_role("button", name="Train", exact=True).click()
    clicked.set()
    end = time.perf_counter() + deadline_s
    while time.perf_counter() < end:
        seen = await page.evaluate(READ_PAGE)
        for info in seen["infos"]:
            if m := re.search(r"Waiting: (\d+)\w\w in line", info):
                s.largest_place = max(s.largest_place, int(m.group(1)))
        if s.wait_s is None and seen["status"].startswith(("Training", "Finished")):
            s.wait_s = round(time.perf_counter() - t_click, 2)
            admitted.append(s.index)
            if len(admitted) == middle and seen["status"].startswith("Training"):  # mid-class: the line is settled
                s.fps = await observe(page, steps)
        s.exception = seen["exception"]
        if seen["finished"] or s.exception:
            s.finished, s.train_s = seen["finished"], round(time.perf_counter() - t_click, 2)
            break
        await asyncio.sleep(POLL_S)


async def observe(page, steps: int) -> dict[str, float]:
    """A live view's frames painted per second over WATCH_S while its run trains (a shorter window if the run
    ends first): the observer's (the first run, while the class presses Train) and, once the line has settled,
    that of the run admitted mid-class (the others finished or waiting)."""
    f0, s0, t0 = await canvas(page, "frames"), await canvas(page, "step"), time.perf_counter()
    while time.perf_counter() - t0 < WATCH_S and await canvas(page, "step") < 0.95 * steps:
        await asyncio.sleep(0.25)
    dt = time.perf_counter() - t0
    if dt < 1.0:  # the run had (almost) ended: nothing to measure
        return {"observer_fps": None, "observer_steps_per_s": None, "observer_window_s": round(dt, 1)}
    return {"observer_fps": round((await canvas(page, "frames") - f0) / dt, 1),
            "observer_steps_per_s": round((await canvas(page, "step") - s0) / dt, 1),
            "observer_window_s": round(dt, 1)}


async def drive(url: str, sessions: list[Session], steps: int, arrive_every: float, deadline_s: float,
                meter: CpuMeter) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        cpu0, wall0 = cpu_seconds(chromium_pids()), time.perf_counter()
        # the lecturer opens the link first: the server's first page run imports the app (a cold start)
        t0 = time.perf_counter()
        ctx = await browser.new_context()
        await (await ctx.new_page()).goto(f"{url}/maximum_likelihood")
        await ctx.pages[0].wait_for_selector(READY, timeout=120_000)
        await ctx.close()
        warmup_s = round(time.perf_counter() - t0, 2)
        opened, go, clicked = ([asyncio.Event() for _ in sessions] for _ in range(3))
        start, pages, admitted = time.monotonic(), {}, []
        arrival = CpuMeter(meter.server)
        tasks = [asyncio.create_task(student(browser, url, s, steps, start + i * arrive_every, deadline_s, pages,
                                             opened[i], go[i], clicked[i], admitted, max(2, len(sessions) // 2)))
                 for i, s in enumerate(sessions)]
        for e in opened:
            await e.wait()
        opening = arrival.read_cpu_s()
        go[0].set()  # the observer's run first; then everyone else's joins the line behind it
        deadline = time.perf_counter() + 120
        while not sessions[0].exception and await canvas(pages[0], "step") <= 0 and time.perf_counter() < deadline:
            await asyncio.sleep(0.2)
        for e in go:
            e.set()
        for e in clicked:
            await e.wait()
        await asyncio.sleep(2.0)
        watch = await observe(pages[0], observer_steps(steps))  # every other student connected, waiting or training
        done = await asyncio.gather(*tasks)
        cpu = cpu_seconds(chromium_pids()) - cpu0
        wall = time.perf_counter() - wall0
        cores = meter.read()
        for ctx in done:
            await ctx.close()
        await browser.close()
    steady = {f"steady_{k.split('_', 1)[1]}": v for k, v in next((s.fps for s in sessions if s.fps), {}).items()}
    per_session = {k: round(v / len(sessions), 2) for k, v in opening.items()}
    return {"warmup_open_s": warmup_s, "opening_cpu_s_per_session": per_session, **watch, **steady,
            "browser_cpu_share": round(cpu / wall / (os.cpu_count() or 1), 3),
            "browser_cpu_s": round(cpu, 1), "wall_s": round(wall, 1), **cores}


# ---- "same seed, same numbers" -------------------------------------------------------------------
def final_results(runs_dir: Path) -> list[dict]:
    out = []
    for run_json in sorted(runs_dir.glob("*/run.json")):
        info = json.loads(run_json.read_text())
        with open(run_json.parent / "metrics.jsonl") as rows:  # `t`: seconds since Train was pressed
            first_step = next((row["t"] for line in rows if (row := json.loads(line))["kind"] == "step"), None)
        out.append({"folder": run_json.parent.name, "state": info["state"], "settings": info["settings"]["toy"],
                    "nll": (info.get("result") or {}).get("nll"), "step": info["step"], "first_step_s": first_step})
    return out


def solo_nll(settings: dict, threads: int) -> float:
    import torch

    from engine.run import Run, RunOptions
    from engine.toy.config import ToyConfig
    from engine.toy.trainer import ToyTrainer

    torch.set_num_threads(threads)
    cfg = ToyConfig.from_dict(settings)
    run = Run(ToyTrainer(cfg), RunOptions(max_steps=cfg.steps, evaluate_every_s=None)).run_to_end()
    return run.last_evaluation()["nll"]


def percentile(values: list[float], q: float) -> float:
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 1) if len(values) > 1 else 0.0


def simulate(n: int, *, seeds: int = 5, steps: int = 1000, max_jobs: int | None = None, arrive_every: float = 3.0,
             separate: bool = False, deadline_s: float = 1800.0) -> dict:
    """`separate`: the server on core 0, the browsers and this client on the others — as when the students'
    browsers run on their own laptops (here they would otherwise take most of the server's cores)."""
    from engine.scheduler import ServeSettings

    env = {"ENERGY_LAB_MAX_JOBS": str(max_jobs)} if max_jobs else {}
    serve_settings = ServeSettings.from_environ({**os.environ, **env})
    # explicit: the e2e servers' own defaults (tests/e2e/conftest.py SERVER_ENV) are not a class's; the grace
    # period is the server's default (a student's blip must not stop their run)
    env = {"ENERGY_LAB_MAX_JOBS": str(serve_settings.jobs()), "ENERGY_LAB_SESSION_GRACE_S": str(serve_settings.grace_s)}
    cores = os.cpu_count() or 1
    separate = separate and cores >= 2
    sessions = [Session(i, seed=i % seeds) for i in range(n)]
    with tempfile.TemporaryDirectory(prefix="energy-lab-load-") as tmp:
        runs_dir = Path(tmp)
        with serve(env={**env, "ENERGY_LAB_RUNS": str(runs_dir)}, log_name=f"load-{n}-server.log") as url:
            port = int(url.rsplit(":", 1)[1])
            pid, samples, stop = server_pid(port), Samples(), threading.Event()
            if separate:  # the server's threads first: our own affinity would otherwise pass on to nothing else
                pin(pid, {0})
                pin(os.getpid(), set(range(1, cores)))
            sampler = threading.Thread(target=sample, args=(url, pid, samples, stop), daemon=True)
            sampler.start()
            load_before, meter = os.getloadavg()[0], CpuMeter(pid)
            try:
                browser = asyncio.run(drive(url, sessions, steps, arrive_every, deadline_s, meter))
            finally:
                stop.set()
                sampler.join()
                peak_kb = status_kb(pid, "VmHWM")
                pin(os.getpid(), set(range(cores)))
        log = (ROOT / ".pytest_cache" / f"load-{n}-server.log").read_text(errors="replace")
        runs = final_results(runs_dir)
    threads = serve_settings.threads_per_job()
    solo: dict[str, float] = {}
    for r in runs:  # one solo run per distinct settings (the sessions differ by seed, the observer by its budget)
        key = json.dumps(r["settings"], sort_keys=True)
        if key not in solo:
            solo[key] = solo_nll(r["settings"], threads)
        r["solo_nll"] = solo[key]
    for r in runs:
        r["abs_diff"] = abs(r["nll"] - r["solo_nll"]) if r["nll"] is not None else None
        del r["settings"]
    waits = [s.wait_s for s in sessions if s.wait_s is not None]
    first_steps = sorted(r["first_step_s"] for r in runs if r["first_step_s"] is not None)
    return {
        "sessions": n, "steps": steps, "max_jobs": serve_settings.jobs(), "threads_per_job": threads,
        "cores": cores, "separate_cores": separate, "arrive_every_s": arrive_every,
        "loadavg_1min_before": round(load_before, 2),
        "open_s_max": max(s.open_s for s in sessions), "open_s_median": statistics.median(s.open_s for s in sessions),
        "health_p50_ms": percentile(samples.health_ms, 50), "health_p95_ms": percentile(samples.health_ms, 95),
        "health_max_ms": round(max(samples.health_ms, default=0.0), 1), "health_samples": len(samples.health_ms),
        "health_failures": samples.health_failures,
        "server_peak_rss_mb": round(peak_kb / 1024, 1), "server_sampled_max_rss_mb": round(max(samples.rss_mb), 1),
        **browser,
        "server_wait_s_max": first_steps[-1] if first_steps else None,  # Train → first step, on the server
        "server_wait_s_median": statistics.median(first_steps) if first_steps else None,
        "queue_wait_s_max": max(waits, default=None),
        "queue_wait_s_median": statistics.median(waits) if waits else None,
        "largest_place_shown": max(s.largest_place for s in sessions),
        "finished": sum(s.finished for s in sessions), "exceptions": [s.exception for s in sessions if s.exception],
        "server_tracebacks": log.count("Traceback"),
        "runs_finished": sum(r["state"] == "finished" for r in runs),
        "nll_max_abs_diff": max((r["abs_diff"] for r in runs if r["abs_diff"] is not None), default=None),
        "per_session": [asdict(s) for s in sessions], "runs": runs,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--seeds", type=int, default=5, help="distinct seeds (session i trains seed i mod this)")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--separate", action="store_true",
                    help="the server on core 0, the browsers on the others (as if the students had their own laptops)")
    ap.add_argument("--max-jobs", type=int, default=None, help="ENERGY_LAB_MAX_JOBS for the server (default: its own)")
    ap.add_argument("--arrive-every", type=float, default=3.0,
                    help="seconds between two students' arrivals (each page load costs headless Chromium ~4 CPU-s)")
    args = ap.parse_args()
    result = simulate(args.sessions, seeds=args.seeds, steps=args.steps, max_jobs=args.max_jobs,
                      arrive_every=args.arrive_every, separate=args.separate)
    path = ROOT / ".pytest_cache" / f"load-{args.sessions}.json"
    path.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k not in ("per_session", "runs")}, indent=2))
    print(f"full result: {path}")


if __name__ == "__main__":
    main()
