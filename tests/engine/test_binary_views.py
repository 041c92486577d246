"""What the Binary data page draws, computed in engine.binary.views."""

from __future__ import annotations

import numpy as np
import pytest

from engine.binary.data import load_data
from engine.binary.defaults import defaults_for
from engine.binary.views import chain_start, curves, live_options, mosaic, page_configs, pattern_masses


def test_page_configs_put_the_reference_first_and_keep_tuned_settings():
    cfgs = page_configs("bars_stripes", "fvbm", ["cd", "nce"], k=3, lr_scale=2.0, steps=50)
    assert [c.label for c in cfgs] == ["ml", "cd-3", "nce"]
    assert cfgs[1].lr == pytest.approx(2 * defaults_for("bars_stripes", "cd")["lr"])
    assert cfgs[1].optimizer == "sgd" and cfgs[2].encoding == "01" and cfgs[0].encoding == "pm1"
    assert all(c.steps == 50 for c in cfgs)
    forced = page_configs("bars_stripes", "fvbm", ["ml", "rm"], encoding="01", reference=False, batch_size=30)
    assert [c.label for c in forced] == ["ml", "rm"] and {c.encoding for c in forced} == {"01"}
    assert {c.batch_size for c in forced} == {30}


@pytest.mark.parametrize("kw,why", [({"methods": [], "reference": False}, "at least one"),
                                    ({"encoding": "ternary"}, "encoding"), ({"lr_scale": 0}, "scale")])
def test_page_configs_reject_what_cannot_run(kw, why):
    args = {"methods": ["cd"], **kw}
    with pytest.raises(ValueError, match=why):
        page_configs("bars_stripes", "fvbm", **args)


def test_curves_pick_each_methods_metric():
    rows = [{"step": 1, "nll/ml": 5.0, "nll/cd-1": 6.0}, {"step": 2, "nll/ml": 4.0}]
    out = curves(rows, ["ml", "cd-1", "rm"])
    assert out["ml"][0].tolist() == [1, 2] and out["ml"][1].tolist() == [5.0, 4.0]
    assert out["cd-1"][1].tolist() == [6.0] and len(out["rm"][0]) == 0


def test_mosaic_tiles_images_with_nan_gaps():
    imgs = np.arange(5 * 2 * 3).reshape(5, 2, 3)
    tile = mosaic(imgs, cols=2)
    assert tile.shape == (3 * 3 - 1, 2 * 4 - 1)
    assert np.array_equal(tile[0:2, 0:3], imgs[0]) and np.array_equal(tile[3:5, 4:7], imgs[3])
    assert np.isnan(tile[2]).all() and np.isnan(tile[:, 3]).all()
    assert np.isnan(tile[6:8, 4:7]).all()  # the sixth place is empty


def test_pattern_masses_end_with_the_rest():
    out = pattern_masses({"pattern_p/ml": np.full(30, 0.03)}, ["ml", "rm"])
    assert list(out) == ["ml"] and out["ml"].shape == (31,)
    assert out["ml"][-1] == pytest.approx(0.1)


def test_chain_start_from_data_or_from_noise():
    pats = {tuple(p) for p in load_data("bars_stripes").train.tolist()}
    starts = [chain_start("bars_stripes", s) for s in range(20)]
    assert all(tuple(s) in pats for s in starts)
    noise = [chain_start("bars_stripes", s, source="random") for s in range(20)]
    assert any(tuple(s) not in pats for s in noise) and noise[0].shape == (16,)
    with pytest.raises(ValueError):
        chain_start("bars_stripes", 0, source="model")


def test_live_options_slow_down_for_20_bits():
    small = live_options(page_configs("bars_stripes", "fvbm", ["cd"], steps=77))
    big = live_options(page_configs("digits_5x4", "fvbm", ["cd"]))
    assert small.max_steps == 77 and small.evaluate_every_s < big.evaluate_every_s
