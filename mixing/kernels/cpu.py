"""numba CPU backend: streaming kernels, one RNG stream per trial, parallel over trials.

Entry points ``walk`` and ``retrieval`` follow the contract of ``contract.py`` (shared with
``reference.py`` and ``cuda``); the compiled kernels behind them are private.

Retrieval makes one pass from lag 1 to ``lengths[-1]``: it transports the query backwards
one generator at a time (u_n = P_n^T qhat), keeps an online log-sum-exp softmax and records
each length as it is reached. Per trial: O(L d) time, O(d) memory (O(d^2) for Householder
value transport, which carries P_n itself).

Value noise xi_n ~ N(0, xi^2/d I) is independent of the scores, so for orthogonal
transport its weighted sum over the lags between two recorded lengths is exactly
N(0, xi^2/d * sum c_n^2 I): one Gaussian vector per length and part (near/far) replaces a
Gaussian vector per lag. Householder value transport with beta < 2 is not orthogonal and
draws xi_n explicitly.
"""

from __future__ import annotations

import math
import threading

import numba
import numpy as np
from numba import prange

from .. import laws, rng
from .._jit import hot, njit, pnjit
from ..codes import CONST, IID, OTHER, SO2, TARGET
from .contract import (ACC_CST as _CST, ACC_MAX as _MAX, ACC_QN as _QN, ACC_QF as _QF, ACC_SF as _SF,
                       ACC_SN as _SN, ACC_Z as _Z, N_ACC, N_VECS, N_WEIGHTED, V_MEAN_N as _MEAN_N, V_MU as _MU, V_NOISE_F as _NOISE_F, V_NOISE_N as _NOISE_N,
                       V_TSTAR as _TSTAR, V_VMEAN as _VMEAN, V_VSTAR as _VSTAR, retrieval_args, walk_args)
from .draws import key_kind, other_coord_mt, reduced_step, reflect, table_row
from .readout import metrics, readout


def walk(spec, c, N, seed, t0, out):
    """Walk rows of trials ``t0 .. t0 + out.shape[0] - 1`` into ``out[T, N, 2]``."""
    kernel = _walk_so2 if spec.family == SO2 else _walk_hh
    _interruptible(kernel, walk_args(spec, c, N, seed, t0), out)


def retrieval(spec, task, lengths, seed, t0, out):
    """Retrieval rows of trials ``t0 .. t0 + out.shape[0] - 1`` into ``out[T, K, 4]``."""
    kernel = _retrieval_so2 if spec.family == SO2 else _retrieval_hh
    _interruptible(kernel, retrieval_args(spec, task, lengths, seed, t0), out)


#: the kernels look at their stop flag once every POLL steps (a mask test, a load and a branch)
POLL = 4096
POLL_MASK = POLL - 1


def _interruptible(kernel, args, out):
    """Run ``kernel(*args, stop, out)`` so that Ctrl-C stops it within milliseconds.

    A compiled kernel cannot see Python's signal handler, and the main thread handles
    signals only between bytecodes; so in the main thread the kernel (which releases the
    GIL) runs in a helper thread while the main thread waits in short joins. On
    KeyboardInterrupt it raises the kernel's ``stop`` flag, which every trial loop polls
    every ``POLL`` steps, waits for the kernel to return, and re-raises. Elsewhere (worker
    threads, Dask workers) the kernel runs directly."""
    stop = np.zeros(1, dtype=np.int64)
    if threading.current_thread() is not threading.main_thread():
        kernel(*args, stop, out)
        return
    failure = []
    threads = numba.get_num_threads()        # numba's thread count is per calling thread

    def run():
        try:
            numba.set_num_threads(threads)
            kernel(*args, stop, out)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=run, name="mixing-kernel", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.05)
    except KeyboardInterrupt:
        stop[0] = 1
        worker.join()
        raise
    if failure:
        raise failure[0]


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
        for m in range(h):
            phi[m] += centers[m] + laws.angle(law, lawpar, key, m, centers[m])
    else:
        tok = table_row(src, tk, n, alias, table.shape[0])
        for m in range(h):
            phi[m] += table[tok, m]


@hot
def dot(x, y):
    """x . y with four accumulators in a fixed order: the compiler can vectorise it, and the
    bits are the same on every machine (no fast-math reassociation)."""
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


@hot
def step_hh(src, betas, table, alias, tk, n, u, w):
    """u <- H_n u with H_n = I - beta w w^T; fills w; returns (alpha = w . u before, beta).

    ``betas`` holds one beta per table row (TABLE, SEQ) or the single beta (IID)."""
    if src == CONST:
        return 0.0, 0.0
    if src == IID:
        unit(rng.pos_key(tk, n, rng.STREAM_GEN), w)
        beta = betas[0]
    else:
        tok = table_row(src, tk, n, alias, table.shape[0])
        for j in range(u.shape[0]):
            w[j] = table[tok, j]
        beta = betas[tok]
    alpha = dot(w, u)
    reflect(u, w, beta * alpha)
    return alpha, beta


@hot
def rescale(acc, vecs, s):
    """Make score s > acc[_MAX] the running maximum, rescaling the weighted sums. The
    kernels test ``s > acc[_MAX]`` inline and call this rarely (log L times a trial):
    a helper holding both the test and this loop is not inlined by numba and costs about
    20 ns a step in call overhead (measured)."""
    f = math.exp(acc[_MAX] - s)
    acc[_Z] *= f
    acc[_SN] *= f
    acc[_SF] *= f
    acc[_CST] *= f
    acc[_QN] *= f * f
    acc[_QF] *= f * f
    for r in range(N_WEIGHTED):
        for j in range(vecs.shape[1]):
            vecs[r, j] *= f
    acc[_MAX] = s


@hot
def add(acc, vecs, c, near, kind, transport, trick):
    """Add a source of weight c (value mean in ``vecs[_VMEAN]`` when transporting)."""
    acc[_Z] += c
    if kind == TARGET:
        acc[_CST] = c
        return
    part = 0 if near else 1
    acc[_SN + part] += c
    if trick:
        acc[_QN + part] += c * c
    if transport:
        for j in range(vecs.shape[1]):
            vecs[_MEAN_N + part, j] += c * vecs[_VMEAN, j]


@hot
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


# ---------------------------------------------------------------------------------------
# walks: coherence and second moment


@pnjit
def _walk_so2(src, law, lawpar, centers, table, alias, betas, d, reduced, c, N, seed, t0, stop, out):
    h = d // 2
    for tt in prange(out.shape[0]):
        tk = rng.trial_key(seed, t0 + tt)
        q = np.empty(d)
        k = np.empty(d)
        unit(rng.pos_key(tk, 0, rng.STREAM_Q), q)
        partner(rng.pos_key(tk, 0, rng.STREAM_K), q, c, k)
        a, b = block_coeffs(q, k)
        phi = np.zeros(h)
        for n in range(1, N + 1):
            if (n & POLL_MASK) == 0 and stop[0] != 0:
                break
            step_so2(src, law, lawpar, centers, table, alias, tk, n, phi)
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
def _walk_hh(src, law, lawpar, centers, table, alias, betas, d, reduced, c, N, seed, t0, stop, out):
    sc = math.sqrt(max(1.0 - c * c, 0.0))
    hdd, hc = rng.gamma_consts(max(0.5 * (d - 3), 1.0))
    for tt in prange(out.shape[0]):
        tk = rng.trial_key(seed, t0 + tt)
        if reduced:
            # u = a qhat + b e + r e_rest with khat = c qhat + sqrt(1 - c^2) e (draws.reduced_step)
            wr = np.empty(3)
            a, b, r = 1.0, 0.0, 0.0
            for n in range(1, N + 1):
                if (n & POLL_MASK) == 0 and stop[0] != 0:
                    break
                a, b, r = reduced_step(rng.pos_key(tk, n, rng.STREAM_GEN), d, betas[0], a, b, r, wr, hdd, hc)
                uk = c * a + sc * b
                out[tt, n - 1, 0] = a
                out[tt, n - 1, 1] = uk * uk
        else:
            q = np.empty(d)
            k = np.empty(d)
            unit(rng.pos_key(tk, 0, rng.STREAM_Q), q)
            partner(rng.pos_key(tk, 0, rng.STREAM_K), q, c, k)
            u = q.copy()
            w = np.empty(d)
            for n in range(1, N + 1):
                if (n & POLL_MASK) == 0 and stop[0] != 0:
                    break
                step_hh(src, betas, table, alias, tk, n, u, w)
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
def _retrieval_so2(src, law, lawpar, centers, table, alias, betas, d, reduced, slope, transport, mdelta,
                   B, delta, p, kappa, mu, xi, window, lengths, seed, t0, stop, out):
    h = d // 2
    Lmax = lengths[lengths.shape[0] - 1]
    far_target = delta > window
    odd, oc = rng.gamma_consts(max(0.5 * (d - 1), 1.0))     # a random key's projection
    for tt in prange(out.shape[0]):
        tk = rng.trial_key(seed, t0 + tt)
        q, kst, vecs, acc = setup_retrieval(tk, mdelta, mu, transport)
        a, b = block_coeffs(q, kst)
        phi = np.zeros(h)
        cs = np.empty(h)
        sn = np.empty(h)
        slot = 0
        for n in range(1, Lmax + 1):
            if (n & POLL_MASK) == 0 and stop[0] != 0:
                break
            step_so2(src, law, lawpar, centers, table, alias, tk, n, phi)
            kind, kk = key_kind(tk, n, delta, p)
            if kind != OTHER or transport:
                for m in range(h):
                    cs[m] = math.cos(phi[m])
                    sn[m] = math.sin(phi[m])
            if kind != OTHER:
                dot = 0.0
                for m in range(h):
                    dot += a[m] * cs[m] + b[m] * sn[m]
                s = B * dot
            else:
                s = B * kappa * other_coord_mt(kk, d, odd, oc)
            s -= slope * n
            if transport:
                src_row = _VSTAR if kind == TARGET else _MU
                dst_row = _TSTAR if kind == TARGET else _VMEAN
                for m in range(h):
                    x0 = vecs[src_row, 2 * m]
                    x1 = vecs[src_row, 2 * m + 1]
                    vecs[dst_row, 2 * m] = cs[m] * x0 - sn[m] * x1
                    vecs[dst_row, 2 * m + 1] = sn[m] * x0 + cs[m] * x1
            if s > acc[_MAX]:
                rescale(acc, vecs, s)
            cw = math.exp(s - acc[_MAX])
            add(acc, vecs, cw, n <= window, kind, transport, True)
            if n == lengths[slot]:
                record(acc, vecs, tk, slot, xi, transport, far_target, out[tt, slot])
                slot += 1


@pnjit
def _retrieval_hh(src, law, lawpar, centers, table, alias, betas, d, reduced, slope, transport, mdelta,
                  B, delta, p, kappa, mu, xi, window, lengths, seed, t0, stop, out):
    Lmax = lengths[lengths.shape[0] - 1]
    far_target = delta > window
    carry = transport and src != CONST           # carry P_n itself
    explicit = carry and betas.min() < 2.0       # non-orthogonal: explicit value noise
    sd = xi / math.sqrt(d)
    hdd, hc = rng.gamma_consts(max(0.5 * (d - 3), 1.0))     # the reduced step's Gamma
    odd, oc = rng.gamma_consts(max(0.5 * (d - 1), 1.0))     # a random key's projection
    for tt in prange(out.shape[0]):
        tk = rng.trial_key(seed, t0 + tt)
        q, kst, vecs, acc = setup_retrieval(tk, mdelta, mu, transport)
        u = q.copy()
        w = np.empty(d)
        wr = np.empty(3)
        ra, rb, rr = 1.0, 0.0, 0.0     # reduced state: u = ra qhat + rb e + rr e_rest
        nu2 = 1.0
        P = np.eye(d) if carry else np.zeros((1, 1))
        pw = np.empty(d)
        xin = np.empty(d)
        if transport and not carry:
            for j in range(d):
                vecs[_VMEAN, j] = vecs[_MU, j]
        slot = 0
        for n in range(1, Lmax + 1):
            if (n & POLL_MASK) == 0 and stop[0] != 0:
                break
            if reduced:
                ra, rb, rr = reduced_step(rng.pos_key(tk, n, rng.STREAM_GEN), d, betas[0], ra, rb, rr, wr, hdd, hc)
                nu2 = ra * ra + rb * rb + rr * rr
                alpha, beta = 0.0, betas[0]
            else:
                alpha, beta = step_hh(src, betas, table, alias, tk, n, u, w)
            if src != CONST and not reduced:
                if n % 1024 == 0:
                    nu2 = dot(u, u)
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
            if kind != OTHER:
                # with i.i.d. directions E P_delta is a multiple of I, so kst = qhat
                s = B * (ra if reduced else dot(u, kst))
            else:
                s = B * kappa * math.sqrt(max(nu2, 0.0)) * other_coord_mt(kk, d, odd, oc)
            s -= slope * n
            if transport:
                src_row = _VSTAR if kind == TARGET else _MU
                dst_row = _TSTAR if kind == TARGET else _VMEAN
                if carry:
                    for i in range(d):
                        x = 0.0
                        for j in range(d):
                            x += P[i, j] * vecs[src_row, j]
                        vecs[dst_row, i] = x
                elif kind == TARGET:
                    for j in range(d):
                        vecs[_TSTAR, j] = vecs[_VSTAR, j]
            if s > acc[_MAX]:
                rescale(acc, vecs, s)
            cw = math.exp(s - acc[_MAX])
            add(acc, vecs, cw, n <= window, kind, transport, not explicit)
            if explicit and kind != TARGET and sd > 0.0:
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
