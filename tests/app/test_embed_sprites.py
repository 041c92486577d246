"""The embedding map's images: the engine's sprites (thumbnails and positive views of the map's images,
checked against the data set's own images), the component's payload, and through AppTest the page that
sends the sprite atlas for the points shown (once: not again while the browser reports holding it) and
turns a click on a point (the component's trigger value) into the anchor."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.components.v2.bidi_component.main import _make_trigger_id
from streamlit.proto.WidgetStates_pb2 import WidgetState

import engine.embed.project as project
from app import embed_map
from app.embed_map import map_payload
from engine.embed.data import load_dataset
from engine.embed.sprites import MAX_SIDE, map_sprites, shrink_factor, sprite_count, thumbnails
from engine.errors import DataError
from engine.run import live_runs
from tests.app.conftest import no_exception, open_page, wait_for


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def shapes():
    return load_dataset("shapes", train_size=40, test_size=30)


def unb64(s: str, dtype) -> np.ndarray:
    return np.frombuffer(base64.b64decode(s), dtype=dtype)


# ---- engine ------------------------------------------------------------------------------------
def test_shrink_factor_brings_every_side_to_at_most_the_maximum():
    for size in (1, 8, 16, 17, 28, 32, 64, 100):
        f = shrink_factor(size)
        assert size // f <= MAX_SIDE and (f == 1 or size // (f - 1) > MAX_SIDE)
    with pytest.raises(DataError):
        shrink_factor(0)


def test_digit_sprites_are_the_map_images_themselves_test_split_first(digits):
    n_test = len(digits.x_test)
    sprites = map_sprites(digits, n_test + 5, "digits", 1.0, seed=0)
    assert sprites.count == n_test + 5 and sprites.side == 8 and sprites.channels == 1
    assert sprites.images.dtype == np.uint8 and sprites.views.shape == sprites.images.shape
    expected = torch.cat([digits.x_test, digits.x_train[:5]]).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(sprites.images, expected)


def test_shape_thumbnails_are_block_means_of_the_images(shapes):
    x = shapes.x_test[:12]
    f = shrink_factor(shapes.size)
    assert f > 1  # 32-pixel shapes are shrunk
    thumbs = thumbnails(x, f)
    n, c, h, w = x.shape
    blocks = x.numpy().astype(np.float64).reshape(n, c, h // f, f, w // f, f).mean(axis=(3, 5))
    assert thumbs.shape == (n, h // f, w // f, c)
    assert np.abs(thumbs.astype(np.int16) - np.round(blocks.transpose(0, 2, 3, 1))).max() <= 1


def test_positive_views_are_seeded_by_the_run_and_look_like_their_own_image(digits):
    a = map_sprites(digits, 200, "digits", 1.0, seed=3)
    b = map_sprites(digits, 200, "digits", 1.0, seed=3)
    c = map_sprites(digits, 200, "digits", 1.0, seed=4)
    np.testing.assert_array_equal(a.views, b.views)  # the same run shows the same views at every step
    assert not np.array_equal(a.views, c.views) and not np.array_equal(a.views, a.images)
    img = a.images.reshape(200, -1).astype(np.float64)
    view = a.views.reshape(200, -1).astype(np.float64)
    own = np.abs(view - img).mean(axis=1)
    other = np.abs(view - np.roll(img, 1, axis=0)).mean(axis=1)  # another image's pixels
    assert own.mean() < other.mean()


def test_strength_zero_views_are_the_images(digits):
    s = map_sprites(digits, 50, "digits", 0.0, seed=0)
    assert np.abs(s.views.astype(np.int16) - s.images).max() <= 1


def test_the_byte_budget_caps_the_points_with_images(shapes):
    n = len(shapes.x_test) + len(shapes.x_train)
    side = shapes.size // shrink_factor(shapes.size)
    budget = 10 * 2 * side * side * shapes.channels
    assert sprite_count(n, shapes.size, shapes.channels, budget) == 10
    s = map_sprites(shapes, n, "shapes", 1.0, seed=0, max_bytes=budget)
    assert s.count == 10 and s.images.nbytes + s.views.nbytes <= budget
    with pytest.raises(DataError):
        map_sprites(shapes, -1, "shapes", 1.0, seed=0)


# ---- the component's payload -------------------------------------------------------------------
def test_map_payload_round_trips_points_labels_and_sprites(digits):
    n, p = 30, 4
    rng = np.random.default_rng(0)
    snap = {"map_step": 7, "map_z": rng.normal(size=(n, 5)).astype(np.float32),
            "map_labels": digits.y_test[:n].numpy(), "map_pair_a": np.zeros((p, 5), np.float32),
            "map_pair_b": np.ones((p, 5), np.float32)}
    xy = rng.normal(size=(n + 2 * p, 2)).astype(np.float32)
    sprites = map_sprites(digits, n, "digits", 1.0, seed=0)
    d = json.loads(json.dumps(map_payload(snap, xy, digits.classes, 3, np.array([5, 6]), "k", sprites)))
    assert (d["step"], d["n"], d["pairs"], d["anchor"], d["negs"]) == (7, n, p, 3, [5, 6])
    np.testing.assert_array_equal(unb64(d["xy"], np.float32).reshape(-1, 2), xy)
    np.testing.assert_array_equal(unb64(d["labels"], np.uint8), digits.y_test[:n].numpy())
    sp = d["sprites"]
    shape = (sp["count"], sp["side"], sp["side"], sp["channels"])
    np.testing.assert_array_equal(unb64(sp["images"], np.uint8).reshape(shape), sprites.images)
    np.testing.assert_array_equal(unb64(sp["views"], np.uint8).reshape(shape), sprites.views)
    assert map_payload(snap, xy, digits.classes, 3, np.array([5]), "k", None)["sprites"] is None
    with pytest.raises(ValueError):
        map_payload(snap, xy[:-1], digits.classes, 3, np.array([5]), "k", None)


# ---- the page ----------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def no_numba_here(monkeypatch):
    """No UMAP warm-up in AppTest (see tests/app/test_contrastive_embedding.py)."""
    monkeypatch.setattr(project, "start_warm_up", lambda: project.WarmUp(started=1.0))


def map_element(at):
    found = [b for b in at.get("bidi_component") if b.proto.component_name.endswith("energy_lab_embed_map")]
    return found[0] if found else None


def map_data(at) -> dict:
    return json.loads(map_element(at).proto.json)


def run_with(at, *states: WidgetState):
    """Rerun as the browser would after the component set a state or trigger value."""
    ws = at._tree.get_widget_states()
    for s in states:
        ws.widgets.append(s)
    at._run(ws)
    return at


def trigger(at, event: str, value) -> WidgetState:
    ws = WidgetState(id=_make_trigger_id(map_element(at).proto.id, "events"))
    ws.json_trigger_value = json.dumps([{"event": event, "value": value}])
    return ws


def state(at, **values) -> WidgetState:
    ws = WidgetState(id=map_element(at).proto.id)
    ws.json_value = json.dumps(values)
    return ws


def test_the_page_sends_the_shown_points_images_once_and_a_click_sets_the_anchor():
    at = open_page("contrastive_embedding")
    at.number_input(key="embed.batch_size").set_value(64)
    at.button(key="embed_step").click().run()
    wait_for(at, lambda a: map_element(a) is not None, timeout=40)
    no_exception(at)
    assert at.toggle(key="embed_map_images").value
    d = map_data(at)
    (run,) = [r for r in live_runs() if r.name == "embed"]
    data = run.trainer.data
    n_test = len(data.x_test)
    assert d["n"] == len(run.latest().data["map_z"]) and d["anchor"] == 0 and len(d["negs"]) == 8
    sp = d["sprites"]
    assert sp["count"] == d["n"] and (sp["side"], sp["channels"]) == (data.size, data.channels)
    images = unb64(sp["images"], np.uint8).reshape(sp["count"], sp["side"], sp["side"], sp["channels"])
    expected = torch.cat([data.x_test, data.x_train])[: d["n"]].permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(images, expected)  # the map's own images, in the map's order
    assert images[n_test - 1].tobytes() == data.x_test[-1].permute(1, 2, 0).numpy().tobytes()
    assert "a positive view" in d["config"]["labels"].values()

    # the browser reports holding this atlas: the next maps come without it; losing it asks again
    run_with(at, state(at, sprites=d["sprite_key"]))
    no_exception(at)
    assert map_data(at)["sprites"] is None and map_data(at)["sprite_key"] == d["sprite_key"]
    run_with(at, state(at, sprites=None))
    assert map_data(at)["sprites"] is not None

    # a click on point 123 makes it the anchor: the number input, the map and the neighbour row follow
    run_with(at, trigger(at, "click", 123))
    no_exception(at)
    assert at.number_input(key="embed_anchor").value == 123
    assert map_data(at)["anchor"] == 123
    captions = [c for im in at.get("image") for c in im.captions]
    label = data.classes[int(run.latest().data["map_labels"][123])]
    assert f"anchor · {label}" in captions
    at.run()  # the trigger is spent: the anchor stays, nothing else changes it
    assert at.number_input(key="embed_anchor").value == 123

    # off: the Plotly map, through the exports' chart (a PNG download named after the map)
    at.toggle(key="embed_map_images").set_value(False).run()
    no_exception(at)
    assert map_element(at) is None
    specs = [(json.loads(c.proto.spec), json.loads(c.proto.config)) for c in at.get("plotly_chart")]
    map_spec, config = next((s, c) for s, c in specs if any(t.get("name") == "anchor #123" for t in s["data"]))
    assert config["toImageButtonOptions"]["filename"] == "energy-lab-embedding-map"


def test_every_word_the_map_shows_is_in_its_text_dict():
    """The component's words come from app/embed_map.TEXT (so they can be translated), and all are used."""
    js = (Path(embed_map.__file__).parent / "embed_map.js").read_text()
    asked = set(re.findall(r'label\(s, "(\w+)"\)', js))  # label(s, "hint")
    asked |= {k for pair in re.findall(r'label\(s, sp \? "(\w+)" : "(\w+)"\)', js) for k in pair}
    assert asked and asked <= set(embed_map.TEXT), asked - set(embed_map.TEXT)
    assert set(embed_map.TEXT) <= asked, set(embed_map.TEXT) - asked
