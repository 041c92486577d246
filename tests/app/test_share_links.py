"""AppTest: share links — a form's settings in the URL's query parameters, and a link read back (app/share.py)."""

from __future__ import annotations

import math

import pytest
from streamlit.testing.v1 import AppTest

from app.share import MAX_PARAM_CHARS, parse_param, to_text
from engine.errors import SettingError
from engine.schema import all_settings_classes
from engine.toy.config import ToyConfig
from tests.app.conftest import MAIN, ROOT, no_exception, open_page


def open_with(stem: str, params: dict[str, str]) -> AppTest:
    """A fresh session that opens pages/<stem>.py from a link carrying `params`."""
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.switch_page(str(ROOT / "pages" / f"{stem}.py"))
    at.query_params.update(params)
    at.run()
    no_exception(at)
    return at


def links(at: AppTest) -> list[str]:
    return [c.value for c in at.code]


# ---- the text form ------------------------------------------------------------------------------------
def _samples(spec):
    """Values of the declaration to round-trip: its default and its bounds."""
    out = [spec.default]
    if spec.kind in (int, float) and not spec.many:
        out += [b for b in (spec.ge, spec.le) if b is not None]
        if spec.kind is float:
            low = spec.ge if spec.ge is not None else spec.gt
            high = spec.le if spec.le is not None else spec.lt
            out.append(low + (high - low) / 3)  # not a short decimal
    return [spec.normalise(spec.kind(v) if isinstance(v, int | float) and not spec.many else v) for v in out]


def test_every_declared_setting_reads_back_from_its_link_text():
    checked = 0
    for cls in all_settings_classes():
        for spec in cls.specs().values():
            for value in _samples(spec):
                assert spec.normalise(spec.parse(to_text(spec, value))) == value, (cls.__name__, spec.name, value)
                checked += 1
    assert checked > 100


HOSTILE = ["abc", "nan", "inf", "-1", "1e999", "9" * 1500, "9" * 5000, "3.5", "", " ", "0x10", "1_000",
           "\x00", "[1]"]


@pytest.mark.parametrize("text", HOSTILE, ids=[repr(t[:12]) for t in HOSTILE])
def test_hostile_text_is_refused_with_a_message_that_names_the_setting(text):
    with pytest.raises(SettingError) as err:
        parse_param(ToyConfig.spec("width"), text)
    assert "width" in str(err.value)


def test_a_value_longer_than_the_cap_is_not_parsed():
    with pytest.raises(SettingError, match=str(MAX_PARAM_CHARS)):
        parse_param(ToyConfig.spec("dataset"), "a" * (MAX_PARAM_CHARS + 1))


def test_narrower_page_choices_are_enforced():
    with pytest.raises(SettingError, match="offered"):
        parse_param(ToyConfig.spec("method"), "ml", narrowed=("cd", "pcd"))
    assert parse_param(ToyConfig.spec("method"), "cd", narrowed=("cd", "pcd")) == "cd"


# ---- a page opened from a link ----------------------------------------------------------------------------
def test_a_link_sets_the_widgets_and_leaves_foreign_params_alone():
    at = open_with("maximum_likelihood", {"ml.dataset": "rings", "ml.width": "32", "ml.lr": "0.002",
                                          "session": "abc123"})
    assert at.selectbox(key="ml.dataset").value == "rings"
    assert at.number_input(key="ml.width").value == 32
    assert math.isclose(at.number_input(key="ml.lr").value, 0.002)
    assert not at.warning
    assert at.query_params["session"] == "abc123"  # not a setting: kept in the URL, left out of the link
    (link,) = links(at)
    assert "ml.width=32" in link and "ml.dataset=rings" in link and "ml.lr=0.002" in link
    assert "session" not in link


@pytest.mark.parametrize("param,text", [
    ("ml.width", "abc"), ("ml.width", "1e999"), ("ml.width", "100000"), ("ml.lr", "nan"), ("ml.lr", "-0.1"),
    ("ml.dataset", "no_such_data"), ("ml.dataset", "x" * (MAX_PARAM_CHARS + 10)), ("ml.steps", "**9**"),
    ("ml.method", "cd"), ("ml.device", "cuda"), ("ml.bogus", "1"), ("ml.dataset", "[a](javascript:alert(1))"),
])
def test_a_bad_param_warns_by_name_and_is_ignored(param, text):
    at = open_with("maximum_likelihood", {param: text, "ml.depth": "4"})
    assert len(at.warning) == 1, [w.value for w in at.warning]
    shown = at.warning[0].value.replace("\\", "")
    assert param in shown and "ignored" in shown
    assert at.number_input(key="ml.width").value == 64  # the page's start value, not the link's
    assert at.selectbox(key="ml.dataset").value == ToyConfig.spec("dataset").default
    assert at.number_input(key="ml.depth").value == 4  # the good parameter beside it is taken
    if param != "ml.bogus":  # a setting's bad value leaves the URL (not another form's parameter)
        assert param not in at.query_params
    at.run()
    assert not at.warning  # said once


def settings_params(at) -> dict[str, str]:
    """The URL's parameters but the language (app/i18n.py's switch keeps `lang` there)."""
    return {k: v for k, v in at.query_params.items() if k != "lang"}


def test_changing_a_widget_writes_its_param_and_a_default_removes_it():
    at = open_page("maximum_likelihood")
    assert not [k for k in at.query_params if k.startswith("ml.")]  # the defaults leave no parameter
    at.selectbox(key="ml.dataset").set_value("rings").run()  # first: a new data set resets the others
    at.number_input(key="ml.width").set_value(40).run()
    assert settings_params(at) == {"ml.width": "40", "ml.dataset": "rings"}
    assert "ml.dataset=rings" in links(at)[0] and "ml.width=40" in links(at)[0]
    at.number_input(key="ml.width").set_value(64).run()  # the page's start value
    assert settings_params(at) == {"ml.dataset": "rings"}


def test_an_invalid_form_keeps_the_last_valid_link():
    at = open_page("denoising_autoencoder")
    at.text_input(key="dae_sweep.sigmas").set_value("0.1, 0.3").run()
    assert at.query_params.get("dae_sweep.sigmas") == "0.1,0.3"
    at.text_input(key="dae_sweep.sigmas").set_value("0.1, x").run()
    assert at.error and at.query_params.get("dae_sweep.sigmas") == "0.1,0.3"


def test_a_link_that_changes_the_method_keeps_its_other_settings():
    """The method's layered defaults take over only for the settings the link does not give."""
    at = open_with("contrastive_divergence", {"cd.method": "cd", "cd.k": "5", "cd.noise": "0.2"})
    assert at.selectbox(key="cd.method").value == "cd"
    assert at.number_input(key="cd.k").value == 5
    assert at.checkbox(key="cd.noise.set").value and math.isclose(at.number_input(key="cd.noise").value, 0.2)
    # the page opens on persistent CD: that is its start value, and choosing it removes the parameter
    at.selectbox(key="cd.method").set_value("pcd").run()
    assert "cd.method" not in at.query_params
    assert at.number_input(key="cd.k").value == ToyConfig.defaults_for(None, "pcd")["k"]  # a new pair


def test_params_arriving_mid_session_change_the_pair_and_keep_their_values():
    """A page switched to with parameters (a lecture stop, a preset) after the form was drawn."""
    at = open_page("contrastive_divergence")
    at.number_input(key="cd.k").set_value(9).run()
    at.query_params = {"cd.method": "cd", "cd.k": "4", "cd.noise": "none"}
    at.run()
    no_exception(at)
    assert at.selectbox(key="cd.method").value == "cd" and at.number_input(key="cd.k").value == 4
    assert not at.checkbox(key="cd.noise.set").value


def test_nested_forms_own_only_their_params():
    """The binary page: form bin (shared settings) and one form per method (bin.<method>)."""
    at = open_with("binary", {"bin.steps": "500", "bin.cd.k": "3", "bin.cd.lr": "0.02"})
    assert not at.warning, [w.value for w in at.warning]
    assert at.number_input(key="bin.steps").value == 500
    assert at.number_input(key="bin.cd.k").value == 3 and math.isclose(at.number_input(key="bin.cd.lr").value, 0.02)
    assert settings_params(at) == {"bin.steps": "500", "bin.cd.k": "3", "bin.cd.lr": "0.02"}


def test_every_link_box_of_a_page_shows_the_whole_link():
    """Two forms: a change in the second belongs in the link shown at the end of the first."""
    at = open_page("denoising_autoencoder")
    at.number_input(key="dae_sweep.steps").set_value(500).run()
    shown = links(at)
    assert len(shown) == 2 and all("dae_sweep.steps=500" in s for s in shown), shown


def test_a_flood_of_bad_params_gives_a_few_warnings_and_a_count():
    params = {f"ml.junk{i}": "1" for i in range(200)} | {f"ml.width{i}": "x" for i in range(50)}
    at = open_with("maximum_likelihood", {**params, "ml.width": "9999999", "ml.depth": "5"})
    assert len(at.warning) == 6 and "246 more" in at.warning[-1].value  # 251 bad, 5 shown
    assert at.number_input(key="ml.width").value == 64 and at.number_input(key="ml.depth").value == 5


def test_a_list_setting_round_trips_through_its_link():
    at = open_with("scoreboard", {"sb.methods": "ml,pcd,dsm"})
    assert at.multiselect(key="sb.methods").value == ["ml", "pcd", "dsm"]
    at.multiselect(key="sb.methods").unselect("pcd").run()
    assert at.query_params["sb.methods"] == "ml,dsm"
    bad = open_with("scoreboard", {"sb.methods": "ml,os.system"})
    assert len(bad.warning) == 1 and "sb.methods" in bad.warning[0].value.replace("\\", "")
    assert "sb.methods" not in bad.query_params
