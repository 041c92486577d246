"""`ImageSet`: images with labels and a fixed train/test split, the one shape every image set takes
(`engine.embed.data` loads the named sets, `engine.embed.shapes` generates one); uint8 → float.

It sits in a module of its own so that the loaders and the generator both import it and not each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.errors import DataError

Tensor = torch.Tensor
SPLIT_SEED = 1234  # the held-out split is a property of the data set, not of a run


@dataclass
class ImageSet:
    """Images with labels and a fixed train/test split (labels are used only by the probes)."""

    name: str
    x_train: Tensor  # uint8, N×C×H×W
    y_train: Tensor  # int64, N
    x_test: Tensor
    y_test: Tensor
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        for x, y, part in ((self.x_train, self.y_train, "train"), (self.x_test, self.y_test, "test")):
            if x.dtype != torch.uint8 or x.dim() != 4:
                raise DataError(f"{self.name} {part} images must be uint8 N×C×H×W, got {x.dtype} {tuple(x.shape)}")
            if len(x) != len(y):
                raise DataError(f"{self.name} {part}: {len(x)} images but {len(y)} labels")

    @property
    def channels(self) -> int:
        return self.x_train.shape[1]

    @property
    def size(self) -> int:
        return self.x_train.shape[-1]

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def subset(self, train_size: int | None, test_size: int | None) -> ImageSet:
        """The first `train_size` / `test_size` images of a stratified shuffle (None keeps all)."""
        def cut(x: Tensor, y: Tensor, n: int | None) -> tuple[Tensor, Tensor]:
            if n is None or n >= len(x):
                return x, y
            idx = _stratified_order(y, SPLIT_SEED)[:n]
            return x[idx], y[idx]

        xtr, ytr = cut(self.x_train, self.y_train, train_size)
        xte, yte = cut(self.x_test, self.y_test, test_size)
        return ImageSet(self.name, xtr, ytr, xte, yte, self.classes)


def to_float(x: Tensor) -> Tensor:
    """uint8 images → float in [0, 1]."""
    return x.float().div_(255.0)


def _stratified_order(y: Tensor, seed: int) -> Tensor:
    """A permutation whose every prefix holds the classes in (nearly) their overall proportions."""
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(y), generator=gen)
    ys = y[perm]
    # rank of each item within its class, scaled by class size → interleaves the classes evenly
    key = torch.empty(len(y), dtype=torch.float64)
    for c in ys.unique():
        where = (ys == c).nonzero().squeeze(1)
        key[where] = (torch.arange(len(where), dtype=torch.float64) + 0.5) / len(where)
    return perm[torch.argsort(key, stable=True)]


def split_train_test(x: Tensor, y: Tensor, test_fraction: float, seed: int = SPLIT_SEED
                     ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    order = _stratified_order(y, seed)
    n_test = round(len(y) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]
