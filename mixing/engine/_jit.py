"""One project-wide ``njit``, and on-disk caching that cannot go stale.

Caching is on unless ``MIXING_NUMBA_CACHE=0``. numba keys a cached kernel on its own source
file only, so a kernel in ``kernels/cpu.py`` would keep calling the old ``rng.normal`` after
``rng.py`` changed. Here every compiled function of this project (files under ``mixing/``
and ``proofs/``) is keyed on a digest of all the sources the kernels compile from, the
engine (``mixing/engine/``): any change there recompiles everything once, and a change
elsewhere (the sweep's command line, ``mixing.lm``) recompiles nothing.
"""

from __future__ import annotations

import hashlib
import os
from functools import partial
from pathlib import Path

import numba
from numba import types
from numba.extending import intrinsic

CACHE = os.environ.get("MIXING_NUMBA_CACHE", "1") not in ("0", "false", "no", "")

_PKG = Path(__file__).resolve().parent  # mixing/engine
_ROOTS = (str(_PKG.parent), str(_PKG.parent.parent / "proofs"))


def source_digest(pkg: Path = _PKG) -> str:
    """SHA-256 of the sources the compiled kernels depend on: every ``.py`` file of the engine
    (16 hex digits)."""
    h = hashlib.sha256()
    for path in sorted(pkg.rglob("*.py")):
        h.update(str(path.relative_to(pkg)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


DIGEST = source_digest()


def _salted(base):
    """A subclass of numba's cache locator ``base`` that serves only this project's files and
    salts their source stamp with ``DIGEST``."""

    class Salted(base):
        def get_source_stamp(self):
            return (super().get_source_stamp(), DIGEST)

        @classmethod
        def from_function(cls, py_func, py_file):
            if not str(Path(py_file).resolve()).startswith(_ROOTS):
                return None
            return super().from_function(py_func, py_file)

    Salted.__name__ = Salted.__qualname__ = "Mixing" + base.__name__
    return Salted


def _install() -> bool:
    """Put the salted locators first; False when this numba has no such hook."""
    try:
        from numba.core.caching import CacheImpl, InTreeCacheLocator, UserProvidedCacheLocator, UserWideCacheLocator
    except ImportError:  # pragma: no cover - other numba layouts
        return False
    classes = CacheImpl._locator_classes
    if not any(c.__name__.startswith("Mixing") for c in classes):
        # NUMBA_CACHE_DIR first, as numba orders them
        classes[:0] = [_salted(UserProvidedCacheLocator), _salted(InTreeCacheLocator), _salted(UserWideCacheLocator)]
    return True


SALTED = _install() if CACHE else False


@intrinsic
def load_flag(typingctx, flag):
    """``flag[0]`` of an int64 array, read with an atomic acquire load: a kernel polling a stop
    flag written by another thread must reread it, and a plain load of memory the loop never
    writes is hoisted out of the loop by LLVM (the flag was then read once, measured)."""
    if not (isinstance(flag, types.Array) and flag.dtype == types.int64):
        return None

    def codegen(context, builder, signature, args):
        arr = context.make_array(signature.args[0])(context, builder, args[0])
        return builder.load_atomic(arr.data, ordering="acquire", align=8)

    return types.int64(flag), codegen


njit = partial(numba.njit, cache=CACHE, nogil=True)
pnjit = partial(numba.njit, cache=CACHE, nogil=True, parallel=True)
#: for helpers that never allocate (they only read and write arrays they are given): no
#: reference counting. numba otherwise increments and decrements the count of every array
#: argument on entry and exit, with atomic instructions it does not always prune; in the
#: retrieval kernels that was about half of the time of a step (measured with perf)
hot = partial(numba.njit, cache=CACHE, nogil=True, _nrt=False)
