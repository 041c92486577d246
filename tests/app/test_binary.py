"""AppTest: the "Binary data" page renders, trains live in a Run, draws its panels, and steps the
watched Metropolis chain."""

from __future__ import annotations

import json

from tests.app.conftest import no_exception, open_page, wait_for


def _small(at, steps=20):
    at.multiselect(key="bin_methods").set_value(["ml", "cd", "mpf"])
    at.number_input(key="bin.steps").set_value(steps)
    return at.run()


def _step_once(at):
    at.button(key="bin_step").click().run()
    return wait_for(at, lambda a: any("step 1" in m.value for m in a.markdown))


def _charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_page_renders_with_controls_and_no_run():
    at = open_page("binary")
    no_exception(at)
    assert at.title[0].value.startswith("Binary data")
    assert {"Train", "Pause", "Step", "Reset"} <= {b.label for b in at.button}
    assert any("Press Train" in i.value for i in at.info)


def test_step_trains_every_method_once_and_draws_the_nll_curves():
    at = _small(open_page("binary"))
    at.button(key="bin_step").click().run()
    no_exception(at)
    at = wait_for(at, lambda a: any("step 1" in m.value for m in a.markdown))
    assert any("step 1" in m.value for m in at.markdown), [m.value for m in at.markdown]
    names = {t.get("name") for c in _charts(at) for t in c["data"]}
    assert {"exact ML (reference)", "cd-1", "mpf"} <= names
    assert any(n and n.startswith("data entropy 3.401") for n in names)


def test_train_runs_to_the_budget():
    at = _small(open_page("binary"), steps=15)
    at.button(key="bin_train").click().run()
    at = wait_for(at, lambda a: bool(a.success), timeout=40)
    no_exception(at)
    assert at.success and "15 steps" in at.success[0].value


def test_patterns_panel_shows_30_patterns_and_the_rest():
    at = _small(open_page("binary"))
    at = _step_once(at)
    at.segmented_control(key="bin_panel").set_value("patterns").run()
    no_exception(at)
    bars = [t for c in _charts(at) for t in c["data"] if t.get("type") == "bar"]
    assert len(bars) == 3  # ml, cd-1, mpf
    assert len(bars[0]["x"]) == 31 and bars[0]["x"][-1] == "rest"


def test_ising_shows_learned_and_true_couplings():
    at = open_page("binary")
    at.selectbox(key="bin.dataset").set_value("ising")
    at = _small(at)
    at = _step_once(at)
    at.segmented_control(key="bin_panel").set_value("couplings").run()
    no_exception(at)
    heat = [t for c in _charts(at) for t in c["data"] if t.get("type") == "heatmap"]
    assert len(heat) >= 4  # true J, ml, cd-1, mpf (+ the chain's state picture)


def test_watched_chain_steps_one_proposal_at_a_time():
    at = _small(open_page("binary"))
    at = _step_once(at)
    assert at.selectbox(key="bin_chain_method").value == "cd-1"
    at.button(key="bin_chain_next").click().run()
    no_exception(at)
    assert any("Proposal 1**" in m.value for m in at.markdown), [m.value for m in at.markdown]
    at.button(key="bin_chain_ten").click().run()
    assert any("Proposal 11**" in m.value for m in at.markdown)
    assert any("of 11 proposals accepted" in c.value for c in at.caption)
    at.button(key="bin_chain_new").click().run()
    assert not any("Proposal" in m.value for m in at.markdown)


def test_impossible_settings_are_a_clear_error():
    at = open_page("binary")
    at.multiselect(key="bin_methods").set_value([]).run()
    no_exception(at)
    assert at.error and "at least one method" in at.error[0].value


def test_each_method_shows_only_its_own_settings_from_the_declarations():
    at = _small(open_page("binary"))
    at.multiselect(key="bin_methods").set_value(["cd", "pcd", "nce", "rm"]).run()
    keys = {w.key for kind in ("number_input", "selectbox") for w in at.get(kind)}
    assert {"bin.cd.k", "bin.cd.sampler", "bin.pcd.k", "bin.pcd.chains", "bin.nce.nce_nu", "bin.rm.lr"} <= keys
    assert not {"bin.cd.chains", "bin.nce.k", "bin.rm.k", "bin.rm.nce_nu", "bin.hidden"} & keys
    # each method starts at its layered defaults (CD: SGD, lr 0.1, {−1,+1}; PCD: 120 chains)
    assert at.selectbox(key="bin.cd.optimizer").value == "sgd" and at.number_input(key="bin.cd.lr").value == 0.1
    assert at.number_input(key="bin.pcd.chains").value == 120
    assert at.selectbox(key="bin.cd.sampler").options == ["auto", "metropolis"]  # Gibbs needs the RBM
    at.selectbox(key="bin.model").set_value("rbm").run()
    assert at.number_input(key="bin.hidden").value == 8
    at.number_input(key="bin.cd.k").set_value(3).run()
    at.button(key="bin_step").click().run()
    at = wait_for(at, lambda a: any("step 1" in m.value for m in a.markdown))
    no_exception(at)
    assert at.selectbox(key="bin_chain_method").options == ["cd-3", "pcd-1", "nce", "rm"]


def test_a_method_whose_settings_cannot_run_says_so():
    at = _small(open_page("binary"))
    at.number_input(key="bin.cd.lr").set_value(0.0).run()
    no_exception(at)
    assert any("CD settings" in e.value for e in at.error), [e.value for e in at.error]


def test_negatives_view_and_a_chain_from_random_bits():
    at = _small(open_page("binary"))
    at = _step_once(at)
    at.radio(key="bin_show").set_value("negatives").run()
    no_exception(at)

    def ticks(a):
        axes = [c["layout"].get("yaxis", {}) for c in _charts(a)]
        return [y["ticktext"] for y in axes if y.get("ticktext")]

    # the status line can show step 1 a moment before that step's picture is published: wait for it
    at = wait_for(at, lambda a: ["data", "cd-1"] in ticks(a))
    assert ["data", "cd-1"] in ticks(at)  # only CD contrasts sampled states; ML and MPF have no row
    at.radio(key="bin_chain_source").set_value("random").run()
    at.button(key="bin_chain_ten").click().run()
    no_exception(at)
    assert any("Proposal 10**" in m.value for m in at.markdown)


def _visible(at) -> list[str]:
    """Every text the page shows: its prose, widget labels and options, and its charts' words."""
    out = [e.value for kind in ("title", "subheader", "markdown", "caption", "info", "warning", "error")
           for e in at.get(kind)]
    for kind in ("button", "toggle", "radio", "selectbox", "multiselect", "segmented_control"):
        for w in at.get(kind):
            out.append(w.proto.label)
            out.extend(str(o) for o in getattr(w.proto, "options", []) or [])
    for c in _charts(at):
        layout = c["layout"]
        out.extend(str(v.get("title", {}).get("text", "")) for k, v in layout.items()
                   if k in ("title", "xaxis", "yaxis") and isinstance(v, dict))
        out.extend(str(t.get("name") or "") for t in c["data"])
    return out


def test_the_page_speaks_portuguese(monkeypatch):
    # AppTest calls widgets' format functions outside the script run, where the language would be English
    monkeypatch.setattr("app.i18n.language", lambda: "pt")
    at = _small(open_page("binary"))
    at = _step_once(at)
    at.button(key="bin_chain_next").click().run()
    no_exception(at)
    assert at.title[0].value == "Dados binários: cada método contrastivo, avaliado de forma exata"
    assert any(m.value.startswith("**Proposta 1**") and ("**aceita**" in m.value or "**rejeitada**" in m.value)
               for m in at.markdown)
    assert at.radio(key="bin_show").options == ["amostras exatas de cada modelo",
                                                "os estados contrastados ȳ deste passo"]
    assert any(c.value.startswith("barras e listras 4×4: 30 padrões") for c in at.caption)
    charts = _charts(at)
    assert all(c["layout"].get("separators") == ",." for c in charts)  # decimal commas on the axes
    names = {t.get("name") for c in charts for t in c["data"]}
    assert {"ML exata (referência)", "entropia dos dados 3,401 (o piso)"} <= names
    # none of the page's own English (sentences of four words or more) is left on it
    from app.i18n import catalogue

    shown = "\n".join(_visible(at))
    english = [v for k, v in catalogue("en").items() if k.startswith(("binary.", "binary_views.", "binary_engine."))
               and len(v.split()) >= 4 and "{" not in v]
    assert not [e for e in english if e in shown]
