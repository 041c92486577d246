"""Saved runs that belong to a browser (engine/run_owners.py, engine/run_resume.py): names that stay inside the
runs folder, owners stored as a hash, deletion only by the owner, symlinks out of the runs folder refused,
quotas with their numbers, and a run continued from its checkpoint (in place for its owner, as a copy for
anyone else)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine.errors import DataError, SettingError
from engine.run import FINISHED, Run, RunOptions
from engine.run_owners import (
    NotYours,
    QuotaExceeded,
    RunStoreSettings,
    check_owner,
    check_quota,
    delete_run,
    disk_usage,
    is_owner,
    new_run_folder,
    safe_run_name,
    save_copy,
)
from engine.run_resume import continue_run
from engine.runfolder import RunFolder, attach, owner_id, read_metrics, read_run, run_path
from tests.engine.crafted_files import tampered_checkpoint

ALICE, BOB = "alice-token-0123456789abcdef", "bob-token-0123456789abcdef00"
TOY = dict(width=16, depth=1, train_grid=16, view_grid=8, eval_grid=16, test_size=100, batch_size=64, device="cpu")


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "runs"
    path.mkdir()
    monkeypatch.setenv("ENERGY_LAB_RUNS", str(path))
    for var in ("ENERGY_LAB_RUNS_QUOTA_MB", "ENERGY_LAB_BROWSER_QUOTA_MB"):
        monkeypatch.delenv(var, raising=False)
    return path


def small_folder(path: Path, browser: str | None, size: int = 0) -> RunFolder:
    folder = RunFolder.create(path, "toy", {"toy": {"schema_version": 1, "steps": 5}}, browser=browser)
    if size:
        (path / "snapshots" / "step-000000001.npz").write_bytes(b"\0" * size)
    folder.finish("finished")
    return folder


def trained_toy(path: Path, browser: str | None, steps: int = 15) -> RunFolder:
    """A real toy run of `steps` steps written into `path` as a page records it."""
    from engine.toy.config import ToyConfig
    from engine.toy.trainer import ToyTrainer

    cfg = ToyConfig.create(**TOY, steps=steps)
    folder = RunFolder.create(path, "toy", {"toy": cfg.to_dict()}, browser=browser)
    run = Run(ToyTrainer(cfg), RunOptions(max_steps=steps, evaluate_every_steps=5, evaluate_every_s=None), name="ml")
    attach(run, folder)
    run.run_to_end()
    return folder


# ---- names -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["../x", "a/b", "..", ".", "", "   ", "x" * 65, "\x00", "a\x00b", ".hidden",
                                 "a\\b", "/etc", "é", None, 3])
def test_names_that_could_leave_or_hide_are_refused_naming_the_rule(bad):
    with pytest.raises(SettingError, match="1 to 64 characters, only letters, digits"):
        safe_run_name(bad)


@pytest.mark.parametrize("good", ["a", "week-8_pcd.v2", "x" * 64, "A1..b"])
def test_plain_names_are_kept(good):
    assert safe_run_name(good) == good


def test_a_taken_name_is_refused_and_the_cli_keeps_absolute_paths(root, tmp_path):
    small_folder(root / "mine", BOB)
    with pytest.raises(SettingError, match="already exists"):
        new_run_folder("mine", root)
    assert read_run(root / "mine").owner == owner_id(BOB)  # untouched
    assert run_path(str(tmp_path / "abs")) == tmp_path / "abs"
    with pytest.raises(SettingError):
        run_path("../x")


# ---- owners ------------------------------------------------------------------------------------------------
def test_the_owner_is_a_hash_of_the_token_never_the_token(root):
    small_folder(root / "a", ALICE)
    text = (root / "a" / "run.json").read_text()
    assert ALICE not in text
    info = read_run(root / "a")
    assert info.owner == owner_id(ALICE) and len(info.owner) == 32 and info.owner != owner_id(BOB)
    assert is_owner(info, ALICE) and not is_owner(info, BOB) and not is_owner(info, None)
    check_owner(info, ALICE)
    with pytest.raises(NotYours, match="another browser"):
        check_owner(info, BOB)


def test_another_browser_cannot_delete_the_owner_can(root):
    small_folder(root / "alices", ALICE)
    with pytest.raises(NotYours, match="belongs to another browser"):
        delete_run(root / "alices", BOB, root)
    assert (root / "alices" / "run.json").is_file()
    delete_run(root / "alices", ALICE, root)
    assert not (root / "alices").exists()


def test_a_cli_run_cannot_be_deleted_from_a_browser(root):
    small_folder(root / "cli", None)
    assert read_run(root / "cli").owner is None
    for token in (ALICE, BOB, None):
        with pytest.raises(NotYours, match="outside the browser"):
            delete_run(root / "cli", token, root)
    assert (root / "cli").is_dir()


def test_a_symlink_out_of_the_runs_folder_is_refused(root, tmp_path):
    outside = tmp_path / "elsewhere"
    small_folder(outside, ALICE)  # a run folder of Alice's, but outside the runs folder
    (root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(SettingError, match="not a run folder inside the runs folder"):
        delete_run(root / "link", ALICE, root)
    with pytest.raises(SettingError, match="inside the runs folder"):
        delete_run(root / ".." / "elsewhere", ALICE, root)
    with pytest.raises(SettingError, match="inside the runs folder"):
        save_copy(root / "link", "copy", ALICE, root)
    assert (outside / "run.json").is_file() and (root / "link").is_symlink()


def test_a_running_run_is_not_deleted(root):
    RunFolder.create(root / "live", "toy", {"toy": {"steps": 5}}, browser=ALICE)
    with pytest.raises(SettingError, match="still training"):
        delete_run(root / "live", ALICE, root)


# ---- quotas ------------------------------------------------------------------------------------------------
def test_quota_refusals_say_the_numbers(root, monkeypatch):
    small_folder(root / "a1", ALICE, size=3 * 1024 * 1024)
    small_folder(root / "b1", BOB, size=1024 * 1024)
    assert disk_usage(root, owner_id(ALICE)) >= 3 * 1024 * 1024 > disk_usage(root, owner_id(BOB))
    assert disk_usage(root) >= disk_usage(root, owner_id(ALICE)) + disk_usage(root, owner_id(BOB))
    monkeypatch.setenv("ENERGY_LAB_BROWSER_QUOTA_MB", "2")
    with pytest.raises(QuotaExceeded, match=r"this browser's runs take 3\.0 MB of its 2 MB: delete some on the "
                                            r"Runs page"):
        check_quota(ALICE, root)
    check_quota(BOB, root)  # Bob's 1 MB is within his 2
    with pytest.raises(QuotaExceeded, match="2 MB"):
        save_copy(root / "b1", "b2", BOB, root)  # the copy would take him over
    assert not (root / "b2").exists()
    monkeypatch.setenv("ENERGY_LAB_BROWSER_QUOTA_MB", "100")
    monkeypatch.setenv("ENERGY_LAB_RUNS_QUOTA_MB", "3.5")
    with pytest.raises(QuotaExceeded, match=r"the runs folder takes 4\.0 MB of its 3\.5 MB"):
        check_quota(BOB, root)


def test_quota_settings_come_from_the_environment_and_are_checked():
    s = RunStoreSettings.from_environ({"ENERGY_LAB_RUNS_QUOTA_MB": "10", "ENERGY_LAB_BROWSER_QUOTA_MB": "1.5"})
    assert (s.runs_quota_mb, s.browser_quota_mb) == (10.0, 1.5)
    assert RunStoreSettings.from_environ({}).browser_quota_mb == 256.0
    with pytest.raises(SettingError, match="ENERGY_LAB_BROWSER_QUOTA_MB"):
        RunStoreSettings.from_environ({"ENERGY_LAB_BROWSER_QUOTA_MB": "-1"})


# ---- copies and continuing ---------------------------------------------------------------------------------
def test_a_copy_belongs_to_who_made_it(root):
    small_folder(root / "alices", ALICE, size=100)
    path = save_copy(root / "alices", "bobs-copy", BOB, root)
    info = read_run(path)
    assert (info.owner, info.name, info.state) == (owner_id(BOB), "bobs-copy", "finished")
    assert (path / "snapshots" / "step-000000001.npz").stat().st_size == 100
    assert json.loads((path / "run.json").read_text())["copied_from"] == "alices"
    assert read_run(root / "alices").owner == owner_id(ALICE)
    with pytest.raises(SettingError, match="already exists"):
        save_copy(root / "bobs-copy", "alices", BOB, root)  # never over another's run


def test_the_owner_continues_in_place_others_into_a_copy(root):
    trained_toy(root / "a", ALICE, steps=15)
    rows_before = len(read_metrics(root / "a")[0])
    cont = continue_run(root / "a", ALICE, 10, root=root)
    assert cont.path == (root / "a").resolve() and not cont.copied
    cont.run.run_to_end()
    assert cont.run.state == FINISHED and cont.run.step == 25
    info = read_run(root / "a")
    assert (info.state, info.step, info.owner) == ("finished", 25, owner_id(ALICE))
    rows = read_metrics(root / "a")[0]
    steps = [r["step"] for r in rows if r["kind"] == "step"]
    assert steps == list(range(1, 26)) and len(rows) > rows_before
    other = continue_run(root / "a", BOB, 5, root=root, copy_name="bobs")
    assert other.copied and other.path.name == "bobs"
    other.run.run_to_end()
    assert read_run(root / "bobs").step == 30 and read_run(root / "bobs").owner == owner_id(BOB)
    assert read_run(root / "a").step == 25  # Alice's run is untouched


def test_a_tampered_checkpoint_is_refused_before_anything_runs(root, tmp_path):
    trained_toy(root / "a", ALICE, steps=5)
    target = tmp_path / "pwned"
    (root / "a" / "checkpoint.pt").write_bytes(tampered_checkpoint(target))
    before = sorted(os.listdir(root))
    for token in (ALICE, BOB):
        with pytest.raises(DataError, match="tampered"):
            continue_run(root / "a", token, 10, root=root)
    assert not target.exists() and sorted(os.listdir(root)) == before
    assert read_run(root / "a").state == "finished"


def test_continuing_checks_its_input(root):
    small_folder(root / "odd", ALICE)
    info = json.loads((root / "odd" / "run.json").read_text())
    info["experiment"] = "scoreboard"
    (root / "odd" / "run.json").write_text(json.dumps(info))
    with pytest.raises(SettingError, match="cannot be continued from the browser"):
        continue_run(root / "odd", ALICE, 10, root=root)
    with pytest.raises(SettingError, match="more steps"):
        continue_run(root / "odd", ALICE, 0, root=root)
    small_folder(root / "nockpt", ALICE)
    with pytest.raises(SettingError, match="no checkpoint"):
        continue_run(root / "nockpt", ALICE, 10, root=root)
