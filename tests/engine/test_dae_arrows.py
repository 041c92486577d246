"""Arrow geometry for the field plot: tips, capped lengths, angles and length bins."""

from __future__ import annotations

import numpy as np
import pytest

from engine.dae.arrows import arrow_geometry


def test_tips_angles_and_bins():
    xy = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    uv = np.array([[0.0, 0.1], [0.5, 0.0], [0.0, -3.0]])  # up, right (0.5), down (3.0, capped)
    a = arrow_geometry(xy, uv, max_len=1.0, edges=np.array([0.0, 0.25, 1.0]))
    assert np.allclose(a.tip_x, [0.0, 1.5, 2.0]) and np.allclose(a.tip_y, [0.1, 1.0, -1.0])
    assert np.allclose(a.angle, [0.0, 90.0, 180.0])  # clockwise from up
    assert np.allclose(a.length, [0.1, 0.5, 3.0])  # the true length, not the drawn one
    assert [len(b.x) for b in a.bins] == [3, 6]  # one arrow below 0.25; two above (the longest joins the last)
    assert np.isnan(a.bins[1].x[2]) and a.bins[1].x[0] == 1.0


def test_default_bins_cover_every_arrow():
    rng = np.random.default_rng(0)
    a = arrow_geometry(rng.normal(size=(50, 2)), rng.normal(size=(50, 2)), n_bins=4)
    assert len(a.bins) == 4 and sum(len(b.x) for b in a.bins) == 150


def test_bad_input():
    with pytest.raises(ValueError):
        arrow_geometry(np.zeros((3, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError):
        arrow_geometry(np.zeros((3, 2)), np.ones((3, 2)), max_len=0)
