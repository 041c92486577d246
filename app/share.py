"""Share links: every settings form's values live in the URL's query parameters, and a link restores them.

A form drawn with key `k` owns the parameters `k.<setting>` (its widget keys) and no others. A setting whose
value differs from the page's start value (its layered default, or the page's own) is written as the text its
declaration parses back (`Spec.parse`: lists comma-separated, None as "none"); a default value removes its
parameter, so links stay short. When the URL holds a form's parameters that this session has not written
itself (a link just opened, or a page that switched here with parameters), the form takes them: each is
parsed and checked by its declaration, and one that is not allowed is named in a warning and ignored, never
trusted. Parameters of other forms, and any other query parameter (a session's own, `embed`), are left alone.

The link shown at the end of each form (`link_box`: `st.code`, whose copy button copies it with one click)
holds the page's address and the query parameters that are settings: dotted names `<form>.<setting>`, plus
`lang`; other parameters stay out of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from app.i18n import message, num, texts
from engine.errors import SettingError
from engine.schema import Settings, Spec, not_allowed

MAX_PARAM_CHARS = 2000  # longer values are not read (no setting's text comes near; a hostile link may)
MAX_WARNINGS = 5  # a link with more bad parameters gets these and a count, not a page of warnings
SHARED_PLAIN = ("lang",)  # undotted parameters that belong in a shared link
SETTING_PARAM = re.compile(r"[A-Za-z_]\w*(\.\w+)+")  # <form key>.<setting>: what a link carries
_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>#|$~:])")  # what Streamlit's markdown would read as formatting

TEXT = texts("share")


# ---- text form ----------------------------------------------------------------------------------------
def to_text(spec: Spec, value: Any) -> str:
    """The text `spec.parse` reads back as `value` (the URL form of a setting)."""
    if value is None:
        return "none"
    if spec.many:
        return ",".join(_one_text(v) for v in value)
    return _one_text(value)


def _one_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same float
    return str(value)


def parse_param(spec: Spec, text: str, narrowed: Iterable[Any] | None = None) -> Any:
    """A setting's value from a link: parsed and checked by its declaration (and the page's narrower
    choices); a SettingError that says why otherwise."""
    if len(text) > MAX_PARAM_CHARS:
        raise SettingError(TEXT["too_long"].format(name=spec.name, n=MAX_PARAM_CHARS), setting=spec.name)
    value = spec.parse(text)
    why = spec.problem_text(value)
    if why is not None:
        raise SettingError.of(not_allowed(spec.name, text, why, spec.allowed_text()), setting=spec.name, value=text)
    value = spec.normalise(value)
    if narrowed is not None:
        offered = tuple(narrowed)
        outside = [v for v in (value if spec.many else (value,)) if v is not None and v not in offered]
        if outside:
            raise SettingError(TEXT["not_offered"].format(choices=", ".join(map(str, offered))), setting=spec.name)
    return value


def read_params(cls: type[Settings], key: str, params: Mapping[str, str], settable: Iterable[str],
                choices: Mapping[str, Iterable[Any]] | None = None) -> tuple[dict[str, Any], list[str]]:
    """The values a link gives form `key` (settings in `settable` only), and a warning for each parameter
    of the form that was ignored."""
    settable, choices = set(settable), dict(choices or {})
    specs, prefix = cls.specs(), f"{key}."
    values: dict[str, Any] = {}
    warnings: list[str] = []
    for param, text in params.items():
        if not param.startswith(prefix):
            continue
        name = param[len(prefix):]
        if name not in specs:
            if "." not in name:  # a dotted rest belongs to a nested form (e.g. bin.cd.k is form bin.cd's)
                warnings.append(_warning(param, text, TEXT["unknown"]))
            continue
        if name not in settable:
            warnings.append(_warning(param, text, TEXT["not_here"]))
            continue
        try:
            values[name] = parse_param(specs[name], text, choices.get(name))
        except SettingError as exc:
            warnings.append(_warning(param, text, message(exc)))
    if len(warnings) > MAX_WARNINGS:
        warnings[MAX_WARNINGS:] = [TEXT["more"].format(n=num(len(warnings) - MAX_WARNINGS, 0))]
    return values, warnings


def _warning(param: str, text: str, why: str) -> str:
    return _plain(TEXT["ignored"].format(param=_short(param), value=repr(_short(text)), why=_short(why, 300)))


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[:n - 3] + "…"


def _plain(text: str) -> str:
    """Text shown as written by Streamlit's markdown (a link's text is not trusted to format anything)."""
    return _MARKDOWN.sub(r"\\\1", text)


def form_params(cls: type[Settings], key: str, values: Mapping[str, Any],
                starts: Mapping[str, Any]) -> dict[str, str]:
    """The query parameters of form `key` for these drawn `values`: those that differ from their start."""
    specs = cls.specs()
    return {f"{key}.{name}": to_text(specs[name], value) for name, value in values.items()
            if specs[name].normalise(value) != specs[name].normalise(starts.get(name))}


# ---- the URL ---------------------------------------------------------------------------------------------
def url_params(cls: type[Settings], key: str) -> dict[str, str]:
    """Form `key`'s parameters in the URL now (`key.<setting of cls>`: the widget keys the form owns)."""
    prefix = f"{key}."
    return {k: st.query_params[k] for k in st.query_params if k.startswith(prefix)
            and k[len(prefix):] in cls.specs()}


def incoming(cls: type[Settings], key: str, settable: Iterable[str],
             choices: Mapping[str, Iterable[Any]] | None = None) -> tuple[dict[str, Any], list[str]]:
    """The values a link gives the form, if the URL holds parameters of it that this session did not
    write (a link opened, a page switched here with parameters); ({}, []) otherwise."""
    synced_key = f"_share_synced.{key}"
    prefix = f"{key}."
    params = {k: st.query_params[k] for k in st.query_params if k.startswith(prefix)}
    mine = url_params(cls, key)
    if st.session_state.get(synced_key) == mine:
        return {}, []
    st.session_state[synced_key] = mine  # taken: not read again until the URL changes under us
    return read_params(cls, key, params, settable, choices)


def publish(cls: type[Settings], key: str, values: Mapping[str, Any], starts: Mapping[str, Any]) -> None:
    """Write form `key`'s parameters for its drawn `values` into the URL (only its own parameters)."""
    wanted = form_params(cls, key, values, starts)
    for param in url_params(cls, key):
        if param not in wanted:
            del st.query_params[param]
    for param, text in wanted.items():
        if st.query_params.get(param) != text:
            st.query_params[param] = text
    st.session_state[f"_share_synced.{key}"] = url_params(cls, key)


def shared_query() -> dict[str, str]:
    """The query parameters a shared link carries: the settings and the language, nothing private."""
    return {k: st.query_params[k] for k in st.query_params if SETTING_PARAM.fullmatch(k) or k in SHARED_PLAIN}


def link(query: Mapping[str, str] | None = None) -> str:
    """The page's full address with `query` (default: the shared parameters now in the URL)."""
    query = shared_query() if query is None else query
    base = st.context.url or ""
    text = urlencode(dict(sorted(query.items())), quote_via=quote, safe=",:")
    return f"{base}?{text}" if text else base or "?"


def link_box(box: Any, key: str, show: bool = True) -> None:
    """The current link at the end of form `key` (unless not `show`), with a one-click copy button; the link
    boxes of the forms drawn earlier in this run are refreshed too (a later form's change belongs in them)."""
    ctx = get_script_run_ctx()
    marker = ctx.cursors if ctx is not None else None  # a new dict at every script run
    boxes = st.session_state.get("_share_boxes")
    if boxes is None or boxes["run"] is not marker:
        boxes = st.session_state["_share_boxes"] = {"run": marker, "boxes": {}}
    if show and key not in boxes["boxes"]:
        box.caption(TEXT["link"])
        boxes["boxes"][key] = box.empty()
    shown = link()
    for placeholder in boxes["boxes"].values():
        placeholder.code(shown, language=None, wrap_lines=True)
