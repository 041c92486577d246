"""AppTest: the "Energies over images" page renders in its three modes, its form comes from the
declarations, and Step / Train drive a real run whose particles, strips and energies are drawn."""

from __future__ import annotations

import time

import pytest
import torch
from streamlit.testing.v1 import AppTest

from app.pages_index import PAGES
from tests.app.conftest import ROOT, no_exception, open_page, wait_for

STEM = "energies_over_images"


@pytest.fixture(autouse=True)
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)  # what app/startup.py sets on a 2-core machine
    yield
    torch.set_num_threads(old)


def page() -> AppTest:
    """Through the navigation once the page is listed there; the page file on its own before that."""
    if any(stem == STEM for entries in PAGES.values() for stem, *_ in entries):
        return open_page(STEM)
    at = AppTest.from_file(str(ROOT / "pages" / f"{STEM}.py"), default_timeout=60)
    at.run()
    return at


def small(at: AppTest) -> AppTest:
    at.number_input(key="iebm.batch_size").set_value(16)
    at.number_input(key="iebm.buffer").set_value(64)
    at.number_input(key="iebm.k").set_value(3)
    return at.run()


def test_page_renders_with_the_declared_form():
    at = page()
    no_exception(at)
    assert at.title[0].value == "Energies over images"
    assert {"Train", "Pause", "Step", "Reset"} <= {b.label for b in at.button}
    keys = {w.key for w in [*at.number_input, *at.selectbox]}
    assert {"iebm.dataset", "iebm.method", "iebm.k", "iebm.eps", "iebm.buffer", "iebm.reinit", "iebm.lr"} <= keys
    assert any("Not true Langevin" in w.value for w in at.warning)  # ε = 10 with s = 0.005, clipped
    at.selectbox(key="iebm.method").set_value("cd").run()
    no_exception(at)
    keys = {w.key for w in [*at.number_input, *at.selectbox]}
    assert "iebm.buffer" not in keys and "iebm.reinit" not in keys and at.number_input(key="iebm.k").value == 10


def test_missing_mnist_files_are_said(monkeypatch):
    # as on a machine without the files (the page reads the module's function at every rerun)
    monkeypatch.setattr("engine.image_ebm.data.missing_folder", lambda name, data_dir=None: f"/nowhere/{name}")
    at = page()
    at.selectbox(key="iebm.dataset").set_value("mnist").run()
    no_exception(at)
    assert any("the IDX files are not in /nowhere/mnist" in w.value for w in at.warning)
    assert not any(b.label == "Train" for b in at.button)  # nothing to train on


def test_step_draws_particles_strips_and_histograms():
    at = small(page())
    at.button(key="iebm_step").click().run()
    no_exception(at)
    # the step's picture: the strips hold the start and one frame; then the judges' table
    at = wait_for(at, lambda a: any("Followed particles: 2–2 frames" in c.value for c in a.caption), timeout=60,
                  every=1.0)
    no_exception(at)
    assert any("Mean energy: data" in c.value for c in at.caption)
    assert len(at.get("image")) >= 2  # the grid and the strips
    at = wait_for(at, lambda a: len(a.dataframe) > 0, timeout=60, every=1.5)  # the judges, after evaluation
    no_exception(at)
    assert any("Energy AUROC" in c.value for c in at.caption)


def test_freeze_and_sample_after_training():
    at = small(page())
    at.button(key="iebm_step").click().run()
    wait_for(at, lambda a: any("Followed particles: 2–2" in c.value for c in a.caption), timeout=60, every=1.0)
    at.segmented_control(key="iebm_mode").set_value("sample").run()
    no_exception(at)
    at.number_input(key="iebs.steps").set_value(3).run()
    at.button(key="iebs_train").click().run()
    at = wait_for(at, lambda a: any("PSNR of the noisy images" in m.value for m in a.markdown), timeout=60,
                  every=1.0)
    no_exception(at)
    assert any("PSNR of the masked images" in m.value for m in at.markdown)


def test_sample_mode_without_a_model_says_so():
    at = page()
    at.segmented_control(key="iebm_mode").set_value("sample").run()
    no_exception(at)
    assert any("Train a model first" in i.value for i in at.info)


def test_dimension_mode_runs_a_tiny_comparison():
    at = page()
    at.segmented_control(key="iebm_mode").set_value("dimension").run()
    no_exception(at)
    at.text_input(key="iebd.sizes").set_value("8, 12").run()
    at.number_input(key="iebd.steps").set_value(1).run()
    at.button(key="iebd_run").click().run()
    deadline = time.time() + 90
    while time.time() < deadline:
        time.sleep(1.5)
        at.run()
        if any(len(df.value) == 2 for df in at.dataframe):
            break
    no_exception(at)
    assert any(list(df.value["size"]) == [8, 12] for df in at.dataframe if "size" in df.value)
    keys = {b.proto.id.rsplit("-", 1)[-1] for b in at.get("download_button")}
    assert {"iebd_measured_csv", "iebd_rows_csv", "iebd_fig_csv"} <= keys  # each table's and the figure's CSV


def test_the_page_speaks_portuguese(monkeypatch):
    # AppTest calls widgets' format functions outside the script run, where the language would be English
    monkeypatch.setattr("app.i18n.language", lambda: "pt")
    at = page()
    no_exception(at)
    assert at.title[0].value == "Energias sobre imagens"
    assert at.segmented_control(key="iebm_mode").options == ["Treinar", "Congelar e amostrar", "PCD e dimensão"]
    assert any(w.value.startswith("Não é Langevin de verdade: o ruído s = 0,005 não é √(2ε) = 4,47")
               for w in at.warning)
    assert any("**Treinar**" in i.value for i in at.info)
    at.segmented_control(key="iebm_mode").set_value("sample").run()
    assert any(i.value.startswith("Treine um modelo antes") for i in at.info)
    at.segmented_control(key="iebm_mode").set_value("dimension").run()
    no_exception(at)
    assert any(c.value.startswith("Medido na CPU compartilhada") and "7,0 → 6,7 %" in c.value for c in at.caption)
    assert "menor fração de uma classe" in at.dataframe[0].value.columns
    assert {"Rodar a comparação", "Parar"} <= {b.label for b in at.button}
    from app.i18n import catalogue

    shown = "\n".join(e.value for kind in ("title", "markdown", "caption", "info", "warning") for e in at.get(kind))
    english = [v for k, v in catalogue("en").items() if k.startswith(("energies_over_images.", "image_ebm_views."))
               and len(v.split()) >= 4 and "{" not in v]
    assert not [e for e in english if e in shown]
