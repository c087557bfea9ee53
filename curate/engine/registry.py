"""Registries: a YAML name -> the class that implements it, imported from its module on first use.

Steps, readers and executors are each one registry. The engine never imports a step, reader or
executor module by name; it asks the registry, which finds the module from the name itself
(`filter.gopher.quality` -> `curate/filters/gopher.py`, `reader: warc` -> `curate/readers/warc.py`).
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable


class Registry:
    """Classes of one kind by name. `module_of(name)` says which module defines `name` (None: none can)."""

    def __init__(self, kind: str, module_of: Callable[[str], str | None], packages: list[str]):
        self.kind, self.module_of, self.packages = kind, module_of, packages
        self._classes: dict[str, type] = {}

    def register(self, name: str):
        """Class decorator: make `cls` available under `name` in YAML files."""

        def wrap(cls: type) -> type:
            if name in self._classes and self._classes[name] is not cls:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            cls.name = name
            self._classes[name] = cls
            return cls

        return wrap

    def get(self, name: str) -> type:
        """The class registered as `name`, importing its module on first use; KeyError if none."""
        if name not in self._classes:
            module = self.module_of(name)
            if module:
                try:
                    importlib.import_module(module)
                except ModuleNotFoundError as err:
                    if err.name != module:
                        raise
        if name not in self._classes:
            raise KeyError(name)
        return self._classes[name]

    def all(self) -> dict[str, type]:
        """Every class the packages define, by name."""
        for package in self.packages:
            pkg = importlib.import_module(package)
            for info in pkgutil.iter_modules(pkg.__path__):
                importlib.import_module(f"{package}.{info.name}")
        return dict(sorted(self._classes.items()))

    def unknown(self, name: str) -> str:
        """The error for a name nothing defines, with the closest names."""
        close = difflib.get_close_matches(str(name), list(self.all()), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(self.all())}"
        return f"unknown {self.kind} {name!r}{hint}"
