"""Per-trial state and per-step helpers of the CPU kernels (``cpu.py``): unit vectors, the
SO(2) and Householder steps, the online softmax (``rescale``, ``add``) and the read-out of a
length (``record``), and a trial's set-up. The helpers that never allocate are compiled
without reference counting (``_jit.hot``)."""

from __future__ import annotations

import math

import numpy as np

from .. import laws, rng
from .._jit import dot4, hot, njit
from ..codes import CONST, GAUSSIAN, GAUSSIAN_REL, IID, TARGET, UNIFORM
from .contract import ACC_CST as _CST
from .contract import ACC_MAX as _MAX
from .contract import N_ACC, N_VECS, N_WEIGHTED
from .contract import V_MEAN_N as _MEAN_N
from .contract import V_MU as _MU
from .contract import V_NOISE_N as _NOISE_N
from .contract import V_TSTAR as _TSTAR
from .contract import V_VMEAN as _VMEAN
from .contract import V_VSTAR as _VSTAR
from .draws import reflect, table_row
from .readout import add_sums, metrics, pending_noise, readout, rescale_sums


@hot
def unit(key, out):
    """Fill ``out`` with a uniform unit vector (normalised normals j = 0..d-1 of key)."""
    s = 0.0
    for j in range(out.shape[0]):
        z = rng.normal(key, j)
        out[j] = z
        s += z * z
    s = 1.0 / math.sqrt(s)
    for j in range(out.shape[0]):
        out[j] *= s


@hot
def partner(key, q, c, out):
    """A unit vector with ``q . out = c``: c q + sqrt(1 - c^2) e, e uniform on q's complement."""
    d = q.shape[0]
    for j in range(d):
        out[j] = rng.normal(key, j)
    proj = 0.0
    for j in range(d):
        proj += out[j] * q[j]
    s = 0.0
    for j in range(d):
        out[j] -= proj * q[j]
        s += out[j] * out[j]
    s = math.sqrt(1.0 - c * c) / math.sqrt(s)
    for j in range(d):
        out[j] = c * q[j] + s * out[j]


@njit
def block_coeffs(q, k):
    """Per block m: (R(-Phi_m) q_m) . k_m = a_m cos Phi_m + b_m sin Phi_m."""
    h = q.shape[0] // 2
    a = np.empty(h)
    b = np.empty(h)
    for m in range(h):
        a[m] = q[2 * m] * k[2 * m] + q[2 * m + 1] * k[2 * m + 1]
        b[m] = q[2 * m + 1] * k[2 * m] - q[2 * m] * k[2 * m + 1]
    return a, b


@hot
def step_so2(src, law, lawpar, centers, table, alias, tk, n, phi):
    """Accumulated angles Phi_n = Phi_{n-1} + phi_n of every block."""
    h = phi.shape[0]
    if src == CONST:
        for m in range(h):
            phi[m] = n * centers[m]
    elif src == IID:
        key = rng.pos_key(tk, n, rng.STREAM_GEN)
        # one loop per common law, with the law a constant in it, so that the compiled loop
        # holds that law's draw alone instead of testing the law in every block (retrieval
        # at d = 64, one thread: 1.4x with Gaussian angles, 2x with uniform; BENCHMARKS.md)
        if law == GAUSSIAN:
            for m in range(h):
                phi[m] += centers[m] + laws.angle(GAUSSIAN, lawpar, key, m, centers[m])
        elif law == GAUSSIAN_REL:
            for m in range(h):
                phi[m] += centers[m] + laws.angle(GAUSSIAN_REL, lawpar, key, m, centers[m])
        elif law == UNIFORM:
            for m in range(h):
                phi[m] += centers[m] + laws.angle(UNIFORM, lawpar, key, m, centers[m])
        else:
            for m in range(h):
                phi[m] += centers[m] + laws.angle(law, lawpar, key, m, centers[m])
    else:
        tok = table_row(src, tk, n, alias, table.shape[0])
        for m in range(h):
            phi[m] += table[tok, m]


@hot
def dot(x, y):
    """x . y in ``_jit.dot_fixed_order``'s order, four accumulators in one vector register
    (``_jit.dot4``): the bits are the same on every machine (no fast-math reassociation)."""
    return dot4(x, y)


@hot
def step_hh(src, betas, table, alias, tk, n, u, w, fill):
    """u <- H_n u with H_n = I - beta w w^T; returns (alpha = w . u before, beta). The
    direction goes to ``w`` when it is drawn (IID) or when ``fill`` is set; a table row is
    otherwise read in place.

    ``betas`` holds one beta per table row (TABLE, SEQ) or the single beta (IID)."""
    if src == CONST:
        return 0.0, 0.0
    if src == IID:
        unit(rng.pos_key(tk, n, rng.STREAM_GEN), w)
        beta = betas[0]
        v = w
    else:
        tok = table_row(src, tk, n, alias, table.shape[0])
        v = table[tok]
        beta = betas[tok]
        if fill:
            for j in range(u.shape[0]):
                w[j] = v[j]
    alpha = dot(v, u)
    reflect(u, v, beta * alpha)
    return alpha, beta


@hot
def rescale(acc, vecs, s):
    """Make score s > acc[_MAX] the running maximum, rescaling the weighted sums. The
    kernels test ``s > acc[_MAX]`` inline and call this rarely (log L times a trial):
    a helper holding both the test and this loop is not inlined by numba and costs about
    20 ns a step in call overhead (measured)."""
    f = rescale_sums(acc, s)
    for r in range(N_WEIGHTED):
        for j in range(vecs.shape[1]):
            vecs[r, j] *= f


@hot
def add(acc, vecs, c, near, kind, transport, trick):
    """Add a source of weight c (value mean in ``vecs[_VMEAN]`` when transporting)."""
    add_sums(acc, c, near, kind, trick)
    if transport and kind != TARGET:
        part = 0 if near else 1
        for j in range(vecs.shape[1]):
            vecs[_MEAN_N + part, j] += c * vecs[_VMEAN, j]


@hot
def record(acc, vecs, tk, slot, xi, transport, far_target, row):
    """Draw the pending noise increments and write the four metrics of one length."""
    d = vecs.shape[1]
    sd = xi / math.sqrt(d)
    for part in range(2):
        scale, key = pending_noise(acc, part, tk, slot, sd)
        if scale > 0.0:
            for j in range(d):
                vecs[_NOISE_N + part, j] += scale * rng.normal(key, j)
    cf = acc[_CST] if far_target else 0.0
    yt = 0.0
    yf2 = 0.0
    tt2 = 0.0
    for j in range(d):
        a, b, c = readout(acc, vecs, j, transport, cf)
        yt += a
        yf2 += b
        tt2 += c
    metrics(acc, cf, yt, yf2, tt2, row)


@njit
def setup_retrieval(tk, mdelta, mu, transport):
    """A trial's state: query q, target key normalize(E[P_delta]^T q) (q if that vanishes),
    the vectors (target value, value mean, ...) and the softmax sums."""
    d = mdelta.shape[0]
    q = np.empty(d)
    kst = np.empty(d)
    vecs = np.zeros((N_VECS, d))
    acc = np.zeros(N_ACC)
    acc[_MAX] = -np.inf
    unit(rng.pos_key(tk, 0, rng.STREAM_Q), q)
    s = 0.0
    for j in range(d):
        x = 0.0
        for i in range(d):
            x += mdelta[i, j] * q[i]
        kst[j] = x
        s += x * x
    if s > 1e-300:
        s = 1.0 / math.sqrt(s)
        for j in range(d):
            kst[j] *= s
    else:
        for j in range(d):
            kst[j] = q[j]
    vstar = vecs[_VSTAR]
    unit(rng.pos_key(tk, 0, rng.STREAM_K), vstar)
    for j in range(d):
        vecs[_MU, j] = mu / math.sqrt(d)
        if not transport:
            vecs[_TSTAR, j] = vstar[j]
    return q, kst, vecs, acc
