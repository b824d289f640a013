"""Scalar helpers written once, with a CPU twin and a device (or plain-Python) twin.

A helper is a plain function of scalars and arrays decorated with :func:`scalar`: the
decorator registers its source and returns the numba CPU twin, which is what the module
name then refers to. :func:`rebuild` makes the other twins from the registered sources:
``rebuild(rng, cuda.jit(device=True), ...)`` gives GPU device functions and
``rebuild(rng, lambda f: f, ...)`` plain Python, both with the same arithmetic, so the
three agree bit for bit (the tests check it). Inside a rebuilt helper, every helper of the
same module, and every module named in ``deps``, resolves to its rebuilt twin.

The RNG (``mixing.engine.rng``), the angle laws (``mixing.engine.laws``) and the per-step draws and
reflection step of the kernels (``mixing.engine.kernels.draws``) are written this way; a test
checks that every compiled function of those modules is registered.
"""

from __future__ import annotations

import types
from collections.abc import Callable

from ._jit import hot

_REGISTRY: dict = {}


def scalar(fn: Callable) -> Callable:
    """Register ``fn`` as a scalar helper and return its numba CPU twin (compiled without
    reference counting: a helper never allocates)."""
    _REGISTRY.setdefault(fn.__module__, {})[fn.__name__] = fn
    return hot(fn)


def registered(module: types.ModuleType) -> dict:
    """name -> plain source function of every helper registered by ``module``."""
    return dict(_REGISTRY.get(module.__name__, {}))


def rebuild(
    module: types.ModuleType, wrap: Callable[[Callable], Callable], name: str, deps: dict | None = None
) -> types.ModuleType:
    """The registered helpers of ``module`` rebuilt through ``wrap``, as a new module.

    ``deps`` maps a global name of ``module`` (a module it imports, e.g. ``"rng"``) to that
    module's rebuilt twin. Upper-case constants of ``module`` are copied over.
    """
    out = types.ModuleType(name)
    g = dict(vars(module))
    g.update(deps or {})
    helpers = registered(module)
    if not helpers:
        raise ValueError(f"{module.__name__} registers no scalar helpers")
    for fname in helpers:
        g[fname] = None
    for fname, fn in helpers.items():
        g[fname] = wrap(types.FunctionType(fn.__code__, g, fname, fn.__defaults__))
        setattr(out, fname, g[fname])
    for key, value in vars(module).items():
        if key.isupper() and not key.startswith("_"):
            setattr(out, key, value)
    return out
