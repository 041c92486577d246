"""The declaration machinery itself (engine/schema.py, engine/registry.py) on a small hand-made schema."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from engine.errors import SettingError
from engine.registry import Registry
from engine.schema import Layers, Rule, Settings, setting


class _FakeRegistry(Registry):
    def __init__(self, builders: dict[str, Any]):
        super().__init__("none", [])
        for name, fn in builders.items():
            self.register(name, name.upper())(fn)


def _plain(ctx):
    return "plain"


def _sampling(ctx, *, k: int, eps: float):
    return ("sampling", k, eps)


REG = _FakeRegistry({"plain": _plain, "sampling": _sampling})


@dataclass
class Demo(Settings):
    experiment: ClassVar[str] = "demo"
    schema_version: ClassVar[int] = 3
    migrations: ClassVar[dict] = {
        1: lambda d: {("rate" if k == "speed" else k): v for k, v in d.items()},  # v1 called it "speed"
        2: lambda d: {**d, "rate": d["rate"] / 10} if "rate" in d else d,  # v2 stored it ×10
    }
    layers: ClassVar[Layers] = Layers(
        dataset={"big": {"width": 64, "rate": 0.2}},
        method={"sampling": {"rate": 0.3, "k": 5}},
        pair={("big", "sampling"): {"k": 7}},
    )
    rules: ClassVar[tuple[Rule, ...]] = (Rule(("k", "width"), lambda c: c.k <= c.width, "k cannot exceed width"),)
    method_registry: ClassVar[Any] = REG

    dataset: str = setting("small", choices=("small", "big"), label="Data set")
    method: str = setting("plain", choices=REG.names, label="Method")
    width: int = setting(16, ge=1, le=128, label="Width")
    rate: float = setting(0.1, gt=0, le=1, label="Rate")
    k: int = setting(3, ge=1, le=100, per_method=True, label="k")
    eps: float = setting(0.01, gt=0, lt=1, per_method=True, label="ε")
    noise: float | None = setting(None, ge=0, le=5, none="automatic", label="Noise")
    kind: str = setting("a", choices=("a", "b"), label="Kind")
    only_b: float = setting(1.0, ge=0, le=2, when={"kind": ("b",)}, label="Only for b")
    dims: tuple[int, ...] = setting((2, 4), ge=2, le=64, max_items=5, label="Dimensions")
    fast: bool = setting(False, label="Fast")


def test_layers_apply_in_one_order_base_dataset_method_pair():
    assert Demo.defaults_for("small", "plain")["rate"] == 0.1
    assert Demo.defaults_for("big", "plain")["rate"] == 0.2  # data set over base
    assert Demo.defaults_for("big", "sampling")["rate"] == 0.3  # method over data set
    assert Demo.defaults_for("big", "sampling")["k"] == 7  # pair over method
    assert Demo.create(dataset="big", method="sampling", k=9).k == 9  # given over all layers


@pytest.mark.parametrize(("given", "setting_name", "words"), [
    ({"width": 0}, "width", "an integer from 1 to 128"),
    ({"width": 2.0}, "width", "not an integer"),
    ({"width": True}, "width", "wrong type"),
    ({"rate": 0}, "rate", "a number > 0 and ≤ 1"),
    ({"rate": math.nan}, "rate", "not finite"),
    ({"rate": math.inf}, "rate", "not finite"),
    ({"eps": 1.0}, "eps", "< 1"),
    ({"noise": -1}, "noise", "or none (automatic)"),
    ({"kind": "c"}, "kind", "one of a, b"),
    ({"method": "nope"}, "method", "one of plain, sampling"),
    ({"dims": (2, 1)}, "dims", "each an integer from 2 to 64"),
    ({"dims": (2,) * 6}, "dims", "1 to 5 values"),
    ({"fast": 1}, "fast", "true or false"),
    ({"k": 20, "width": 10}, "k", "k cannot exceed width"),
    ({"speed": 1}, "speed", "unknown setting"),
])
def test_errors_name_the_setting_the_value_and_what_is_allowed(given, setting_name, words):
    with pytest.raises(SettingError) as info:
        Demo.create(**given)
    assert info.value.setting == setting_name
    assert setting_name in str(info.value) and words in str(info.value)


def test_text_is_parsed_by_the_declaration():
    c = Demo.from_text({"width": "1e2", "rate": "0.5", "noise": "none", "dims": "2, 8", "fast": "yes"})
    assert (c.width, c.rate, c.noise, c.dims, c.fast) == (100, 0.5, None, (2, 8), True)
    for name, text in [("width", "abc"), ("width", "2.5"), ("width", "nan"), ("fast", "maybe"), ("rate", "x")]:
        with pytest.raises(SettingError) as info:
            Demo.from_text({name: text})
        assert info.value.setting == name and repr(text) in str(info.value)


def test_dict_round_trip_with_version_and_migrations():
    c = Demo.create(dataset="big", rate=0.25, dims=(3, 5))
    d = c.to_dict()
    assert d["schema_version"] == 3 and Demo.from_dict(d) == c
    # a version-1 link: "speed" was the name of "rate", stored ×10 until version 3
    old = Demo.from_dict({"schema_version": 1, "speed": 2.5, "width": 20})
    assert old.rate == pytest.approx(0.25) and old.width == 20
    for version in (0, 4, "2", True):
        with pytest.raises(SettingError, match="schema_version"):
            Demo.from_dict({"schema_version": version})
    with pytest.raises(SettingError, match="bogus"):
        Demo.from_dict({"bogus": 1})
    with pytest.raises(SettingError):
        Demo.from_dict(["not", "a", "dict"])


def test_missing_keys_come_from_the_layers_of_the_given_pair():
    c = Demo.from_dict({"dataset": "big", "method": "sampling"})
    assert (c.width, c.rate, c.k) == (64, 0.3, 7)


def test_applicability_reads_the_registry_and_when():
    assert Demo.method_settings("sampling") == ("k", "eps")
    assert Demo.applies("k", {"method": "sampling"}) and not Demo.applies("k", {"method": "plain"})
    assert Demo.applies("width", {"method": "plain"})
    assert Demo.applies("only_b", {"kind": "b"}) and not Demo.applies("only_b", {"kind": "a"})
    assert REG.build("sampling", None, Demo.create(method="sampling")) == ("sampling", 5, 0.01)
    with pytest.raises(SettingError, match="method"):
        REG.build("nope", None, Demo())


def test_a_declaration_without_bounds_is_refused():
    @dataclass
    class Unbounded(Settings):
        n: int = setting(1, ge=0)

    with pytest.raises(TypeError, match="upper bound"):
        Unbounded.specs()

    @dataclass
    class BadDefault(Settings):
        n: int = setting(10, ge=0, le=5)

    with pytest.raises(TypeError, match="outside its own declaration"):
        BadDefault.specs()


def test_with_validates_and_numbers_are_normalised():
    import numpy as np

    c = Demo(rate=np.float32(0.5), width=np.int64(8))
    assert type(c.rate) is float and type(c.width) is int
    with pytest.raises(SettingError):
        c.with_(width=1000)
    with pytest.raises(SettingError, match="unknown"):
        c.with_(widht=3)


# ---- the messages in the pages' languages (engine/errors.py's Text, app/i18n.py's message) ----------------
def _in(lang: str, monkeypatch, exc: SettingError) -> str:
    from app import i18n

    monkeypatch.setattr(i18n, "language", lambda: lang)
    return i18n.message(exc)


def _error(**values: Any) -> SettingError:
    with pytest.raises(SettingError) as err:
        Demo.create(**values)
    return err.value


@pytest.mark.parametrize("values", [dict(rate=2.0), dict(rate=math.nan), dict(width=0), dict(dataset="huge"),
                                    dict(noise=-1.0), dict(dims=(1, 4)), dict(dims=()), dict(width=2.5),
                                    dict(fast="yes"), dict(k=20, width=16), dict(widht=3)])
def test_every_setting_error_reads_the_same_in_english_through_the_catalogue(values, monkeypatch):
    exc = _error(**values)
    assert exc.text_key is not None and exc.params
    assert _in("en", monkeypatch, exc) == str(exc)


def test_a_setting_error_speaks_portuguese_piece_by_piece(monkeypatch):
    exc = _error(rate=2.0)
    assert str(exc) == "rate = 2.0 is not allowed (too large): it must be a number > 0 and ≤ 1"
    assert _in("pt", monkeypatch, exc) == "rate = 2.0 não é permitido (grande demais): deve ser um número > 0 e ≤ 1"
    assert "não é finito" in _in("pt", monkeypatch, _error(rate=math.nan))
    assert "um inteiro de 1 a 128" in _in("pt", monkeypatch, _error(width=0))
    assert "separados por vírgula" in _in("pt", monkeypatch, _error(dims=(1, 4)))
    unread = pytest.raises(SettingError, Demo.spec("width").parse, "wide").value
    assert unread.text_key == "errors.unreadable" and "deve ser um inteiro" in _in("pt", monkeypatch, unread)
    rule = _error(k=20, width=16)  # a rule's own message has no Portuguese here: the frame does, the rule stays
    assert _in("pt", monkeypatch, rule) == str(rule) == "k = 20, width = 16: k cannot exceed width"


def test_the_english_message_is_unchanged_outside_the_app():
    exc = _error(noise=-1.0)
    assert str(exc) == "noise = -1.0 is not allowed (too small): it must be a number from 0 to 5, or none (automatic)"
    assert exc.as_json() == {"error": str(exc), "kind": "invalid_setting", "setting": "noise"}


def test_every_rule_of_the_engine_has_its_catalogue_entry():
    from app import i18n
    from engine.schema import all_settings_classes, rule_text

    en, pt = i18n.catalogue("en"), i18n.catalogue("pt")
    for cls in all_settings_classes():
        for rule in cls.rules:
            text = rule_text(cls.experiment, rule)
            assert en.get(text.key) == rule.message and text.key in pt, text.key
