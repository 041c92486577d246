"""Each setting declared once; validation, layered defaults, CLI flags, forms and saved dicts read it.

An experiment's settings are a dataclass that inherits `Settings`; every field is a `setting(...)`:

    @dataclass
    class ToyConfig(Settings):
        experiment: ClassVar[str] = "toy"
        width: int = setting(128, ge=1, le=4096, label="Width", help="hidden units per layer")

A declaration carries the type (from the annotation; `| None` admits None, whose meaning `none` says),
the default, the allowed range (`ge`/`gt` and `le`/`lt`; numbers are always finite and bounded above) or
the choices (a tuple, or a callable such as a registry's names), where it applies (`when`: other
settings' values; `per_method`: methods whose objective takes it, read from the registry), a label, a
one-line help and a text key. From that, and from nothing else, come:

- validation (`__post_init__`): a `SettingError` naming the setting, the value and what is allowed;
- layered defaults (`create` / `defaults_for`): base → data set → method → (data set, method);
- the CLI flags (`engine.cli_flags`) and the sidebar form (`app/form.py`);
- a plain-dict round trip (`to_dict` / `from_dict`) with a `schema_version` and migrations.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import numbers
import os
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ClassVar, Union

from engine.errors import SettingError, Text

SCHEMA_VERSION_KEY = "schema_version"
NONE_WORDS = ("none", "off", "auto", "")  # how a nullable setting is left unset in text (CLI, URL)
TRUE_WORDS, FALSE_WORDS = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclass(frozen=True)
class Spec:
    """The declaration of one setting."""

    name: str
    kind: type  # bool, int, float or str
    nullable: bool
    default: Any
    many: bool = False  # a tuple of values of `kind` (e.g. the dimensions of a sweep)
    max_items: int = 64
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple[Any, ...] | Callable[[], Iterable[Any]] | None = None
    pattern: str | None = None  # a text setting's form (a regular expression it must match whole)
    label: str = ""
    help: str = ""
    none: str = "unset"  # what None means, for a nullable setting
    when: Mapping[str, tuple[Any, ...]] | None = None  # applies only while these settings hold these values
    per_method: bool = False  # applies to the methods whose objective takes it (see Registry.settings_of)
    step: float | None = None  # the form's increment
    cli: bool = True  # offered as a CLI flag
    form: bool = True  # drawn by the settings form
    key: str = ""  # text key (label and help in the language catalogues)

    def allowed_choices(self) -> tuple[Any, ...] | None:
        if self.choices is None:
            return None
        return tuple(self.choices() if callable(self.choices) else self.choices)

    def allowed(self) -> str:
        """What the declaration admits, in words."""
        return str(self.allowed_text())

    def allowed_text(self) -> Text:
        """`allowed()` as a message piece (engine/errors.py's `Text`: English, or the page's language)."""
        if self.many:
            one = dataclasses.replace(self, many=False, nullable=False).allowed_text()
            return Text("errors.allowed.many", "a comma-separated list of 1 to {n} values, each {one}",
                        n=self.max_items, one=one)
        if self.kind is bool:
            text = Text("errors.allowed.bool", "true or false")
        elif self.kind is str:
            choices = self.allowed_choices()
            text = (Text("errors.allowed.choices", "one of {choices}", choices=", ".join(map(str, choices)))
                    if choices is not None else
                    Text("errors.allowed.pattern", "text of the form {pattern}", pattern=self.pattern)
                    if self.pattern else Text("errors.allowed.text", "any text"))
        else:
            noun = Text("errors.allowed.integer", "an integer") if self.kind is int else \
                Text("errors.allowed.number", "a number")
            low = f"≥ {_fmt(self.ge)}" if self.ge is not None else f"> {_fmt(self.gt)}" if self.gt is not None else ""
            high = f"≤ {_fmt(self.le)}" if self.le is not None else f"< {_fmt(self.lt)}"
            if self.ge is not None and self.le is not None:
                text = Text("errors.allowed.range", "{noun} from {low} to {high}", noun=noun, low=_fmt(self.ge),
                            high=_fmt(self.le))
            elif low:
                text = Text("errors.allowed.bounds", "{noun} {low} and {high}", noun=noun, low=low, high=high)
            else:
                text = Text(None, "{noun} {high}", noun=noun, high=high)
        if not self.nullable:
            return text
        none = Text(f"setting.{self.key}.none", self.none) if self.key else self.none
        return Text("errors.allowed.or_none", "{text}, or none ({none})", text=text, none=none)

    def problem(self, value: Any) -> str | None:
        """Why `value` is not allowed, or None when it is."""
        why = self.problem_text(value)
        return None if why is None else str(why)

    def problem_text(self, value: Any) -> Text | None:
        """`problem()` as a message piece (engine/errors.py's `Text`), or None when `value` is allowed."""
        if value is None:
            return None if self.nullable else _why("unset", "it cannot be left unset")
        if self.many:
            if not isinstance(value, tuple | list) or not 1 <= len(value) <= self.max_items:
                return _why("not_list", "not a list of 1 to {n} values", n=self.max_items)
            one = dataclasses.replace(self, many=False, nullable=False)
            return next((why for v in value if (why := one.problem_text(v)) is not None), None)
        if self.kind is bool:
            return None if isinstance(value, bool) else _why("wrong_type", "wrong type")
        if self.kind is str:
            if not isinstance(value, str):
                return _why("wrong_type", "wrong type")
            choices = self.allowed_choices()
            if choices is not None and value not in choices:
                return _why("not_choice", "not one of the choices")
            return None if self.pattern is None or re.fullmatch(self.pattern, value) else \
                _why("wrong_form", "not of the right form")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return _why("wrong_type", "wrong type")
        if self.kind is int and not isinstance(value, numbers.Integral):
            return _why("not_integer", "not an integer")
        if not math.isfinite(value):
            return _why("not_finite", "not finite")
        if (self.ge is not None and value < self.ge) or (self.gt is not None and value <= self.gt):
            return _why("too_small", "too small")
        if (self.le is not None and value > self.le) or (self.lt is not None and value >= self.lt):
            return _why("too_large", "too large")
        return None

    def normalise(self, value: Any) -> Any:
        """numpy scalars and ints given for floats become plain Python values (JSON-able, comparable)."""
        if self.many and value is not None:
            one = dataclasses.replace(self, many=False)
            return tuple(one.normalise(v) for v in value)
        if value is None or self.kind is str or self.kind is bool:
            return value
        return int(value) if self.kind is int else float(value)

    def parse(self, text: str) -> Any:
        """A value from text (CLI flag, URL query); a SettingError if it cannot be read as the type."""
        raw = text.strip()
        if self.nullable and raw.lower() in NONE_WORDS:
            return None
        if self.many:
            one = dataclasses.replace(self, many=False, nullable=False)
            return tuple(one.parse(part) for part in raw.split(",")) if raw else ()
        try:
            if self.kind is bool:
                low = raw.lower()
                if low in TRUE_WORDS:
                    return True
                if low in FALSE_WORDS:
                    return False
                raise ValueError
            if self.kind is int:
                number = float(raw)
                if not (math.isfinite(number) and number.is_integer()):
                    raise ValueError
                # exact digits when given as digits; 1e3 style otherwise
                return int(raw) if raw.lstrip("+-").isdigit() else int(number)
            if self.kind is float:
                return float(raw)
            return raw
        except ValueError:
            raise SettingError.of(Text("errors.unreadable", "{name} = {value} is not allowed: it must be {allowed}",
                                       name=self.name, value=repr(text), allowed=self.allowed_text()),
                                  setting=self.name, value=text) from None


def _why(key: str, english: str, **params: Any) -> Text:
    return Text(f"errors.why.{key}", english, **params)


def not_allowed(name: str, value: Any, why: Text, allowed: Text) -> Text:
    """"lr = 2.0 is not allowed (too large): it must be a number > 0 and ≤ 1" (the shown value: `value`'s repr)."""
    return Text("errors.not_allowed", "{name} = {value} is not allowed ({why}): it must be {allowed}",
                name=name, value=repr(value), why=why, allowed=allowed)


def _fmt(x: float | None) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def setting(default: Any, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
            lt: float | None = None, max_items: int = 64,
            choices: tuple[Any, ...] | Callable[[], Iterable[Any]] | None = None, pattern: str | None = None,
            label: str = "", help: str = "", none: str = "unset", when: Mapping[str, tuple[Any, ...]] | None = None,
            per_method: bool = False, step: float | None = None, cli: bool = True, form: bool = True) -> Any:
    """Declare one setting (a dataclass field whose metadata is read by `Settings.specs()`)."""
    meta = dict(max_items=max_items, ge=ge, gt=gt, le=le, lt=lt, choices=choices, pattern=pattern, label=label,
                help=help, none=none, when=when, per_method=per_method, step=step, cli=cli, form=form)
    return field(default=default, metadata={"setting": meta})


@dataclass(frozen=True)
class Layers:
    """Layered defaults: base (the declarations) → data set → method → (data set, method)."""

    dataset: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    method: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    pair: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    dataset_key: str = "dataset"
    method_key: str = "method"


@dataclass(frozen=True)
class Rule:
    """A check across settings (e.g. a buffer that holds at least one batch); names the first setting."""

    settings: tuple[str, ...]
    check: Callable[[Any], bool]
    message: str


def rule_text(experiment: str, rule: Rule) -> Text:
    """A rule's message as a message piece: catalogue key errors.rules.<experiment>.<its settings, joined by _>."""
    return Text(f"errors.rules.{experiment}.{'_'.join(rule.settings)}", rule.message)


class Settings:
    """Mixin for an experiment's settings dataclass (see the module docstring)."""

    experiment: ClassVar[str] = "settings"
    schema_version: ClassVar[int] = 1
    # version v → v + 1: a function of the plain dict (rename or convert a setting)
    migrations: ClassVar[Mapping[int, Callable[[dict[str, Any]], dict[str, Any]]]] = {}
    layers: ClassVar[Layers] = Layers()
    rules: ClassVar[tuple[Rule, ...]] = ()
    # the registry of the methods (per_method settings apply to the methods whose builder takes them)
    method_registry: ClassVar[Any] = None
    # server settings read from environment variables: setting name → variable (see `from_environ`)
    environment: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Any:
        """The settings the environment gives (`cls.environment`: name → variable; unset or blank variables
        keep their defaults); a bad value is a SettingError that names the variable."""
        env = os.environ if environ is None else environ
        texts = {name: env[var] for name, var in cls.environment.items() if env.get(var, "").strip()}
        try:
            return cls.from_text(texts)
        except SettingError as exc:
            var = cls.environment.get(exc.setting or "", exc.setting)
            raise SettingError.of(Text("errors.environment", "{var}: {error}", var=var, error=exc.text), setting=var,
                                  value=exc.value) from None

    # ---- the declaration ---------------------------------------------------------------------------
    @classmethod
    def specs(cls) -> dict[str, Spec]:
        return _specs(cls)

    @classmethod
    def spec(cls, name: str) -> Spec:
        try:
            return cls.specs()[name]
        except KeyError:
            raise SettingError.of(Text("errors.unknown_setting", "unknown setting {name} for {experiment}; known: "
                                       "{known}", name=repr(name), experiment=cls.experiment,
                                       known=", ".join(cls.specs())), setting=name) from None

    # ---- validation ------------------------------------------------------------------------------
    def __post_init__(self) -> None:
        specs = self.specs()
        for name, spec in specs.items():
            value = getattr(self, name)
            why = spec.problem_text(value)
            if why is not None:
                raise SettingError.of(not_allowed(name, value, why, spec.allowed_text()), setting=name, value=value)
            object.__setattr__(self, name, spec.normalise(value))
        for rule in self.rules:
            if not rule.check(self):
                shown = ", ".join(f"{n} = {getattr(self, n)!r}" for n in rule.settings)
                text = Text("errors.rule", "{shown}: {rule}", shown=shown, rule=rule_text(self.experiment, rule))
                raise SettingError.of(text, setting=rule.settings[0])

    # ---- layered defaults ------------------------------------------------------------------------
    @classmethod
    def defaults_for(cls, dataset: str | None = None, method: str | None = None) -> dict[str, Any]:
        """Every setting's default for this (data set, method): base → data set → method → pair."""
        specs, lay = cls.specs(), cls.layers
        values = {name: spec.default for name, spec in specs.items()}
        if dataset is None and lay.dataset_key in specs:
            dataset = values[lay.dataset_key]
        if method is None and lay.method_key in specs:
            method = values[lay.method_key]
        if lay.dataset_key in specs:
            values[lay.dataset_key] = dataset
        if lay.method_key in specs:
            values[lay.method_key] = method
        for layer, at in ((lay.dataset, dataset), (lay.method, method), (lay.pair, (dataset, method))):
            # an unhashable value (a list given for the data set) has no layer: validation names it
            with contextlib.suppress(TypeError):
                values.update(layer.get(at, {}))
        return values

    @classmethod
    def create(cls, **given: Any) -> Any:
        """The layered defaults for the given data set and method, then the given values; validated."""
        unknown = [k for k in given if k not in cls.specs()]
        if unknown:
            cls.spec(unknown[0])  # raises, naming it
        lay = cls.layers
        values = cls.defaults_for(given.get(lay.dataset_key), given.get(lay.method_key))
        values.update(given)
        return cls(**values)

    def with_(self, **changes: Any) -> Any:
        for name in changes:
            self.spec(name)
        return dataclasses.replace(self, **changes)

    # ---- plain dicts (share links, presets, saved runs) ------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {SCHEMA_VERSION_KEY: self.schema_version, **{n: getattr(self, n) for n in self.specs()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Any:
        """Read a dict written by `to_dict` (any earlier schema version): migrate, reject unknown keys,
        fill missing settings from the layered defaults, validate."""
        if not isinstance(data, Mapping):
            raise SettingError.of(Text("errors.not_mapping", "{experiment} settings must be a mapping, not {type}",
                                       experiment=cls.experiment, type=type(data).__name__))
        values = dict(data)
        version = values.pop(SCHEMA_VERSION_KEY, cls.schema_version)
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= cls.schema_version:
            raise SettingError.of(Text("errors.schema_version", "{setting} = {value} is not allowed: this version of "
                                       "Energy Lab reads {experiment} settings of versions 1 to {version}",
                                       setting=SCHEMA_VERSION_KEY, value=repr(version), experiment=cls.experiment,
                                       version=cls.schema_version), setting=SCHEMA_VERSION_KEY, value=version)
        for v in range(version, cls.schema_version):
            values = cls.migrations[v](values)
        return cls.create(**values)

    @classmethod
    def from_text(cls, texts: Mapping[str, str]) -> Any:
        """Settings given as text (a URL's query, CLI strings): each parsed by its declaration."""
        return cls.create(**{name: cls.spec(name).parse(text) for name, text in texts.items()})

    # ---- where a setting applies -----------------------------------------------------------------
    @classmethod
    def method_settings(cls, method: str) -> tuple[str, ...]:
        """The per-method settings the method's objective takes."""
        if cls.method_registry is None:
            return ()
        return tuple(cls.method_registry.settings_of(method))

    @classmethod
    def applies(cls, name: str, values: Mapping[str, Any]) -> bool:
        """Does setting `name` matter for a run with these values (data set, method, modes)?"""
        spec = cls.spec(name)
        if spec.when and any(values.get(k) not in allowed for k, allowed in spec.when.items()):
            return False
        if spec.per_method:
            return name in cls.method_settings(values.get(cls.layers.method_key, ""))
        return True


@cache
def _specs(cls: type) -> dict[str, Spec]:
    hints = typing.get_type_hints(cls)
    out: dict[str, Spec] = {}
    for f in dataclasses.fields(cls):
        meta = f.metadata.get("setting")
        if meta is None:
            raise TypeError(f"{cls.__name__}.{f.name} is not declared with setting(...)")
        kind, nullable, many = _kind(hints[f.name], f"{cls.__name__}.{f.name}")
        spec = Spec(name=f.name, kind=kind, nullable=nullable, many=many, default=f.default,
                    key=f"{getattr(cls, 'experiment', 'settings')}.{f.name}", **meta)
        if kind in (int, float) and spec.le is None and spec.lt is None:
            raise TypeError(f"{cls.__name__}.{f.name}: a number needs an upper bound (le= or lt=)")
        if kind in (int, float) and spec.ge is None and spec.gt is None:
            raise TypeError(f"{cls.__name__}.{f.name}: a number needs a lower bound (ge= or gt=)")
        if spec.problem(f.default) is not None and not callable(spec.choices):
            raise TypeError(f"{cls.__name__}.{f.name}: the default {f.default!r} is outside its own declaration")
        out[f.name] = spec
    return out


def _kind(hint: Any, where: str) -> tuple[type, bool, bool]:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"{where}: only `T | None` unions are supported")
        kind, _, many = _kind(inner[0], where)
        return kind, True, many
    if typing.get_origin(hint) is tuple and len(args) == 2 and args[1] is Ellipsis and args[0] in (int, float, str):
        return args[0], False, True
    if hint in (bool, int, float, str):
        return hint, False, False
    raise TypeError(f"{where}: settings are bool, int, float, str or tuple[T, ...] (optionally | None), "
                    f"not {hint!r}")


# the device setting every experiment shares (what exists on this machine is checked when the run starts)
DEVICE_PATTERN = r"auto|cpu|mps|cuda(:[0-9]{1,2})?"


def device_setting() -> Any:
    """The device every experiment takes (what exists on this machine is checked when the run starts)."""
    return setting("auto", pattern=DEVICE_PATTERN, label="Device",
                   help="auto (cuda → mps → cpu), cpu, cuda, cuda:N or mps", form=False)


# a file or folder: no surrounding blanks, and not one of the words that mean "unset" in text (none, off, auto)
PATH_PATTERN = r"(?!(?i:none|off|auto)\Z)\S(?:.*\S)?"
MAX_SEED = 2**31 - 1


def all_settings_classes() -> list[type]:
    """Every Settings dataclass defined in the engine (imports the experiment packages)."""
    import importlib
    import pkgutil

    import engine

    for mod in pkgutil.walk_packages(engine.__path__, "engine."):
        if mod.name.rsplit(".", 1)[-1] in ("__main__",):
            continue
        try:
            importlib.import_module(mod.name)
        except ImportError:  # an experiment whose optional package is missing
            continue
    seen: list[type] = []
    stack = list(Settings.__subclasses__())
    while stack:
        c = stack.pop()
        if dataclasses.is_dataclass(c) and c not in seen and c.__module__.startswith("engine."):
            seen.append(c)
        stack.extend(c.__subclasses__())
    return sorted(seen, key=lambda c: (c.experiment, c.__name__))

