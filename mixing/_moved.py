"""The module paths of 0.1 (a flat ``mixing/``), kept importable for one release.

``import mixing.mechanisms`` gives ``mixing.engine.mechanisms`` itself (the same module
object, so state and ``isinstance`` agree) and a ``DeprecationWarning`` naming the new path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
import warnings
from collections.abc import Sequence

ENGINE = (
    "codes",
    "rng",
    "twins",
    "laws",
    "params",
    "_jit",
    "mechanisms",
    "task",
    "measures",
    "errors",
    "files",
    "stats",
    "forecast",
    "kernels",
)
SWEEP = ("grid", "executors", "results", "smoke", "locks")
#: old top-level name -> new name (submodules follow their package)
MOVED = {
    **{f"mixing.{m}": f"mixing.engine.{m}" for m in ENGINE},
    **{f"mixing.{m}": f"mixing.sweep.{m}" for m in SWEEP},
    "mixing.learned.generators": "mixing.engine.generators",
}


def new_name(name: str) -> str | None:
    """The current path of a 0.1 module path, or None when ``name`` did not move."""
    for old, new in MOVED.items():
        if name == old or name.startswith(old + "."):
            return new + name[len(old) :]
    return None


#: the real spec of each aliased module, by its current name (nested alias imports keep theirs)
_SPECS: dict = {}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        new = new_name(name)
        if new is None:
            return None
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        new = new_name(spec.name)
        warnings.warn(
            f"{spec.name} moved to {new}; the old path goes in the next release", DeprecationWarning, stacklevel=2
        )
        module = importlib.import_module(new)
        _SPECS[module.__name__] = module.__spec__  # before the import machinery replaces it
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        module.__spec__ = _SPECS[module.__name__]  # the machinery set the old name's spec


def install() -> None:
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.insert(0, _Alias())
