"""AppTest: the guided lecture — its stops as data (fixed thresholds, verbatim quotes, presets the forms accept),
"show me" switching page and starting the run, and the check reporting pass / fail with its number."""

from __future__ import annotations

import math
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from app import tour
from app.i18n import catalogue
from app.share import read_params
from app.tour_checks import READERS, Reading, reading, verdict
from tests.app.conftest import no_exception, open_page

ROOT = Path(__file__).resolve().parents[2]
LECTURE_DIR = ROOT / "assets" / "lecture"  # a copy of ../shared/lecture, in the repository for CI
LECTURE_FILE = {lang: LECTURE_DIR / f"week08-1-contrastive-methods-{lang}.md" for lang in ("en", "pt")}


def form_class(form: str):
    from engine.binary.config import BinaryConfig
    from engine.dae.config import DAEConfig
    from engine.embed.config import EmbedConfig
    from engine.toy.config import ToyConfig
    from engine.toy.dimension import DimensionConfig

    return {"ml": ToyConfig, "cd": ToyConfig, "dae": DAEConfig, "bin": BinaryConfig, "embed": EmbedConfig,
            "cdd": DimensionConfig}[form]


# ---- the stops as data ------------------------------------------------------------------------------------
def test_stops_are_fixed_data():
    ids = [s.id for s in tour.STOPS]
    assert len(ids) == len(set(ids)) >= 12
    assert [s.section for s in tour.STOPS] == sorted((s.section for s in tour.STOPS), key=tour.SECTIONS.index), \
        "the stops follow the lecture's order: recap, embedding, denoising autoencoder, other methods"
    for s in tour.STOPS:
        if s.compare == "between":
            lo, hi = s.threshold
            assert isinstance(lo, float | int) and isinstance(hi, float | int) and lo < hi, s.id
        else:
            assert s.compare in tour.COMPARE and isinstance(s.threshold, float | int), s.id
            assert not isinstance(s.threshold, bool) and math.isfinite(s.threshold), s.id
        assert s.check in READERS, s.id
        assert isinstance(s.min_step, int) and s.min_step >= 0
        with pytest.raises(AttributeError):
            s.threshold = 0.5  # frozen: nothing can move a threshold once the tour is loaded
        with pytest.raises(TypeError):
            s.preset["x.y"] = "1"  # type: ignore[index]


def test_stops_pages_and_slots_exist():
    for s in tour.STOPS:
        if s.page == tour.LECTURE:
            assert s.slot and (ROOT / "pages" / "lecture.py").exists()
            continue
        source = (ROOT / "pages" / f"{s.page}.py").read_text()
        assert ("job_controls(" if s.job else "run_controls(") in source, s.id
        assert f'"{s.slot}"' in source, f"{s.id}: slot {s.slot} not drawn by pages/{s.page}.py"
        assert f'key="{s.form}"' in source, f"{s.id}: form {s.form} not on pages/{s.page}.py"


@pytest.mark.parametrize("lang", ["en", "pt"])
def test_quotes_are_verbatim(lang):
    text = LECTURE_FILE[lang].read_text()
    other = LECTURE_FILE["en"].read_text() if lang == "pt" else None
    cat = catalogue(lang)
    for s in tour.STOPS:
        quote = cat[f"lecture.quote.{s.id}"]
        assert len(quote.split()) >= 8, s.id
        assert quote in text, f"{s.id}: the {lang} quote is not verbatim in {LECTURE_FILE[lang].name}"
        if other is not None:
            assert quote not in other, f"{s.id}: the pt quote is the English text (the pt file keeps it in comments)"
        for key in (f"lecture.stop.{s.id}", f"tour.look.{s.id}", f"tour.check.{s.id}"):
            assert key in cat, key


def test_presets_parse_with_their_forms():
    for s in tour.STOPS:
        if s.page == tour.LECTURE:
            assert not s.preset
            continue
        cls = form_class(s.form)
        assert s.preset and all(k.startswith(f"{s.form}.") for k in s.preset), s.id
        values, warnings = read_params(cls, s.form, dict(s.preset), cls.specs())
        assert not warnings, (s.id, warnings)
        assert set(values) == {k.split(".", 1)[1] for k in s.preset}, s.id
        cls.create(**values)  # a valid configuration as a whole


def test_cap_stop_reads_the_experiment():
    from engine.embed import infonce_cap

    assert callable(infonce_cap.make_run) and infonce_cap.InfoNCECapSettings.create()


# ---- the checks -------------------------------------------------------------------------------------------
def fake_run(snapshot=None, evaluations=(), history=(), state="finished", step=100, max_steps=100):
    snap = None if snapshot is None else SimpleNamespace(data=snapshot, step=step)
    return SimpleNamespace(latest=lambda: snap, evaluations=list(evaluations), history=list(history), state=state,
                           step=step, options=SimpleNamespace(max_steps=max_steps, max_seconds=None),
                           budget_reached=lambda: step >= (max_steps or math.inf), trainer=SimpleNamespace())


def test_checks_report_pass_and_fail_with_their_numbers():
    flat = tour.BY_ID["dae_flat"]
    shows = reading(flat, fake_run({"dae_midpoint_ratio": 0.03, "latent_midpoint_ratio": 1.0}))
    assert shows.ready and shows.value == 0.03 and verdict(flat, shows) is True
    hides = reading(flat, fake_run({"dae_midpoint_ratio": 0.9, "latent_midpoint_ratio": 1.0}))
    assert verdict(flat, hides) is False and hides.fields["latent"] == 1.0
    running = reading(flat, fake_run({"dae_midpoint_ratio": 0.03}, state="running", step=10))
    assert running.value == 0.03 and verdict(flat, running) is None  # a budgeted run: judged when it ends
    assert verdict(flat, reading(flat, None)) is None and verdict(flat, Reading()) is None
    ml = tour.BY_ID["ml_push"]
    r = reading(ml, fake_run(evaluations=[{"step": 1, "kl": 2.0}, {"step": 100, "kl": 0.1}]))
    assert r.value == pytest.approx(0.05) and verdict(ml, r) is True
    between = tour.BY_ID["dae_quadratic"]
    assert between.passes(2.0) and not between.passes(-0.2) and not between.passes(3.0)
    pairs = tour.BY_ID["pairs"]  # no step budget: judged once past min_step
    early = fake_run(evaluations=[{"step": 5, "contrastive_acc_test": 0.2}], state="running", step=5, max_steps=None)
    assert verdict(pairs, reading(pairs, early)) is None
    late = fake_run(evaluations=[{"step": 1, "contrastive_acc_test": 0.001}, {"step": 60, "contrastive_acc_test": 0.2}],
                    state="running", step=60, max_steps=None)
    assert verdict(pairs, reading(pairs, late)) is True


# ---- the pages --------------------------------------------------------------------------------------------
def test_lecture_page_in_portuguese_quotes_the_pt_file():
    at = open_page("lecture")
    at.query_params["lang"] = "pt"
    at.session_state["_lang"] = "pt"
    at.run()
    no_exception(at)
    assert any(catalogue("pt")["lecture.quote.ml_push"][:40] in m.value for m in at.markdown)
    assert any(b.label == "Mostre-me" for b in at.button)


def test_show_me_switches_page_starts_the_run_and_checks_it():
    at = open_page("lecture")
    no_exception(at)
    at.button(key="lecture_show").click().run()
    no_exception(at)
    assert at.title[0].value.startswith("Maximum likelihood")
    assert at.query_params["ml.steps"] == ["1500"] or at.query_params["ml.steps"] == "1500"
    assert at.expander[0].label.startswith("Stop 1 of")  # the tour box, on the target page
    at.switch_page(str(ROOT / "pages" / "maximum_likelihood.py"))  # AppTest reruns the page it was told, not
    # the one the script switched to
    deadline = time.time() + 120
    while time.time() < deadline and not (at.success or at.warning):
        time.sleep(1.0)
        at.run()
    verdicts = [e.value for e in [*at.success, *at.warning] if "this time" in e.value]
    assert verdicts, [m.value for m in at.markdown][-4:]
    assert "KL(data ‖ model) fell from" in verdicts[0] and "threshold" in verdicts[0]
    # Next stop in the box: the same preset, so the same run; its own check (only differences matter)
    at.button(key="tour_box_next").click().run()
    no_exception(at)
    assert at.title[0].value.startswith("Maximum likelihood")
    assert at.expander[0].label.startswith("Stop 2 of")
    for _ in range(30):
        if any("log Z" in e.value for e in [*at.success, *at.warning]):
            break
        time.sleep(0.5)
        at.run()
    shift = [e.value for e in at.success if "log Z" in e.value]
    assert shift and "Showed this time" in shift[0], [e.value for e in [*at.success, *at.warning]]


def test_home_links_every_page_and_the_lecture():
    at = open_page("home")
    no_exception(at)
    links = at.get("page_link")
    stems = {Path(link.proto.page).stem for link in links}
    pages = {p.stem for p in (ROOT / "pages").glob("*.py")} - {"home"}
    assert pages <= stems, pages - stems
    assert any("guided lecture" in m.value for m in at.markdown)
