"""Probes and embedding geometry against cases with known answers; maps (PCA, torch kNN, UMAP)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.embed.evaluate import contrastive_accuracy, effective_rank, knn_accuracy, linear_probe, uniformity
from engine.embed.project import MapProjector, knn_graph, pca_2d, umap_layout


def blobs(n: int, d: int, classes: int, spread: float, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    centres = 3 * torch.randn(classes, d, generator=gen)
    y = torch.arange(n) % classes
    return centres[y] + spread * torch.randn(n, d, generator=gen), y


def test_linear_probe_and_knn_separate_separable_data_and_not_noise():
    x, y = blobs(400, 10, 4, 0.3)
    assert linear_probe(x[:300], y[:300], x[300:], y[300:]) == 1.0
    assert knn_accuracy(x[:300], y[:300], x[300:], y[300:], k=5) == 1.0
    noise = torch.randn(400, 10, generator=torch.Generator().manual_seed(1))
    assert linear_probe(noise[:300], y[:300], noise[300:], y[300:]) < 0.5


def test_contrastive_accuracy_counts_top1_positives():
    a = F.normalize(torch.randn(50, 8, generator=torch.Generator().manual_seed(2)), dim=1)
    assert contrastive_accuracy(a, a + 1e-3) == 1.0
    b = torch.roll(a, 1, dims=0)  # every positive is someone else's view
    assert contrastive_accuracy(a, b) < 0.1
    assert contrastive_accuracy(a * 5, a * 5 + 1e-3, metric="l2") == 1.0


def test_effective_rank_and_uniformity():
    gen = torch.Generator().manual_seed(3)
    basis = torch.linalg.qr(torch.randn(16, 16, generator=gen))[0]
    # k orthogonal directions with equal variance → effective rank ≈ k
    for k in (1, 3, 8):
        z = torch.randn(4000, k, generator=gen) @ basis[:k]
        assert effective_rank(z) == pytest.approx(k, rel=0.1)
    spread = torch.randn(1000, 16, generator=gen)
    collapsed = torch.ones(1000, 16) + 0.01 * torch.randn(1000, 16, generator=gen)
    assert uniformity(spread) < uniformity(collapsed) <= 0.0
    assert uniformity(collapsed) == pytest.approx(0.0, abs=1e-2)  # all points equal: log E e^0 = 0
    # against the definition: log of the mean over pairs i < j of exp(−t‖u_i − u_j‖²)
    u = F.normalize(spread[:40].double(), dim=1)
    pairs = [math.exp(-2 * float((u[i] - u[j]).pow(2).sum())) for i in range(40) for j in range(i)]
    assert uniformity(spread[:40]) == pytest.approx(math.log(sum(pairs) / len(pairs)), rel=1e-9)


def test_knn_graph_matches_brute_force():
    z = np.random.default_rng(4).normal(size=(300, 6)).astype(np.float32)
    idx, dist = knn_graph(z, k=7, metric="euclidean", chunk=128)
    brute = np.linalg.norm(z[:, None] - z[None], axis=-1)
    expect = np.argsort(brute, axis=1)[:, :7]
    assert (idx[:, 0] == np.arange(300)).all() and np.allclose(dist[:, 0], 0)
    np.testing.assert_array_equal(np.sort(idx, 1), np.sort(expect, 1))
    np.testing.assert_allclose(dist, np.take_along_axis(brute, idx, 1), atol=1e-4)


def test_pca_finds_the_main_axis_and_keeps_its_sign():
    rng = np.random.default_rng(5)
    z = np.c_[10 * rng.normal(size=500), rng.normal(size=500), 0.1 * rng.normal(size=500)]
    xy = pca_2d(z)
    assert abs(np.corrcoef(xy[:, 0], z[:, 0])[0, 1]) > 0.99
    flipped = pca_2d(-z, previous=xy)
    assert np.corrcoef(flipped[:, 0], xy[:, 0])[0, 1] > 0.99  # aligned to the previous map


def test_umap_separates_clusters_follows_its_init_and_the_projector_keeps_the_newest():
    # one test: the first UMAP fit in a process pays numba's start-up (seconds), later fits are fast
    x, y = blobs(300, 12, 3, 0.2, seed=6)
    xy = umap_layout(x.numpy(), metric="euclidean", n_epochs=50)
    assert xy.shape == (300, 2)
    labels = y.numpy()
    centres = np.stack([xy[labels == c].mean(0) for c in range(3)])
    within = np.mean([np.linalg.norm(xy[labels == c] - centres[c], axis=1).mean() for c in range(3)])
    between = np.min([np.linalg.norm(centres[i] - centres[j]) for i in range(3) for j in range(i)])
    assert between > 3 * within
    again = umap_layout(x.numpy(), init=xy, metric="euclidean", n_epochs=20)
    assert np.median(np.linalg.norm(again - xy, axis=1)) < np.linalg.norm(xy.max(0) - xy.min(0)) * 0.2

    proj = MapProjector(metric="euclidean")
    proj.submit(x.numpy())
    v = proj.submit(x.numpy() * 2)  # replaces the first request if that has not started yet
    t0 = time.time()
    while (proj.latest() is None or proj.latest().version != v) and time.time() - t0 < 60:
        time.sleep(0.05)
    assert proj.latest().version == v and proj.latest().xy.shape == (300, 2) and not proj.error
