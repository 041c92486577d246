"""The contrastive trainer: every method steps on digits, same seed → same numbers, the Run drives it,
precision plans for CUDA, and the CLI's JSON contract."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.embed.config import EmbedConfig, make_config
from engine.embed.objectives import METHODS
from engine.embed.trainer import EmbedTrainer, Precision, budget_run, precision_for
from engine.run import Run, RunOptions


def tiny(method: str, **kw) -> EmbedConfig:
    return make_config("digits", method, batch_size=32, width=8, proj_dim=16, queue_size=64,
                       bank_negatives=64, device="cpu", **kw)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_and_is_reproducible(method):
    losses = []
    for _ in range(2):
        tr = EmbedTrainer(tiny(method))
        losses.append([tr.step()["loss"] for _ in range(3)])
    assert losses[0] == losses[1]
    assert all(np.isfinite(losses[0]))
    row = tr.step()
    assert 0 <= row["contrastive_acc"] <= 1
    snap = tr.snapshot()
    assert snap["pair_a"].shape == snap["pair_b"].shape == (32, 16)


def test_evaluate_reports_probes_and_map():
    tr = EmbedTrainer(tiny("simclr"))
    tr.step()
    ev = tr.evaluate()
    for key in ("linear_probe_acc", "knn_acc", "contrastive_acc_test", "effective_rank", "uniformity"):
        assert np.isfinite(ev[key])
    assert 0.1 < ev["linear_probe_acc"] <= 1  # even a barely trained CNN beats chance on digits
    snap = tr.snapshot()
    n_all = len(tr.data.x_test) + len(tr.data.x_train)  # 1,797 < map_size 2,000: every image, test first
    assert snap["map_z"].shape == (n_all, 16) and snap["map_labels"].shape == (n_all,)
    assert snap["map_labels"][: len(tr.data.y_test)].tolist() == tr.data.y_test.tolist()
    assert snap["map_pair_a"].shape == snap["map_pair_b"].shape == (64, 16)
    assert (tr.map_image(0) == tr.data.x_test[0].permute(1, 2, 0).numpy()).all()


def test_run_drives_the_trainer_and_budget_stops_it():
    tr = EmbedTrainer(tiny("moco"))
    run = Run(tr, RunOptions(max_steps=4, evaluate_every_steps=4))
    run.run_to_end()
    assert run.state == "finished" and run.step == 4 and "linear_probe_acc" in run.last_evaluation()
    assert run.history[-1]["queue_filled"] == 64  # 4 steps × 32 keys, capped at the queue size
    tr2 = EmbedTrainer(tiny("pirl"))
    run2 = budget_run(tr2, budget_seconds=1e-9, max_steps=None)
    assert run2.step == 1  # the budget is checked after every step


def test_checkpoint_restore_round_trip():
    tr = EmbedTrainer(tiny("simclr"))
    tr.step()
    state = tr.checkpoint()
    x = torch.rand(4, 1, 8, 8)
    tr.encoder.eval()
    before = tr.encoder(x)
    tr.step()
    tr.restore(state)
    tr.encoder.eval()
    torch.testing.assert_close(tr.encoder(x), before)
    assert tr.step_count == 1


def test_precision_plan():
    assert precision_for(torch.device("cpu"), amp=True) == Precision(None, False)
    assert precision_for(torch.device("cuda"), amp=True) == Precision(torch.bfloat16, True)
    assert precision_for(torch.device("cuda"), amp=False) == Precision(None, False)
    x = torch.rand(2, 3, 4, 4)
    assert Precision(torch.bfloat16, True).images(x).is_contiguous(memory_format=torch.channels_last)
    with Precision(torch.bfloat16, False).autocast(torch.device("cpu")):  # the same code path, on the CPU
        assert torch.nn.Linear(3, 3)(torch.rand(2, 3)).dtype == torch.bfloat16


def test_config_validation():
    with pytest.raises(ValueError, match="unknown method"):
        EmbedConfig(method="byol")
    with pytest.raises(ValueError, match="bn_groups"):
        EmbedConfig(batch_size=30, bn_groups=4)
    with pytest.raises(ValueError, match="temperature"):
        EmbedConfig(temperature=0)


def test_cli_prints_the_metrics(capsys):
    from engine.cli import main

    code = main(["embed", "--dataset", "digits", "--method", "simclr_l2", "--max-steps", "2", "--batch-size", "32",
                 "--width", "8", "--supervised-seconds", "0.01", "--device", "cpu"])
    assert code == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("linear_probe_acc", "knn_acc", "raw_pixels_acc", "random_encoder_acc", "supervised_acc",
                "contrastive_acc", "images_per_s", "device", "embedding_norm"):
        assert key in out
    assert out["steps"] == 2 and out["device"] == "cpu"
    assert main(["embed", "--dataset", "digits", "--temperature", "-1"]) == 2
    assert "temperature" in capsys.readouterr().err
