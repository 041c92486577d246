"""Exports (app/exports.py and the views that use it): a CSV parses with pandas, holds exactly the rows
of the table or figure shown and writes '.' decimals; every chart drawn through `chart` carries the
download config (PNG by default, SVG on request, scale 2, modebar not hidden)."""

from __future__ import annotations

import base64
import io
import json
import math
import time
from types import SimpleNamespace

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from app import binary_views, dae_views, embed_views, toy_views
from app.exports import FORMAT_KEY, csv_text, file_stem, plotly_config
from tests.app.conftest import until_success


def read(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), float_precision="round_trip")


def trace_points(fig: go.Figure) -> dict[str, dict[float, float]]:
    """name → {x: y} of each scatter trace of `fig` (what the chart shows)."""
    return {t.name: dict(zip(map(float, t.x), map(float, t.y), strict=True)) for t in fig.data
            if isinstance(t, go.Scatter) and t.name is not None}


# ---- csv_text ------------------------------------------------------------------------------------
def test_csv_round_trips_through_pandas():
    frame = pd.DataFrame({"step": [1, 2, 3], "loss": [0.1, 1234.5678, -3.25e-7],
                          "method": ["cd, k=1", 'say "hi"', "pcd"], "nll": [1.5, math.nan, 2.0]})
    back = read(csv_text(frame))
    pd.testing.assert_frame_equal(back, frame)


def test_csv_writes_decimal_points_and_comma_separators():
    text = csv_text([{"sigma": 0.25, "ratio": 1.5}, {"sigma": 0.5, "ratio": 12.125}])
    lines = text.splitlines()
    assert lines[0] == "sigma,ratio" and len(lines) == 3
    for line in lines[1:]:
        fields = line.split(",")
        assert len(fields) == 2 and all("." in f and f.replace(".", "").isdigit() for f in fields), line


def test_csv_of_tuples_needs_its_columns():
    back = read(csv_text([("a", 1.5), ("b", 2.5)], columns=("name", "value")))
    assert list(back.columns) == ["name", "value"] and back["value"].tolist() == [1.5, 2.5]


def test_file_names_say_what_they_hold():
    assert file_stem("ML training curves") == "energy-lab-ml-training-curves"
    assert file_stem("energy-lab-x") == "energy-lab-x"
    assert file_stem("σ / ‖z‖") == "energy-lab-z"
    with pytest.raises(ValueError, match="jpeg"):
        plotly_config("x", "jpeg")


# ---- the table builders: the CSV holds the points each figure draws ------------------------------
def test_toy_curves_table_holds_the_figure_points():
    history = [{"step": s, "loss": 1 / (s + 1)} for s in range(1, 2001)]
    evaluations = [{"step": s, "nll": 2 + 1 / s, "kl": 0.5 / s} for s in (100, 500, 2000)]
    lines, eval_lines = {"loss": "Loss"}, {"nll": "NLL", "kl": "KL"}
    fig = toy_views.curves_figure(history, evaluations, lines, eval_lines, revision="t")
    table = read(csv_text(toy_views.curves_table(history, evaluations, lines, eval_lines)))
    shown = trace_points(fig)
    steps = set().union(*(set(p) for p in shown.values()))
    assert sorted(table["step"]) == sorted(steps) and table["step"].is_monotonic_increasing
    for key, name in {**lines, **eval_lines}.items():
        column = table.set_index("step")[key].dropna()
        assert dict(zip(map(float, column.index), column, strict=True)) == shown[name]


def test_toy_dimension_table_holds_every_point():
    result = {"hist_kl": {"pcd": {2: 0.1, 8: 0.4}, "exact": {2: 0.05, 8: 0.06}},
              "hist_kl_exact_sample": 0.01, "hist_kl_uniform": 1.2}
    table = read(csv_text(toy_views.dimension_table(result)))
    assert len(table) == 4 and set(table["method"]) == {"pcd", "exact"}
    assert table.loc[(table.method == "pcd") & (table.dimension == 8), "hist_kl"].item() == 0.4


def test_binary_nll_table_holds_each_method_curve():
    labels = ["ml", "cd1", "pcd"]
    evaluations = [{"step": s, "nll/ml": 3 - s / 1000, "nll/cd1": 4 - s / 2000, **({"nll/pcd": 3.5} if s > 100 else {})}
                   for s in (0, 100, 200, 300)]
    run = SimpleNamespace(evaluations=evaluations, step=300, options=SimpleNamespace(max_steps=400),
                          trainer=SimpleNamespace(labels=labels, data=SimpleNamespace(d=9, entropy=2.1)))
    fig = binary_views.nll_figure(run, zoom=False)
    table = read(csv_text(binary_views.nll_table(run)))
    assert table["step"].tolist() == [0, 100, 200, 300]
    for label in labels:
        column = table.set_index("step")[f"nll_{label}"].dropna()
        assert dict(zip(map(float, column.index), column, strict=True)) == trace_points(fig)[binary_views.name(label)]
    assert (table["data_entropy"] == 2.1).all()


def test_dae_sweep_table_holds_the_measures_drawn():
    d = {"sigmas": np.array([0.1, 0.3, 1.0]), "midpoint_ratio": np.array([0.2, 0.6, 0.95]),
         "false_low": np.array([0.0, 0.1, 0.4])}
    t = {k: k for k in ("m_mid", "m_false", "dae", "latent", "sweep_metrics")}
    fig = dae_views.sweep_metrics_figure(d, t)
    table = read(csv_text(dae_views.sweep_table(d)))
    assert table["sigma"].tolist() == [0.1, 0.3, 1.0]
    assert dict(zip(table["sigma"], table["midpoint_ratio"], strict=True)) == trace_points(fig)["m_mid · dae"]
    assert read(csv_text(dae_views.sweep_table({"sigmas": d["sigmas"]})))["false_low"].isna().all()


def test_embed_curves_table_joins_training_and_evaluation_steps():
    c = {"step": np.array([1, 2, 3], np.float32), "loss": np.array([3.0, 2.5, 2.0], np.float32),
         "contrastive_acc": np.array([0.1, 0.2, 0.3], np.float32), "loss_floor": None,
         "eval_step": np.array([2, 4], np.float32), "probe": np.array([0.5, 0.6], np.float32),
         "knn": np.array([0.4, 0.45], np.float32)}
    table = read(csv_text(embed_views.curves_table(c)))
    assert table["step"].tolist() == [1, 2, 3, 4]
    assert table["loss"].isna().tolist() == [False, False, False, True]
    assert table["linear_probe_acc"].dropna().tolist() == pytest.approx([0.5, 0.6])


# ---- in a script: the chart config and the CSV of what the view shows --------------------------------
def _downloads() -> None:
    """Keep every file the script registered (url → bytes) where the test can read it."""
    import streamlit as st
    from streamlit.runtime import Runtime

    storage = Runtime.instance().media_file_mgr._storage
    st.session_state["_downloads"] = {storage.get_url(i): f.content for i, f in storage._files_by_id.items()}


def _csv_of(at: AppTest, key: str) -> pd.DataFrame:
    button = next(b for b in at.get("download_button") if b.proto.id.endswith(key))
    assert button.proto.url.endswith(".csv") and button.proto.ignore_rerun
    return read(at.session_state["_downloads"][button.proto.url].decode("utf-8"))


def _configs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.config) for c in at.get("plotly_chart")]


def chart_script() -> None:
    import plotly.graph_objects as go

    from app.exports import chart

    chart(go.Figure(go.Scatter(x=[1, 2], y=[3, 4])), "k", "ML training curves")


def test_chart_passes_the_download_config():
    at = AppTest.from_function(chart_script, default_timeout=60).run()
    assert not at.exception
    (config,) = _configs(at)
    assert config["toImageButtonOptions"] == {"format": "png", "filename": "energy-lab-ml-training-curves",
                                              "scale": 2}
    assert config.get("displayModeBar", True) is not False
    at.session_state[FORMAT_KEY] = "svg"
    at.run()
    assert _configs(at)[0]["toImageButtonOptions"]["format"] == "svg"


def image_ebm_script() -> None:
    from app import image_ebm_views
    from tests.app.test_exports import _downloads

    ev = {"min_class_share": 0.05, "classes_over_5pct": 7.0, "top_prob": 0.61, "realistic": 0.25,
          "min_class_share_noise": 0.0, "classes_over_5pct_noise": 1.0, "top_prob_noise": 0.9, "realistic_noise": 0.0,
          "min_class_share_blobs": 0.01, "top_prob_blobs": 0.7, "realistic_blobs": 0.125,
          "min_class_share_held_out": 0.09, "classes_over_5pct_held_out": 10.0, "top_prob_held_out": 0.95,
          "realistic_held_out": 0.875}
    image_ebm_views.judges_table(ev)
    rows = [{"size": s, "min_class_share": 0.1 / s, "top_prob": 0.5, "realistic": 1 / s, "realistic_blobs": 0.0625,
             "other": 1} for s in (8, 16, 28)]
    image_ebm_views.dimension_figure(rows, key="dim")
    _downloads()


def test_image_ebm_views_offer_the_rows_they_show():
    at = AppTest.from_function(image_ebm_script, default_timeout=60).run()
    assert not at.exception, at.exception
    shown = at.dataframe[0].value
    judged = _csv_of(at, "iebm_judges_csv")
    assert len(judged) == len(shown) == 4
    assert judged["judged"].tolist() == ["particles", "noise", "blobs", "held_out"]
    # the same numbers, cell by cell (the CSV names its columns with plain keys)
    np.testing.assert_array_equal(judged.iloc[:, 1:].to_numpy(float), shown.iloc[:, 1:].to_numpy(float))
    sizes = _csv_of(at, "dim_csv")
    assert sizes["size"].tolist() == [8, 16, 28] and sizes["realistic"].tolist() == [1 / 8, 1 / 16, 1 / 28]
    assert all(c["toImageButtonOptions"]["filename"].startswith("energy-lab-image-ebm") for c in _configs(at))


def embed_script() -> None:
    import numpy as np

    from app import embed_views
    from tests.app.test_exports import _downloads

    neg = [{"label": f"d{d} K{k}", "d": d, "K": k, "steps": 10, "seconds": 0.5, "linear_probe_acc": 0.1 * d / k,
            "effective_rank": 1.5, "uniformity": -1.25} for d in (16, 4) for k in (64, 8)]
    embed_views.negatives_view({"rows": neg, "done": 4, "cells": 4}, None)
    temp = [{"label": f"t{t}", "temperature": t, "steps": 10, "seconds": 0.5, "contrastive_acc_test": 0.5 + t,
             "linear_probe_acc": 0.6 - t} for t in (0.5, 0.05, 0.2)]
    embed_views.temperature_view({"rows": temp, "done": 3, "cells": 3}, None)
    curves = {"simclr": {"step": np.array([1, 5], np.float32), "embedding_norm": np.array([1.0, 2.0], np.float32),
                         "loss": np.array([4.0, 3.5], np.float32)},
              "simclr_l2": {}}
    embed_views.why_view({"rows": [], "curves": curves, "done": 1, "cells": 2}, None)
    _downloads()


def test_embed_sweeps_offer_their_rows():
    at = AppTest.from_function(embed_script, default_timeout=60).run()
    assert not at.exception, at.exception
    neg = _csv_of(at, "embed_neg_csv")
    assert len(neg) == 4 and list(zip(neg["d"], neg["K"], strict=True)) == [(4, 8), (4, 64), (16, 8), (16, 64)]
    assert neg.loc[(neg.d == 16) & (neg.K == 8), "linear_probe_acc"].item() == pytest.approx(0.2)
    temp = _csv_of(at, "embed_temp_csv")
    assert temp["temperature"].tolist() == [0.05, 0.2, 0.5]
    why = _csv_of(at, "embed_why_csv")
    assert why[["variant", "step", "loss"]].values.tolist() == [["simclr", 1, 4.0], ["simclr", 5, 3.5]]
    configs = _configs(at)
    assert len(configs) == 3 + 1 + 2 and all(c["toImageButtonOptions"]["scale"] == 2 for c in configs)


# ---- the live canvas's toolbar --------------------------------------------------------------------
def test_canvas_toolbar_words_come_from_python():
    """Every word the canvas's toolbar shows is a key of live_canvas.TEXT (so it can be translated), and
    every TEXT key is used; downloads are named after the canvas."""
    import re
    from pathlib import Path

    from app import live_canvas

    js = (Path(live_canvas.__file__).parent / "live_canvas.js").read_text()
    asked = set(re.findall(r'label\(s, "(\w+)"\)', js))  # direct look-ups
    assert asked and asked <= set(live_canvas.TEXT), asked - set(live_canvas.TEXT)
    unused = [k for k in live_canvas.TEXT if f'"{k}"' not in js]
    assert not unused, unused
    assert live_canvas.file_prefix("ml_canvas") == "energy-lab-ml"
    assert live_canvas.file_prefix("cds_canvas") == "energy-lab-cds"


# ---- on the pages: after a short run, the CSV under a figure or table holds what it shows --------------
@pytest.fixture
def downloads(monkeypatch) -> dict[str, tuple[str | None, bytes]]:
    """url → (file name, bytes) of every file a page registers for download (AppTest's media storage is gone
    once a run ends, so the files are kept as they are stored)."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    kept: dict[str, tuple[str | None, bytes]] = {}
    store = MemoryMediaFileStorage.load_and_get_id

    def keep(self, path_or_data, mimetype, kind, filename=None):
        file_id = store(self, path_or_data, mimetype, kind, filename)
        file = self.get_file(file_id)
        kept[self.get_url(file_id)] = file.filename, file.content
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    return kept


def _page_csv(at: AppTest, downloads: dict[str, tuple[str | None, bytes]], key: str) -> tuple[pd.DataFrame, str]:
    """The CSV behind the download button `key` on the page, and the file name it downloads as."""
    (button,) = [b for b in at.get("download_button") if b.proto.id.endswith(key)]
    assert button.proto.ignore_rerun, "a click must not rerun the page"
    assert button.proto.url.endswith(".csv")
    file_name, content = downloads[button.proto.url]
    return read(content.decode("utf-8")), file_name


def _decoded(spec):
    """A chart's JSON spec with Plotly's typed arrays ({"dtype", "bdata"[, "shape"]}) as plain lists."""
    if isinstance(spec, dict) and "bdata" in spec and "dtype" in spec:
        values = np.frombuffer(base64.b64decode(spec["bdata"]), dtype=spec["dtype"])
        return values.reshape([int(n) for n in str(spec["shape"]).split(",")] if "shape" in spec else -1).tolist()
    if isinstance(spec, dict):
        return {k: _decoded(v) for k, v in spec.items()}
    if isinstance(spec, list):
        return [_decoded(v) for v in spec]
    return spec


def _chart(at: AppTest, key: str) -> tuple[go.Figure, dict]:
    """The figure drawn under `key` (its points as sent to the browser) and its Plotly config."""
    (element,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith(key)]
    return go.Figure(_decoded(json.loads(element.proto.spec))), json.loads(element.proto.config)




def test_ml_page_offers_its_curves_as_csv(downloads):
    from tests.app.conftest import no_exception, open_page, set_numbers

    at = set_numbers(open_page("maximum_likelihood"), "ml", width=16, train_grid=32, steps=30)
    at.button(key="ml_train").click().run()
    until_success(at)
    no_exception(at)
    assert at.success, "the run did not finish"
    fig, config = _chart(at, "ml_curves")  # the side panel opens on the curves
    assert config["toImageButtonOptions"]["filename"] == "energy-lab-ml-training-curves"
    table, file_name = _page_csv(at, downloads, "ml_curves_csv")
    assert file_name == "energy-lab-ml-training-curves.csv"
    shown = trace_points(fig)
    assert len(shown["training loss"]) == 30  # every step of the run, one row each
    steps = set().union(*(set(points) for points in shown.values()))
    assert sorted(table["step"]) == sorted(steps)
    names = {"loss": "training loss", "nll": "test NLL (exact)", "kl": "KL(p_data‖p_θ)"}
    assert set(table.columns) == {"step", *(k for k, name in names.items() if name in shown)}
    for key in set(table.columns) - {"step"}:
        column = table.set_index("step")[key].dropna()
        assert dict(zip(map(float, column.index), column, strict=True)) == pytest.approx(shown[names[key]])


def test_scoreboard_offers_its_table_as_csv(downloads):
    from tests.app.conftest import no_exception, open_page, set_numbers

    at = open_page("scoreboard")
    at.multiselect(key="sb.methods").set_value(["nce", "dsm"])
    at = set_numbers(at, "sb", steps=20)
    at.button(key="sb_run").click().run()
    until_success(at)
    no_exception(at)
    assert at.success, "the board did not finish"
    shown = at.dataframe[0].value
    table, file_name = _page_csv(at, downloads, "sb_csv")
    assert at.get("download_button")[0].label == "Download CSV"
    assert file_name == file_stem(f"scoreboard {at.selectbox(key='sb.dataset').value}") + ".csv"
    assert list(table.columns) == list(shown.columns) and len(table) == len(shown) == 2
    assert table["method"].tolist() == ["nce", "dsm"]
    numbers = [c for c in shown.columns if pd.api.types.is_numeric_dtype(shown[c])]
    assert "test NLL" in numbers
    np.testing.assert_allclose(table[numbers].to_numpy(float), shown[numbers].to_numpy(float), equal_nan=True)
    _, config = _chart(at, "sb_surfaces")
    assert config["toImageButtonOptions"]["filename"].startswith("energy-lab-scoreboard-")


def test_binary_nll_csv_waits_for_the_run_to_stop(downloads):
    """The live view redraws twice a second: while the run trains it offers no CSV (a caption says when);
    paused, the CSV holds each method's NLL curve as the figure draws it."""
    from tests.app.conftest import no_exception, open_page, wait_for

    at = open_page("binary")
    at.multiselect(key="bin_methods").set_value(["ml", "cd", "mpf"])
    at.number_input(key="bin.steps").set_value(100_000)
    at.run()
    at.button(key="bin_train").click().run()
    no_exception(at)
    waiting = [c.value for c in at.caption if "pause the run" in c.value]
    assert waiting and not [b for b in at.get("download_button") if b.proto.id.endswith("bin_nll_csv")]
    time.sleep(1.5)  # a few evaluations
    at.button(key="bin_pause").click().run()
    wait_for(at, lambda a: any(b.proto.id.endswith("bin_nll_csv") for b in a.get("download_button")))
    no_exception(at)
    table, file_name = _page_csv(at, downloads, "bin_nll_csv")
    assert file_name == "energy-lab-binary-nll-curves.csv"
    assert not [c for c in at.caption if "pause the run" in c.value]
    fig, _ = _chart(at, "bin_nll")
    shown = trace_points(fig)
    methods = [c.removeprefix("nll_") for c in table.columns if c.startswith("nll_")]
    assert len(methods) == 3 and len(table) >= 1 and table["step"].is_monotonic_increasing
    for label in methods:
        column = table.set_index("step")[f"nll_{label}"].dropna()
        assert dict(zip(map(float, column.index), column, strict=True)) == shown[binary_views.name(label)]


def test_runs_page_offers_the_folders_and_a_finished_runs_metrics(downloads, tmp_path, monkeypatch):
    from tests.app.conftest import no_exception, open_page
    from tests.app.test_runs import add_steps, write_run

    monkeypatch.setenv("ENERGY_LAB_RUNS", str(tmp_path))
    write_run(tmp_path / "done", 30)
    live = write_run(tmp_path / "live", 20, finish=False)
    at = open_page("runs")
    no_exception(at)
    folders, file_name = _page_csv(at, downloads, "runs_table_csv")
    assert file_name == "energy-lab-run-folders.csv"
    shown = at.dataframe[0].value
    assert list(folders.columns) == list(shown.columns) and sorted(folders["run"]) == sorted(shown["run"])

    at.multiselect(key="run").set_value(["done"]).run()
    no_exception(at)
    history, file_name = _page_csv(at, downloads, "runs_history_csv")
    assert file_name == "energy-lab-run-done-metrics.csv"
    steps = history[history["kind"] == "step"]
    assert steps["step"].tolist() == list(range(1, 31)) and steps["loss"].tolist() == pytest.approx(
        [1 / s for s in range(1, 31)])
    assert history.loc[history["kind"] == "eval", "step"].tolist() == [10, 20, 30]
    assert history["step"].is_monotonic_increasing
    _, config = _chart(at, "runs_curve_loss")
    assert config["toImageButtonOptions"]["filename"] == "energy-lab-run-done-loss"

    # a running folder: its rows are written once it stops, not at every redraw
    at.multiselect(key="run").set_value(["live"]).run()
    no_exception(at)
    assert not [b for b in at.get("download_button") if b.proto.id.endswith("runs_history_csv")]
    assert any("once the run stops" in c.value for c in at.caption)
    add_steps(live, 21, 25)
    live.finish("finished")
    at.run()
    at.run()  # the fragment sees the end and reruns the page
    history, _ = _page_csv(at, downloads, "runs_history_csv")
    assert history.loc[history["kind"] == "step", "step"].max() == 25

    at.multiselect(key="run").set_value(["done", "live"]).run()
    no_exception(at)
    compared, _ = _page_csv(at, downloads, "runs_compare_csv")
    assert compared.columns[0] == "folder" and set(compared["folder"]) == {"done", "live"}
    assert len(compared[compared["folder"] == "done"]) == 33
