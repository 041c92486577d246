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


# ---- languages: the sweeps' sentences, the charts and the page in Portuguese --------------------------------
@pytest.fixture
def speak(monkeypatch):
    """speak("pt"): this test's texts and numbers in that language (outside a script run: English)."""
    import app.i18n as i18n

    return lambda lang: monkeypatch.setattr(i18n, "language", lambda: lang)


def row(d, k, acc, uni=-2.0, rank=3.0):
    return {"d": d, "K": k, "linear_probe_acc": acc, "uniformity": uni, "effective_rank": rank}


def temp_row(tau, c, p):
    return {"temperature": tau, "contrastive_acc_test": c, "linear_probe_acc": p}


def test_the_sweeps_sentences_say_what_was_measured_in_both_languages(speak):
    from app.embed_views import describe_negatives, describe_temperature, describe_why_cosine
    from engine.embed.sweeps import negatives_facts, temperature_facts

    flat = [row(4, 16, 0.97), row(4, 1024, 0.975), row(64, 16, 0.97), row(64, 1024, 0.971)]
    assert "does not show" in describe_negatives(negatives_facts(flat))
    claim = [row(4, 16, 0.90), row(4, 1024, 0.90), row(64, 16, 0.80), row(64, 1024, 0.92)]
    text = describe_negatives(negatives_facts(claim))
    assert "helped more at the larger dimension" in text and "d=64 +12.0 points" in text
    assert text.startswith("Probe accuracy from K=16 to K=1024: d=4 +0.0 points; d=64 +12.0 points. More negatives")
    assert "Effective rank at K=1024: d=4: 3.0, d=64: 3.0." in text
    assert "at least two" in describe_negatives(negatives_facts([row(4, 16, 0.9), row(4, 64, 0.9)]))
    apart = [temp_row(0.05, 0.9, 0.6), temp_row(0.5, 0.7, 0.8)]
    assert "is not the one that gives the best features" in describe_temperature(temperature_facts(apart))
    together = [temp_row(0.05, 0.5, 0.5), temp_row(0.2, 0.9, 0.9), temp_row(1.0, 0.1, 0.2)]
    text = describe_temperature(temperature_facts(together))
    assert "moved together" in text and "1.00" in text and "Caution" not in text
    assert text.startswith("Best contrastive accuracy at τ=0.2 (90.0 %), best probe accuracy at τ=0.2 (90.0 %)")
    flat_t = [temp_row(0.05, 0.1, 0.985), temp_row(0.1, 0.3, 0.99), temp_row(1.0, 0.2, 0.987)]
    assert "within its noise" in describe_temperature(temperature_facts(flat_t))
    facts = {"floor": 4.5, "l2_norm_first": 1.0, "l2_norm_min": 0.25, "l2_norm_last": 3.5, "l2_loss_min": 4.0,
             "l2_steps_below_floor": 7, "cos_loss_min": 4.6, "cos_norm_first": 2.0, "cos_norm_last": 5.0}
    why = describe_why_cosine(facts)
    assert why.startswith("L2 variant: mean ‖z‖ went 1.00 → 0.25 (lowest) → 3.50 (last); its loss reached 4.000, "
                          "below the cosine floor 4.500 on 7 steps. Cosine: lowest loss 4.600 ≥ floor 4.500")
    assert describe_why_cosine(None) == describe_negatives(None) == describe_temperature(None) == ""

    speak("pt")
    text = describe_negatives(negatives_facts(claim))
    assert "d=64 +12,0 pontos" in text and "ajudaram mais na dimensão maior" in text
    text = describe_temperature(temperature_facts(together))
    assert text.startswith("Melhor acurácia contrastiva com τ=0,2 (90,0 %)") and "1,00" in text
    assert "andaram juntas" in text
    assert "piso do cosseno 4,500 em 7 passos" in describe_why_cosine(facts)


def test_charts_follow_the_language(speak):
    import numpy as np

    from app.embed_views import class_names, curves_figure, temperature_figure

    c = {"step": np.array([1, 2], np.float32), "loss": np.array([3.0, 2.5], np.float32),
         "contrastive_acc": None, "loss_floor": 2.0, "eval_step": np.array([2], np.float32),
         "probe": np.array([0.5], np.float32), "knn": np.array([0.4], np.float32)}
    fig = curves_figure(c, {"raw_pixels_acc": 0.9134}, 2)
    assert fig.layout.separators == ".," and fig.layout.xaxis.title.text == "step"
    assert [t.name for t in fig.data] == ["loss", "linear probe (test)", "kNN (test)", "raw pixels 91.3 %"]
    assert class_names(("cat", "3")) == ("cat", "3")
    speak("pt")
    fig = curves_figure(c, {"raw_pixels_acc": 0.9134}, 2)
    assert fig.layout.separators == ",." and fig.layout.xaxis.title.text == "passo"
    assert [t.name for t in fig.data] == ["perda", "sonda linear (teste)", "kNN (teste)", "pixels brutos 91,3 %"]
    arrays = {k: np.array([0.1, 1.0]) for k in ("temperature", "contrastive_acc_test", "linear_probe_acc")}
    fig = temperature_figure(arrays)
    assert fig.layout.separators == ",." and fig.layout.yaxis.title.text == "acurácia"
    assert class_names(("cat", "half-disk", "3")) == ("gato", "semidisco", "3")


def test_the_page_speaks_portuguese():
    at = open_page("contrastive_embedding", lang="pt")
    no_exception(at)
    assert at.title[0].value == "Embedding contrastivo"
    assert "**par positivo**" in markdown(at) and "Pressione **Treinar**" in at.info[0].value
    assert at.radio(key="embed_map_mode").options == ["PCA (na hora)", "UMAP (quando pronto)"]
    assert at.toggle(key="embed_map_images").label == "Imagens ao passar o mouse"
    assert [t.label for t in at.tabs] == ["Por que cosseno?", "Negativos e dimensão", "Temperatura"]
    assert "Pares positivos: uma imagem e vistas aleatórias dela" in [e.label for e in at.expander]
    assert at.button(key="embed_temp_start").label == "Iniciar varredura"
    assert "O mapa aparece depois da primeira avaliação." in captions(at)
    at.radio(key="embed_map_mode").set_value("umap").run()  # a widget's labels bound to the page's language
    no_exception(at)
