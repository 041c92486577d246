"""The errors a user can cause, each with a `kind` the CLI prints and the pages show.

The CLI turns any of these into one line on stderr and a JSON object `{"error", "kind", "setting"?}` as
its last stdout line (exit status 2); the pages show it in their language (app/i18n.py's `message`).

An error a page may show carries `text_key` and `params` besides its English text: the catalogue's entry
`text_key` (assets/locales/<lang>/errors.toml) formatted with `params` is the same message in the session's
language. A piece of a message that needs words of its own in another language (why a value is refused, what
is allowed, a piece of advice) is a `Text` among the params: English in `str()`, the session's language when a
page formats it (`format()`, which looks for the app's language module only if the app has loaded it).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any


def _translator() -> Any:
    """The app's language module when the app has loaded it (a page), else None (the CLI, the engine)."""
    return sys.modules.get("app.i18n")


class Text:
    """A piece of a message: `english` (a template when `params` are given) and its catalogue key.

    `str(text)` is always the English; `format(text)` (what str.format does with a field) is the text of `key`
    in the session's language, formatted with the params (themselves `Text`s or `Number`s, or plain values).
    A `key` of None: the template is not translated, its params are (a join of pieces)."""

    __slots__ = ("english", "key", "params")

    def __init__(self, key: str | None, english: str, **params: Any) -> None:
        self.key, self.english, self.params = key, english, params

    def __str__(self) -> str:
        if not self.params:
            return self.english
        try:
            return self.english.format(**{k: str(v) if isinstance(v, Text | Number) else v
                                          for k, v in self.params.items()})
        except (KeyError, IndexError, ValueError):  # an English already written out (LabError.text)
            return self.english

    def __repr__(self) -> str:
        return f"Text({self.key!r}, {str(self)!r})"

    def __format__(self, spec: str) -> str:
        i18n = _translator()
        if i18n is None or (self.key is None and not self.params):
            return format(str(self), spec)
        template = self.english if self.key is None else i18n.t(self.key, self.english)
        try:
            return format(template.format(**self.params) if self.params else template, spec)
        except (KeyError, IndexError, ValueError):  # a catalogue entry that names a missing field: the English
            return format(str(self), spec)


class Number:
    """A number in a message: `str()` as the engine writes it, `format()` in the session's language (a decimal
    comma in Portuguese) once the app has loaded its language module."""

    __slots__ = ("digits", "value")

    def __init__(self, value: float, digits: int = 0) -> None:
        self.value, self.digits = value, digits

    def __str__(self) -> str:
        return f"{self.value:.{self.digits}f}"

    def __format__(self, spec: str) -> str:
        i18n = _translator()
        if i18n is None or i18n.language() == i18n.DEFAULT:
            return format(str(self), spec)
        return format(i18n.num(self.value, self.digits), spec)


class LabError(Exception):
    """Base of every error caused by what the user asked for (not by a bug).

    `text_key` and `params` (keyword-only): the message as a catalogue entry, for the pages' languages (see the
    module docstring); `of(text)` makes the error from a `Text`, its English the message."""

    kind = "error"

    def __init__(self, message: str, *, setting: str | None = None, text_key: str | None = None,
                 params: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.setting = setting
        self.text_key = text_key
        self.params: dict[str, Any] = dict(params or {})

    @classmethod
    def of(cls, text: Text, **kwargs: Any) -> Any:
        """The error whose message is `text` (English: `str(text)`; a page's language: its catalogue entry)."""
        error = cls(str(text), text_key=text.key, params=text.params, **kwargs)
        error._text = text
        return error

    @property
    def text(self) -> Text | str:
        """The message as a `Text` (to put inside another message), or the English when it has no key."""
        made = getattr(self, "_text", None)
        if made is not None:
            return made
        return Text(self.text_key, str(self), **self.params) if self.text_key is not None else str(self)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": str(self), "kind": self.kind}
        if self.setting is not None:
            out["setting"] = self.setting
        return out


class SettingError(LabError, ValueError):
    """A setting outside what its declaration allows (or an unknown one)."""

    kind = "invalid_setting"

    def __init__(self, message: str, *, setting: str | None = None, value: Any = None,
                 text_key: str | None = None, params: Mapping[str, Any] | None = None):
        super().__init__(message, setting=setting, text_key=text_key, params=params)
        self.value = value


class DeviceError(LabError, ValueError):
    """A device that does not exist here (`cuda` without a GPU, a misspelt name)."""

    kind = "device"


class DataError(LabError, ValueError):
    """A data file that is missing, unreadable or malformed."""

    kind = "data"


class MissingPackage(LabError, ImportError):
    """An optional package that this experiment needs is not installed."""

    kind = "missing_package"


class OutOfMemory(LabError, MemoryError):
    """The model or the batch does not fit the device's memory."""

    kind = "out_of_memory"
