"""AppTest: the scoreboard page trains the chosen methods in the background and fills its table."""

from __future__ import annotations

import time

from tests.app.conftest import no_exception, open_page


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
