"""The Guard: non-finite checks, finite-only checkpoints, rollback under the model lock, the message, and
continuing a diverged run from its rollback at a smaller learning rate."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch

from engine.run import FAILED, FINISHED, Run, RunOptions, first_non_finite
from engine.run.guard import LR_CUT, Guard, is_finite_state, learning_rate, lr_cut, scale_learning_rates
from engine.training import TrainerBase, make_generator


class Weights:
    """Weights go NaN at `nan_weights_at` (the loss still looks fine), the loss goes NaN at `nan_loss_at`."""

    def __init__(self, nan_weights_at: int | None = None, nan_loss_at: int | None = None) -> None:
        self.step_count = 0
        self.w = np.zeros(3)
        self.nan_weights_at, self.nan_loss_at = nan_weights_at, nan_loss_at
        self.lock: threading.Lock | None = None  # the run's model lock, to check restore() holds it
        self.restored_under_lock: list[bool] = []

    def step(self) -> dict[str, float]:
        self.step_count += 1
        self.w = self.w + 1.0
        if self.step_count == self.nan_weights_at:
            self.w[0] = np.nan
        return {"loss": math.nan if self.step_count == self.nan_loss_at else 1.0}

    def snapshot(self) -> dict[str, float]:
        return {"steps": float(self.step_count)}  # deliberately blind to the weights

    def evaluate(self) -> dict[str, float]:
        return {"steps": float(self.step_count)}

    def checkpoint(self) -> dict[str, object]:
        return {"step": self.step_count, "w": self.w.copy()}

    def restore(self, state: dict[str, object]) -> None:
        self.restored_under_lock.append(self.lock is not None and self.lock.locked())
        self.step_count, self.w = int(state["step"]), np.array(state["w"])


def test_first_non_finite():
    assert first_non_finite({"a": 1.0, "b": np.zeros(3), "n": 10**400, "s": "x", "z": None}) is None
    assert first_non_finite({"a": 1.0, "b": np.array([0.0, np.inf])}) == "b"
    assert first_non_finite({"loss": float("nan")}) == "loss"
    assert first_non_finite({"x": np.float32("nan")}) == "x"


def test_is_finite_state_walks_containers_of_tensors_arrays_and_floats():
    good = {"model": {"w": torch.ones(2, 2), "n": torch.tensor([1, 2])}, "opt": [(0.1, np.ones(2))], "k": 3}
    assert is_finite_state(good)
    assert not is_finite_state({"model": {"w": torch.tensor([1.0, math.nan])}})
    assert not is_finite_state({"opt": [({"exp_avg": np.array([np.inf])},)]})
    assert not is_finite_state([1.0, (2.0, math.inf)])
    assert is_finite_state({"ids": torch.tensor([1, 2, 3])})


def test_guard_refuses_non_finite_checkpoints_and_keeps_the_good_one():
    trainer, lock = Weights(nan_weights_at=2), threading.Lock()
    trainer.lock = lock
    guard = Guard(trainer, lock)
    trainer.step()
    assert guard.save() and guard.checkpoint_step == 1
    trainer.step()  # weights now hold a NaN
    assert not guard.save() and guard.checkpoint_step == 1 and guard.refused == 1
    assert guard.rollback() == 1
    assert trainer.step_count == 1 and np.isfinite(trainer.w).all()
    assert trainer.restored_under_lock == [True]


def test_a_rollback_skips_the_state_the_non_finite_step_started_from():
    trainer, lock = Weights(), threading.Lock()
    guard = Guard(trainer, lock)
    for _ in range(3):
        trainer.step()
        assert guard.save()
    assert [step for step, _ in guard._kept] == [2, 3]  # the newest two
    # step 4's loss came out NaN: the state after step 3 produced it, so step 2 is the newest good one
    assert guard.rollback(bad_from=3) == 2 and trainer.step_count == 2
    assert guard.checkpoint_step == 2  # the bad one is dropped (a run folder writes step 2)
    assert guard.rollback(bad_from=1) == 2  # nothing older kept: the oldest there is


def test_a_run_rolls_back_to_finite_weights_not_to_the_last_checkpoint():
    trainer = Weights(nan_weights_at=3, nan_loss_at=5)
    run = Run(trainer, RunOptions(max_steps=100, checkpoint_every_s=0.0))
    trainer.lock = run.model_lock
    run.start().join(5)
    assert run.state == FAILED
    assert "step 5" in run.message and "(step 2)" in run.message
    assert run.trainer.step_count == 2 and np.isfinite(run.trainer.w).all()
    assert run.guard.refused == 2  # steps 3 and 4
    assert trainer.restored_under_lock == [True]


def test_the_message_gives_the_experiments_advice():
    plain = Run(Weights(nan_loss_at=3), RunOptions(max_steps=10, checkpoint_every_s=0.0)).run_to_end()
    assert plain.message == ("Stopped: the loss became non-finite at step 3; "
                             "rolled back to the last good checkpoint (step 1). Try a lower learning rate.")
    advised = Weights(nan_loss_at=3)
    advised.failure_advice = "Try a larger energy² regulariser α."
    run = Run(advised, RunOptions(max_steps=10)).run_to_end()
    assert run.message.endswith(". Try a larger energy² regulariser α.")
    assert "lower learning rate" not in run.message


def test_a_trainer_without_checkpoints_fails_without_a_rollback():
    class NoCheckpoints:
        step_count = 0

        def step(self) -> dict[str, float]:
            self.step_count += 1
            return {"loss": math.inf}

        def snapshot(self) -> dict[str, float]:
            return {}

        def evaluate(self) -> dict[str, float]:
            return {}

    run = Run(NoCheckpoints(), RunOptions(max_steps=10)).run_to_end()
    assert run.state == FAILED
    assert run.message == "Stopped: the loss became non-finite at step 1. Try a lower learning rate."


def test_a_new_run_continues_from_the_rolled_back_trainer():
    class NanOnce(Weights):
        def step(self) -> dict[str, float]:
            out = super().step()
            if out["loss"] != out["loss"]:
                self.nan_loss_at = None  # only the first time through step 30
            return out

    trainer = NanOnce(nan_loss_at=30)
    first = Run(trainer, RunOptions(max_steps=60, checkpoint_every_s=0.0)).start()
    first.join(5)
    assert first.state == FAILED and trainer.step_count == 28  # step 29's state gave step 30 its NaN
    second = Run(trainer, RunOptions(max_steps=60)).start()
    second.join(5)
    assert second.state == FINISHED and second.message == ""
    assert second.history[0]["step"] == 29 and second.step == 60
    assert np.array_equal(trainer.w, np.full(3, 60.0))  # 28 good steps + 32 more, none lost or doubled
    assert second.evaluations[-1]["step"] == 60


class Quadratic(TrainerBase):
    """SGD on ‖w‖²: w ← (1 − 2 lr) w, so lr > 1 diverges (|1 − 2 lr| > 1) and lr < 1 converges."""

    def __init__(self, lr: float) -> None:
        self.gen = make_generator(0)
        self.step_count = 0
        self.model = torch.nn.Linear(4, 1, bias=False)
        with torch.no_grad():
            self.model.weight.fill_(1.0)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=lr)

    def state_modules(self) -> dict[str, object]:
        return {"model": self.model, "opt": self.opt}

    def step(self) -> dict[str, float]:
        loss = self.model.weight.pow(2).sum()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.step_count += 1
        return {"loss": loss.item()}

    def snapshot(self) -> dict[str, float]:
        return {}

    def evaluate(self) -> dict[str, float]:
        return {"norm": self.model.weight.norm().item()}


def test_a_diverged_run_continues_from_finite_weights_at_the_suggested_smaller_lr():
    trainer = Quadratic(lr=1.5)  # ×(−2) a step: the loss overflows float32 after ~64 steps
    failed = Run(trainer, RunOptions(max_steps=300, checkpoint_every_s=0.0)).start()
    failed.join(10)
    assert failed.state == FAILED and "non-finite" in failed.message
    back = failed.guard.rolled_back_to
    assert back is not None and 50 <= back < 70 and trainer.step_count == back
    assert torch.isfinite(trainer.model.weight).all() and trainer.model.weight.abs().max() > 1e6  # restored, finite
    assert learning_rate(trainer) == 1.5 and lr_cut(trainer) == LR_CUT == 0.5
    assert learning_rate(Weights()) is None  # nothing to scale in a trainer without optimisers

    with pytest.raises(RuntimeError):
        Run(trainer, RunOptions()).continue_from_rollback()  # only a failed, rolled-back run continues
    resumed = failed.continue_from_rollback(lr_cut(trainer))
    assert learning_rate(trainer) == 0.75  # ×(−0.5) a step now: it converges
    assert resumed.state == "idle" and resumed.step == back
    assert [row["step"] for row in resumed.history] == list(range(1, back + 1))  # the curve before the rollback
    resumed.start().join(10)
    assert resumed.state == FINISHED and resumed.step == 300
    assert resumed.history[back]["step"] == back + 1  # trained on from the rolled-back step, none lost
    assert all(math.isfinite(row["loss"]) for row in resumed.history)
    assert resumed.history[-1]["loss"] < 1e-30 and resumed.evaluations[-1]["norm"] < 1e-15


def test_an_experiment_can_suggest_its_own_cut_and_every_group_is_scaled():
    trainer = Quadratic(lr=0.4)
    trainer.opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.1})
    trainer.divergence_lr_cut = 0.1
    assert lr_cut(trainer) == 0.1
    scale_learning_rates(trainer, lr_cut(trainer))
    assert [g["lr"] for g in trainer.opt.param_groups] == pytest.approx([0.04, 0.01])
