"""Counter-based random numbers keyed by (seed, trial, position, stream).

Every random quantity of a simulation is a pure function of a 64-bit *key* and a small
index, so a draw can be regenerated anywhere (a second pass, another thread, a GPU
thread) without carrying generator state:

- ``trial_key(seed, trial)`` and ``pos_key(trial_key, pos, stream)`` derive keys with the
  SplitMix64 finaliser ``mix``;
- ``u64(key, j) = mix(key + (j + 1) * GOLDEN)`` is the j-th 64-bit word of a key
  (SplitMix64 read at counter j);
- ``uniform`` takes its top 53 bits; ``normal`` is an exact 256-layer ziggurat
  (Marsaglia & Tsang 2000, with the 52-bit layout of NumPy's generator): about 99% of draws
  cost one word, a multiply and a compare; the rare wedge and tail cases draw from a
  sub-stream derived from the rejected word, so ``normal(key, j)`` stays a function of
  ``(key, j)``;
- ``gamma`` (Marsaglia & Tsang's squeeze method) and ``sphere_coord`` (one coordinate of a
  uniform unit vector of R^d, the projection of a random key on a fixed direction) are
  exact rejection samplers built on these.

The scalar functions are :func:`mixing.engine.twins.scalar` helpers: the module names are the
numba-compiled twins the kernels call, ``rng.plain`` holds plain-Python twins with
identical bits (the NumPy reference calls them), and ``mixing.engine.kernels.cuda`` rebuilds
device twins from the same source. ``normals_np`` draws a block of normals vectorised in
NumPy.

From Python, pass keys as ``np.uint64``: numba returns them as Python ints, and a Python int
at or above 2**63 cannot be passed back to a compiled function.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from . import twins
from .twins import scalar

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_C_SEED = np.uint64(0x2545F4914F6CDD1D)
_C_TRIAL = np.uint64(0xD1B54A32D192ED03)
_C_SUB = np.uint64(0x8CB92BA72F3D8DD7)
_C_AUX = np.uint64(0xA0761D6478BD642F)
#: the salt of :func:`aux_key`: ``aux_key(k) = mix(k ^ AUX)``
AUX = _C_AUX
_S8 = np.uint64(8)
_S11 = np.uint64(11)
_S27 = np.uint64(27)
_S30 = np.uint64(30)
_S31 = np.uint64(31)
_ONE = np.uint64(1)
_BYTE = np.uint64(0xFF)
_MASK52 = np.uint64(0x000FFFFFFFFFFFFF)
_TWO_M53 = 2.0**-53

#: Streams of one position (the ``stream`` argument of ``pos_key``).
STREAM_GEN = 0  # the generator at this lag (direction, angles or token)
STREAM_KEY = 1  # the key at this lag (kind and projection)
STREAM_VAL = 2  # the value noise at this lag (explicit draws)
STREAM_Q = 3  # per-trial setup (position 0): the query
STREAM_K = 4  # per-trial setup (position 0): the key partner / target value
STREAM_CKPT = 5  # value-noise increments at checkpoints (position = checkpoint slot)
STREAM_TABLE = 6  # per-token tables (trial key of trial 0, position = vocabulary entry)
NSTREAMS = np.uint64(8)


def _ziggurat_tables(n: int = 256, r: float = 3.6541528853610088, v: float = 0.00492867323399):
    """Layer tables of the 256-layer normal ziggurat (Marsaglia & Tsang 2000, Doornik 2005).

    ``r`` is the start of the tail and ``v`` the common area of every layer; layer 0 is
    the base strip (rectangle plus tail), layers 1..n-1 go from the top of the density
    down to x = r.
    """
    f = lambda x: math.exp(-0.5 * x * x)  # noqa: E731
    scale = 2.0**52
    ki = np.zeros(n, dtype=np.uint64)
    wi = np.zeros(n)
    fi = np.zeros(n)
    dn = tn = r
    q = v / f(dn)
    ki[0] = np.uint64(int(dn / q * scale))
    ki[1] = 0
    wi[0] = q / scale
    wi[n - 1] = dn / scale
    fi[0] = 1.0
    fi[n - 1] = f(dn)
    for i in range(n - 2, 0, -1):
        dn = math.sqrt(-2.0 * math.log(v / dn + f(dn)))
        ki[i + 1] = np.uint64(int(dn / tn * scale))
        tn = dn
        fi[i] = f(dn)
        wi[i] = dn / scale
    return ki, wi, fi


ZIG_K, ZIG_W, ZIG_F = _ziggurat_tables()
ZIG_R = 3.6541528853610088
ZIG_INV_R = 1.0 / ZIG_R


@scalar
def mix(z):
    z = np.uint64(z)
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@scalar
def trial_key(seed, trial):
    return mix(mix(np.uint64(seed) * GOLDEN + _C_SEED) + (np.uint64(trial) + _ONE) * _C_TRIAL)


@scalar
def pos_salt(pos, stream):
    """The part of :func:`pos_key` shared by every trial: ``pos_key(t, pos, stream) =
    mix(t ^ pos_salt(pos, stream))`` (a kernel running many trials at one position computes it
    once)."""
    return mix((np.uint64(pos) * NSTREAMS + np.uint64(stream) + _ONE) * GOLDEN)


@scalar
def pos_key(tkey, pos, stream):
    tkey = np.uint64(tkey)
    return mix(tkey ^ pos_salt(pos, stream))


@scalar
def u64(key, j):
    key = np.uint64(key)
    return mix(key + (np.uint64(j) + _ONE) * GOLDEN)


@scalar
def uniform(key, j):
    """Uniform on [0, 1) from the top 53 bits of word j."""
    return float(u64(key, j) >> _S11) * _TWO_M53


@scalar
def aux_key(key):
    """A second key derived from ``key`` (for draws that need their own counter)."""
    return mix(np.uint64(key) ^ _C_AUX)


@scalar
def normal(key, j):
    """Standard normal number j of ``key``: exact 256-layer ziggurat."""
    r = u64(key, j)
    if zig_hit(r):
        return zig_fast(r)
    return normal_slow(r)


@scalar
def zig_hit(r):
    """Whether word r takes the ziggurat's fast path (about 99% of words)."""
    return ((r >> _S8 >> _ONE) & _MASK52) < ZIG_K[int(r & _BYTE)]


@scalar
def zig_fast(r):
    """The ziggurat's fast-path normal of word r, :func:`normal`'s value where ``zig_hit(r)``.
    Branch-free, so a loop of it over many words vectorises."""
    rabs = (r >> _S8 >> _ONE) & _MASK52
    # branch-free sign; rabs < 2**52 converts exactly through int64
    sign = 1.0 - 2.0 * float(np.int64((r >> _S8) & _ONE))
    return sign * (float(np.int64(rabs)) * ZIG_W[int(r & _BYTE)])


@scalar
def normal_slow(r):
    """The rare ziggurat cases (wedges and tail), drawing from a sub-stream of word r."""
    sub = mix(r ^ _C_SUB)
    t = 0
    while True:
        idx = int(r & _BYTE)
        r2 = r >> _S8
        neg = (r2 & _ONE) == _ONE
        rabs = (r2 >> _ONE) & _MASK52
        x = float(rabs) * ZIG_W[idx]
        if neg:
            x = -x
        if rabs < ZIG_K[idx]:
            return x
        if idx == 0:
            while True:
                xx = -ZIG_INV_R * math.log1p(-uniform(sub, t))
                yy = -math.log1p(-uniform(sub, t + 1))
                t += 2
                if yy + yy > xx * xx:
                    return -(ZIG_R + xx) if neg else ZIG_R + xx
        if (ZIG_F[idx - 1] - ZIG_F[idx]) * uniform(sub, t) + ZIG_F[idx] < math.exp(-0.5 * x * x):
            return x
        r = u64(sub, t + 1)
        t += 2


@scalar
def gamma_mt(key, dd, c):
    """The core of :func:`gamma` for alpha >= 1, given dd = alpha - 1/3 and c = 1/sqrt(9 dd)
    (a kernel drawing many variates of one alpha computes them once)."""
    t = 0
    while True:
        x = normal(key, t)
        u = uniform(key, t + 1)
        t += 2
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        x2 = x * x
        if u < 1.0 - 0.0331 * x2 * x2:
            return dd * v
        if math.log(u) < 0.5 * x2 + dd * (1.0 - v + math.log(v)):
            return dd * v


@scalar
def gamma_consts(alpha):
    """(dd, c) of :func:`gamma_mt` for alpha >= 1."""
    dd = alpha - 1.0 / 3.0
    return dd, 1.0 / math.sqrt(9.0 * dd)


@scalar
def gamma(key, alpha):
    """Gamma(alpha, 1), alpha > 0: Marsaglia & Tsang (2000), exact (alpha < 1 through
    Gamma(alpha + 1) U^(1/alpha))."""
    boost = 1.0
    a = alpha
    if a < 1.0:
        boost = uniform(aux_key(key), 0) ** (1.0 / a)
        a = a + 1.0
    dd, c = gamma_consts(a)
    return gamma_mt(key, dd, c) * boost


@scalar
def sphere_coord(key, d):
    """One coordinate of a uniform unit vector of R^d (d >= 2): z / sqrt(z^2 + chi2_{d-1})."""
    z = normal(key, 0)
    chi2 = 2.0 * gamma(aux_key(key), 0.5 * (d - 1))
    return z / math.sqrt(z * z + chi2)


@scalar
def sphere_coord_mt(key, dd, c):
    """:func:`sphere_coord` for d >= 3 with ``(dd, c) = gamma_consts((d - 1) / 2)`` computed
    once; the same bits."""
    z = normal(key, 0)
    chi2 = 2.0 * gamma_mt(aux_key(key), dd, c)
    return z / math.sqrt(z * z + chi2)


class _Plain:
    """The same functions as plain Python on NumPy scalars (wrap-around ignored)."""

    def __init__(self):
        self._mod = twins.rebuild(sys.modules[__name__], lambda fn: fn, "mixing.engine.rng.plain")
        for fname in twins.registered(sys.modules[__name__]):
            setattr(self, fname, self._wrap(getattr(self._mod, fname)))
        for name, value in vars(self._mod).items():
            if name.isupper():
                setattr(self, name, value)

    @staticmethod
    def _wrap(fn):
        def call(*args):
            with np.errstate(over="ignore"):
                return fn(*args)

        call.__name__ = fn.__name__
        return call


plain = _Plain()


def normals_np(key, n: int) -> np.ndarray:
    """Normals ``normal(key, j)`` for j = 0..n-1, vectorised (bit-identical)."""
    key = np.uint64(key)
    with np.errstate(over="ignore"):
        j = np.arange(n, dtype=np.uint64)
        z = key + (j + _ONE) * GOLDEN
        z = (z ^ (z >> _S30)) * _M1
        z = (z ^ (z >> _S27)) * _M2
        r = z ^ (z >> _S31)
    idx = (r & _BYTE).astype(np.intp)
    r2 = r >> _S8
    neg = (r2 & _ONE) == _ONE
    rabs = (r2 >> _ONE) & _MASK52
    x = rabs.astype(np.float64) * ZIG_W[idx]
    x = np.where(neg, -x, x)
    slow = np.nonzero(rabs >= ZIG_K[idx])[0]
    for jj in slow:
        x[jj] = plain.normal_slow(r[jj])
    return x


def unit_np(key, d: int) -> np.ndarray:
    """A uniform unit vector of R^d from ``normals_np(key, d)``."""
    z = normals_np(key, d)
    return z / math.sqrt(float(np.dot(z, z)))
