"""The contrastive trainer: every method steps on digits, same seed → same numbers, the Run drives it,
precision plans for CUDA, and the CLI's JSON contract."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

from engine.embed.config import EmbedConfig
from engine.embed.objectives import REGISTRY
from engine.embed.trainer import EmbedTrainer, Precision, precision_for
from engine.embed.views import map_image
from engine.errors import SettingError
from engine.run import Run, RunOptions
from engine.training import make_generator

METHODS = REGISTRY.names()


def tiny(method: str, device: str = "cpu", **kw) -> EmbedConfig:
    return EmbedConfig.create(dataset="digits", method=method, batch_size=32, width=8, proj_dim=16, queue_size=64,
                              bank_negatives=64, device=device, **kw)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_and_is_reproducible(method, device, same):
    losses = []
    for _ in range(2):
        tr = EmbedTrainer(tiny(method, device))
        losses.append([tr.step()["loss"] for _ in range(3)])
    assert losses[0] == same(losses[1])
    assert all(np.isfinite(losses[0]))
    row = tr.step()
    assert 0 <= row["contrastive_acc"] <= 1
    snap = tr.snapshot()
    assert snap["pair_a"].shape == snap["pair_b"].shape == (32, 16)


def test_evaluate_reports_probes_and_map(device):
    tr = EmbedTrainer(tiny("simclr", device))
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
    assert (map_image(tr.data, 0) == tr.data.x_test[0].permute(1, 2, 0).numpy()).all()


def test_run_drives_the_trainer_and_budget_stops_it():
    tr = EmbedTrainer(tiny("moco"))
    run = Run(tr, RunOptions(max_steps=4, evaluate_every_steps=4))
    run.run_to_end()
    assert run.state == "finished" and run.step == 4 and "linear_probe_acc" in run.last_evaluation()
    assert run.history[-1]["queue_filled"] == 64  # 4 steps × 32 keys, capped at the queue size
    tr2 = EmbedTrainer(tiny("pirl"))
    run2 = tr2.headless(max_seconds=1e-9)
    assert run2.step == 1 and run2.state == "finished"  # the budget is checked after every step


def test_checkpoint_restore_round_trip():
    tr = EmbedTrainer(tiny("simclr"))
    tr.step()
    state = tr.checkpoint()
    x = torch.rand(4, 1, 8, 8, generator=make_generator(1))
    tr.encoder.eval()
    before = tr.encoder(x)
    tr.step()
    tr.restore(state)
    tr.encoder.eval()
    torch.testing.assert_close(tr.encoder(x), before)
    assert tr.step_count == 1


@pytest.mark.parametrize("method", ["simclr", "moco", "pirl"])
def test_a_saved_checkpoint_continues_with_the_numbers_of_an_uninterrupted_run(method, device, same):
    """What --resume relies on: the checkpoint holds every state a step reads (model, optimiser, batch
    position, the objective's generator, MoCo's synced key encoder), it loads without running code
    (weights_only), and the augmentations of a step depend only on (seed, process, step)."""
    whole = EmbedTrainer(tiny(method, device))
    for _ in range(3):
        whole.step()
    buffer = io.BytesIO()
    torch.save(whole.checkpoint(), buffer)
    after = [whole.step()["loss"] for _ in range(3)]
    resumed = EmbedTrainer(tiny(method, device))
    buffer.seek(0)
    resumed.restore(torch.load(buffer, weights_only=True, map_location="cpu"))
    assert resumed.step_count == 3
    assert [resumed.step()["loss"] for _ in range(3)] == same(after)


def test_precision_plan():
    assert precision_for(torch.device("cpu"), amp=True) == Precision(None, False)
    assert precision_for(torch.device("cuda"), amp=True) == Precision(torch.bfloat16, True)
    assert precision_for(torch.device("cuda"), amp=False) == Precision(None, False)
    x = torch.rand(2, 3, 4, 4, generator=make_generator(0))
    assert Precision(torch.bfloat16, True).images(x).is_contiguous(memory_format=torch.channels_last)
    with Precision(torch.bfloat16, False).autocast(torch.device("cpu")):  # the same code path, on the CPU
        assert torch.nn.Linear(3, 3)(torch.ones(2, 3)).dtype == torch.bfloat16


def test_config_validation_and_layers():
    with pytest.raises(SettingError, match="method = 'byol'"):
        EmbedConfig(method="byol")
    with pytest.raises(SettingError, match="bn_groups") as err:
        EmbedConfig(method="moco", batch_size=30, bn_groups=4)
    assert err.value.setting == "bn_groups"
    EmbedConfig(method="simclr", batch_size=30, bn_groups=4)  # bn_groups is MoCo's: no rule for SimCLR
    with pytest.raises(SettingError, match="temperature"):
        EmbedConfig(temperature=0)
    with pytest.raises(SettingError, match="batch_size"):
        EmbedConfig(batch_size=64, train_size=32)
    # base → data set → method: shapes' batch and the PIRL temperature; explicit values win
    cfg = EmbedConfig.create(dataset="shapes", method="pirl")
    assert (cfg.batch_size, cfg.width, cfg.train_size, cfg.temperature) == (128, 16, 6000, 0.1)
    assert EmbedConfig.create(dataset="shapes", method="pirl", temperature=0.3).temperature == 0.3
    assert EmbedConfig.applies("queue_size", {"method": "moco"}) and not EmbedConfig.applies(
        "queue_size", {"method": "pirl"})
    assert EmbedConfig.from_dict(cfg.to_dict()) == cfg


def test_a_batch_larger_than_the_data_is_refused_naming_the_batch():
    cfg = EmbedConfig.create(dataset="digits", batch_size=1024, width=4, device="cpu")
    data = EmbedTrainer(tiny("simclr")).data.subset(500, 100)
    with pytest.raises(SettingError, match="batch_size = 1024") as err:
        EmbedTrainer(cfg, data)
    assert err.value.setting == "batch_size"


def test_the_global_generator_does_not_matter():
    """Per-run randomness: whatever torch's global generator has drawn before, a run gives the same numbers
    (model init, batches, augmentations, MoCo's shuffles and PIRL's negatives all come from the run's)."""
    from engine.embed.baselines import random_encoder_probe

    def numbers(method: str) -> list[float]:
        tr = EmbedTrainer(tiny(method))
        return [tr.step()["loss"] for _ in range(2)]

    first = {m: numbers(m) for m in ("moco", "pirl")}
    probe = random_encoder_probe(tiny("simclr"), EmbedTrainer(tiny("simclr")).data.subset(300, 100))
    torch.rand(12345)  # move the global generator on (as another run or a page might)
    assert {m: numbers(m) for m in ("moco", "pirl")} == first
    assert random_encoder_probe(tiny("simclr"), EmbedTrainer(tiny("simclr")).data.subset(300, 100)) == probe


def test_diverged_run_names_only_embedding_settings():
    tr = EmbedTrainer(tiny("simclr"))
    advice = tr.failure_advice
    assert "learning rate" in advice and "temperature" in advice and "α" not in advice
    assert set(tr.state_modules()) == {"encoder", "objective", "optimizer", "sampler", "objective_rng"}


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
    for bad in (["--temperature", "-1"], ["--temperature", "nan"], ["--batch-size", "1e12"], ["--width", "abc"],
                ["--method", "byol"], ["--queue-size", "0"]):
        assert main(["embed", "--max-steps", "2", "--no-baselines", *bad]) == 2
        captured = capsys.readouterr()
        error = json.loads(captured.out.strip().splitlines()[-1])
        assert error["kind"] == "invalid_setting" and error["setting"] == bad[0][2:].replace("-", "_")
        assert "Traceback" not in captured.err
    assert main(["embed", "--budget-seconds", "none"]) == 2  # no budget at all
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["setting"] == "budget_seconds"


def test_cli_sweep_runs_headless(capsys):
    from engine.cli import main

    code = main(["embed", "--sweep", "temperature", "--sweep-steps", "2", "--batch-size", "32", "--width", "4",
                 "--device", "cpu", "--threads", "1"])
    assert code == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["sweep"] == "temperature" and len(out["rows"]) == 5 and out["steps_per_cell"] == 2
