"""Per-step draws and the reflection step, written once for the CPU and the GPU kernels.

Each helper is a :func:`mixing.engine.twins.scalar`: the names here are the numba CPU twins;
``mixing.engine.kernels.cuda`` rebuilds device twins from the same source. The NumPy reference
draws the same numbers through ``rng.plain`` (it does not call these helpers, so it checks
them).
"""

from __future__ import annotations

import math

from .. import rng
from ..codes import LOOKALIKE, OTHER, SEQ, TARGET
from ..twins import scalar


@scalar
def token(key, cdf):
    """Token drawn from ``cdf``: the first index with cdf > u (u uniform); the recall task's
    sampler (the kernels use :func:`alias_token`)."""
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
def alias_token(key, alias):
    """Token drawn by Walker's alias method: one uniform u picks column i = floor(V u) and
    its fraction f; the token is i if f < alias[i, 0], else alias[i, 1]. O(1) whatever V."""
    V = alias.shape[0]
    x = rng.uniform(key, 0) * V
    i = min(int(x), V - 1)
    if x - i < alias[i, 0]:
        return i
    return int(alias[i, 1])


@scalar
def table_row(src, tk, n, alias, V):
    """Table row of lag n: a token drawn from the alias table (TABLE) or row (n-1) mod V (SEQ)."""
    if src == SEQ:
        return (n - 1) % V
    return alias_token(rng.pos_key(tk, n, rng.STREAM_GEN), alias)


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


@scalar
def other_coord_mt(kk, d, dd, c):
    """:func:`other_coord` with ``(dd, c) = rng.gamma_consts((d - 1) / 2)`` computed once by
    the caller (any value when d < 3); the same bits."""
    if d < 3:
        return other_coord(kk, d)
    return rng.sphere_coord_mt(rng.aux_key(kk), dd, c)


@scalar
def sphere_head(key, d, k, w, dd, c):
    """The first k coordinates of a uniform unit vector of R^d (d > k) into ``w[:k]``, exactly:
    k normals z_i and chi2_{d-k} = 2 Gamma((d-k)/2), w_i = z_i / sqrt(sum z^2 + chi2);
    ``(dd, c) = rng.gamma_consts((d - k) / 2)`` when (d - k)/2 >= 1 (else ignored). Returns
    the squared norm of the other d - k coordinates, chi2 / (sum z^2 + chi2)."""
    s = 0.0
    for i in range(k):
        z = rng.normal(key, i)
        w[i] = z
        s += z * z
    if d - k >= 2:
        chi2 = 2.0 * rng.gamma_mt(rng.aux_key(key), dd, c)
    else:
        chi2 = 2.0 * rng.gamma(rng.aux_key(key), 0.5 * (d - k))
    inv = 1.0 / (s + chi2)
    scale = math.sqrt(inv)
    for i in range(k):
        w[i] *= scale
    return chi2 * inv


@scalar
def reduced_step2(key, d, beta, a, r, w, dd, c):
    """:func:`reduced_step` on u = a e1 + r e2 (no second fixed direction: what the retrieval
    scores need, since its target key is e1); d >= 3, ``(dd, c) = rng.gamma_consts((d - 2) / 2)``
    (any value when d < 4). Returns (a, r) after the step."""
    rest = sphere_head(key, d, 2, w, dd, c)
    ba = beta * (a * w[0] + r * w[1])
    x = r - ba * w[1]
    return a - ba * w[0], math.sqrt(x * x + ba * ba * rest)


@scalar
def reduced_step(key, d, beta, a, b, r, w, dd, c):
    """One step u <- (I - beta w w^T) u of an i.i.d. uniform direction w, on the reduced state
    u = a e1 + b e2 + r e3 (e1, e2 fixed orthonormal directions, e3 the unit direction of the
    rest of u, r >= 0). By isotropy the law of the next state depends on (a, b, r) only, and
    w enters through its coordinates on e1, e2, e3 and the norm of the rest (``sphere_head``),
    so this is exact in law at O(1) cost whatever d (d >= 4). ``w``: scratch of length 3;
    ``(dd, c) = rng.gamma_consts((d - 3) / 2)`` (any value when d < 5). Returns (a, b, r)
    after the step."""
    rest = sphere_head(key, d, 3, w, dd, c)
    ba = beta * (a * w[0] + b * w[1] + r * w[2])
    x = r - ba * w[2]
    return a - ba * w[0], b - ba * w[1], math.sqrt(x * x + ba * ba * rest)
