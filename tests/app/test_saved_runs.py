"""AppTest: saved runs on the Runs page belong to the browser that made them. Another browser sees no Delete
button; the owner deletes after a confirmation; "Save run" writes a copy of one's own under a checked name;
"Continue training N more steps" rebuilds a run from its checkpoint and trains on (in place for its owner,
into a copy for anyone else); a tampered checkpoint is refused on the page and nothing in it runs."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from engine.run import Run, RunOptions
from engine.runfolder import RunFolder, attach, owner_id, read_metrics, read_run
from tests.app.conftest import MAIN, ROOT, no_exception
from tests.engine.crafted_files import tampered_checkpoint

ALICE, BOB = "alice-browser-token-0123456789", "bob-browser-token-012345678901"
TOY = dict(width=16, depth=1, train_grid=16, view_grid=8, eval_grid=16, test_size=100, batch_size=64, device="cpu")


@pytest.fixture
def root(tmp_path, monkeypatch):
    path = tmp_path / "runs"
    path.mkdir()
    monkeypatch.setenv("ENERGY_LAB_RUNS", str(path))
    for var in ("ENERGY_LAB_RUNS_QUOTA_MB", "ENERGY_LAB_BROWSER_QUOTA_MB", "ENERGY_LAB_CLASS_CODE"):
        monkeypatch.delenv(var, raising=False)
    return path


def recorded_toy(path, browser: str | None, steps: int = 15) -> None:
    """A toy run trained for `steps` steps and recorded as the maximum-likelihood page records it."""
    from engine.toy.config import ToyConfig
    from engine.toy.trainer import ToyTrainer

    cfg = ToyConfig.create(**TOY, method="ml", steps=steps)
    folder = RunFolder.create(path, "toy", {"toy": cfg.to_dict()}, browser=browser)
    run = Run(ToyTrainer(cfg), RunOptions(max_steps=steps, evaluate_every_steps=5, evaluate_every_s=None), name="ml")
    attach(run, folder)
    run.run_to_end()


def open_runs_as(token: str, picked: list[str] | None = None) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.session_state["_browser_token"] = token
    at.run()
    at.switch_page(str(ROOT / "pages" / "runs.py"))
    at.run()
    if picked is not None:
        at.multiselect(key="run").set_value(picked).run()
    no_exception(at)
    return at


def buttons(at: AppTest) -> set[str]:
    return {b.key for b in at.button}


def whose(at: AppTest, name: str) -> str:
    table = at.dataframe[0].value
    return table[table["run"] == name].iloc[0]["whose"]


def texts(elements) -> str:
    return " ".join(e.value for e in elements)


def test_another_browser_has_no_delete_button_the_owner_deletes_after_confirming(root):
    recorded_toy(root / "alices", ALICE)
    recorded_toy(root / "cli-run", None)
    bob = open_runs_as(BOB, ["alices"])
    assert whose(bob, "alices") == "another browser's" and whose(bob, "cli-run") == "terminal (read-only)"
    assert "Another browser's run" in texts(bob.markdown)
    assert "runs_delete" not in buttons(bob) and "runs_delete_yes" not in buttons(bob)
    assert {"runs_continue", "runs_save"} <= buttons(bob)  # read-only: he may copy it, not change it
    bob.multiselect(key="run").set_value(["cli-run"]).run()
    assert "runs_delete" not in buttons(bob) and "Written from a terminal" in texts(bob.markdown)

    alice = open_runs_as(ALICE, ["alices"])
    assert whose(alice, "alices") == "yours"
    alice.button(key="runs_delete").click().run()
    assert (root / "alices").is_dir()  # not yet: it asks first
    assert "cannot be undone" in texts(alice.warning)
    alice.button(key="runs_delete_no").click().run()
    assert (root / "alices").is_dir() and "runs_delete" in buttons(alice)
    alice.button(key="runs_delete").click().run()
    alice.button(key="runs_delete_yes").click().run()
    no_exception(alice)
    assert not (root / "alices").exists() and (root / "cli-run").is_dir()
    assert "Deleted" in texts(alice.success)
    assert alice.multiselect(key="run").value == []


def wait_until(cond, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while not cond() and time.time() < deadline:
        time.sleep(0.2)


def test_save_open_and_continue_training(root):
    recorded_toy(root / "alices", ALICE, steps=15)
    at = open_runs_as(ALICE, ["alices"])
    at.text_input(key="runs_save_name").set_value("../escape").run()
    at.button(key="runs_save").click().run()
    assert "1 to 64 characters" in texts(at.error) and not (root.parent / "escape").exists()
    at.text_input(key="runs_save_name").set_value("my-copy").run()
    at.button(key="runs_save").click().run()
    no_exception(at)
    copy = read_run(root / "my-copy")
    assert (copy.owner, copy.state, copy.step) == (owner_id(ALICE), "finished", 15)
    assert at.multiselect(key="run").value == ["my-copy"]  # the copy is open
    assert whose(at, "my-copy") == "yours"
    rows_before = len(read_metrics(root / "my-copy")[0])

    at.number_input(key="runs_more_steps").set_value(100).run()
    at.button(key="runs_continue").click().run()
    no_exception(at)
    assert "Continuing **my-copy** from step 15 to step 115" in texts(at.success)
    wait_until(lambda: read_run(root / "my-copy").state == "finished")
    at.run()
    no_exception(at)
    info = read_run(root / "my-copy")
    assert (info.state, info.step, info.resumed_from, info.owner) == ("finished", 115, 15, owner_id(ALICE))
    rows = read_metrics(root / "my-copy")[0]
    assert len(rows) > rows_before
    assert [r["step"] for r in rows if r["kind"] == "step"] == list(range(1, 116))
    assert read_run(root / "alices").step == 15  # the original stays as it was

    # someone else's run continues into a new folder of theirs
    bob = open_runs_as(BOB, ["alices"])
    bob.number_input(key="runs_more_steps").set_value(10).run()
    bob.button(key="runs_continue").click().run()
    no_exception(bob)
    (new,) = bob.multiselect(key="run").value
    assert new.startswith("alices-cont-")
    wait_until(lambda: read_run(root / new).state == "finished")
    assert read_run(root / new).step == 25 and read_run(root / new).owner == owner_id(BOB)
    assert read_run(root / "alices").owner == owner_id(ALICE) and read_run(root / "alices").step == 15


def test_a_tampered_checkpoint_is_refused_on_the_page_and_does_not_run(root, tmp_path):
    recorded_toy(root / "alices", ALICE, steps=5)
    target = tmp_path / "pwned"
    (root / "alices" / "checkpoint.pt").write_bytes(tampered_checkpoint(target))
    for token in (ALICE, BOB):
        at = open_runs_as(token, ["alices"])
        at.button(key="runs_continue").click().run()
        no_exception(at)
        assert "tampered" in texts(at.error) and "nothing in it was run" in texts(at.error)
        assert not target.exists()
    assert sorted(p.name for p in root.iterdir()) == ["alices"]  # no copy was left behind
    assert read_run(root / "alices").state == "finished"


def test_a_page_records_its_browser_as_owner_and_is_stopped_by_the_quota(root, monkeypatch):
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.session_state["_browser_token"] = ALICE
    at.run()
    at.switch_page(str(ROOT / "pages" / "maximum_likelihood.py"))
    at.run()
    for key, value in (("ml.width", 16), ("ml.train_grid", 32), ("ml.steps", 5)):
        at.number_input(key=key).set_value(value)
    at.checkbox(key="ml_record").check()
    at.run()
    at.button(key="ml_train").click().run()
    no_exception(at)
    (path,) = list(root.iterdir())
    assert read_run(path).owner == owner_id(ALICE)
    assert ALICE not in (path / "run.json").read_text()
    wait_until(lambda: read_run(path).state == "finished")
    monkeypatch.setenv("ENERGY_LAB_BROWSER_QUOTA_MB", "0.000001")  # a byte: Alice's one run is over it
    at.button(key="ml_train").click().run()
    no_exception(at)
    assert "this browser's runs take" in texts(at.warning) and "delete some on the Runs page" in texts(at.warning)
    assert list(root.iterdir()) == [path]  # trained, but not recorded
