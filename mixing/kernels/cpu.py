"""numba CPU kernels: streaming, one RNG stream per trial, parallel over trials.

Contract (shared with ``reference.py``): every kernel takes the kernel spec of a mechanism
as plain arguments, a seed and a block of trials ``t0 .. t0+T-1``, and writes one row per
trial into ``out``; reductions over trials happen afterwards in NumPy, so results do not
depend on the number of threads or on how trials are split into blocks.

Walk kernels (``out[T, N, 2]``): for lags n = 1..N, column 0 is the coherence estimate
(SO(2): ``tr(P_n)/d``, exact given the angles; Householder: ``qhat^T P_n qhat``), column 1
is ``(qhat^T P_n khat)^2`` with ``qhat . khat = c``.

Retrieval kernels (``out[T, K, 4]``): for every context length ``lengths[k]``: near weight
a*, far mass A_F, retention <o, T*>/|T*|^2, far residual |sum_{n>W} a_n V_n|. One pass
from lag 1 to ``lengths[-1]`` transports the query backwards one generator at a time
(u_n = P_n^T qhat), keeps an online log-sum-exp softmax and records each length as it is
reached. Per trial: O(L d) time, O(d) memory (O(d^2) for Householder value transport,
which carries P_n itself).

Value noise xi_n ~ N(0, xi^2/d I) is independent of the scores, so for orthogonal
transport its weighted sum over the lags between two recorded lengths is exactly
N(0, xi^2/d * sum c_n^2 I): one Gaussian vector per length and part (near/far) replaces a
Gaussian vector per lag. Householder value transport with beta < 2 is not orthogonal and
draws xi_n explicitly.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from .. import laws, rng
from .._jit import njit, pnjit
from ..mechanisms import CONST, IID, SEQ

# acc slots
_MAX, _Z, _SN, _SF, _QN, _QF, _CST = range(7)
# vecs rows
_MEAN_N, _MEAN_F, _NOISE_N, _NOISE_F, _TSTAR, _MU, _VSTAR, _VMEAN = range(8)


@njit
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


@njit
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
def token(key, cdf):
    """Token drawn from ``cdf``: the first index with cdf > u (u uniform)."""
    u = rng.uniform(key, 0)
    lo, hi = 0, cdf.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cdf[mid] > u:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit
def table_token(src, tk, n, cdf, V):
    """Table row of lag n: a token drawn from ``cdf`` (TABLE) or row (n-1) mod V (SEQ)."""
    if src == SEQ:
        return (n - 1) % V
    return token(rng.pos_key(tk, n, rng.STREAM_GEN), cdf)


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


@njit
def step_so2(src, law, lawpar, centers, table, cdf, tk, n, phi):
    """Accumulated angles Phi_n = Phi_{n-1} + phi_n of every block."""
    h = phi.shape[0]
    if src == CONST:
        for m in range(h):
            phi[m] = n * centers[m]
    elif src == IID:
        key = rng.pos_key(tk, n, rng.STREAM_GEN)
        for m in range(h):
            phi[m] += centers[m] + laws.angle(law, lawpar, key, m, centers[m])
    else:
        tok = table_token(src, tk, n, cdf, table.shape[0])
        for m in range(h):
            phi[m] += table[tok, m]


@njit
def step_hh(src, betas, table, cdf, tk, n, u, w):
    """u <- H_n u with H_n = I - beta w w^T; fills w; returns (alpha = w . u before, beta).

    ``betas`` holds one beta per table row (TABLE, SEQ) or the single beta (IID)."""
    d = u.shape[0]
    if src == CONST:
        return 0.0, 0.0
    if src == IID:
        unit(rng.pos_key(tk, n, rng.STREAM_GEN), w)
        beta = betas[0]
    else:
        tok = table_token(src, tk, n, cdf, table.shape[0])
        for j in range(d):
            w[j] = table[tok, j]
        beta = betas[tok]
    alpha = 0.0
    for j in range(d):
        alpha += w[j] * u[j]
    ba = beta * alpha
    for j in range(d):
        u[j] -= ba * w[j]
    return alpha, beta


@njit
def key_kind(tk, n, delta, p):
    """0: target (lag delta), 1: lookalike (probability p), 2: other; and the lag's key."""
    kk = rng.pos_key(tk, n, rng.STREAM_KEY)
    if n == delta:
        return 0, kk
    if p > 0.0 and rng.uniform(kk, 0) < p:
        return 1, kk
    return 2, kk


@njit
def other_coord(kk, d):
    """Projection of a uniform random key on the transported query's direction."""
    return rng.sphere_coord(rng.aux_key(kk), d)


@njit
def weigh(acc, vecs, s):
    """Fold score s into the running maximum (rescaling the sums); return exp(s - max)."""
    if s > acc[_MAX]:
        f = math.exp(acc[_MAX] - s)
        for i in (_Z, _SN, _SF, _CST):
            acc[i] *= f
        acc[_QN] *= f * f
        acc[_QF] *= f * f
        for r in range(4):
            for j in range(vecs.shape[1]):
                vecs[r, j] *= f
        acc[_MAX] = s
    return math.exp(s - acc[_MAX])


@njit
def add(acc, vecs, c, near, kind, transport, trick):
    """Add a source of weight c (value mean in ``vecs[_VMEAN]`` when transporting)."""
    acc[_Z] += c
    if kind == 0:
        acc[_CST] = c
        return
    part = 0 if near else 1
    acc[_SN + part] += c
    if trick:
        acc[_QN + part] += c * c
    if transport:
        for j in range(vecs.shape[1]):
            vecs[_MEAN_N + part, j] += c * vecs[_VMEAN, j]


@njit
def record(acc, vecs, tk, slot, xi, transport, far_target, row):
    """Draw the pending noise increments and write the four metrics of one length."""
    d = vecs.shape[1]
    sd = xi / math.sqrt(d)
    for part in range(2):
        Q = acc[_QN + part]
        if Q > 0.0 and sd > 0.0:
            key = rng.pos_key(tk, 2 * slot + part, rng.STREAM_CKPT)
            scale = sd * math.sqrt(Q)
            for j in range(d):
                vecs[_NOISE_N + part, j] += scale * rng.normal(key, j)
        acc[_QN + part] = 0.0
    Z = acc[_Z]
    cst = acc[_CST]
    cf = cst if far_target else 0.0
    yt = 0.0
    yf2 = 0.0
    tt2 = 0.0
    for j in range(d):
        if transport:
            mN = vecs[_MEAN_N, j]
            mF = vecs[_MEAN_F, j]
        else:
            mN = acc[_SN] * vecs[_MU, j]
            mF = acc[_SF] * vecs[_MU, j]
        t = vecs[_TSTAR, j]
        yF = mF + vecs[_NOISE_F, j] + cf * t
        y = cst * t + mN + mF + vecs[_NOISE_N, j] + vecs[_NOISE_F, j]
        yt += y * t
        yf2 += yF * yF
        tt2 += t * t
    row[0] = cst / Z
    row[1] = (acc[_SF] + cf) / Z
    row[2] = yt / (Z * tt2)
    row[3] = math.sqrt(yf2) / Z


@njit
def setup_retrieval(tk, mdelta, mu, transport):
    """A trial's state: query q, target key normalize(E[P_delta]^T q) (q if that vanishes),
    the vectors (target value, value mean, ...) and the softmax sums."""
    d = mdelta.shape[0]
    q = np.empty(d)
    kst = np.empty(d)
    vecs = np.zeros((8, d))
    acc = np.zeros(7)
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


# ---------------------------------------------------------------------------------------
# walks: coherence and second moment


@pnjit
def walk_so2(src, law, lawpar, centers, table, cdf, c, N, seed, t0, out):
    h = centers.shape[0]
    d = 2 * h
    for tt in prange(out.shape[0]):
        tk = rng.trial_key(seed, t0 + tt)
        q = np.empty(d)
        k = np.empty(d)
        unit(rng.pos_key(tk, 0, rng.STREAM_Q), q)
        partner(rng.pos_key(tk, 0, rng.STREAM_K), q, c, k)
        a, b = block_coeffs(q, k)
        phi = np.zeros(h)
        for n in range(1, N + 1):
            step_so2(src, law, lawpar, centers, table, cdf, tk, n, phi)
            coh = 0.0
            uk = 0.0
            for m in range(h):
                cs = math.cos(phi[m])
                sn = math.sin(phi[m])
                coh += cs
                uk += a[m] * cs + b[m] * sn
            out[tt, n - 1, 0] = 2.0 * coh / d
            out[tt, n - 1, 1] = uk * uk


@pnjit
def walk_hh(src, betas, table, cdf, d, c, N, seed, t0, out):
    for tt in prange(out.shape[0]):
        tk = rng.trial_key(seed, t0 + tt)
        q = np.empty(d)
        k = np.empty(d)
        unit(rng.pos_key(tk, 0, rng.STREAM_Q), q)
        partner(rng.pos_key(tk, 0, rng.STREAM_K), q, c, k)
        u = q.copy()
        w = np.empty(d)
        for n in range(1, N + 1):
            step_hh(src, betas, table, cdf, tk, n, u, w)
            uq = 0.0
            uk = 0.0
            for j in range(d):
                uq += u[j] * q[j]
                uk += u[j] * k[j]
            out[tt, n - 1, 0] = uq
            out[tt, n - 1, 1] = uk * uk


# ---------------------------------------------------------------------------------------
# retrieval


@pnjit
def retrieval_so2(src, law, lawpar, centers, table, cdf, slope, transport, mdelta,
                  B, delta, p, kappa, mu, xi, window, lengths, seed, t0, out):
    h = centers.shape[0]
    d = 2 * h
    Lmax = lengths[lengths.shape[0] - 1]
    far_target = delta > window
    for tt in prange(out.shape[0]):
        tk = rng.trial_key(seed, t0 + tt)
        q, kst, vecs, acc = setup_retrieval(tk, mdelta, mu, transport)
        a, b = block_coeffs(q, kst)
        phi = np.zeros(h)
        cs = np.empty(h)
        sn = np.empty(h)
        slot = 0
        for n in range(1, Lmax + 1):
            step_so2(src, law, lawpar, centers, table, cdf, tk, n, phi)
            kind, kk = key_kind(tk, n, delta, p)
            if kind < 2 or transport:
                for m in range(h):
                    cs[m] = math.cos(phi[m])
                    sn[m] = math.sin(phi[m])
            if kind < 2:
                dot = 0.0
                for m in range(h):
                    dot += a[m] * cs[m] + b[m] * sn[m]
                s = B * dot
            else:
                s = B * kappa * other_coord(kk, d)
            s -= slope * n
            if transport:
                src_row = _VSTAR if kind == 0 else _MU
                dst_row = _TSTAR if kind == 0 else _VMEAN
                for m in range(h):
                    x0 = vecs[src_row, 2 * m]
                    x1 = vecs[src_row, 2 * m + 1]
                    vecs[dst_row, 2 * m] = cs[m] * x0 - sn[m] * x1
                    vecs[dst_row, 2 * m + 1] = sn[m] * x0 + cs[m] * x1
            cw = weigh(acc, vecs, s)
            add(acc, vecs, cw, n <= window, kind, transport, True)
            if n == lengths[slot]:
                record(acc, vecs, tk, slot, xi, transport, far_target, out[tt, slot])
                slot += 1


@pnjit
def retrieval_hh(src, betas, table, cdf, slope, transport, mdelta, d,
                 B, delta, p, kappa, mu, xi, window, lengths, seed, t0, out):
    Lmax = lengths[lengths.shape[0] - 1]
    far_target = delta > window
    carry = transport and src != CONST           # carry P_n itself
    explicit = carry and betas.min() < 2.0       # non-orthogonal: explicit value noise
    sd = xi / math.sqrt(d)
    for tt in prange(out.shape[0]):
        tk = rng.trial_key(seed, t0 + tt)
        q, kst, vecs, acc = setup_retrieval(tk, mdelta, mu, transport)
        u = q.copy()
        w = np.empty(d)
        nu2 = 1.0
        P = np.eye(d) if carry else np.zeros((1, 1))
        pw = np.empty(d)
        xin = np.empty(d)
        if transport and not carry:
            for j in range(d):
                vecs[_VMEAN, j] = vecs[_MU, j]
        slot = 0
        for n in range(1, Lmax + 1):
            alpha, beta = step_hh(src, betas, table, cdf, tk, n, u, w)
            if src != CONST:
                if n % 1024 == 0:
                    nu2 = 0.0
                    for j in range(d):
                        nu2 += u[j] * u[j]
                else:
                    nu2 -= beta * (2.0 - beta) * alpha * alpha
            if carry:  # P_n = P_{n-1} H_n
                for i in range(d):
                    x = 0.0
                    for j in range(d):
                        x += P[i, j] * w[j]
                    pw[i] = beta * x
                for i in range(d):
                    for j in range(d):
                        P[i, j] -= pw[i] * w[j]
            kind, kk = key_kind(tk, n, delta, p)
            if kind < 2:
                dot = 0.0
                for j in range(d):
                    dot += u[j] * kst[j]
                s = B * dot
            else:
                s = B * kappa * math.sqrt(max(nu2, 0.0)) * other_coord(kk, d)
            s -= slope * n
            if transport:
                src_row = _VSTAR if kind == 0 else _MU
                dst_row = _TSTAR if kind == 0 else _VMEAN
                if carry:
                    for i in range(d):
                        x = 0.0
                        for j in range(d):
                            x += P[i, j] * vecs[src_row, j]
                        vecs[dst_row, i] = x
                elif kind == 0:
                    for j in range(d):
                        vecs[_TSTAR, j] = vecs[_VSTAR, j]
            cw = weigh(acc, vecs, s)
            add(acc, vecs, cw, n <= window, kind, transport, not explicit)
            if explicit and kind != 0 and sd > 0.0:
                vkey = rng.pos_key(tk, n, rng.STREAM_VAL)
                for j in range(d):
                    xin[j] = sd * rng.normal(vkey, j)
                row = _NOISE_N if n <= window else _NOISE_F
                for i in range(d):
                    x = 0.0
                    for j in range(d):
                        x += P[i, j] * xin[j]
                    vecs[row, i] += cw * x
            if n == lengths[slot]:
                record(acc, vecs, tk, slot, xi, transport, far_target, out[tt, slot])
                slot += 1
