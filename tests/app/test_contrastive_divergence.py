"""AppTest: the CD & PCD page renders in its three modes and its buttons drive real runs."""

from __future__ import annotations

import time

from tests.app.conftest import no_exception, open_page, wait_for


def test_page_renders_with_controls():
    at = open_page("contrastive_divergence")
    no_exception(at)
    assert at.title[0].value.startswith("Contrastive divergence")
    assert {"Train", "Pause", "Step", "Reset"} <= {b.label for b in at.button}
    assert at.selectbox(key="cd.method").value == "pcd"
    assert "ml" not in at.selectbox(key="cd.method").options  # maximum likelihood has its own page


def test_only_the_methods_settings_are_shown():
    at = open_page("contrastive_divergence")
    keys = {w.key for w in [*at.number_input, *at.selectbox]}
    assert {"cd.k", "cd.eps", "cd.buffer", "cd.reinit", "cd.alpha"} <= keys and "cd.sigma" not in keys
    at.selectbox(key="cd.method").set_value("dsm").run()
    no_exception(at)
    keys = {w.key for w in [*at.number_input, *at.selectbox]}
    assert {"cd.sigma", "cd.alpha"} <= keys and not keys & {"cd.k", "cd.buffer", "cd.train_grid"}
    assert at.number_input(key="cd.lr").value == 3e-3  # dsm's layered default


def test_pcd_step_publishes_particles_and_negatives():
    at = open_page("contrastive_divergence")
    at.number_input(key="cd.k").set_value(3)
    at.number_input(key="cd.buffer").set_value(1024)
    at.number_input(key="cd.steps").set_value(20)
    at.run()
    at.button(key="cd_step").click().run()
    no_exception(at)
    at = wait_for(at, lambda a: any("step 1" in m.value for m in a.markdown))
    from engine.run import live_runs

    (run,) = [r for r in live_runs() if r.name == "cd"]  # paused after its step: the thread is alive
    deadline = time.time() + 10
    while run.latest().step < 1 and time.time() < deadline:
        time.sleep(0.1)
    snap = run.latest().data
    assert snap["particles"].shape == (128, 2) and snap["negatives"].shape[1] == 2
    assert snap["reinit"].dtype == bool and snap["positives"].shape == (256, 2)


def test_noise_not_langevin_is_said():
    at = open_page("contrastive_divergence")
    at.checkbox(key="cd.noise.set").check().run()
    no_exception(at)
    assert any("Not true Langevin" in w.value for w in at.warning)


def test_sample_mode_shows_occupancy_of_separated_modes():
    at = open_page("contrastive_divergence")
    at.segmented_control(key="cd_mode").set_value("sample").run()
    no_exception(at)
    assert at.selectbox(key="cds.source").value == "separated_modes"
    at.button(key="cds_train").click().run()
    at = wait_for(at, lambda a: len(a.dataframe) > 0)
    no_exception(at)
    df = at.dataframe[0].value
    assert list(df["true weight"]) == [0.3, 0.7]
    assert df["particles"].iloc[0] > 0.4  # uniform start: about half stay left of the barrier, not 0.3
    assert {"cds_occupancy_csv", "cds_energy_csv"} <= _downloads(at)  # the shares' and the energy's CSV
    at.button(key="cds_pause").click().run()


def test_dimension_mode_runs_a_small_curve():
    at = open_page("contrastive_divergence")
    at.segmented_control(key="cd_mode").set_value("dimension").run()
    at.text_input(key="cdd.dims").set_value("2")
    at.multiselect(key="cdd.methods").set_value(["pcd"])
    at.number_input(key="cdd.steps").set_value(100)
    at.run()
    at.button(key="cdd_run").click().run()
    at = wait_for(at, lambda a: len(a.success) > 0, timeout=60, every=1.5)
    no_exception(at)
    assert at.success and len(at.dataframe[0].value) == 1  # pcd at d = 2
    assert at.get("plotly_chart")
    assert {"cdd_curve_csv", "cdd_rows_csv"} <= _downloads(at)  # under the curve and under the table


def _downloads(at) -> set[str]:
    """The keys of the page's download buttons."""
    return {b.proto.id.rsplit("-", 1)[-1] for b in at.get("download_button")}


def _english_left(at) -> list[str]:
    """The page's English catalogue texts (three words or more, up to their first field) that it shows."""
    from app.i18n import catalogue

    shown = [e.value for kind in ("title", "markdown", "caption", "info", "warning") for e in at.get(kind)]
    shown += [w.label for kind in ("button", "slider", "segmented_control", "selectbox") for w in at.get(kind)]
    shown += [str(o) for kind in ("segmented_control", "selectbox") for w in at.get(kind) for o in w.options]
    text = "\n".join(shown)
    en, pt = catalogue("en"), catalogue("pt")
    heads = {v.split("{")[0].strip() for k, v in en.items()
             if k.startswith(("contrastive_divergence.", "cd_engine.")) and pt.get(k) != v}
    return sorted(h for h in heads if len(h.split()) >= 3 and h in text)


def test_the_page_speaks_portuguese():
    at = open_page("contrastive_divergence", lang="pt")
    no_exception(at)
    assert at.title[0].value == "Divergência contrastiva e PCD"
    assert at.segmented_control(key="cd_mode").options == ["Treinar uma energia", "Congelar a energia e só amostrar",
                                                           "PCD e dimensão"]
    assert any(c.value.startswith("Laranja: cadeias persistentes") for c in at.caption)
    at.checkbox(key="cd.noise.set").check().run()
    assert any("Não é Langevin de verdade" in w.value and "0,141" in w.value for w in at.warning)
    assert not _english_left(at), _english_left(at)
    at.segmented_control(key="cd_mode").set_value("sample").run()
    no_exception(at)
    assert "dois modos separados (±2, desvio 0,3, pesos 0,3/0,7)" in at.selectbox(key="cds.source").options
    at.button(key="cds_train").click().run()
    at = wait_for(at, lambda a: len(a.dataframe) > 0)
    no_exception(at)
    assert list(at.dataframe[0].value.columns) == ["modo", "partículas", "peso verdadeiro"]
    assert any("pesos verdadeiros: 0,3 / 0,7" in c.value for c in at.caption)
    assert not _english_left(at), _english_left(at)
    at.button(key="cds_pause").click().run()
