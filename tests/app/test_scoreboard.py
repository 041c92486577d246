"""AppTest: the scoreboard page trains the chosen methods in the background and fills its table."""

from __future__ import annotations

import time

from tests.app.conftest import no_exception, open_page, until_success


def test_scoreboard_renders():
    at = open_page("scoreboard")
    no_exception(at)
    assert at.title[0].value == "Scoreboard"
    assert not at.dataframe and any("Run the board" in b.label for b in at.button)


def test_board_fills_its_table():
    at = open_page("scoreboard")
    at.multiselect(key="sb.methods").set_value(["nce", "dsm"])
    at.number_input(key="sb.steps").set_value(20)
    at.run()
    at.button(key="sb_run").click().run()
    deadline = time.time() + 25
    while time.time() < deadline and not at.success:
        time.sleep(0.4)
        at.run()
    no_exception(at)
    assert at.success, "the board did not finish"
    df = at.dataframe[0].value
    assert list(df["method"]) == ["nce", "dsm"]
    assert df["DSM floor KL"].iloc[1] > 0 and (df["KL(p_data‖p_θ)"] > 0).all()
    assert at.get("plotly_chart") and at.get("download_button")


def test_no_methods_is_an_error():
    at = open_page("scoreboard")
    at.multiselect(key="sb.methods").set_value([])
    at.run()
    assert at.error and "methods" in at.error[0].value
    assert at.button(key="sb_run").disabled




def test_the_board_speaks_portuguese(monkeypatch):
    """?lang=pt: the page's words, the table's headers, the rows' details (method names, decimal comma) and a
    diverged entry's status are Portuguese; the figure's numbers follow the language."""
    import json

    from engine.toy.trainer import ToyTrainer

    real_step = ToyTrainer.step

    def nce_diverges(self):  # NCE's loss is NaN from its first step: the board reports it and goes on
        out = real_step(self)
        return {**out, "loss": float("nan")} if self.config.method == "nce" else out

    monkeypatch.setattr(ToyTrainer, "step", nce_diverges)
    at = open_page("scoreboard", lang="pt")
    no_exception(at)
    assert at.title[0].value == "Placar" and at.button(key="sb_run").label == "Rodar o placar"
    assert any(i.value.startswith("Pressione “Rodar o placar”") for i in at.info)
    at.multiselect(key="sb.methods").set_value(["nce", "dsm"])
    at.number_input(key="sb.steps").set_value(10)
    at.run()
    at.button(key="sb_run").click().run()
    until_success(at)
    no_exception(at)
    assert at.success and at.success[0].value.startswith("Concluído: 2 métodos")
    df = at.dataframe[0].value
    assert list(df.columns)[:3] == ["método", "detalhes", "NLL de teste"] and "situação" in df.columns
    assert df["detalhes"].iloc[1].endswith("σ=0,1") and df["detalhes"].iloc[0].startswith("Estimação contrastiva")
    assert df["situação"].iloc[0].startswith("divergiu no passo ") and df["situação"].iloc[1] == "ok"
    (fig,) = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert fig["layout"]["separators"] == ",."
    assert [a["text"] for a in fig["layout"]["annotations"]][0] == "dados"
