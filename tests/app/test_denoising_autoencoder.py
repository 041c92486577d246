"""AppTest: the DAE page renders, its buttons drive a real run, and the live parts show what they say."""

from __future__ import annotations

import json
import time

import numpy as np

from tests.app.conftest import no_exception, open_page


def _small(at, steps: int = 30):
    at.number_input(key="dae.width").set_value(16)
    at.number_input(key="dae.steps").set_value(steps)
    return at.run()


def _keys(at) -> set[str]:
    return {w.key for kind in ("number_input", "selectbox", "text_input") for w in at.get(kind)}


def _wait(at, cond, timeout: float = 30):
    deadline = time.time() + timeout
    while time.time() < deadline and not cond(at):
        time.sleep(0.5)
        at.run()
    return cond(at)


def _figures(at) -> dict[str, dict]:
    """Plotly specs by their title text."""
    out = {}
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        title = spec.get("layout", {}).get("title", {}).get("text", "")
        out[title] = spec
    return out


def test_renders_without_a_run():
    at = open_page("denoising_autoencoder")
    no_exception(at)
    assert at.title[0].value.startswith("Denoising autoencoder")
    labels = {b.label for b in at.button}
    assert {"Train", "Pause", "Step", "Reset", "Run σ sweep", "Stop sweep"} <= labels
    assert any("Press Train" in i.value for i in at.info)
    # the sidebar is drawn from the declarations: model settings yes, picture grids and the device no
    keys = _keys(at)
    assert {"dae.dataset", "dae.corruption", "dae.sigma", "dae.width", "dae.steps", "dae.lr",
            "dae_sweep.sigmas", "dae_sweep.steps"} <= keys
    assert not {"dae.drop", "dae.device", "dae.eval_grid", "dae.view_grid"} & keys


def test_an_invalid_setting_is_named_and_nothing_runs():
    at = open_page("denoising_autoencoder")
    at.text_input(key="dae_sweep.sigmas").set_value("0.2, nan").run()
    no_exception(at)
    assert any("sigmas" in e.value for e in at.error)
    assert at.button(key="dae_sweep_run").disabled


def test_step_draws_both_energies_the_field_the_profile_and_the_probes():
    at = _small(open_page("denoising_autoencoder"))
    at.button(key="dae_step").click().run()
    assert _wait(at, lambda a: any("step 1" in m.value for m in a.markdown))
    no_exception(at)
    figs = _figures(at)
    titles = " | ".join(figs)
    for part in ("DAE energy", "Latent-variable energy", "Reconstruction field", "Energy along a line",
                 "Corrupted points"):
        assert part in titles, titles
    field = next(v for k, v in figs.items() if k.startswith("Reconstruction field"))
    heads = [t for t in field["data"] if t.get("name") == "field"]
    assert heads and heads[0]["marker"]["symbol"] == "arrow"
    dae = next(v for k, v in figs.items() if k.startswith("DAE energy"))
    lat = next(v for k, v in figs.items() if k.startswith("Latent-variable"))
    assert dae["data"][0]["zmax"] == lat["data"][0]["zmax"], "the two energies share one colour scale"
    assert len(at.metric) == 6


def test_train_to_the_budget_shows_metrics_and_readings_and_reset_starts_over():
    at = _small(open_page("denoising_autoencoder"), steps=40)
    at.button(key="dae_train").click().run()
    assert _wait(at, lambda a: bool(a.success), 60)
    no_exception(at)
    assert "40 steps" in at.success[0].value
    values = [m.value for m in at.metric]  # per metric: the DAE's, then the latent model's
    assert len(values) == 6 and all(v not in ("…", "") for v in values), values
    assert [m.label for m in at.metric[:2]] == ["DAE", "latent model"]
    assert float(values[1]) > 0.5, "the latent model has no flat spot"
    text = " ".join(m.value for m in at.markdown)
    assert "Flat spot" in text and "False lows" in text and "Bowl" in text
    assert "points near the midpoints" in text
    at.button(key="dae_reset").click().run()
    assert _wait(at, lambda a: any("step 0" in m.value for m in a.markdown))


def test_masking_corruption_and_other_data_sets():
    at = open_page("denoising_autoencoder")
    at.selectbox(key="dae.corruption").set_value("masking").run()
    assert "dae.drop" in _keys(at) and "dae.sigma" not in _keys(at), "σ applies to Gaussian noise only"
    at.selectbox(key="dae.dataset").set_value("spiral").run()
    at = _small(at, steps=5)
    at.button(key="dae_step").click().run()
    assert _wait(at, lambda a: any("step 1" in m.value for m in a.markdown))
    no_exception(at)


def test_relaxed_latent_energy_and_my_points():
    at = _small(open_page("denoising_autoencoder"))
    at.button(key="dae_step").click().run()
    assert _wait(at, lambda a: any("step 1" in m.value for m in a.markdown))
    at.radio(key="dae_latent_view").set_value("beta").run()
    assert any("F_β, β = 10" in t for t in _figures(at))
    at.session_state["dae_clicked"] = np.array([[0.0, 1.4], [0.0, 1.6]], dtype=np.float32)
    at.run()
    probes = next(v for k, v in _figures(at).items() if k.startswith("Corrupted points"))
    mine = [t for t in probes["data"] if t.get("name") == "yours"]
    assert mine, "the picked points are drawn with their arrows"
    clear = at.button(key="dae_clear")
    assert not clear.disabled
    clear.click().run()
    assert len(at.session_state["dae_clicked"]) == 0


def test_sigma_sweep_trains_and_draws():
    at = open_page("denoising_autoencoder")
    at.number_input(key="dae.width").set_value(16)
    at.text_input(key="dae_sweep.sigmas").set_value("0.2, 0.5, 1")
    at.number_input(key="dae_sweep.steps").set_value(20).run()
    at.button(key="dae_sweep_run").click().run()
    assert _wait(at, lambda a: any("Measurements against σ" in t for t in _figures(a)), 60)
    no_exception(at)
    assert at.select_slider(key="dae_sweep_sigma").options == ["0.2", "0.5", "1.0"]
    assert any(b.proto.id.endswith("dae_sweep_csv") for b in at.get("download_button"))  # the σ sweep's CSV
