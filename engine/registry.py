"""A registry of named builders filled by the modules of one package (one objective per file).

    OBJECTIVES = Registry(__name__, __path__)      # in the package's __init__.py
    @OBJECTIVES.register("cd", "Contrastive divergence")   # in each module
    OBJECTIVES.build("cd", ...)                      # loads the package's modules on first use
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from typing import Any


class Registry:
    def __init__(self, package: str, path: Iterable[str], order: tuple[str, ...] = ()):
        self.package, self.path, self.order = package, list(path), order
        self.builders: dict[str, Callable[..., Any]] = {}
        self.labels: dict[str, str] = {}
        self._loaded = False

    def register(self, name: str, label: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def deco(builder: Callable[..., Any]) -> Callable[..., Any]:
            self.builders[name] = builder
            self.labels[name] = label
            return builder

        return deco

    def _load(self) -> None:
        # importing the modules runs their @register decorators
        if not self._loaded:
            for mod in pkgutil.iter_modules(self.path):
                importlib.import_module(f"{self.package}.{mod.name}")
            self._loaded = True

    def available(self) -> dict[str, str]:
        """name -> label, in `order` first, then alphabetically."""
        self._load()
        rank = {n: i for i, n in enumerate(self.order)}
        return {n: self.labels[n] for n in sorted(self.labels, key=lambda n: (rank.get(n, len(rank)), n))}

    def build(self, name: str, *args: Any) -> Any:
        self._load()
        if name not in self.builders:
            raise ValueError(f"unknown method {name!r}; choose one of {list(self.available())}")
        return self.builders[name](*args)
