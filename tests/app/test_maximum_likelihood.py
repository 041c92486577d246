"""AppTest: the home and maximum-likelihood pages render, and the buttons drive a real run."""

from __future__ import annotations

import time

from tests.app.conftest import no_exception, open_page, wait_for


def test_home_renders():
    at = open_page("home")
    no_exception(at)
    assert "Energy Lab" in at.title[0].value


def test_ml_page_renders_without_a_run():
    at = open_page("maximum_likelihood")
    no_exception(at)
    assert at.title[0].value.startswith("Maximum likelihood")
    labels = [b.label for b in at.button]
    assert {"Train", "Pause", "Step", "Reset"} <= set(labels)


def test_sidebar_is_drawn_from_the_declarations():
    """The method is fixed to ml: the data set, the budget, the model and ML's own integration grid show;
    no other method's settings do."""
    at = open_page("maximum_likelihood")
    keys = {w.key for w in [*at.number_input, *at.selectbox]}
    assert {"ml.dataset", "ml.steps", "ml.width", "ml.lr", "ml.train_grid"} <= keys
    assert not keys & {"ml.method", "ml.k", "ml.sigma", "ml.buffer", "ml.alpha"}
    assert at.number_input(key="ml.lr").value == 3e-3  # ml's layered default
    assert at.number_input(key="ml.width").value == 64  # the live page starts narrower than the CLI


def _set_small(at):
    at.number_input(key="ml.width").set_value(16)
    at.number_input(key="ml.train_grid").set_value(32)
    at.number_input(key="ml.steps").set_value(30)
    return at.run()


def test_step_creates_a_run_and_takes_exactly_one_step():
    at = _set_small(open_page("maximum_likelihood"))
    at.button(key="ml_step").click().run()
    no_exception(at)
    time.sleep(1.0)
    at.run()
    assert any("step 1" in m.value for m in at.markdown), [m.value for m in at.markdown]
    assert at.get("plotly_chart"), "the 3-D surface is drawn once a run exists"


def test_train_runs_to_the_budget_and_reset_starts_over():
    at = _set_small(open_page("maximum_likelihood"))
    at.button(key="ml_train").click().run()
    deadline = time.time() + 30
    while time.time() < deadline and not at.success:
        time.sleep(0.5)
        at.run()
    no_exception(at)
    assert at.success and "30 steps" in at.success[0].value
    at.button(key="ml_reset").click().run()
    time.sleep(0.5)
    at.run()
    assert any("step 0" in m.value for m in at.markdown)


def test_shift_panel_shows_equal_nll():
    at = _set_small(open_page("maximum_likelihood"))
    at.button(key="ml_step").click().run()
    time.sleep(0.5)
    at.segmented_control(key="ml_panel").set_value("shift").run()
    no_exception(at)
    df = at.dataframe[0].value
    nll_row = df.iloc[1]
    assert abs(float(nll_row.iloc[1]) - float(nll_row.iloc[2])) < 1e-3
    log_z_row = df.iloc[0]
    assert abs(float(log_z_row.iloc[1]) - float(log_z_row.iloc[2]) - 5.0) < 1e-3


def test_closing_the_session_stops_its_run():
    """The session's runs live in a session-scoped resource whose release stops them."""
    import streamlit as st

    from engine.run import live_runs

    before = len(live_runs())
    at = _set_small(open_page("maximum_likelihood"))
    at.number_input(key="ml.steps").set_value(100_000).run()
    at.button(key="ml_train").click().run()
    assert len(live_runs()) == before + 1
    st.cache_resource.clear()  # what Streamlit does when the session disconnects
    time.sleep(1.0)
    assert len(live_runs()) == before


def test_a_diverged_run_offers_to_continue_from_finite_weights_at_a_smaller_lr(monkeypatch):
    """Forced divergence: above lr 0.01 the energy's weights blow up (NaN) from step 40 on. The run fails,
    rolls back to finite weights; "Continue" halves the lr (the optimiser's and the form's) and trains on
    from the rolled-back step to the budget with finite losses."""
    import math

    import torch

    from engine.toy.trainer import ToyTrainer

    trainers: list[ToyTrainer] = []
    started_from: list[int] = []  # the step count each step started from
    real_step = ToyTrainer.step

    def unstable_step(self: ToyTrainer) -> dict[str, float]:
        if self not in trainers:
            trainers.append(self)
        started_from.append(self.step_count)
        out = real_step(self)
        if self.opt.param_groups[0]["lr"] > 0.01 and self.step_count >= 40:
            with torch.no_grad():
                next(self.model.parameters()).fill_(math.nan)
            out = {**out, "loss": math.nan}
        return out

    monkeypatch.setattr(ToyTrainer, "step", unstable_step)
    at = _set_small(open_page("maximum_likelihood"))
    at.number_input(key="ml.steps").set_value(300)
    at.number_input(key="ml.lr").set_value(0.016).run()
    at.button(key="ml_train").click().run()
    wait_for(at, lambda a: a.error, timeout=30)
    no_exception(at)
    assert at.error and "non-finite at step 40" in at.error[0].value and "rolled back" in at.error[0].value
    (trainer,) = trainers
    back = trainer.step_count
    assert back < 40 and all(torch.isfinite(p).all() for p in trainer.model.parameters())  # restored, finite
    failed_at = len(started_from)
    label = next(b.label for b in at.button if b.key == "ml_continue")
    assert label == "Continue from the rolled-back model (lr → 0.008)"

    at.button(key="ml_continue").click().run()
    wait_for(at, lambda a: a.success, timeout=180)  # ~260 steps with the live view; slow on a loaded CI box
    no_exception(at)
    assert at.success and "300 steps" in at.success[0].value
    assert trainers == [trainer] and trainer.step_count == 300  # the same model, trained on
    assert started_from[failed_at:] == list(range(back, 300))  # from the rolled-back step, none lost
    assert trainer.opt.param_groups[0]["lr"] == 0.008 and at.number_input(key="ml.lr").value == 0.008
    assert not any("settings changed" in c.value for c in at.caption)
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert not [b for b in at.button if b.key == "ml_continue"]


# ---- in Portuguese -----------------------------------------------------------------------------------

def test_ml_page_speaks_portuguese():
    """?lang=pt: the page's own words, the data set's description (decimal comma) and the figures are
    Portuguese; the buttons are the run controls' Portuguese words."""
    import json

    from app.i18n import t

    at = open_page("maximum_likelihood", lang="pt")
    no_exception(at)
    assert at.title[0].value == "Máxima verossimilhança: para baixo nos dados, para cima em todo o resto"
    train = next(b.label for b in at.button if b.key == "ml_train")
    assert train == t("run_controls.train", "Train", lang="pt") and train != "Pause"  # "Treinar" once translated
    assert at.radio(key="ml_view").label == "Visualização ao vivo"
    assert list(at.radio(key="ml_view").options)[0].startswith("Suave")
    assert any(i.value.startswith("Pressione Treinar") for i in at.info)
    assert any("σ 0,2" in c.value and "forma fechada (exata)" in c.value for c in at.caption), \
        [c.value for c in at.caption]
    assert at.segmented_control(key="ml_panel").label == "Painel"

    _set_small(at)
    at.button(key="ml_step").click().run()
    time.sleep(0.5)
    at.run()
    no_exception(at)
    (curves,) = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert curves["layout"]["separators"] == ",." and curves["layout"]["xaxis"]["title"]["text"] == "passo"
    assert {d["name"] for d in curves["data"]} == {"perda de treino", "NLL de teste (exata)", "KL(p_data‖p_θ)"}
    at.segmented_control(key="ml_panel").set_value("shift").run()
    assert list(at.dataframe[0].value.iloc[:, 0]) == ["log Z", "NLL de teste (nats)"]
    assert any("Maior variação da probabilidade" in c.value and "e-" in c.value for c in at.caption)


def test_live_canvas_words_follow_the_language():
    """The canvas draws no word of its own: its labels (toolbar, legend, step line) and decimal mark come
    from the session's language."""
    at = open_page("maximum_likelihood", lang="pt")
    (canvas,) = [n.proto for n in at.get("bidi_component") if n.proto.component_name.endswith("live_canvas")]
    import json

    config = json.loads(canvas.json)["config"]
    assert config["decimal"] == "," and config["labels"]["record"] == "⏺ Gravar"
    assert config["labels"]["fps"] == "{fps} quadros/s" and config["labels"]["step"] == "passo {step}"
    en = open_page("maximum_likelihood")
    (canvas,) = [n.proto for n in en.get("bidi_component") if n.proto.component_name.endswith("live_canvas")]
    config = json.loads(canvas.json)["config"]
    assert config["decimal"] == "." and config["labels"]["fps"] == "{fps} frames/s"


def test_data_set_texts_in_the_catalogue_are_the_engines():
    """The English of toy.dataset.* / toy.density.* is the engine's own description (no drift), and every
    one has its Portuguese."""
    from app.i18n import catalogue
    from engine.toy.data import DATASETS

    en, pt = catalogue("en"), catalogue("pt")
    for ds in DATASETS.values():
        assert en[ds.text_key] == ds.description and en[ds.density_key] == ds.density_kind
        assert pt[ds.text_key] != ds.description and pt[ds.density_key]
