"""Reset keeps what it replaced for one "Undo reset"; Step shows the step it took."""

from __future__ import annotations

import threading

from engine.run import STOPPED, live_runs
from tests.app.conftest import no_exception, open_page, settle


def _small(at):
    at.number_input(key="ml.width").set_value(16)
    at.number_input(key="ml.train_grid").set_value(32)
    return at.run()


def _status(at) -> str:
    return next((m.value for m in at.markdown if " · step " in m.value), "")


def _step(at, key: str = "ml_step") -> None:
    """Press Step, let the step land (on a loaded machine it may come after the page's wait), look again."""
    at.button(key=key).click().run()
    runs = [r for r in live_runs() if r.name == "ml"]
    assert runs and settle(lambda: not runs[0]._pending_steps, timeout=30)
    at.run()


def _labels(at) -> list[str]:
    return [b.label for b in at.button]


def test_step_shows_the_step_it_took():
    at = _small(open_page("maximum_likelihood"))
    for n in (1, 2, 3):
        _step(at)
        assert _status(at).startswith(f"**Paused** · step {n} "), _status(at)


def test_undo_reset_brings_the_run_back_where_it_stopped_and_training_goes_on():
    at = _small(open_page("maximum_likelihood"))
    for _ in range(5):
        _step(at)
    threads = threading.active_count()
    at.button(key="ml_reset").click().run()
    no_exception(at)
    assert _status(at).startswith("**Paused** · step 0 "), _status(at)
    assert "Undo reset (back to step 5)" in _labels(at)
    assert threading.active_count() == threads  # the replaced run's thread ended; the fresh one's started
    at.button(key="ml_reset").click().run()  # a fresh run with the same settings: nothing to reset
    assert "Undo reset (back to step 5)" in _labels(at)
    at.button(key="ml_undo").click().run()
    no_exception(at)
    assert _status(at).startswith("**Paused** · step 5 "), _status(at)
    assert not any(label.startswith("Undo reset") for label in _labels(at))
    _step(at)
    assert _status(at).startswith("**Paused** · step 6 "), _status(at)  # it trains on from step 5


def test_the_undo_goes_once_the_fresh_run_trains_and_nothing_is_left_running():
    at = _small(open_page("maximum_likelihood"))
    at.button(key="ml_step").click().run()
    at.button(key="ml_reset").click().run()
    assert any(label.startswith("Undo reset") for label in _labels(at))
    at.button(key="ml_step").click().run()  # the fresh run trains: the old one is let go
    at.run()
    assert not any(label.startswith("Undo reset") for label in _labels(at))
    kept = [r for r in live_runs() if r.name == "ml"]
    assert len(kept) == 1 and kept[0].state != STOPPED


# ---- "show me": a page opened with _autostart.<name> set trains as if Train were pressed --------------------
def _ml_runs():
    return [r for r in live_runs() if r.name == "ml"]


def test_autostart_trains_a_page_whose_run_is_absent_once():
    at = _small(open_page("maximum_likelihood"))
    assert not _ml_runs()
    at.session_state["_autostart.ml"] = True
    at.run()
    no_exception(at)
    assert "_autostart.ml" not in at.session_state  # taken once: the next redraw does not start it again
    runs = _ml_runs()
    assert runs and runs[0].state in ("running", "finished"), [r.state for r in runs]
    assert "Pause" in _labels(at)
    assert settle(lambda: runs[0].step > 0)  # it has trained (a run paused at step 0 is fresh: autostart trains it)
    at.button(key="ml_pause").click().run()
    paused = _ml_runs()[0]
    assert settle(lambda: paused.state == "paused")  # a pause lands after the step in flight
    at.session_state["_autostart.ml"] = True  # a run that has trained: the flag changes nothing
    at.run()
    no_exception(at)
    assert _ml_runs()[0] is paused and paused.state == "paused" and paused.step > 0


def test_autostart_trains_a_fresh_run_made_by_reset():
    at = _small(open_page("maximum_likelihood"))
    at.button(key="ml_reset").click().run()
    fresh = _ml_runs()[0]
    assert fresh.step == 0 and fresh.state == "paused"
    at.session_state["_autostart.ml"] = True
    at.run()
    no_exception(at)
    assert fresh.state in ("running", "finished") or settle(lambda: fresh.step > 0)


def test_autostart_needs_the_class_code(monkeypatch):
    monkeypatch.setenv("ENERGY_LAB_CLASS_CODE", "week8-contrastive")
    at = _small(open_page("maximum_likelihood"))
    at.session_state["_autostart.ml"] = True
    at.run()
    no_exception(at)
    assert "_autostart.ml" not in at.session_state
    assert not _ml_runs()
    assert not at.error  # not pressed: nothing to refuse


def test_a_divergence_says_why_in_the_sessions_language(monkeypatch):
    from app import i18n
    from engine.run.guard import Guard
    from engine.toy.trainer import ToyTrainer

    class Diverging(ToyTrainer):
        def __init__(self) -> None:  # nothing built: only its advice is read
            pass

    guard = Guard(Diverging(), threading.Lock())
    english = guard.fail("the model's weights became non-finite at step 12")
    assert english == ("Stopped: the model's weights became non-finite at step 12. Try a lower learning rate, a larger "
                       "energy² regulariser α, or more Langevin steps k.")
    assert format(guard.failure) == english  # the English catalogue says the same
    monkeypatch.setattr(i18n, "language", lambda: "pt")
    assert format(guard.failure) == ("Parado: o valor weights do modelo deixou de ser finito no passo 12. Tente uma "
                                     "taxa de aprendizado menor, um regularizador de energia² α maior, ou mais passos "
                                     "de Langevin k.")
