"""The contrastive-embedding page through AppTest: controls, Step/Train/Pause/Reset, the live map
(PCA at once), neighbours, the gallery, a sweep in the background and a clear error for missing data;
heavy work only from buttons (seed changes start nothing and redraw no gallery, Train starts the baselines,
Reset stops them) and no thread left behind by Train → Reset cycles."""

from __future__ import annotations

import json
import threading
import time

import pytest

import engine.embed.data as data_mod
import engine.embed.project as project
from tests.app.conftest import no_exception, open_page, settle, wait_for

CYCLES = 20  # Train → Reset cycles (the acceptance's number)


@pytest.fixture(autouse=True)
def no_numba_here(monkeypatch):
    """The page starts UMAP's numba warm-up; in AppTest it would compete with the test for the CPU
    for tens of seconds. Record the call instead (the e2e test exercises the real warm-up)."""
    calls = []

    def fake_start():
        calls.append(1)
        return project.WarmUp(started=1.0)  # started, never done: the page must fall back to PCA

    monkeypatch.setattr(project, "start_warm_up", fake_start)
    return calls


def captions(at) -> str:
    return " | ".join(c.value for c in at.caption)


def chart(at, index: int) -> dict:
    return json.loads(at.get("plotly_chart")[index].proto.spec)


def markdown(at) -> str:
    return " | ".join(m.value for m in at.markdown)


def test_step_draws_curves_map_and_neighbours_then_train_pause_reset():
    at = open_page("contrastive_embedding")
    no_exception(at)
    assert at.title[0].value == "Contrastive embedding"
    assert "Press **Train**" in at.info[0].value
    # the sidebar comes from the declarations: MoCo's queue only for MoCo, PIRL's bank only for PIRL
    assert at.number_input(key="embed.batch_size").value == 256
    keys = {w.key for w in at.sidebar.number_input}
    assert "embed.queue_size" not in keys and "embed.bank_negatives" not in keys
    at.selectbox(key="embed.method").set_value("moco").run()
    keys = {w.key for w in at.sidebar.number_input}
    assert "embed.queue_size" in keys and "embed.bank_negatives" not in keys
    assert at.number_input(key="embed.queue_size").value == 1024  # the digits layer
    at.selectbox(key="embed.method").set_value("simclr").run()
    at.number_input(key="embed.batch_size").set_value(64)
    at.button(key="embed_step").click().run()
    wait_for(at, lambda a: "PCA of step 1." in captions(a), timeout=30)
    at.run()  # the curves are drawn above the map: this run draws them after the evaluation the map came from
    no_exception(at)
    assert "PCA of step 1." in captions(at)
    specs = [chart(at, i) for i in range(len(at.get("plotly_chart")))]
    names = [t.get("name", "") for s in specs for t in s["data"]]
    assert "linear probe (test)" in names and "loss" in names
    curves_csv = [b for b in at.get("download_button") if b.proto.id.endswith("embed_curves_csv")]
    assert curves_csv  # the curves' numbers as a CSV under the chart
    # the map with images (app/embed_map.py) by default: the points of ten classes, anchor 0 and its negatives
    (map_el,) = [b for b in at.get("bidi_component") if b.proto.component_name.endswith("energy_lab_embed_map")]
    map_data = json.loads(map_el.proto.json)
    assert map_data["classes"] == [str(d) for d in range(10)] and map_data["anchor"] == 0
    assert len(map_data["negs"]) == 8 and map_data["sprites"]["count"] == map_data["n"]
    at.toggle(key="embed_map_images").set_value(False).run()  # the Plotly map
    no_exception(at)
    specs = [chart(at, i) for i in range(len(at.get("plotly_chart")))]
    map_spec = next(s for s in specs if any(t.get("name") == "positive pairs (two views)" for t in s["data"]))
    class_traces = [t for t in map_spec["data"] if t["type"] == "scattergl"]
    assert len(class_traces) == 10  # one per digit
    assert any(t.get("name", "").startswith("anchor #0") for t in map_spec["data"])
    image_captions = [c for im in at.get("image") for c in im.captions]
    assert any(c.startswith("anchor · ") for c in image_captions) and len(image_captions) == 9
    assert "**Paused** · step 1" in markdown(at) and "epoch 0" in captions(at)

    at.button(key="embed_train").click().run()
    wait_for(at, lambda a: "**Training** · step" in markdown(a))
    assert "**Training** · step" in markdown(at)
    at.button(key="embed_pause").click().run()
    wait_for(at, lambda a: "**Paused** · step" in markdown(a))
    assert "**Paused** · step" in markdown(at)
    at.radio(key="embed_map_mode").set_value("umap").run()
    no_exception(at)
    assert "UMAP is warming up" in captions(at) and "PCA" in captions(at)
    at.button(key="embed_reset").click().run()
    wait_for(at, lambda a: "**Paused** · step 0" in markdown(a))
    no_exception(at)
    assert "**Paused** · step 0" in markdown(at)


def test_gallery_sweep_and_missing_data(monkeypatch, tmp_path):
    at = open_page("contrastive_embedding")
    at.number_input(key="embed.batch_size").set_value(64)
    at.button(key="embed_gallery_show").click().run()
    no_exception(at)
    assert any("five random views" in c for im in at.get("image") for c in im.captions)
    at.text_input(key="embed_temp.temperatures").set_value("0.1, 1.0")
    at.number_input(key="embed_temp.steps").set_value(25).run()
    at.button(key="embed_temp_start").click().run()
    wait_for(at, lambda a: any("Best contrastive accuracy" in i.value for i in a.info), timeout=60)
    no_exception(at)
    assert any("Best contrastive accuracy" in i.value for i in at.info)
    temp_spec = next(chart(at, i) for i in range(len(at.get("plotly_chart")))
                     if any(t.get("name") == "contrastive acc (held-out views)" for t in chart(at, i)["data"]))
    assert [t["name"] for t in temp_spec["data"]] == ["contrastive acc (held-out views)", "probe accuracy"]
    monkeypatch.setattr(data_mod, "DEFAULT_DATA_DIR", tmp_path)
    at.selectbox(key="embed.dataset").set_value("mnist").run()
    assert any("IDX files are not in" in e.value for e in at.error)
    assert not [b for b in at.button if b.key == "embed_train"]  # nothing to train on
    no_exception(at)


def test_the_gallery_is_drawn_on_a_click_only(monkeypatch):
    import engine.embed.views as views

    calls = []
    real = views.gallery

    def counted(config, seed):
        calls.append((config.seed, seed))
        return real(config, seed)

    monkeypatch.setattr(views, "gallery", counted)
    at = open_page("contrastive_embedding")
    at.button(key="embed_gallery_show").click().run()
    assert calls == [(0, 0)] and at.get("image")
    for seed in (1, 2, 3):  # settings changes redraw the kept gallery, computing (and loading) nothing
        at.number_input(key="embed.seed").set_value(seed).run()
    no_exception(at)
    assert calls == [(0, 0)] and any("five random views" in c for im in at.get("image") for c in im.captions)
    at.button(key="embed_gallery_new").click().run()
    assert calls == [(0, 0), (3, 1)]


def test_warm_up_is_started_with_the_page(no_numba_here):
    open_page("contrastive_embedding")
    assert no_numba_here


def test_a_crafted_cifar_batch_is_refused_by_the_page_and_runs_nothing(monkeypatch, tmp_path):
    from tests.engine.crafted_files import crafted_batch, write_cifar_folder

    target = tmp_path / "created-by-the-pickle"
    write_cifar_folder(tmp_path / "data", crafted_batch(target))
    monkeypatch.setenv("ENERGY_LAB_DATA", str(tmp_path / "data"))  # the page has no data-folder widget
    at = open_page("contrastive_embedding")
    at.selectbox(key="embed.dataset").set_value("cifar10").run()
    no_exception(at)
    assert not at.error  # the files are there: nothing is read until Train
    at.button(key="embed_train").click().run()
    wait_for(at, lambda a: any("refused" in e.value for e in a.error), timeout=60)
    no_exception(at)
    errors = [e.value for e in at.error if "refused" in e.value]
    assert errors and "test_batch refused: it asks to load io.open, which a CIFAR batch never contains" in errors[0]
    assert not target.exists()


def live_names() -> list[str]:
    from engine.run import live_runs

    return sorted(r.name for r in live_runs())


def test_thirty_seed_changes_start_no_background_work():
    at = open_page("contrastive_embedding")
    threads, runs = threading.active_count(), live_names()
    for seed in range(1, 31):
        at.number_input(key="embed.seed").set_value(seed).run()
    no_exception(at)
    assert at.number_input(key="embed.seed").value == 30
    print(f"\n30 seed changes: threads {threads} → {threading.active_count()}, runs {runs} → {live_names()}")
    assert live_names() == runs == [] and threading.active_count() == threads
    assert not any("Baselines" in c for c in captions(at).split(" | "))


def test_baselines_start_with_train_and_train_reset_cycles_leave_no_thread(monkeypatch):
    import engine.embed.baselines as baselines
    import engine.scheduler as scheduler
    from engine.run import STOPPED, cancel, live_runs

    # two places: the baselines run beside the training (with one they wait in line: tests/app/test_jobs.py)
    sched = scheduler.Scheduler(max_jobs=2, session_jobs=4)
    monkeypatch.setattr(scheduler, "_DEFAULT", sched)

    def slow_probe(*_):  # a probe that takes 60 s unless stopped (checks between its chunks)
        for _ in range(600):
            cancel.check("the probe")
            time.sleep(0.1)
        return 0.5

    monkeypatch.setattr(baselines, "_results", type(baselines._results)())  # nothing known yet
    monkeypatch.setattr(baselines, "random_encoder_probe", slow_probe)
    at = open_page("contrastive_embedding")
    at.number_input(key="embed.batch_size").set_value(64).run()
    threads = threading.active_count()
    assert live_names() == []
    at.button(key="embed_train").click().run()
    no_exception(at)
    assert live_names() == ["embed", "embed-baselines"]  # Train started the baselines, beside the run
    (job,) = [r for r in live_runs() if r.name == "embed-baselines"]
    at.button(key="embed_reset").click().run()
    assert job.state == STOPPED and settle(lambda: not job.alive)
    # Reset stopped them with the run (a run still building its model ends once built); the fresh one waits
    assert "embed-baselines" not in live_names() and settle(lambda: live_names() == ["embed"])
    for _ in range(CYCLES):
        at.button(key="embed_train").click().run()
        at.button(key="embed_reset").click().run()
    no_exception(at)
    assert "**Paused** · step 0" in markdown(at)
    left = settle(lambda: live_names() == ["embed"] and threading.active_count() == threads + 1)
    print(f"\n{CYCLES} Train → Reset cycles: threads {threads} before Train, {threading.active_count()} after "
          f"(the fresh paused run's), live runs {live_names()}")
    assert left, (live_names(), threading.active_count(), threads)
    assert sched.status()["waiting"] == 0 and sched.status()["running"] == 0  # the paused run holds no place
