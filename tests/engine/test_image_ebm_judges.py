"""The judges, fitted on real images only: held-out data look real, noise does not, blobs fool the
classifier more than the density model; AUROC against its definition."""

from __future__ import annotations

import numpy as np
import torch

from engine.image_ebm.data import as_pixels, load_images, smooth_blobs, uniform_noise
from engine.image_ebm.judges import REALISTIC_QUANTILE, auroc, fit_judges
from tests.engine.test_image_ebm_data import _one_thread  # noqa: F401  (autouse fixture)


def test_held_out_digits_realistic_noise_not():
    j = fit_judges("digits")
    test = as_pixels(load_images("digits").test)
    s = j.score(test)
    assert abs(s["realistic"] - (1 - REALISTIC_QUANTILE)) < 0.01  # by construction of the threshold
    assert s["min_class_share"] > 0.08 and s["classes_over_5pct"] == 10 and s["top_prob"] > 0.8
    assert j.held_out_accuracy > 0.9
    gen = torch.Generator().manual_seed(0)
    noise = j.score(as_pixels(uniform_noise(500, 8, gen)))
    blobs = j.score(as_pixels(smooth_blobs(500, 8, gen)))
    assert noise["realistic"] == 0.0 and blobs["realistic"] < 0.1
    # the classifier is sure of itself on blobs (why the density judge is shown too), and covers few classes
    assert blobs["top_prob"] > 0.6 and blobs["min_class_share"] < 0.02


def test_judges_are_cached_and_deterministic():
    assert fit_judges("digits") is fit_judges("digits")
    x = as_pixels(load_images("digits").test[:50])
    assert np.array_equal(fit_judges("digits").log_density(x), fit_judges("digits").log_density(x))


def test_auroc_definition():
    assert auroc(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == 1.0  # data lower: perfectly separated
    assert auroc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 0.0
    assert auroc(np.array([1.0, 1.0]), np.array([1.0, 1.0])) == 0.5
    a, b = np.array([0.0, 2.0]), np.array([1.0, 3.0])
    pairs = np.mean([[float(x < y) + 0.5 * float(x == y) for y in b] for x in a])
    assert auroc(a, b) == pairs
