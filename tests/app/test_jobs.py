"""Background jobs (scoreboard, sweeps, comparisons, baselines) go through the process-wide scheduler: with one
place, a second job waits in line, the page shows where, Stop gives the place back, and the job starts by itself
when the first ends; a browser over its share is told so; widget changes queue nothing. UMAP layouts of every map
run on one shared worker."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import engine.embed.project as project
import engine.scheduler as scheduler
from app.session import registry
from engine.run import FINISHED, PAUSED, RUNNING, STOPPED, Run, RunOptions
from engine.scheduler import Scheduler, job_of, queue_run, release_run
from engine.toy.config import ToyConfig
from engine.toy.trainer import ToyTrainer
from tests.app.conftest import no_exception, open_page, settle, wait_for


@pytest.fixture
def one_place(monkeypatch) -> Scheduler:
    """The process's scheduler, for this test: one job at a time, four per browser."""
    sched = Scheduler(max_jobs=1, session_jobs=4)
    monkeypatch.setattr(scheduler, "_DEFAULT", sched)
    return sched


@pytest.fixture(autouse=True)
def no_numba_here(monkeypatch):
    """The embedding page starts UMAP's numba warm-up (tens of CPU-seconds); pretend it started instead."""
    monkeypatch.setattr(project, "start_warm_up", lambda: project.WarmUp(started=1.0))


@pytest.fixture
def holder(one_place):
    """Another browser's endless job, holding the one place."""
    cfg = ToyConfig.create(method="ml", width=8, train_grid=16, view_grid=16, eval_grid=32, device="cpu")
    run = Run(ToyTrainer(cfg), RunOptions(max_steps=10**9, evaluate_every_s=None), name="holder")
    queue_run(run, "another-browser-holding-the-place", one_place)
    assert run.state == RUNNING
    yield run
    run.stop()


def infos(at: AppTest) -> str:
    return " | ".join(i.value for i in at.info)


def slot_run(at: AppTest, slot: str) -> Run | None:
    return registry().slots(at.session_state["_browser_token"]).get(slot)


# ---- every page's job waits in line and Stop gives its place back -------------------------------------------
def scoreboard(at: AppTest) -> None:
    at.multiselect(key="sb.methods").set_value(["nce", "dsm"])
    at.number_input(key="sb.steps").set_value(20)


def dae_sweep(at: AppTest) -> None:
    at.number_input(key="dae.width").set_value(16)
    at.text_input(key="dae_sweep.sigmas").set_value("0.2, 0.5")
    at.number_input(key="dae_sweep.steps").set_value(20)


def cd_dimension(at: AppTest) -> None:
    at.segmented_control(key="cd_mode").set_value("dimension").run()
    at.text_input(key="cdd.dims").set_value("2")
    at.multiselect(key="cdd.methods").set_value(["pcd"])
    at.number_input(key="cdd.steps").set_value(100)


def iebm_dimension(at: AppTest) -> None:
    at.segmented_control(key="iebm_mode").set_value("dimension").run()
    at.text_input(key="iebd.sizes").set_value("8, 12")
    at.number_input(key="iebd.steps").set_value(1)


def embed_temperature(at: AppTest) -> None:
    at.number_input(key="embed.batch_size").set_value(64)
    at.text_input(key="embed_temp.temperatures").set_value("0.1, 1.0")
    at.number_input(key="embed_temp.steps").set_value(25)


PAGES = {  # page, its settings, the Run and Stop buttons, the job's slot
    "scoreboard": ("scoreboard", scoreboard, "sb_run", "sb_stop", "scoreboard"),
    "dae_sweep": ("denoising_autoencoder", dae_sweep, "dae_sweep_run", "dae_sweep_stop", "dae_sweep"),
    "cd_dimension": ("contrastive_divergence", cd_dimension, "cdd_run", "cdd_stop", "cd_dimension"),
    "iebm_dimension": ("energies_over_images", iebm_dimension, "iebd_run", "iebd_stop", "iebm_dimension"),
    "embed_sweep": ("contrastive_embedding", embed_temperature, "embed_temp_start", "embed_temp_stop",
                    "embed_sweep_temp"),
}


@pytest.mark.parametrize("case", list(PAGES))
def test_a_job_waits_in_line_shows_its_place_and_stop_gives_it_back(case, one_place, holder):
    stem, settings, run_key, stop_key, slot = PAGES[case]
    at = open_page(stem)
    settings(at)
    at.run()
    no_exception(at)
    assert one_place.status()["waiting"] == 0 and slot_run(at, slot) is None  # settings changes queue nothing
    at.button(key=run_key).click().run()
    no_exception(at)
    job = slot_run(at, slot)
    assert job is not None and not job.alive and job_of(job).position() == 1
    assert "Waiting: 1st in line" in infos(at), infos(at)
    at.button(key=run_key).click().run()  # Run again: the job keeps its place
    assert slot_run(at, slot) is job and job_of(job).position() == 1
    assert not at.button(key=stop_key).disabled
    at.button(key=stop_key).click().run()
    no_exception(at)
    assert job.state == STOPPED and job_of(job) is None and not job.alive
    assert one_place.status() | {"waiting": 0, "running": 1} == one_place.status()  # the holder only
    assert "in line" not in infos(at)


def test_a_second_board_waits_for_the_first_and_then_runs_by_itself(one_place):
    first, second = open_page("scoreboard"), open_page("scoreboard")  # two browsers
    for at in (first, second):
        scoreboard(at)
        at.run()
    first.button(key="sb_run").click().run()
    second.button(key="sb_run").click().run()
    no_exception(second)
    board_1, board_2 = slot_run(first, "scoreboard"), slot_run(second, "scoreboard")
    assert board_1.state == RUNNING and not board_2.alive
    assert "Waiting: 1st in line" in infos(second) and "in line" not in infos(first)
    wait_for(second, lambda at: board_2.state == FINISHED and at.success, timeout=90, every=1.5)
    no_exception(second)
    assert board_1.state == FINISHED and board_2.state == FINISHED  # one after the other
    job_2 = one_place.waits[-1]  # the second waited (about as long as the first board took)
    assert job_2 > 0 and len(one_place.waits) == 2
    assert list(second.dataframe[0].value["method"]) == ["nce", "dsm"]


def test_a_paused_board_goes_on_where_it_paused_when_run_is_pressed(one_place):
    """"Pause all" (the sidebar) pauses a job; the page's Run then queues the same job again: no new board, no
    lost rows, and Stop works on it while paused."""
    from engine.run import PAUSED

    at = open_page("scoreboard")
    scoreboard(at)
    at.number_input(key="sb.steps").set_value(4000).run()
    at.button(key="sb_run").click().run()
    board = slot_run(at, "scoreboard")
    assert settle(lambda: board.step > 0)
    board.pause()
    release_run(board)  # what "Pause all" does
    assert settle(lambda: board.state == PAUSED)
    step = board.step
    at.run()
    assert not at.button(key="sb_stop").disabled  # a paused job can be stopped
    at.button(key="sb_run").click().run()
    no_exception(at)
    assert slot_run(at, "scoreboard") is board  # the same job, not a new one
    assert settle(lambda: board.state == RUNNING and board.step > step)
    at.button(key="sb_stop").click().run()
    assert settle(lambda: not board.alive)


def test_a_browser_over_its_share_is_told_so_and_its_slot_stays_empty(monkeypatch):
    sched = Scheduler(max_jobs=1, session_jobs=1)
    monkeypatch.setattr(scheduler, "_DEFAULT", sched)
    at = open_page("scoreboard")
    scoreboard(at)
    at.run()
    cfg = ToyConfig.create(method="ml", width=8, train_grid=16, view_grid=16, eval_grid=32, device="cpu")
    mine = Run(ToyTrainer(cfg), RunOptions(max_steps=10**9, evaluate_every_s=None), name="mine")
    queue_run(mine, at.session_state["_browser_token"], sched)  # this browser's share, taken by another page
    try:
        at.button(key="sb_run").click().run()
        no_exception(at)
        assert any("ENERGY_LAB_SESSION_JOBS" in e.value for e in at.error), [e.value for e in at.error]
        assert slot_run(at, "scoreboard") is None and sched.status()["waiting"] == 0
    finally:
        mine.stop()


def test_embedding_baselines_go_first_and_the_training_follows_by_itself(monkeypatch, one_place):
    """Train queues the baselines ahead of the training run (which has no step budget): with one place they
    take their seconds first, the training waits "1st in line" and starts by itself when they end."""
    import engine.embed.baselines as baselines
    from engine.run import cancel

    release = threading.Event()

    def held_probe(*_):  # the probe ends when the test says so
        while not release.wait(0.05):
            cancel.check("the probe")
        return 0.5

    monkeypatch.setattr(baselines, "_results", type(baselines._results)())  # nothing known yet
    monkeypatch.setattr(baselines, "random_encoder_probe", held_probe)
    monkeypatch.setattr(baselines, "raw_pixel_probe", lambda *_: 0.25)
    at = open_page("contrastive_embedding")
    at.number_input(key="embed.batch_size").set_value(64).run()
    at.button(key="embed_train").click().run()
    no_exception(at)
    run, job = slot_run(at, "embed"), slot_run(at, "embed_baselines")
    assert job is not None and job_of(job) is not None and job_of(job).position() == 0  # admitted first
    assert job_of(run) is not None and job_of(run).position() == 1 and run.step == 0
    wait_for(at, lambda a: "1st in line" in infos(a), timeout=30)
    release.set()
    assert settle(lambda: job.state == FINISHED, timeout=60)
    assert job.trainer.results == {"random_encoder_acc": 0.5, "raw_pixels_acc": 0.25}
    assert settle(lambda: run.state == RUNNING and run.step > 0, timeout=60)  # admitted by itself
    at.run()
    at.button(key="embed_pause").click().run()
    no_exception(at)
    assert "in line" not in infos(at)


def test_sampling_takes_the_paused_trainings_place_at_once(one_place):
    at = open_page("contrastive_divergence")
    at.number_input(key="cd.steps").set_value(100_000).run()
    at.button(key="cd_train").click().run()
    train = slot_run(at, "cd")
    assert train.state == RUNNING and one_place.status()["running"] == 1
    assert settle(lambda: train.step > 0)  # the sampler offers a trained model from its first step
    at.segmented_control(key="cd_mode").set_value("sample").run()
    at.selectbox(key="cds.source").set_value("trained").run()
    at.button(key="cds_train").click().run()  # pauses the training to give the sampler the CPU …
    no_exception(at)
    sampler = slot_run(at, "cd_sample")
    assert train.state == PAUSED and job_of(train) is None  # … and its place: the sampler does not wait
    assert sampler.alive and job_of(sampler) is not None and job_of(sampler).position() == 0
    assert "in line" not in infos(at)


# ---- UMAP: one worker for the whole process ---------------------------------------------------------------
def test_umap_layouts_of_every_map_run_one_at_a_time_newest_request_first(monkeypatch):
    gate, running, calls = threading.Event(), [], []
    most = [0]
    lock = threading.Lock()

    def fake_layout(z, init=None, metric="cosine"):
        with lock:
            running.append(1)
            most[0] = max(most[0], len(running))
            calls.append(float(z[0, 0]))
        gate.wait(10)
        with lock:
            running.pop()
        return np.zeros((len(z), 2), np.float32)

    monkeypatch.setattr(project, "umap_layout", fake_layout)
    pool = project.ProjectorPool()
    maps = [project.MapProjector(pool=pool) for _ in range(3)]
    z = np.ones((5, 3), np.float32)
    maps[0].submit(z * 0)  # starts at once: the worker is free
    try:
        assert settle(lambda: calls == [0.0])
        maps[1].submit(z * 1)
        maps[2].submit(z * 2)
        newest = maps[1].submit(z * 11)  # replaces map 1's request still waiting: it keeps its place
        assert [m.place() for m in maps] == [0, 1, 2] and pool.waiting() == 2
        assert all(m.busy for m in maps)
    finally:
        gate.set()
    assert settle(lambda: all(m.latest() is not None for m in maps) and not any(m.busy for m in maps))
    assert calls == [0.0, 11.0, 2.0] and most[0] == 1  # one at a time, first come first served, newest z
    assert maps[1].latest().version == newest
    assert settle(lambda: pool._thread is None)  # the worker ends when the line is empty


def test_a_dropped_map_is_skipped(monkeypatch):
    gate, calls = threading.Event(), []

    def fake_layout(z, init=None, metric="cosine"):
        calls.append(float(z[0, 0]))
        gate.wait(10)
        return np.zeros((len(z), 2), np.float32)

    monkeypatch.setattr(project, "umap_layout", fake_layout)
    pool = project.ProjectorPool()
    kept, dropped = project.MapProjector(pool=pool), project.MapProjector(pool=pool)
    z = np.ones((5, 3), np.float32)
    kept.submit(z)
    try:
        assert settle(lambda: calls == [1.0])
        dropped.submit(z * 2)
        kept.submit(z * 3)
        del dropped  # its page made a new map: nobody will draw this one
    finally:
        gate.set()
    assert settle(lambda: kept.latest() is not None and kept.latest().version == 2 and not kept.busy)
    assert calls == [1.0, 3.0]


def test_a_map_waiting_for_the_worker_says_its_place(monkeypatch):
    from engine.embed.views import MapView

    gate = threading.Event()

    def fake_layout(z, init=None, metric="cosine"):
        gate.wait(10)
        return np.full((len(z), 2), float(z[0, 0]), np.float32)

    monkeypatch.setattr(project, "umap_layout", fake_layout)
    pool = project.ProjectorPool()
    other, view = project.MapProjector(pool=pool), MapView()
    view.projector = project.MapProjector(pool=pool)
    other.submit(np.zeros((5, 3), np.float32))  # another browser's map holds the worker
    warm = project.WarmUp(started=1.0)
    warm.done.set()
    rng = np.random.default_rng(0)
    snap = {"map_step": 7, "map_z": rng.normal(size=(6, 3)), "map_pair_a": rng.normal(size=(2, 3)),
            "map_pair_b": rng.normal(size=(2, 3))}
    try:
        assert settle(lambda: other.place() == 0)  # the worker took it
        p = view.project(snap, "umap", warm)
        assert (p.kind, p.place, p.step, p.xy.shape) == ("umap_queued", 1, 7, (10, 2))  # PCA meanwhile
    finally:
        gate.set()
    assert settle(lambda: view.project(snap, "umap", warm).kind == "umap")
