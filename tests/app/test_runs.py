"""AppTest: the Runs page lists run folders written through engine/runfolder.py, follows one as it grows
(reading only the new metrics lines), compares several on one chart, flags a run whose process is gone,
and a page's "Record to a run folder" makes a folder the Runs page shows."""

from __future__ import annotations

import base64
import json
import time

import numpy as np
import pytest

from app.run_controls import recorded_settings
from app.runs_views import principal_plane
from engine.binary.config import BinaryConfig
from engine.runfolder import RunFolder, read_metrics, read_run
from tests.app.conftest import no_exception, open_page, wait_for


@pytest.fixture
def root(tmp_path, monkeypatch):
    path = tmp_path / "runs"
    monkeypatch.setenv("ENERGY_LAB_RUNS", str(path))
    return path


def write_run(path, steps: int, *, names=("toy",), slope: float = 1.0, finish: bool = True) -> RunFolder:
    """A folder as a run writes it: step rows, an evaluation every 10 steps, status, a snapshot, the end."""
    folder = RunFolder.create(path, "toy", {"toy": {"method": "cd", "dataset": "rings", "steps": steps}})
    add_steps(folder, 1, steps, names=names, slope=slope)
    folder.save_snapshot(steps, {"map_z": np.random.default_rng(0).normal(size=(60, 8)),
                                 "map_labels": np.arange(60) % 3})
    if finish:
        folder.finish("finished", result={"kl": 0.25, "steps": steps})
    return folder


def add_steps(folder: RunFolder, first: int, last: int, *, names=("toy",), slope: float = 1.0) -> None:
    for s in range(first, last + 1):
        for name in names:
            folder.append({"kind": "step", "run": name, "step": s, "t": s / 100, "loss": slope / s})
            if s % 10 == 0:
                folder.append({"kind": "eval", "run": name, "step": s, "t": s / 100, "kl": slope / s, "nll": 2.0})
    folder.flush()
    folder.update(step=last, steps_per_s=50.0)


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def chart(at, title: str) -> dict:
    found = [c for c in charts(at) if (c["layout"].get("title") or {}).get("text") == title]
    assert found, [c["layout"].get("title") for c in charts(at)]
    return found[0]


def points(trace: dict) -> int:
    """How many points a trace has (Plotly writes numpy arrays as base64 `bdata`)."""
    x = trace["x"]
    return len(x) if isinstance(x, list) else len(base64.b64decode(x["bdata"])) // np.dtype(x["dtype"]).itemsize


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_empty_state_says_how_to_make_a_run(root):
    at = open_page("runs")
    no_exception(at)
    assert at.title[0].value == "Runs"
    assert "No run folders" in at.info[0].value
    assert "--save my-run" in at.code[0].value and "torchrun" in at.code[0].value
    assert not at.dataframe


def test_a_folder_appears_with_its_state_and_step(root):
    at = open_page("runs")
    write_run(root / "first", 30)
    at.run()
    no_exception(at)
    table = at.dataframe[0].value
    row = table[table["run"] == "first"].iloc[0]
    assert (row["state"], row["step"], row["experiment"], row["method / data set"]) == (
        "finished", 30, "toy", "cd / rings")
    at.multiselect(key="run").set_value(["first"]).run()
    no_exception(at)
    assert (metric(at, "State"), metric(at, "Step")) == ("finished", "30")
    loss = chart(at, "Loss")["data"]
    assert len(loss) == 1 and loss[0]["x"][-1] == 30 and loss[0]["y"][-1] == pytest.approx(1 / 30)
    assert len(chart(at, "Nats (KL, NLL)")["data"]) == 2  # kl and nll, each a trace
    embedding = [c for c in charts(at) if "scaleanchor" in c["layout"].get("yaxis", {})]
    assert embedding and sum(points(t) for t in embedding[0]["data"]) == 60  # 60 points, a trace per label
    assert len(embedding[0]["data"]) == 3
    assert any(json.loads(j.value).get("kl") == 0.25 for j in at.json)  # the result of a finished run


def test_a_running_folder_is_followed_by_reading_only_new_lines(root):
    folder = write_run(root / "live", 20, finish=False)
    at = open_page("runs")
    at.multiselect(key="run").set_value(["live"]).run()
    assert (metric(at, "State"), metric(at, "Step")) == ("running", "20")
    assert chart(at, "Loss")["data"][0]["x"][-1] == 20
    tail = at.session_state["runs_tails"][str(root / "live")]
    before = tail.offset
    assert before == read_metrics(root / "live")[1]
    add_steps(folder, 21, 45)
    at.run()
    no_exception(at)
    assert metric(at, "Step") == "45"
    loss = chart(at, "Loss")["data"][0]
    assert loss["x"][-1] == 45 and len(loss["x"]) == 45  # each row once: the old lines were not read again
    assert tail.offset > before
    folder.finish("finished")
    at.run()
    assert metric(at, "State") == "finished"


def test_two_runs_overlay_on_one_chart(root):
    write_run(root / "a", 30, slope=1.0)
    write_run(root / "b", 40, slope=2.0)
    write_run(root / "pair", 20, names=("simclr", "supervised"))
    at = open_page("runs")
    at.multiselect(key="run").set_value(["a", "b"]).run()
    no_exception(at)
    assert at.multiselect(key="runs_compare_metrics").value == ["loss", "kl"]
    loss = chart(at, "loss")["data"]
    assert [t["name"] for t in loss] == ["a", "b"]
    assert (loss[0]["x"][-1], loss[1]["x"][-1]) == (30, 40)
    assert loss[1]["y"][-1] == pytest.approx(2 / 40)
    assert len(chart(at, "kl")["data"]) == 2
    # a folder with two runs inside (e.g. SimCLR and its supervised baseline): a trace for each
    at.multiselect(key="run").set_value(["a", "pair"]).run()
    names = [t["name"] for t in chart(at, "loss")["data"]]
    assert names == ["a", "pair · simclr", "pair · supervised"]


def test_a_stale_running_folder_is_not_responding(root):
    write_run(root / "gone", 10, finish=False)
    info = json.loads((root / "gone" / "run.json").read_text())
    info["updated"] = time.time() - 600  # its process died ten minutes ago
    (root / "gone" / "run.json").write_text(json.dumps(info))
    at = open_page("runs")
    table = at.dataframe[0].value
    assert table[table["run"] == "gone"].iloc[0]["state"] == "not responding"
    at.multiselect(key="run").set_value(["gone"]).run()
    no_exception(at)
    assert metric(at, "State") == "not responding"
    assert at.warning and "--resume" in at.warning[0].value


def test_a_page_run_recorded_to_a_folder_shows_on_the_runs_page(root):
    at = open_page("maximum_likelihood")
    at.number_input(key="ml.width").set_value(16)
    at.number_input(key="ml.train_grid").set_value(32)
    at.number_input(key="ml.steps").set_value(25)
    at.checkbox(key="ml_record").check()
    at.run()
    at.button(key="ml_train").click().run()
    wait_for(at, lambda a: bool(a.success), timeout=40, every=0.5)
    no_exception(at)
    assert at.success, "the run did not finish"
    (path,) = list(root.iterdir())
    assert path.name.startswith("ml-")
    assert any(path.name in c.value for c in at.caption)  # the page says where it records
    info = read_run(path)
    assert (info.experiment, info.state, info.step) == ("toy", "finished", 25)
    assert info.settings["toy"]["width"] == 16 and info.settings["toy"]["method"] == "ml"
    rows, _ = read_metrics(path)
    assert [r["step"] for r in rows if r["kind"] == "step"] == list(range(1, 26))
    runs = open_page("runs")
    assert list(runs.dataframe[0].value["run"]) == [path.name]


def test_no_folder_without_the_record_option(root):
    at = open_page("maximum_likelihood")
    at.number_input(key="ml.steps").set_value(3)
    at.run()
    at.button(key="ml_train").click().run()
    time.sleep(1.0)
    at.run()
    no_exception(at)
    assert not root.exists() or not any(root.iterdir())


def test_principal_plane_finds_the_spread_directions():
    rng = np.random.default_rng(1)
    basis = np.linalg.qr(rng.normal(size=(8, 8)))[0]
    centred = rng.normal(size=(500, 2))
    centred -= centred.mean(axis=0)
    coords = np.linalg.qr(centred)[0] * [5.0, 2.0]  # uncorrelated, spread 5 along one direction, 2 along another
    z = coords @ basis[:, :2].T + 3.0
    xy = principal_plane(z)
    assert xy.shape == (500, 2)
    assert np.allclose(np.abs(np.corrcoef(xy[:, 0], coords[:, 0])[0, 1]), 1.0, atol=1e-9)
    assert np.allclose(np.abs(np.corrcoef(xy[:, 1], coords[:, 1])[0, 1]), 1.0, atol=1e-9)
    assert np.allclose(xy.mean(axis=0), 0.0, atol=1e-9)
    assert np.allclose(principal_plane(z[::-1])[::-1], xy)  # the same signs whatever the order


def test_a_page_with_several_configurations_records_each():
    cd, rm = BinaryConfig.create(method="cd"), BinaryConfig.create(method="rm")
    settings = recorded_settings((cd, rm))
    assert list(settings) == ["binary.cd", "binary.rm"]
    assert BinaryConfig.from_dict(settings["binary.rm"]) == rm
    assert list(recorded_settings(cd)) == ["binary"]


# ---- in Portuguese ------------------------------------------------------------------------------------
MY_SECTIONS = ("runs", "runs_views", "saved_runs", "run_controls", "session", "session_runs", "follow", "share",
               "jobs", "exports", "errors")


def shown_texts(at) -> list[str]:
    """Every text the page shows: elements, labels, table headers, chart titles, axes and trace names."""
    out = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success"):
        out += [e.value for e in at.get(kind)]
    out += [m.label for m in at.metric] + [str(m.value) for m in at.metric]
    out += [w.label for kind in ("button", "multiselect", "number_input", "text_input", "expander", "checkbox",
                                 "selectbox") for w in at.get(kind)]
    out += [c for d in at.dataframe for c in d.value.columns]
    out += [str(v) for d in at.dataframe for v in d.value.iloc[:, 3]]  # the states
    for spec in charts(at):
        layout = spec["layout"]
        out += [(layout.get(k) or {}).get("text") or "" for k in ("title",)]
        out += [(layout.get(axis, {}).get("title") or {}).get("text") or "" for axis in ("xaxis", "yaxis")]
    return [t for t in out if t]


def english_left(at) -> list[str]:
    from app import i18n

    en, pt = i18n.catalogue("en"), i18n.catalogue("pt")
    english = {v for k, v in en.items() if k.split(".")[0] in MY_SECTIONS and pt.get(k) != v and len(v) > 3
               and "{" not in v}
    return [t for t in shown_texts(at) if t in english or any(len(e.split()) >= 3 and e in t for e in english)]


def test_the_runs_page_speaks_portuguese(root):
    at = open_page("runs", lang="pt")
    no_exception(at)
    assert at.title[0].value == "Execuções"
    assert "Ainda não há pastas de execução" in at.info[0].value
    assert not english_left(at), english_left(at)
    write_run(root / "first", 30)
    write_run(root / "second", 40, slope=2.0)
    at.run()
    assert list(at.dataframe[0].value.columns)[:4] == ["execução", "experimento", "método / conjunto de dados",
                                                        "estado"]
    assert set(at.dataframe[0].value["estado"]) == {"concluída"}
    at.multiselect(key="run").set_value(["first"]).run()
    no_exception(at)
    assert (metric(at, "Estado"), metric(at, "Passo"), metric(at, "Passos/s")) == ("concluída", "30", "50,0")
    loss = chart(at, "Perda")
    assert loss["layout"]["xaxis"]["title"]["text"] == "passo" and loss["layout"]["separators"] == ",."
    assert not english_left(at), english_left(at)
    at.multiselect(key="run").set_value(["first", "second"]).run()
    no_exception(at)
    assert at.multiselect(key="runs_compare_metrics").label == "Métricas a comparar"
    assert not english_left(at), english_left(at)
