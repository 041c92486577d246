"""Judges of the particles that never see them in training: fitted on the real training images only.

- The classifier (multinomial logistic regression on the pixels in [0, 1]) gives each particle a
  class: the share of each class among the particles is the mode coverage (uniform over the classes
  is best; a missing class is a dropped mode), and the mean top probability how sure it is. It is
  confidently fooled by smooth blobs, hence:
- the density model: a Gaussian mixture on the top principal components of the training images plus
  an isotropic Gaussian on what they leave out (a full-space density, probabilistic-PCA style),

      log q(p) = log Σ_j π_j N(Wᵀ(p − μ); m_j, Σ_j) + log N(p − μ − W Wᵀ(p − μ); 0, σ² I),

  and the *realistic fraction*: the share of images at least as likely under q as typical held-out
  data — log q above the held-out images' 10 % quantile, so held-out data score 0.90 by construction.
- `auroc`: how well an energy separates two sets (data should have the lower energy): 1 = perfectly,
  0.5 = not at all.

Every judge is shown beside its score on uniform noise and on smooth blobs (`engine.image_ebm.data`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from engine.image_ebm.data import load_images, to_unit

REALISTIC_QUANTILE = 0.10  # held-out data above this quantile of their own log q are "typical"
MAX_FIT = 10_000  # training images the judges are fitted on (MNIST has 60,000; a stratified-enough prefix)
PCA_DIMS = 40  # 8×8 digits: blobs judged realistic 1.5 % (24 dims, 10 components: 11 %)
MIXTURE = 20


@dataclass
class Judges:
    dataset: str
    size: int
    classes: tuple[str, ...]
    classifier: Any  # sklearn LogisticRegression
    pca: Any  # sklearn PCA
    mixture: Any  # sklearn GaussianMixture on the PCA features
    residual_var: float
    threshold: float  # log q of held-out data at REALISTIC_QUANTILE
    held_out_accuracy: float  # the classifier on held-out data (how far to trust it)

    def log_density(self, pixels: np.ndarray) -> np.ndarray:
        """log q(p) for N×D pixels in [0, 1] (nats)."""
        x = pixels.reshape(len(pixels), -1).astype(np.float64)
        z = self.pca.transform(x)
        resid = x - self.pca.inverse_transform(z)
        d_out = x.shape[1] - z.shape[1]
        log_resid = -0.5 * (resid**2).sum(1) / self.residual_var - 0.5 * d_out * np.log(2 * np.pi * self.residual_var)
        return self.mixture.score_samples(z) + log_resid

    def score(self, pixels: np.ndarray) -> dict[str, Any]:
        """Mode coverage (share per class), its smallest share, the mean top probability, the realistic
        fraction, for N images (N×H×W or N×D) in [0, 1]."""
        x = pixels.reshape(len(pixels), -1)
        with threadpool_limits(1):
            proba = self.classifier.predict_proba(x)
            realistic = float((self.log_density(x) >= self.threshold).mean())
        shares = np.bincount(proba.argmax(1), minlength=len(self.classes)) / len(x)
        return {
            "class_shares": [round(float(s), 4) for s in shares],
            "min_class_share": round(float(shares.min()), 4),
            "classes_over_5pct": int((shares >= 0.05).sum()),
            "top_prob": round(float(proba.max(1).mean()), 4),
            "realistic": round(realistic, 4),
        }


@lru_cache(maxsize=6)
def fit_judges(dataset: str, size: int | None = None, data_dir: str | None = None) -> Judges:
    """Fit both judges on the real training images (cached per process: pages and sweeps reuse them)."""
    with threadpool_limits(1):  # BLAS threads fighting over 2 busy cores made the fit ~10× slower
        return _fit(dataset, size, data_dir)


def _fit(dataset: str, size: int | None, data_dir: str | None) -> Judges:
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.mixture import GaussianMixture

    images = load_images(dataset, size, data_dir)
    x = to_unit(images.train[:MAX_FIT]).reshape(min(len(images.train), MAX_FIT), -1).numpy().astype(np.float64)
    y = images.y_train[:MAX_FIT].numpy()
    xt = to_unit(images.test).reshape(len(images.test), -1).numpy().astype(np.float64)
    yt = images.y_test.numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs may stop at max_iter on the larger sets: good enough to judge
        classifier = LogisticRegression(max_iter=300, C=1.0).fit(x, y)
    dims = min(PCA_DIMS, x.shape[1] - 1, len(x) - 1)
    pca = PCA(dims, random_state=0).fit(x)
    z = pca.transform(x)
    residual_var = float(((x - pca.inverse_transform(z)) ** 2).mean() * x.shape[1] / (x.shape[1] - dims))
    mixture = GaussianMixture(MIXTURE, covariance_type="full", reg_covar=1e-3, random_state=0, max_iter=200).fit(z)
    judges = Judges(dataset, images.size, images.classes, classifier, pca, mixture, max(residual_var, 1e-6),
                    threshold=0.0, held_out_accuracy=float((classifier.predict(xt) == yt).mean()))
    judges.threshold = float(np.quantile(judges.log_density(xt), REALISTIC_QUANTILE))
    return judges


def auroc(e_data: np.ndarray, e_other: np.ndarray) -> float:
    """P(E(data) < E(other)) (ties count ½): the area under the ROC curve of −E as a data detector."""
    from sklearn.metrics import roc_auc_score

    labels = np.r_[np.ones(len(e_data)), np.zeros(len(e_other))]
    return float(roc_auc_score(labels, -np.r_[e_data, e_other]))
