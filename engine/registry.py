"""A registry of named builders filled by the modules of one package (one objective per file).

    OBJECTIVES = Registry(__name__, __path__)            # in the package's __init__.py
    @OBJECTIVES.register("cd", "Contrastive divergence")  # in each module
    def build(ctx, *, k: int, eps: float, alpha: float) -> Objective: ...
    OBJECTIVES.build("cd", ctx, config)                   # loads the package's modules on first use

A builder takes a context and, as keyword-only arguments, exactly the settings it uses (lightly's
style: explicit typed arguments, not the whole config). Those names are the method's settings: the
form shows them for this method only, and `Settings.applies` reads them from here. Adding a method is
adding one file.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterable
from typing import Any

from engine.errors import SettingError


class Registry:
    def __init__(self, package: str, path: Iterable[str], order: tuple[str, ...] = ()):
        # `path` is the package's own __path__ (not a copy): a folder appended to it later is searched too
        self.package, self.path, self.order = package, path, order
        self.builders: dict[str, Callable[..., Any]] = {}
        self.labels: dict[str, str] = {}
        self._imported: set[str] = set()

    def register(self, name: str, label: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def deco(builder: Callable[..., Any]) -> Callable[..., Any]:
            self.builders[name] = builder
            self.labels[name] = label
            return builder

        return deco

    def _load(self) -> None:
        # importing the modules runs their @register decorators; a module added since is imported too
        for mod in pkgutil.iter_modules(list(self.path)):
            if mod.name not in self._imported:
                self._imported.add(mod.name)
                importlib.import_module(f"{self.package}.{mod.name}")

    def available(self) -> dict[str, str]:
        """name -> label, in `order` first, then alphabetically."""
        self._load()
        rank = {n: i for i, n in enumerate(self.order)}
        return {n: self.labels[n] for n in sorted(self.labels, key=lambda n: (rank.get(n, len(rank)), n))}

    def names(self) -> tuple[str, ...]:
        return tuple(self.available())

    def settings_of(self, name: str) -> tuple[str, ...]:
        """The settings method `name` takes: its builder's keyword-only parameters."""
        self._load()
        builder = self.builders.get(name)
        if builder is None:
            return ()
        params = inspect.signature(builder).parameters.values()
        return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)

    def build(self, name: str, ctx: Any, config: Any) -> Any:
        """Build method `name` with its context and, from `config`, the settings it takes."""
        self._load()
        if name not in self.builders:
            raise SettingError(f"method = {name!r} is not allowed: it must be one of {', '.join(self.available())}",
                               setting="method", value=name)
        return self.builders[name](ctx, **{s: getattr(config, s) for s in self.settings_of(name)})
