"""The language catalogues: the same keys in every language, the same {fields} in each entry, and the
session's language from the URL, the switch or the browser."""

from __future__ import annotations

import re
import string

import pytest

from app import i18n
from app.declared_texts import declared_texts


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name} if "{" in text else set()


def is_formula(text: str) -> bool:
    """A text with no word of its own (formulas, symbols, {fields}, function names such as clip(...)): the same
    in every language."""
    return not re.search(r"\b[^\W\d_]{3,}\b(?!\()", re.sub(r"\{[^{}]*\}", "", text))


def english() -> dict[str, str]:
    """The English catalogue: the en files and the texts the engine declares (settings, methods, choices)."""
    return {**i18n.catalogue("en"), **declared_texts()}


def test_every_language_has_the_same_keys():
    en, pt = set(english()), set(i18n.catalogue("pt"))
    assert en, "no English catalogue"
    assert not en - pt, f"missing in pt: {sorted(en - pt)[:40]}"
    assert not pt - en, f"missing in en: {sorted(pt - en)[:40]}"


def test_declared_english_is_not_repeated_in_the_english_files():
    twice = sorted(set(declared_texts()) & set(i18n.catalogue("en")))
    assert not twice, f"declared in the engine and again in assets/locales/en: {twice[:20]}"


def test_every_entry_has_the_same_fields_in_every_language():
    en, pt = english(), i18n.catalogue("pt")
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
    en, pt = english(), i18n.catalogue("pt")
    same = [k for k, v in pt.items() if v == en.get(k) and len(v.split()) >= 4 and not is_formula(v)]
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


def test_the_forms_text_keys_name_one_text_each():
    from app.declared_texts import form_classes, setting_key

    texts = declared_texts()  # a ValueError when one key would stand for two different English texts
    classes = {c.__name__ for c in form_classes()}
    assert {"ToyConfig", "SamplingConfig", "DimensionConfig", "ScoreboardConfig", "DAEConfig", "SweepConfig",
            "EmbedConfig", "AugmentConfig", "WhyCosineSettings", "NegativesSettings", "TemperatureSettings",
            "ImageEBMConfig", "SampleSettings", "SizeComparisonSettings", "BinaryConfig"} <= classes, classes
    for cls in form_classes():
        for spec in cls.specs().values():
            if spec.form and spec.nullable:  # engine/errors.py names a setting's `none` by its spec.key
                assert setting_key(cls, spec, "none") == f"setting.{spec.key}.none" and setting_key(
                    cls, spec, "none") in texts


def test_the_form_reads_the_declarations_in_the_sessions_language():
    from app.declared_texts import choice_label, method_label, setting_key
    from engine.embed.config import EmbedConfig
    from engine.embed.sweeps import NegativesSettings, WhyCosineSettings
    from engine.toy.config import ToyConfig
    from engine.toy.objectives import REGISTRY

    lr = ToyConfig.spec("lr")
    assert i18n.t(setting_key(ToyConfig, lr, "label"), lr.label, lang="en") == "Learning rate"
    assert i18n.t(setting_key(ToyConfig, lr, "label"), lr.label, lang="pt") == "Taxa de aprendizado"
    # two sweeps share an experiment: each its own help
    why, neg = (setting_key(c, c.spec("steps"), "help") for c in (WhyCosineSettings, NegativesSettings))
    assert why != neg and i18n.t(why, lang="pt") != i18n.t(neg, lang="pt")
    assert method_label(REGISTRY, "pcd") == REGISTRY.labels["pcd"]  # English outside a session
    assert choice_label(ToyConfig, "dataset", "rings") == "rings"
    assert choice_label(EmbedConfig, "encoder", "resnet18") == "resnet18"


def test_formulas_may_stay_as_they_are():
    assert is_formula("y ← y − ε∇E(y) + s ξ") and is_formula("x ← x − ε·clip(∇E) + s·ξ")
    assert is_formula("{label}: r = {r}") and is_formula("λ L_NCE(m_I, g(v_I^t)) + (1 − λ) L_NCE(m_I, f(v_I))")
    assert not is_formula("the sampler's noise std s") and not is_formula("Ratio matching (Hyvärinen 2007)")


def test_numbers_among_the_choices_have_no_text_key():
    from app.declared_texts import choice_key, is_number
    from engine.binary.config import BinaryConfig

    assert is_number(64) and is_number(0.5) and is_number("01") and not is_number("pm1") and not is_number(True)
    assert choice_key(BinaryConfig, BinaryConfig.spec("encoding"), "01") is None
    assert choice_key(BinaryConfig, BinaryConfig.spec("encoding"), "pm1") == "choice.encoding.pm1"
