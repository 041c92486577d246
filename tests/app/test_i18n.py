"""The language catalogues: the same keys in every language, the same {fields} in each entry, and the
session's language from the URL, the switch or the browser."""

from __future__ import annotations

import string

import pytest

from app import i18n


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name} if "{" in text else set()


def test_every_language_has_the_same_keys():
    en, pt = set(i18n.catalogue("en")), set(i18n.catalogue("pt"))
    assert en, "no English catalogue"
    assert not en - pt, f"missing in pt: {sorted(en - pt)[:40]}"
    assert not pt - en, f"missing in en: {sorted(pt - en)[:40]}"


def test_every_entry_has_the_same_fields_in_every_language():
    en, pt = i18n.catalogue("en"), i18n.catalogue("pt")
    differ = {}
    for key, text in en.items():
        try:
            a, b = fields(text), fields(pt.get(key, ""))
        except ValueError:  # LaTeX braces: not a format string
            continue
        if a != b:
            differ[key] = (sorted(a), sorted(b))
    assert not differ, differ


def test_no_portuguese_entry_is_left_in_english():
    en, pt = i18n.catalogue("en"), i18n.catalogue("pt")
    same = [k for k, v in pt.items() if v == en.get(k) and len(v.split()) >= 4]
    assert not same, f"copied, not translated: {same[:20]}"


@pytest.mark.parametrize(("locale", "lang"), [("pt-BR", "pt"), ("pt_PT", "pt"), ("PT", "pt"), ("en-US", "en"),
                                              ("de-DE", "en"), ("", "en"), (None, "en")])
def test_browser_language(locale, lang):
    assert i18n.browser_language(locale) == lang


def test_numbers_follow_the_language():
    assert i18n.num(0.0312, 3, lang="pt") == "0,031"
    assert i18n.num(0.0312, 3, lang="en") == "0.031"
    assert i18n.num(12345.5, 1, lang="pt") == "12.345,5"
    assert i18n.num(12345.5, 1, lang="en") == "12,345.5"
    assert i18n.plotly_separators("pt") == ",."


def test_a_missing_portuguese_text_falls_back_to_english_and_then_to_the_default():
    assert i18n.t("pages.home", lang="pt") == "Boas-vindas"
    assert i18n.t("no.such.key", "fallback", lang="pt") == "fallback"
    assert i18n.t("no.such.key", lang="en") == "no.such.key"


def test_a_section_reads_the_sessions_language(monkeypatch):
    monkeypatch.setattr(i18n, "language", lambda: "pt")
    assert i18n.texts("pages")["scoreboard"] == "Placar"
    monkeypatch.setattr(i18n, "language", lambda: "en")
    assert i18n.texts("pages")["scoreboard"] == "Scoreboard"
    with pytest.raises(KeyError):
        i18n.texts("pages")["nothing"]
