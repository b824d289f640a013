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


def dot_fixed_order(x, y):
    """x . y with four accumulators in a fixed order: ``s_k`` sums ``x[j] * y[j]`` over
    ``j = k mod 4`` (j < n - n % 4), the tail goes into ``s_0``, and the result is
    ``(s_0 + s_1) + (s_2 + s_3)``. The reference of :func:`dot4`, and its code for arrays
    that are not contiguous."""
    n = x.shape[0]
    m = n - n % 4
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    for j in range(0, m, 4):
        s0 += x[j] * y[j]
        s1 += x[j + 1] * y[j + 1]
        s2 += x[j + 2] * y[j + 2]
        s3 += x[j + 3] * y[j + 3]
    for j in range(m, n):
        s0 += x[j] * y[j]
    return (s0 + s1) + (s2 + s3)


@intrinsic
def dot4(typingctx, x, y):
    """:func:`dot_fixed_order` with its four accumulators in one ``<4 x double>`` register.

    The same multiplies and additions in the same order, so the same bits (neither version
    fuses a multiply-add: numba compiles without fast-math, so LLVM may not contract them).
    numba turns LLVM's SLP vectoriser off, which left the scalar version scalar: four
    accumulators written out are SLP's pattern, and the loop vectoriser may not reorder a
    floating-point sum. Contiguous 1-D float64 arrays only; others compile the reference."""
    ok = all(isinstance(a, types.Array) and a.ndim == 1 and a.dtype == types.float64 for a in (x, y))
    if not ok:
        return None
    sig = types.float64(x, y)
    if x.layout != "C" or y.layout != "C":

        def strided(context, builder, signature, args):
            return context.compile_internal(builder, dot_fixed_order, signature, args)

        return sig, strided

    def codegen(context, builder, signature, args):
        from llvmlite import ir
        from numba.core import cgutils

        xa = context.make_array(signature.args[0])(context, builder, args[0])
        ya = context.make_array(signature.args[1])(context, builder, args[1])
        n = builder.extract_value(xa.shape, 0)
        dbl = ir.DoubleType()
        vty = ir.VectorType(dbl, 4)
        four = ir.Constant(n.type, 4)
        m = builder.mul(builder.udiv(n, four), four)
        accp = cgutils.alloca_once_value(builder, ir.Constant(vty, [ir.Constant(dbl, 0.0)] * 4))
        with cgutils.for_range_slice(builder, ir.Constant(n.type, 0), m, four) as (j, _):
            vx = builder.load(builder.bitcast(builder.gep(xa.data, [j]), vty.as_pointer()), align=8)
            vy = builder.load(builder.bitcast(builder.gep(ya.data, [j]), vty.as_pointer()), align=8)
            builder.store(builder.fadd(builder.load(accp), builder.fmul(vx, vy)), accp)
        acc = builder.load(accp)
        s = [builder.extract_element(acc, ir.Constant(ir.IntType(32), k)) for k in range(4)]
        s0p = cgutils.alloca_once_value(builder, s[0])
        with cgutils.for_range_slice(builder, m, n, ir.Constant(n.type, 1)) as (j, _):
            xj = builder.load(builder.gep(xa.data, [j]))
            yj = builder.load(builder.gep(ya.data, [j]))
            builder.store(builder.fadd(builder.load(s0p), builder.fmul(xj, yj)), s0p)
        return builder.fadd(builder.fadd(builder.load(s0p), s[1]), builder.fadd(s[2], s[3]))

    return sig, codegen


njit = partial(numba.njit, cache=CACHE, nogil=True)
pnjit = partial(numba.njit, cache=CACHE, nogil=True, parallel=True)
#: for helpers that never allocate (they only read and write arrays they are given): no
#: reference counting. numba otherwise increments and decrements the count of every array
#: argument on entry and exit, with atomic instructions it does not always prune; in the
#: retrieval kernels that was about half of the time of a step (measured with perf)
hot = partial(numba.njit, cache=CACHE, nogil=True, _nrt=False)
