"""The English texts the engine declares for the settings forms, under the text keys app/form.py reads.

The English of a setting's label, help and `none` text, of a method's name (its registry label) and of a
choice stays declared once, in the engine; the language catalogues hold only the other languages' texts for
these keys (assets/locales/pt/setting.toml, choice.toml, method.toml). The keys:

    setting.<scope>.<name>.label | .help | .none   scope: the class's experiment (see `scope`)
    method.<registry>.<name>                       registry: its package, e.g. toy, binary, embed, image_ebm
    choice.<name>.<value>                          a choice that is a word (numbers are shown as they are)

`declared_texts()` gathers them from every Settings class a form may draw (tests/app/test_i18n.py checks that
the Portuguese catalogue holds exactly these keys plus the English files' keys).
"""

from __future__ import annotations

import numbers
import re
import sys
from collections.abc import Callable
from typing import Any

from app.i18n import language, t
from engine.schema import Settings, Spec

# Settings classes that no page draws: read from CLI flags or the server's environment only
NOT_DRAWN = ("engine.bench.BenchSettings", "engine.run_owners.RunStoreSettings", "engine.scheduler.ServeSettings")


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _snake(name: str) -> str:
    name = re.sub(r"(Settings|Config)$", "", name) or name
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def scope(cls: type[Settings]) -> str:
    """The settings' key prefix: the class's experiment; `<experiment>.<class>` (WhyCosineSettings → why_cosine)
    when its module declares other Settings classes of the same experiment (the embed sweeps share one)."""
    module = sys.modules.get(cls.__module__)
    twins = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, Settings) and v is not cls
             and v.__module__ == cls.__module__ and v.experiment == cls.experiment] if module else []
    return f"{cls.experiment}.{_snake(cls.__name__)}" if twins else cls.experiment


def setting_key(cls: type[Settings], spec: Spec, part: str) -> str:
    """part: label, help or none."""
    return f"setting.{scope(cls)}.{spec.name}.{part}"


def registry_scope(registry: Any) -> str:
    """engine.toy.objectives → toy (method names differ between registries: "pcd" of the 2-D and binary pages)."""
    return str(registry.package).removeprefix("engine.").removesuffix(".objectives")


def method_key(registry: Any, name: str) -> str:
    return f"method.{registry_scope(registry)}.{name}"


def method_label(registry: Any, name: str, lang: str | None = None) -> str:
    """A method's name in the session's language (its registry's label in English)."""
    return t(method_key(registry, name), registry.labels.get(name, name), lang=lang)


def is_number(value: Any) -> bool:
    """Choices shown as they are in every language: numbers (64, 0.5, "01")."""
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Number):
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def choice_key(cls: type[Settings], spec: Spec, value: Any) -> str | None:
    """The text key of one of a setting's choices; None for a number (not translated)."""
    return None if is_number(value) else f"choice.{spec.name}.{value}"


def choice_label(cls: type[Settings], name: str, value: Any, lang: str | None = None) -> str:
    """One of setting `name`'s choices in the session's language (what the form shows for it)."""
    key = choice_key(cls, cls.spec(name), value)
    return str(value) if key is None else t(key, str(value), lang=lang)


def choice_format(cls: type[Settings], spec: Spec) -> Callable[[Any], str]:
    """A widget's format_func for the choices, in the language of the script run that draws it (a format_func
    may be called again later, outside the run: e.g. by streamlit's AppTest)."""
    lang = language()
    return lambda value: choice_label(cls, spec.name, value, lang)


def method_format(registry: Any) -> Callable[[Any], str]:
    """A widget's format_func for a registry's methods (see `choice_format`)."""
    lang = language()
    return lambda name: method_label(registry, name, lang)


def form_classes() -> list[type[Settings]]:
    """Every Settings class of the engine that a page may draw (classes of CLI-only settings add no keys)."""
    from engine.schema import all_settings_classes

    return [c for c in all_settings_classes() if _qualname(c) not in NOT_DRAWN]


def _entries(cls: type[Settings]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    registry, method = cls.method_registry, cls.layers.method_key
    for spec in cls.specs().values():
        if not spec.form:
            continue
        out.append((setting_key(cls, spec, "label"), spec.label or spec.name))
        if spec.help:
            out.append((setting_key(cls, spec, "help"), spec.help))
        if spec.nullable:
            out.append((setting_key(cls, spec, "none"), spec.none))
        if registry is not None and spec.name == method:
            out.extend((method_key(registry, m), label) for m, label in registry.available().items())
            continue
        for value in spec.allowed_choices() or ():
            key = choice_key(cls, spec, value)
            if key is not None:
                out.append((key, str(value)))
    return out


def declared_texts() -> dict[str, str]:
    """key → English for every text the settings forms draw from the engine's declarations. A ValueError
    when one key would stand for two different English texts (the key scheme would then need a finer scope)."""
    found: dict[str, str] = {}
    clash: dict[str, set[str]] = {}
    for cls in form_classes():
        for key, english in _entries(cls):
            if found.setdefault(key, english) != english:
                clash.setdefault(key, {found[key]}).add(english)
    if clash:
        raise ValueError(f"one text key, several English texts: {clash}")
    return found
