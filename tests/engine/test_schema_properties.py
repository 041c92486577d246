"""Property tests for every settings declaration in the engine (hypothesis, validation only).

For each `Settings` dataclass, hundreds of generated settings mix valid values with NaN, ±inf, 0,
negatives, 1e12, wrong types and unknown keys. The oracle below re-reads the declaration on its own
(bounds, choices, type); validation must raise an error naming a setting if and only if the oracle
finds a value outside its declared range, and the first such setting is the one named.
"""

from __future__ import annotations

import json
import math
import re
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import SettingError
from engine.schema import SCHEMA_VERSION_KEY, Spec, all_settings_classes

CLASSES = all_settings_classes()
HOSTILE = [math.nan, math.inf, -math.inf, 0, 0.0, -1, -0.5, 1e12, 10**12, "abc", None, True, False, [1], 2.5, ""]


def test_every_experiment_declares_its_settings():
    experiments = {c.experiment for c in CLASSES}
    assert {"toy", "dae", "binary", "embed"} <= experiments, experiments


def oracle_ok(spec: Spec, value: Any) -> bool:
    """Is `value` inside the declaration? Written independently of Spec.problem."""
    if value is None:
        return spec.nullable
    if spec.many:
        return (type(value) in (tuple, list) and 1 <= len(value) <= spec.max_items
                and all(oracle_ok(_single(spec), v) for v in value))
    if spec.kind is bool:
        return type(value) is bool
    if spec.kind is str:
        if type(value) is not str:
            return False
        choices = spec.allowed_choices()
        if choices is not None and value not in choices:
            return False
        return spec.pattern is None or re.fullmatch(spec.pattern, value) is not None
    if type(value) is bool or type(value) not in (int, float):
        return False
    if spec.kind is int and type(value) is not int:
        return False
    if value != value or value in (math.inf, -math.inf):
        return False
    low_ok = (spec.ge is None or value >= spec.ge) and (spec.gt is None or value > spec.gt)
    high_ok = (spec.le is None or value <= spec.le) and (spec.lt is None or value < spec.lt)
    return low_ok and high_ok


def _single(spec: Spec) -> Spec:
    from dataclasses import replace

    return replace(spec, many=False, nullable=False)


def valid_values(spec: Spec) -> st.SearchStrategy:
    if spec.many:
        one = valid_values(_single(spec))
        return st.lists(one, min_size=1, max_size=min(4, spec.max_items)).map(tuple)
    if spec.kind is bool:
        return st.booleans()
    if spec.kind is str:
        choices = spec.allowed_choices()
        if choices is not None:
            return st.sampled_from(choices)
        if spec.pattern is not None:
            return st.from_regex(spec.pattern, fullmatch=True)
        return st.text(max_size=8)
    low = spec.ge if spec.ge is not None else spec.gt
    high = spec.le if spec.le is not None else spec.lt
    if spec.kind is int:
        lo = int(math.ceil(low)) + (1 if spec.gt is not None and float(low).is_integer() else 0)
        hi = int(math.floor(high)) - (1 if spec.lt is not None and float(high).is_integer() else 0)
        return st.integers(lo, hi)
    return st.floats(float(low), float(high), exclude_min=spec.gt is not None, exclude_max=spec.lt is not None,
                     allow_nan=False, allow_infinity=False)


def any_value(spec: Spec) -> st.SearchStrategy:
    values = valid_values(spec)
    if spec.nullable:
        values = st.one_of(values, st.none())
    return st.one_of(values, values, st.sampled_from(HOSTILE))


@st.composite
def settings_dicts(draw, cls) -> tuple[dict[str, Any], str | None]:
    specs = cls.specs()
    values = dict(cls.defaults_for())
    for name in draw(st.lists(st.sampled_from(list(specs)), max_size=4, unique=True)):
        values[name] = draw(any_value(specs[name]))
    unknown = None
    if draw(st.integers(0, 9)) == 0:
        unknown = draw(st.sampled_from(["bogus", "learning_rate", "__class__", "Width"]))
        values[unknown] = 1
    return values, unknown


def expected_bad(cls, values: dict[str, Any]) -> str | None:
    """The setting the oracle finds at fault first (declaration order, then the rules), or None."""
    specs = cls.specs()
    for name, spec in specs.items():
        if not oracle_ok(spec, values[name]):
            return name
    view = SimpleNamespace(**{n: values[n] for n in specs})
    for rule in cls.rules:
        if not rule.check(view):
            return rule.settings[0]
    return None


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: f"{c.experiment}.{c.__name__}")
def test_validation_rejects_exactly_what_the_declaration_excludes(cls):
    seen = {"valid": 0, "invalid": 0}

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(settings_dicts(cls))
    def check(case):
        values, unknown = case
        bad = expected_bad(cls, values)
        if unknown is not None:
            with pytest.raises(SettingError) as info:
                cls.from_dict(values)
            assert info.value.setting == unknown and unknown in str(info.value)
            seen["invalid"] += 1
            return
        if bad is None:
            config = cls.from_dict(values)
            for name in cls.specs():
                got = getattr(config, name)
                want = values[name]
                assert got == (tuple(want) if isinstance(want, list) else want), name
            seen["valid"] += 1
        else:
            with pytest.raises(SettingError) as info:
                cls.from_dict(values)
            assert info.value.setting == bad, (info.value, bad)
            assert bad in str(info.value)
            seen["invalid"] += 1

    check()
    assert seen["valid"] >= 30 and seen["invalid"] >= 30, seen


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: f"{c.experiment}.{c.__name__}")
def test_valid_settings_round_trip_through_json_and_text(cls):
    specs = cls.specs()

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.fixed_dictionaries({n: valid_values(s) for n, s in specs.items()}))
    def check(values):
        view = SimpleNamespace(**values)
        if any(not rule.check(view) for rule in cls.rules):
            return
        config = cls.from_dict(values)
        again = cls.from_dict(json.loads(json.dumps(config.to_dict())))
        assert again == config
        assert config.to_dict()[SCHEMA_VERSION_KEY] == cls.schema_version
        # every value survives being written as text (CLI flag, URL query) and read back
        for name, spec in specs.items():
            value = getattr(config, name)
            text = ",".join(map(repr_text, value)) if spec.many else repr_text(value)
            assert spec.parse(text) == value, (name, text)

    check()


def repr_text(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    return repr(v) if isinstance(v, float) else str(v)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: f"{c.experiment}.{c.__name__}")
def test_every_number_is_bounded_and_every_layered_default_is_valid(cls):
    for spec in cls.specs().values():
        if spec.kind in (int, float):
            high = spec.le if spec.le is not None else spec.lt
            low = spec.ge if spec.ge is not None else spec.gt
            assert high is not None and math.isfinite(high) and low is not None and math.isfinite(low), spec.name
        assert spec.label or spec.help, f"{spec.name} has neither label nor help"
    lay = cls.layers
    datasets = list(lay.dataset) or [None]
    methods = list(lay.method) or [None]
    for d in datasets:
        for m in methods:
            values = cls.defaults_for(d, m)
            if lay.method_key in cls.specs() and m is not None and m not in (cls.spec(lay.method_key).allowed_choices()
                                                                          or (m,)):
                continue
            cls.from_dict(values)  # raises if a layered default is outside its declaration
    for (d, m), layer in lay.pair.items():
        for name in layer:
            cls.spec(name)  # a layer may only name declared settings
        cls.from_dict(cls.defaults_for(d, m))
