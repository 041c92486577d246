"""The InfoNCE cap experiment (engine/embed/infonce_cap.py): the exact MI, the loss against a hand-written
reference, Î ≤ log(K+1) always, the claim on a small seeded grid, and the trainer under a Run."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.embed.infonce_cap import (
    FAR_ABOVE,
    PINNED,
    RECOVERED,
    InfoNCECapSettings,
    InfoNCECapTrainer,
    cap,
    energy_scores,
    infonce_loss,
    make_run,
    negatives_bound,
    optimal_scores,
    run_cap_experiment,
    sample_pairs,
    summary,
    true_mi,
)
from engine.errors import SettingError
from engine.run import FINISHED, train_headless

# a small grid that still shows the claim: I(d=12) = 6.13 nats ≥ 2 · log 8, cap log 128 = 4.85 (≈ 1.5 s of CPU)
SMALL = dict(dims=(1, 12), negatives=(7, 127), steps=150, batch_pairs=256, test_pairs=2048, seed=0)


def small(device: str, **changes) -> InfoNCECapSettings:
    return InfoNCECapSettings.create(**{**SMALL, "device": device, **changes})


def without_seconds(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


# ---- the exact quantities -------------------------------------------------------------------------
def test_true_mi_is_the_gaussian_formula_and_adds_over_coordinates():
    assert true_mi(1, 0.8) == pytest.approx(-0.5 * math.log(0.36), rel=1e-12)
    assert true_mi(16, 0.8) == pytest.approx(16 * true_mi(1, 0.8), rel=1e-12)
    assert true_mi(3, 0.5) == pytest.approx(-1.5 * math.log(0.75), rel=1e-12)
    assert cap(negatives_bound(true_mi(4, 0.8)) - 0) == pytest.approx(true_mi(4, 0.8), rel=1e-12)  # K* = e^I − 1


def test_true_mi_is_the_mean_log_density_ratio_of_the_sampled_pairs():
    d, rho, n = 3, 0.7, 200_000
    x, y = sample_pairs(n, d, rho, torch.Generator().manual_seed(3))
    x, y = x.double(), y.double()
    cond = torch.distributions.Normal(rho * x, math.sqrt(1 - rho**2))
    ratio = (cond.log_prob(y) - torch.distributions.Normal(0.0, 1.0).log_prob(y)).sum(-1)
    se = float(ratio.std()) / math.sqrt(n)
    assert abs(float(ratio.mean()) - true_mi(d, rho)) < 4 * se


def test_energy_scores_and_infonce_loss_match_a_hand_written_reference():
    gen = torch.Generator().manual_seed(0)
    fx, gy = torch.randn(2, 4, 3, generator=gen, dtype=torch.float64), torch.randn(2, 4, 3, generator=gen,
                                                                                    dtype=torch.float64)
    scores = energy_scores(fx, gy)
    terms = []
    for g in range(2):
        s = [[-sum((float(fx[g, i, c]) - float(gy[g, j, c])) ** 2 for c in range(3)) for j in range(4)]
             for i in range(4)]
        for i in range(4):
            assert [float(v) for v in scores[g, i]] == pytest.approx(s[i], abs=1e-12)
            h = math.exp(s[i][i]) / sum(math.exp(v) for v in s[i])  # the lecture's h: one positive, K = 3
            terms.append(-math.log(h))
    assert float(infonce_loss(scores)) == pytest.approx(sum(terms) / len(terms), abs=1e-12)


def test_the_optimal_critic_is_the_log_density_ratio_up_to_terms_in_x():
    rho = 0.6
    x, y = sample_pairs(5, 2, rho, torch.Generator().manual_seed(1))
    x, y = x.double()[None], y.double()[None]
    exact = (-((y[:, None, :, :] - rho * x[:, :, None, :]) ** 2).sum(-1) / (2 * (1 - rho**2))
             + (y[:, None, :, :] ** 2).sum(-1) / 2)  # log p(y_j|x_i) − log p(y_j), without the constants
    diff = exact - optimal_scores(x, y, rho)
    assert torch.allclose(diff, diff[..., :1].expand_as(diff), atol=1e-10)  # constant along each row i


@settings(max_examples=200, deadline=None)
@given(k=st.integers(1, 40), groups=st.integers(1, 3), scale=st.floats(1e-3, 1e3), seed=st.integers(0, 10_000))
def test_the_estimate_never_exceeds_log_k_plus_one(k, groups, scale, seed):
    scores = scale * torch.randn(groups, k + 1, k + 1, generator=torch.Generator().manual_seed(seed),
                                 dtype=torch.float64)
    scores[:, range(k + 1), range(k + 1)] += scale * 10  # even a critic that picks every positive
    assert cap(k) - float(infonce_loss(scores)) <= cap(k) + 1e-12


# ---- the claim ----------------------------------------------------------------------------------------
def test_the_small_grid_shows_the_claim_and_the_same_seed_gives_the_same_numbers(device, same, one_thread):
    a = run_cap_experiment(small(device))
    s = a["summary"]
    assert s["complete"] and s["claim_holds"], s
    hi = s["pinned"]
    assert hi["d"] == 12 and hi["K"] == 7
    assert hi["estimate"] >= PINNED * cap(7) and hi["true_mi"] >= FAR_ABOVE * cap(7)
    assert s["gain_nats"][12] >= s["gain_needed"] > s["gain_nats"][1]
    assert all(r >= RECOVERED for r in s["recovered_at_small_d"].values())
    assert s["k_needed"] == {1: 7, 12: None}
    for r in a["rows"]:
        assert r["estimate"] <= r["cap"] + 1e-6 and r["optimal"] <= r["cap"] + 1e-6
        assert r["true_mi"] == pytest.approx(true_mi(r["d"], 0.8))
    b = run_cap_experiment(small(device))
    for ra, rb in zip(a["rows"], b["rows"], strict=True):
        assert without_seconds([rb])[0] == same(without_seconds([ra])[0])


def test_summary_is_incomplete_until_the_grid_is():
    assert summary([]) == {"complete": False, "claim_holds": False}
    row = {"d": 1, "K": 7, "estimate": 0.4, "true_mi": 0.5, "cap": cap(7), "ratio": 0.8, "k_bound": 0.6}
    assert not summary([row, {**row, "K": 63, "cap": cap(63)}])["complete"]


def test_settings_are_declared_with_bounds():
    with pytest.raises(SettingError, match="rho"):
        InfoNCECapSettings.create(rho=1.0)
    with pytest.raises(SettingError, match="negatives"):
        InfoNCECapSettings.create(negatives=(0,))
    assert InfoNCECapSettings.create().cells()[:2] == [(1, 7), (1, 63)]


# ---- the trainer --------------------------------------------------------------------------------------
def test_the_trainer_under_train_headless_gives_every_row_and_the_summary(device):
    trainer = InfoNCECapTrainer(small(device, steps=5))
    run = train_headless(trainer, max_steps=trainer.total_steps)
    assert run.state == FINISHED and trainer.step_count == trainer.total_steps == 20
    snap = run.latest().data
    assert snap["done"] == snap["cells"] == 4 and snap["current"] is None and snap["progress"] == 1.0
    assert [(r["d"], r["K"]) for r in snap["rows"]] == [(1, 7), (1, 127), (12, 7), (12, 127)]
    assert snap["summary"]["complete"]
    assert {"loss", "estimate", "cell", "progress"} <= set(run.history[-1])
    with pytest.raises(RuntimeError, match="complete"):
        trainer.step()


def test_a_restored_checkpoint_trains_on_to_the_same_rows(device, same):
    straight = InfoNCECapTrainer(small(device, steps=6))
    while not straight.done:
        straight.step()
    resumed = InfoNCECapTrainer(small(device, steps=6))
    for _ in range(9):  # one cell done, half of the next
        resumed.step()
    state = resumed.checkpoint()
    for _ in range(4):
        resumed.step()
    resumed.restore(state)
    assert resumed.step_count == 9 and len(resumed.rows) == 1
    while not resumed.done:
        resumed.step()
    assert without_seconds(resumed.rows) == same(without_seconds(straight.rows))


def test_a_background_run_pauses_resumes_and_finishes(device):
    run = make_run(small(device, steps=4), snapshot_hz=60.0)
    run.start(paused=True)
    run.step_once(3)
    for _ in range(200):
        if run.step == 3:
            break
        run.join(0.01)
    assert run.step == 3 and run.state == "paused"
    run.resume()
    run.join(30)
    assert run.state == FINISHED and run.trainer.done
    assert run.latest().data["summary"]["complete"]
