"""Languages: every visible string comes from a catalogue, `assets/locales/<lang>/<section>.toml`.

    TEXT = texts("maximum_likelihood")    # at a module's top: a mapping read in the session's language
    st.title(TEXT["title"])               # → "Máxima verossimilhança: …" in a Portuguese session
    t("setting.toy.lr.label", "learning rate")   # one string; the English default is the engine's own

A section is one file (its stem); its keys are the file's keys (a TOML table's keys are dotted). English
texts that the engine declares itself (setting labels and help, method and data-set names) are not repeated
in `en/`: the English catalogue is those declarations plus the files, and the Portuguese one must hold the
same keys (tests/engine/test_i18n.py). Which language a page speaks: `?lang=pt|en` in the URL, else the
sidebar's switch, else the browser's language (`st.context.locale`), else English. Numbers follow it
(`num`: decimal comma in Portuguese, via babel); CSV files never do (app/exports.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import tomllib

LANGS: dict[str, str] = {"en": "English", "pt": "Português (Brasil)"}
DEFAULT = "en"
LOCALES = {"en": "en_US", "pt": "pt_BR"}  # babel's locale for each language's numbers
PLOTLY_SEPARATORS = {"en": ".,", "pt": ",."}  # plotly: decimal mark, then thousands separator
CATALOGUES = Path(__file__).resolve().parent.parent / "assets" / "locales"
PARAM = "lang"
KEY = "_lang"  # session state: the language this session chose


def _flatten(table: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, str]]:
    for name, value in table.items():
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{prefix}{name}.")
        elif isinstance(value, str):
            yield f"{prefix}{name}", value
        else:
            raise ValueError(f"catalogue entry {prefix}{name} is a {type(value).__name__}, not text")


@cache
def catalogue(lang: str) -> dict[str, str]:
    """Every key of `lang`'s files, `<section>.<key>` → text (read once per process)."""
    entries: dict[str, str] = {}
    for path in sorted((CATALOGUES / lang).glob("*.toml")):
        with path.open("rb") as fh:
            entries.update(_flatten(tomllib.load(fh), f"{path.stem}."))
    return entries


def _session_state() -> Any:
    try:
        import streamlit as st
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError:  # pragma: no cover - streamlit is a requirement of the app
        return None
    return st.session_state if get_script_run_ctx(suppress_warning=True) is not None else None


def browser_language(locale: str | None) -> str:
    """"pt-BR", "pt_PT", "pt" → "pt"; anything else (or nothing) → English."""
    head = (locale or "").replace("_", "-").split("-")[0].lower()
    return head if head in LANGS else DEFAULT


def language() -> str:
    """The current session's language (English outside a Streamlit script run: the CLI, the tests)."""
    state = _session_state()
    if state is None:
        return DEFAULT
    if KEY not in state:
        import streamlit as st
        asked = st.query_params.get(PARAM)
        state[KEY] = asked if asked in LANGS else browser_language(getattr(st.context, "locale", None))
    return state[KEY]


def set_language(lang: str) -> None:
    state = _session_state()
    if state is not None and lang in LANGS:
        state[KEY] = lang


def t(key: str, default: str | None = None, lang: str | None = None) -> str:
    """The text of `key` in `lang` (default: the session's); its English, then `default`, when missing."""
    lang = lang or language()
    found = catalogue(lang).get(key)
    if found is not None:
        return found
    if default is not None and lang == DEFAULT:
        return default
    return catalogue(DEFAULT).get(key, default if default is not None else key)


class Texts(Mapping[str, str]):
    """One section of the catalogue, read in the session's language at each lookup (a module's `TEXT`)."""

    def __init__(self, section: str) -> None:
        self.section = section

    def __getitem__(self, name: str) -> str:
        key = f"{self.section}.{name}"
        lang = language()
        text = catalogue(lang).get(key)
        if text is None:
            text = catalogue(DEFAULT).get(key)
        if text is None:
            raise KeyError(key)
        return text

    def _names(self) -> list[str]:
        head = f"{self.section}."
        return [key[len(head):] for key in catalogue(DEFAULT) if key.startswith(head)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


def texts(section: str) -> Texts:
    return Texts(section)


def num(value: float, digits: int = 3, lang: str | None = None) -> str:
    """`value` with `digits` decimals in the language's way: 0.031 → "0.031" (en), "0,031" (pt)."""
    from babel.numbers import format_decimal

    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return format_decimal(value, format=pattern, locale=LOCALES[lang or language()])


def plotly_separators(lang: str | None = None) -> str:
    return PLOTLY_SEPARATORS[lang or language()]


def language_switch() -> str:
    """The sidebar's language switch, kept in step with `?lang=` (a link's language wins when it is opened;
    a value that is not a language is named and ignored). Returns the session's language."""
    import streamlit as st

    state = st.session_state
    asked = st.query_params.get(PARAM)
    if asked is not None and asked not in LANGS:
        st.warning(t("i18n.bad_lang").format(value=asked[:20], langs=", ".join(LANGS)))
        del st.query_params[PARAM]
    elif asked is not None and asked != state.get("_lang_url"):  # a link (or a page switch) that names one
        state[KEY] = asked
    lang = language()
    state["_lang_widget"] = lang

    def chosen() -> None:
        set_language(state["_lang_widget"])
        st.query_params[PARAM] = state["_lang_widget"]  # in the URL: a copied link opens in this language

    st.sidebar.selectbox(t("i18n.switch"), list(LANGS), format_func=LANGS.__getitem__, key="_lang_widget",
                         on_change=chosen)
    state["_lang_url"] = st.query_params.get(PARAM)
    return language()


def message(exc: BaseException) -> str:
    """An engine error in the session's language: a `LabError` formats its `Text` (engine/errors.py), which reads
    its catalogue entry; any other error shows its own (English) text."""
    from engine.errors import LabError

    return format(exc.text) if isinstance(exc, LabError) else str(exc)
