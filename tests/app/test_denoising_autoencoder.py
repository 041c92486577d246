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


def _shown_text(at) -> str:
    """Everything the page says: texts, labels, options, metrics and the figures' words."""
    parts = [e.value for kind in ("title", "subheader", "markdown", "caption", "info", "success", "warning")
             for e in at.get(kind)]
    for kind in ("button", "radio", "select_slider", "metric"):
        for w in at.get(kind):
            parts.append(w.label)
            parts.extend(getattr(w, "options", None) or [])
    for spec in _figures(at).values():
        layout = spec.get("layout", {})
        parts.append(layout.get("title", {}).get("text", ""))
        parts.extend(str(layout.get(a, {}).get("title", {}).get("text", "")) for a in ("xaxis", "yaxis"))
        parts.extend(str(t.get("name", "")) + str(t.get("hovertemplate", "")) for t in spec["data"])
    return "\n".join(parts)


def _english_left(text: str, sections: tuple[str, ...]) -> list[str]:
    """This page's English catalogue texts (three words or more, up to their first field) found in `text`."""
    from app.i18n import catalogue

    en, pt = catalogue("en"), catalogue("pt")
    heads = {v.split("{")[0].strip() for k, v in en.items() if k.startswith(sections) and pt.get(k) != v}
    return sorted(h for h in heads if len(h.split()) >= 3 and h in text)


def test_the_page_speaks_portuguese():
    at = open_page("denoising_autoencoder", lang="pt")
    no_exception(at)
    assert at.title[0].value.startswith("Autoencoder de remoção de ruído")
    assert {"Rodar a varredura de σ", "Parar a varredura"} <= {b.label for b in at.button}
    assert at.radio(key="dae_scale").options == ["linear (cortada)", "log₁₀"]
    assert at.select_slider(key="dae_beta").options[:2] == ["0,3", "1,0"]
    assert any("dois círculos concêntricos" in c.value for c in at.caption)  # the manifold's description
    at = _small(at, steps=40)
    at.button(key="dae_train").click().run()
    assert _wait(at, lambda a: bool(a.success) and len(a.metric) == 6 and "…" not in [m.value for m in a.metric], 60)
    no_exception(at)
    assert [m.label for m in at.metric[:2]] == ["DAE", "modelo latente"]
    assert all("," in m.value and "." not in m.value for m in at.metric), [m.value for m in at.metric]
    text = _shown_text(at)
    assert "Ponto plano" in text and "Falsos mínimos" in text and "Tigela" in text
    assert "para o círculo interno" in text  # the branch names, with their article
    figs = _figures(at)
    assert any(t.startswith("Energia do DAE") for t in figs) and any("(-3,0; 0,0)" in t for t in figs)
    assert all(f["layout"]["separators"] == ",." for f in figs.values())
    assert not _english_left(text, ("denoising_autoencoder.", "dae_views.", "dae.")), _english_left(
        text, ("denoising_autoencoder.", "dae_views.", "dae."))
