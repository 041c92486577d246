"""PCD and dimension: the embedding, the quality measures, a short run of the experiment."""

from __future__ import annotations

import json

import pytest
import torch

from engine.cli import main as cli_main
from engine.errors import SettingError
from engine.toy.data import get_dataset
from engine.toy.dimension import (
    DimensionConfig,
    Embedding,
    histogram_kl,
    mmd2,
    reference_kl,
    train_one,
)
from engine.toy.grid import Grid, data_cell_probs
from engine.toy.trainer import data_log_density_on_grid


@pytest.mark.parametrize("dim", [2, 5, 32])
def test_embedding_is_a_rotation_and_projects_back(dim):
    base = get_dataset("rings")
    emb = Embedding(base, dim, spread=0.1, seed=0)
    r = emb.rotation
    assert torch.allclose(r.T @ r, torch.eye(dim), atol=1e-5)
    x = emb.sample(500, torch.Generator().manual_seed(1))
    y = base.sample(500, torch.Generator().manual_seed(1))  # the same draws, before padding
    assert x.shape == (500, dim)
    assert torch.allclose(emb.project(x), y, atol=1e-5)
    off_plane = (x @ r)[:, 2:]
    if dim > 2:
        assert off_plane.std().item() == pytest.approx(0.1, rel=0.1)
        assert not torch.allclose(x[:, :2], y, atol=1e-2)  # the data really are rotated


def _cells(dataset: str, n: int):
    box = get_dataset(dataset).box
    return data_cell_probs(data_log_density_on_grid(dataset, box, n)), Grid(box, n)


def test_histogram_kl_ranks_samplers():
    cells, grid = _cells("eight_gaussians", 24)
    g = torch.Generator().manual_seed(0)
    exact = histogram_kl(cells, get_dataset("eight_gaussians").sample(4000, g), grid)
    blurred = histogram_kl(cells, get_dataset("eight_gaussians").sample(4000, g) + 0.3 * torch.randn(4000, 2,
                                                                                                   generator=g), grid)
    uniform = histogram_kl(cells, (2 * torch.rand(4000, 2, generator=g) - 1) * grid.box, grid)
    assert exact < 0.15 < blurred < uniform


def test_mmd_is_zero_for_the_same_law_and_positive_otherwise():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(1500, 2, generator=g), torch.randn(1500, 2, generator=g)
    assert abs(mmd2(a, b, 0.5)) < 3e-3
    assert mmd2(a, b + 1.0, 0.5) > 0.05


def test_one_pair_trains_and_scores():
    cfg = DimensionConfig(steps=20, k=3, samples=200, sample_steps=10, buffer=512, dims=(4,), seed=1)
    row = train_one(cfg, "pcd", 4)
    assert row["status"] == "ok" and row["dim"] == 4
    assert row["hist_kl"] > reference_kl(cfg) and row["mmd"] > 0 and "buffer_hist_kl" in row


def test_cli_runs_the_curve(capsys):
    assert cli_main(["pcd-dimension", "--dims", "2,8", "--methods", "cd", "--steps", "10", "--k", "2",
                     "--samples", "100", "--sample-steps", "5", "--device", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(out["hist_kl"]["cd"]) == {"2", "8"} and len(out["rows"]) == 2


@pytest.mark.parametrize("bad", [{"dims": (1,)}, {"dims": ()}, {"methods": ("nce",)}, {"buffer": 10},
                                 {"samples": 10**6}])
def test_bad_config(bad):
    with pytest.raises(SettingError, match=next(iter(bad))):
        DimensionConfig(**bad)


def test_cli_rejects_bad_dims(capsys):
    assert cli_main(["pcd-dimension", "--dims", "2,x"]) == 2
    out = capsys.readouterr()
    assert "dims" in out.err and json.loads(out.out.strip().splitlines()[-1])["setting"] == "dims"
