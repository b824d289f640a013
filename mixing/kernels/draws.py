"""Per-step draws and the reflection step, written once for the CPU and the GPU kernels.

Each helper is a :func:`mixing.twins.scalar`: the names here are the numba CPU twins;
``mixing.kernels.cuda`` rebuilds device twins from the same source. The NumPy reference
draws the same numbers through ``rng.plain`` (it does not call these helpers, so it checks
them).
"""

from __future__ import annotations

from .. import rng
from ..codes import LOOKALIKE, OTHER, SEQ, TARGET
from ..twins import scalar


@scalar
def token(key, cdf):
    """Token drawn from ``cdf``: the first index with cdf > u (u uniform)."""
    u = rng.uniform(key, 0)
    lo = 0
    hi = cdf.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cdf[mid] > u:
            hi = mid
        else:
            lo = mid + 1
    return lo


@scalar
def table_row(src, tk, n, cdf, V):
    """Table row of lag n: a token drawn from ``cdf`` (TABLE) or row (n-1) mod V (SEQ)."""
    if src == SEQ:
        return (n - 1) % V
    return token(rng.pos_key(tk, n, rng.STREAM_GEN), cdf)


@scalar
def key_kind(tk, n, delta, p):
    """The kind of the key at lag n (TARGET at lag delta, LOOKALIKE with probability p,
    else OTHER) and that lag's key."""
    kk = rng.pos_key(tk, n, rng.STREAM_KEY)
    if n == delta:
        return TARGET, kk
    if p > 0.0 and rng.uniform(kk, 0) < p:
        return LOOKALIKE, kk
    return OTHER, kk


@scalar
def other_coord(kk, d):
    """Projection of a uniform random key (of lag key ``kk``) on the transported query's
    direction: one coordinate of a uniform unit vector of R^d."""
    return rng.sphere_coord(rng.aux_key(kk), d)


@scalar
def reflect(u, w, ba):
    """The Householder step on the coordinates held here: u <- u - (beta alpha) w, with
    alpha = w . u computed by the caller (a plain dot on the CPU, a warp sum on the GPU)."""
    for k in range(u.shape[0]):
        u[k] -= ba * w[k]
