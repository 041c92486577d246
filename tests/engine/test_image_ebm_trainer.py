"""The image-energy trainer (on the `--device` of the run): steps, pictures, scores, same seed → same
numbers, and divergence caught, rolled back and reported."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.image_ebm.config import ImageEBMConfig
from engine.image_ebm.trainer import FOLLOWED, GRID, ImageEBMTrainer, Strips
from engine.run import Diverged
from engine.run.guard import is_finite_state
from tests.engine.test_image_ebm_data import _one_thread  # noqa: F401  (autouse fixture)

SMALL = dict(batch_size=16, buffer=64, k=3)


@pytest.fixture
def small(device):
    """small(**settings): a small trainer on the `--device` of the run."""
    return lambda **kw: ImageEBMTrainer(ImageEBMConfig.create(device=device, **{**SMALL, **kw}))


def test_steps_and_snapshot(small):
    t = small()
    s = t.step()
    assert t.step_count == 1 and all(np.isfinite(v) for v in s.values())
    assert {"loss", "e_pos", "e_neg", "reinit_frac"} <= set(s)
    snap = t.snapshot()
    assert snap["grid"].shape == (GRID, 8, 8) and snap["grid"].min() >= 0 and snap["grid"].max() <= 1
    assert snap["strips"].shape[0] == FOLLOWED and (snap["strip_lengths"] >= 1).all()
    for k in ("energy_data", "energy_particles", "energy_noise"):
        assert snap[k].ndim == 1 and np.isfinite(snap[k]).all()


def test_same_seed_same_numbers_other_seed_other_numbers(small, same):
    a, b, c = small(seed=3), small(seed=3), small(seed=4)
    la = [a.step()["loss"] for _ in range(3)]
    lb = [b.step()["loss"] for _ in range(3)]
    lc = [c.step()["loss"] for _ in range(3)]
    assert la == same(lb) and la != lc
    assert a.particles().cpu().numpy() == same(b.particles().cpu().numpy())


def test_checkpoint_restore_replays_the_same_steps(small, same):
    t = small()
    t.step()
    state = t.checkpoint()
    first = [t.step()["loss"] for _ in range(2)]
    t.restore(state)
    assert t.step_count == 1
    assert [t.step()["loss"] for _ in range(2)] == same(first)


def test_strips_grow_and_restart(small):
    t = small(reinit=0.0)
    for _ in range(4):
        t.step()
    lengths = t.strips.as_arrays()["strip_lengths"]
    assert (lengths == 5).all()  # ages 0, 1, 2, 3, 4 are all kept
    t2 = small(reinit=1.0)
    t2.step()
    t2.step()
    arr = t2.strips.as_arrays()
    assert (arr["strip_lengths"] == 2).all() and (arr["strip_restarts"] == 2).all()  # start + one frame


def test_strips_keep_a_bounded_number_of_frames():
    s = Strips(torch.zeros(2, 1, 4, 4))

    class Out:
        followed, starts = torch.zeros(2, 1, 4, 4), None
        restarted = torch.zeros(2, dtype=torch.bool)

    for _ in range(600):
        s.update(Out)
    assert max(len(f) for f in s.frames) <= 20


def test_evaluate_scores_particles_beside_noise_and_blobs(small):
    t = small()
    t.step()
    ev = t.evaluate()
    for k in ("min_class_share", "top_prob", "realistic", "realistic_noise", "realistic_blobs", "auroc_noise",
              "auroc_other", "class_0", "class_9"):
        assert k in ev and np.isfinite(ev[k]), k
    assert 0 <= ev["auroc_noise"] <= 1 and abs(sum(ev[f"class_{i}"] for i in range(10)) - 1) < 1e-3


def test_a_learning_rate_that_blows_up_is_caught_rolled_back_and_reported(small):
    # plain SGD at lr 10: the energies overflow within a few updates
    t = small(optimizer="sgd", lr=10.0)
    with pytest.raises(Diverged) as err:
        t.headless(max_steps=200)
    message = str(err.value)
    assert "non-finite" in message and "rolled back" in message
    assert message.endswith(ImageEBMTrainer.failure_advice)
    assert "learning rate (lr)" in message
    assert is_finite_state(t.checkpoint())  # the weights, the buffer and the optimiser are finite again
    assert all(torch.isfinite(p).all() for p in t.model.parameters())
    assert torch.isfinite(t.particles()).all()


def test_cd_trainer_runs(small):
    t = small(method="cd")
    t.step()
    assert t.particles().shape[1:] == (1, 8, 8)


def test_resnet_on_28x28_runs(small):
    t = small(model="resnet", image_size=28, k=1, batch_size=4, buffer=8)
    assert np.isfinite(t.step()["loss"])
