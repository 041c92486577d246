"""The class code (ENERGY_LAB_CLASS_CODE): without it a browser looks but cannot train; with it, it trains."""

from __future__ import annotations

import pytest

from app.session import MAX_CODE_TRIES
from tests.app.conftest import no_exception, open_page

CODE = "week8-contrastive"


def _small(at):
    at.number_input(key="ml.width").set_value(16)
    at.number_input(key="ml.train_grid").set_value(32)
    at.number_input(key="ml.steps").set_value(30)
    return at.run()


def _errors(at) -> list[str]:
    return [e.value for e in at.error]


def _has_run(at) -> bool:
    """The status line shows a run that was started (not the "Ready: press Train." of no run)."""
    return any("· step " in m.value and not m.value.startswith("**Ready") for m in at.markdown)


@pytest.fixture
def class_server(monkeypatch):
    monkeypatch.setenv("ENERGY_LAB_CLASS_CODE", CODE)


def test_without_the_code_train_and_step_are_refused(class_server):
    at = _small(open_page("maximum_likelihood"))
    assert at.text_input(key="_class_code") is not None  # the sidebar asks for it
    at.button(key="ml_train").click().run()
    no_exception(at)
    assert any("needs the class code" in e for e in _errors(at)), _errors(at)
    at.button(key="ml_step").click().run()
    assert any("needs the class code" in e for e in _errors(at)), _errors(at)
    assert not _has_run(at)


def test_a_wrong_code_is_refused_and_the_right_one_lets_the_browser_train(class_server):
    at = _small(open_page("maximum_likelihood"))
    at.text_input(key="_class_code").input("not-the-code").run()
    assert any("not the class code" in e for e in _errors(at)), _errors(at)
    at.button(key="ml_train").click().run()
    assert not _has_run(at)
    at.text_input(key="_class_code").input(CODE).run()
    no_exception(at)
    assert any("accepted" in s.value for s in at.success)
    assert not [w for w in at.text_input if w.key == "_class_code"]  # asked once per browser
    at.button(key="ml_train").click().run()
    no_exception(at)
    assert not any("needs the class code" in e for e in _errors(at))
    assert _has_run(at)


def test_guessing_stops_after_the_allowed_tries(class_server):
    at = open_page("maximum_likelihood")
    for i in range(MAX_CODE_TRIES):
        at.text_input(key="_class_code").input(f"guess-{i}").run()
    assert any("Too many wrong codes" in e for e in _errors(at)), _errors(at)
    assert not [w for w in at.text_input if w.key == "_class_code"]


def test_no_code_set_no_box(monkeypatch):
    monkeypatch.delenv("ENERGY_LAB_CLASS_CODE", raising=False)
    at = open_page("maximum_likelihood")
    assert not [w for w in at.text_input if w.key == "_class_code"]
