"""The settings form: widgets drawn from an experiment's declarations (engine/schema.py), nothing else.

    config = settings_form(ToyConfig, key="cd", hide=("steps",), fixed={"dataset": "rings"})

draws the data set and method first, then every other declared setting that applies to that method
(a per-method setting only for the methods whose objective takes it; a `when` setting only while its
condition holds), each with its declared range, label and help. When the data set or method changes,
the other widgets take that pair's layered defaults (except values just put there by `set_values`: a
preset's or a link's). Returns the validated config, or None after showing the validation error beside the form.

Languages: a setting's label, help and `none` text, the method names and the choices that are words are the
engine's English, shown in the session's language under the keys of app/declared_texts.py (numbers stay as
they are; a page's `formats` wins over a choice's own name).

Share links (app/share.py): the form's settings that differ from their start values live in the URL's query
parameters `<key>.<setting>`; a link's parameters are taken (checked, a bad one named and ignored) when the form
first meets them, before the data set and method decide the other defaults; a copyable link ends the form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import streamlit as st

from app import share
from app.declared_texts import choice_format, method_format, setting_key
from app.i18n import message
from app.i18n import t as translate  # (text key, English default) → the session's language
from engine.errors import SettingError
from engine.schema import Settings, Spec


def widget_key(key: str, name: str) -> str:
    return f"{key}.{name}"


def set_values(cls: type[Settings], key: str, values: Mapping[str, Any]) -> None:
    """Put values into a form's widgets before it is drawn (presets, share links, saved runs). They survive the
    form's next draw even when they change its data set or method (which resets the other settings)."""
    kept = st.session_state.setdefault(f"_form_keep.{key}", set())
    kept.update(values)
    for name, value in values.items():
        spec, wkey = cls.spec(name), widget_key(key, name)
        if spec.many:
            st.session_state[wkey] = list(value) if spec.allowed_choices() is not None else \
                ", ".join(str(v) for v in value)
        elif spec.nullable:
            st.session_state[f"{wkey}.set"] = value is not None
            if value is not None:
                st.session_state[wkey] = value
        else:
            st.session_state[wkey] = value


def settings_form(cls: type[Settings], *, key: str, container: Any = None, hide: Iterable[str] = (),
                  fixed: Mapping[str, Any] | None = None, formats: Mapping[str, Callable[[Any], str]] | None = None,
                  choices: Mapping[str, Iterable[Any]] | None = None, defaults: Mapping[str, Any] | None = None,
                  link: bool = True) -> Any:
    """Draw the form in `container` (default: the sidebar) and return the validated settings (or None).

    hide: settings not drawn (their layered default is used); fixed: values set by the page, not drawn;
    formats: how to show a setting's choices; choices: a narrower set of choices than declared;
    defaults: the page's own starting values, over the layered defaults (still validated, still editable);
    link: end the form with the share link (a form nested in another's may leave it to that one).
    """
    box = container if container is not None else st.sidebar
    hidden, fixed = set(hide), dict(fixed or {})
    formats, choices = dict(formats or {}), dict(choices or {})
    if cls.method_registry is not None:
        formats.setdefault(cls.layers.method_key, method_format(cls.method_registry))
    lay, specs = cls.layers, cls.specs()
    context_keys = [n for n in (lay.dataset_key, lay.method_key) if n in specs and n not in fixed]
    starts = _context_starts(key, [specs[n] for n in context_keys])
    # 0. a link's values, before the data set and method below decide the other defaults
    settable = [n for n, spec in specs.items() if spec.form and n not in hidden and n not in fixed]
    linked, warnings = share.incoming(cls, key, settable, choices)
    if linked:
        set_values(cls, key, linked)
    for warning in warnings:
        box.warning(warning, icon=":material/link_off:")
    values: dict[str, Any] = {}
    drawn: list[str] = []
    # 1. the context: data set and method decide the other defaults
    for name in (lay.dataset_key, lay.method_key):
        if name in fixed:
            values[name] = fixed[name]
        elif name in specs:
            spec = specs[name]
            if name not in hidden and spec.form:
                values[name] = _draw(box, cls, spec, widget_key(key, name), spec.default, formats.get(name),
                                     choices.get(name))
                drawn.append(name)
            else:
                values[name] = spec.default
    page_defaults = dict(defaults or {})
    defaults = cls.defaults_for(values.get(lay.dataset_key), values.get(lay.method_key))
    defaults.update(page_defaults)
    defaults.update(fixed)
    context = (values.get(lay.dataset_key), values.get(lay.method_key))
    ctx_key = f"_form_context.{key}"
    kept = st.session_state.pop(f"_form_keep.{key}", set())
    if st.session_state.get(ctx_key, context) != context:  # a new pair: its layered defaults
        for name in specs:
            if name not in (lay.dataset_key, lay.method_key) and name not in kept:
                st.session_state.pop(widget_key(key, name), None)
                st.session_state.pop(f"{widget_key(key, name)}.set", None)
    st.session_state[ctx_key] = context
    # 2. every other setting that applies
    for name, spec in specs.items():
        if name in values:
            continue
        if name in fixed or name in hidden or not spec.form:
            values[name] = defaults[name]
            continue
        if not cls.applies(name, {**defaults, **values}):
            values[name] = defaults[name]
            continue
        values[name] = _draw(box, cls, spec, widget_key(key, name), defaults[name], formats.get(name),
                             choices.get(name))
        drawn.append(name)
    try:
        config = cls(**values)
    except SettingError as exc:
        box.error(translate("form.invalid").format(error=message(exc)))
        config = None
    else:  # the URL holds the valid settings (the last valid ones while the form shows an error)
        share.publish(cls, key, {n: values[n] for n in drawn}, {**defaults, **starts})
    share.link_box(box, key, show=link)
    return config


def _context_starts(key: str, specs: list[Spec]) -> dict[str, Any]:
    """The data set's and method's start values on this page: what their widgets hold when the form first
    draws in this session (a page may preset them), else the declared default. A link leaves them out."""
    starts_key = f"_form_starts.{key}"
    if starts_key not in st.session_state:
        st.session_state[starts_key] = {s.name: st.session_state.get(widget_key(key, s.name), s.default)
                                        for s in specs}
    return st.session_state[starts_key]


def _draw(box: Any, cls: type[Settings], spec: Spec, wkey: str, default: Any, fmt: Callable[[Any], str] | None,
          narrowed: Iterable[Any] | None) -> Any:
    label = translate(setting_key(cls, spec, "label"), spec.label or spec.name)
    help_text = (translate(setting_key(cls, spec, "help"), spec.help) if spec.help else "") or None
    fmt = fmt or choice_format(cls, spec)  # a page's own format, else the choice's name (numbers as they are)
    if spec.many:
        return _draw_many(box, spec, wkey, default, label, help_text, fmt, narrowed)
    if spec.nullable:
        on_key = f"{wkey}.set"
        if on_key not in st.session_state:
            st.session_state[on_key] = default is not None
        on = box.checkbox(label, key=on_key, help=help_text)
        if not on:
            box.caption(translate(setting_key(cls, spec, "none"), spec.none))
            return None
        label = translate("form.value_of").format(label=label)
        if default is None:
            default = spec.ge if spec.ge is not None else (spec.gt or 0) + (spec.step or 1.0)
    if wkey not in st.session_state:
        st.session_state[wkey] = default
    if spec.kind is bool:
        return box.toggle(label, key=wkey, help=help_text)
    options = tuple(narrowed) if narrowed is not None else spec.allowed_choices()
    if options is not None:
        if st.session_state[wkey] not in options:
            st.session_state[wkey] = default if default in options else options[0]
        return box.selectbox(label, options, key=wkey, help=help_text, format_func=fmt)
    if spec.kind is str:
        return box.text_input(label, key=wkey, help=help_text)
    low = spec.ge if spec.ge is not None else None
    high = spec.le if spec.le is not None else None
    if spec.kind is int:
        return box.number_input(label, min_value=None if low is None else int(low),
                                max_value=None if high is None else int(high), step=int(spec.step or 1),
                                key=wkey, help=help_text)
    step = spec.step or _float_step(default)
    return box.number_input(label, min_value=None if low is None else float(low),
                            max_value=None if high is None else float(high), step=float(step),
                            format="%g", key=wkey, help=help_text)


def _draw_many(box: Any, spec: Spec, wkey: str, default: Any, label: str, help_text: str | None,
               fmt: Callable[[Any], str], narrowed: Iterable[Any] | None) -> Any:
    options = tuple(narrowed) if narrowed is not None else spec.allowed_choices()
    if options is not None:
        if wkey not in st.session_state:
            st.session_state[wkey] = [v for v in default if v in options]
        return tuple(box.multiselect(label, options, key=wkey, help=help_text, format_func=fmt))
    if wkey not in st.session_state:
        st.session_state[wkey] = ", ".join(str(v) for v in default)
    text = box.text_input(label, key=wkey, help=help_text)
    try:
        return spec.parse(text)
    except SettingError:
        return text  # validation names it


def _float_step(default: Any) -> float:
    if not isinstance(default, int | float) or default == 0:
        return 0.01
    from math import floor, log10

    return 10.0 ** floor(log10(abs(float(default))))
