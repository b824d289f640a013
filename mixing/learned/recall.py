"""Associative recall of the most recent occurrence (docs/theory.md, section 2): the task the
generators are trained on, with its loss, analytic gradients and long-length evaluation.

A sequence holds L tokens x_1..x_L drawn i.i.d. from V types (uniform or Zipf) and a query
at position i = L + 1 of type v*. The target is the most recent earlier occurrence of v*
(lag delta = i - t, at most ``cap``); earlier occurrences of v* are lookalikes with the same
key content, which only the position mechanism can tell apart. Every type v has a key
``K[v]`` and a value ``C[v]`` (fixed random unit vectors). The query content is K[v*], and

    s_j = B kappa_{x_j} (g . q)^T P_{i<-j} K[x_j] - slope (i - j),

with ``P_{i<-j} = G_{x_i} ... G_{x_{j+1}}``, learned per-type key scales kappa_v in (0, 1),
learned per-block query weights g_m in (0, 1) (block m = coordinates 2m, 2m+1; so
|s_j + bias| <= B) and the mechanism's generators:

- ``MODE_PLAIN``: G = I (NoPE; ALiBi with a learned slope);
- ``MODE_ANGLES``: per-type SO(2) angle vectors phi_v (learned, or frozen random);
- ``MODE_ROPE``: position-indexed angles theta_m (fixed base);
- ``MODE_HOUSEHOLDER``: per-type ``I - beta_v w_v w_v^T``.

The loss is the cross-entropy of attending to the target, ``log sum_j e^{s_j} - s_t``.
``loss_grad`` returns it with its gradient with respect to kappa, g, phi, w (unit rows),
beta and the slope, computed analytically in one backward sweep (O(L d) per sequence);
``evaluate`` streams much longer sequences (O(d) memory) and returns the near weight and
the retention without and with value transport.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from mixing.engine import rng
from mixing.engine._jit import njit, pnjit
from mixing.engine.kernels.draws import token

MODE_PLAIN, MODE_ANGLES, MODE_ROPE, MODE_HOUSEHOLDER = range(4)
ATTEMPTS = 64


@njit
def sequence(seed, s, L, cdf, cap, x):
    """Fill x[1..L] with tokens and x[L+1] with the query type; return the target position."""
    tk = rng.trial_key(seed, s)
    for j in range(1, L + 1):
        x[j] = token(rng.pos_key(tk, j, rng.STREAM_GEN), cdf)
    for a in range(ATTEMPTS):
        v = token(rng.pos_key(tk, a, rng.STREAM_Q), cdf)
        j = L
        while j >= 1 and x[j] != v:
            j -= 1
        if j >= 1 and L + 1 - j <= cap:
            x[L + 1] = v
            return j
    x[L + 1] = x[L]  # fallback: the previous token (lag 1)
    return L


@njit
def _block_ab(q, k, m):
    a = q[2 * m] * k[2 * m] + q[2 * m + 1] * k[2 * m + 1]
    b = q[2 * m + 1] * k[2 * m] - q[2 * m] * k[2 * m + 1]
    return a, b


@njit
def _reflect(w, beta, r, out):
    """out = (I - beta w w^T) r; returns w.r."""
    wr = 0.0
    for c in range(r.shape[0]):
        wr += w[c] * r[c]
    for c in range(r.shape[0]):
        out[c] = r[c] - beta * wr * w[c]
    return wr


@njit
# complexity above 15: one sequence of the compiled recall loss: the hot loop of training
def _one(mode, K, kappa, g, phi, theta, W, betas, slope, B, L, x, s, cont, R, Phi):  # noqa: C901
    """Scores s[1..L] of one sequence and their content parts cont (s = B kappa cont - bias);
    fills R (transported queries) or Phi (angles)."""
    d = K.shape[1]
    h = d // 2
    i = L + 1
    vq = x[i]
    q = np.empty(d)
    for m in range(h):
        q[2 * m] = g[m] * K[vq, 2 * m]
        q[2 * m + 1] = g[m] * K[vq, 2 * m + 1]
    if mode == MODE_HOUSEHOLDER:
        for c in range(d):
            R[i, c] = q[c]
        for j in range(L, 0, -1):
            _reflect(W[x[j + 1]], betas[x[j + 1]], R[j + 1], R[j])
    elif mode == MODE_ANGLES:
        for m in range(h):
            Phi[L, m] = phi[vq, m]
        for j in range(L - 1, 0, -1):
            for m in range(h):
                Phi[j, m] = Phi[j + 1, m] + phi[x[j + 1], m]
    elif mode == MODE_ROPE:
        for j in range(1, L + 1):
            for m in range(h):
                Phi[j, m] = (i - j) * theta[m]
    for j in range(1, L + 1):
        k = K[x[j]]
        c = 0.0
        if mode == MODE_HOUSEHOLDER:
            for cc in range(d):
                c += R[j, cc] * k[cc]
        else:
            for m in range(h):
                a, b = _block_ab(K[vq], k, m)
                if mode == MODE_PLAIN:
                    c += g[m] * a
                else:
                    c += g[m] * (a * math.cos(Phi[j, m]) + b * math.sin(Phi[j, m]))
        cont[j] = c
        s[j] = B * kappa[x[j]] * c - slope * (i - j)


@pnjit
# complexity above 15: the compiled loss and gradient: the hot loop of training
def loss_grad(  # noqa: C901
    mode,
    K,
    cdf,
    kappa,
    g,
    phi,
    theta,
    W,
    betas,
    slope,
    B,
    L,
    cap,
    seed,
    s0,
    nseq,
    losses,
    gk,
    gg,
    gphi,
    gW,
    gbeta,
    gslope,
):
    """Per-sequence losses and gradients (summed over sequences afterwards by the caller)."""
    d = K.shape[1]
    h = d // 2
    i = L + 1
    for sq in prange(nseq):
        x = np.empty(L + 2, dtype=np.int64)
        t = sequence(seed, s0 + sq, L, cdf, cap, x)
        s = np.empty(L + 1)
        cont = np.empty(L + 1)
        R = np.zeros((L + 2, d)) if mode == MODE_HOUSEHOLDER else np.zeros((1, 1))
        Phi = np.zeros((L + 1, h)) if mode in (MODE_ANGLES, MODE_ROPE) else np.zeros((1, 1))
        _one(mode, K, kappa, g, phi, theta, W, betas, slope, B, L, x, s, cont, R, Phi)
        mx = -np.inf
        for j in range(1, L + 1):
            mx = max(mx, s[j])
        Z = 0.0
        for j in range(1, L + 1):
            Z += math.exp(s[j] - mx)
        losses[sq] = math.log(Z) + mx - s[t]
        vq = x[i]
        prefix = np.zeros(h)
        lam = np.zeros(d)
        tmp = np.empty(d)
        for j in range(1, L + 2):
            e = 0.0
            if j <= L:
                e = math.exp(s[j] - mx) / Z - (1.0 if j == t else 0.0)
                gslope[sq] += -e * (i - j)
            if mode == MODE_HOUSEHOLDER:
                if j >= 2:  # r_{j-1} = G_{x_j} r_j: gradient of G_{x_j}, then lam_j
                    v = x[j]
                    lw = 0.0
                    wr = 0.0
                    for c in range(d):
                        lw += lam[c] * W[v, c]
                        wr += W[v, c] * R[j, c]
                    gbeta[sq, v] += -lw * wr
                    for c in range(d):
                        gW[sq, v, c] += -betas[v] * (lw * R[j, c] + wr * lam[c])
                    _reflect(W[v], betas[v], lam, tmp)
                    for c in range(d):
                        lam[c] = tmp[c]
                if j <= L:
                    k = K[x[j]]
                    for c in range(d):
                        lam[c] += e * B * kappa[x[j]] * k[c]
                    gk[sq, x[j]] += e * B * cont[j]
                else:  # lam_{L+1} = d loss / d (g . q)
                    for m in range(h):
                        gg[sq, m] += lam[2 * m] * K[vq, 2 * m] + lam[2 * m + 1] * K[vq, 2 * m + 1]
                continue
            if mode == MODE_ANGLES:  # Phi_j holds phi_{x_t} for every t > j
                for m in range(h):
                    gphi[sq, x[j], m] += prefix[m]
            if j > L:
                continue
            k = K[x[j]]
            for m in range(h):
                a, b = _block_ab(K[vq], k, m)
                if mode == MODE_PLAIN:
                    gg[sq, m] += e * B * kappa[x[j]] * a
                else:
                    cs = math.cos(Phi[j, m])
                    sn = math.sin(Phi[j, m])
                    gg[sq, m] += e * B * kappa[x[j]] * (a * cs + b * sn)
                    if mode == MODE_ANGLES:
                        prefix[m] += e * B * kappa[x[j]] * g[m] * (b * cs - a * sn)
            gk[sq, x[j]] += e * B * cont[j]


@pnjit
# complexity above 15: the compiled evaluation loop
def evaluate(mode, K, C, cdf, kappa, g, phi, theta, W, betas, slope, B, L, cap, seed, s0, nseq, out):  # noqa: C901
    """out[s] = (near weight, retention, retention with value transport), streaming."""
    d = K.shape[1]
    h = d // 2
    i = L + 1
    for sq in prange(nseq):
        x = np.empty(L + 2, dtype=np.int64)
        t = sequence(seed, s0 + sq, L, cdf, cap, x)
        vq = x[i]
        # T* = P_{i<-t} C[v*] (value transport), applied G_{x_{t+1}} first
        tstar = C[vq].copy()
        tmp = np.empty(d)
        phisum = np.zeros(h)
        for j in range(t + 1, i + 1):
            if mode == MODE_HOUSEHOLDER:
                _reflect(W[x[j]], betas[x[j]], tstar, tmp)
                tstar[:] = tmp
            elif mode == MODE_ANGLES:
                for m in range(h):
                    phisum[m] += phi[x[j], m]
            elif mode == MODE_ROPE:
                for m in range(h):
                    phisum[m] += theta[m]
        if mode == MODE_ANGLES or mode == MODE_ROPE:
            for m in range(h):
                c0, c1 = tstar[2 * m], tstar[2 * m + 1]
                cs, sn = math.cos(phisum[m]), math.sin(phisum[m])
                tstar[2 * m] = cs * c0 - sn * c1
                tstar[2 * m + 1] = sn * c0 + cs * c1
        tt2 = 0.0
        for c in range(d):
            tt2 += tstar[c] * tstar[c]
        r = np.empty(d)
        z = np.empty(d)
        for m in range(h):
            r[2 * m] = g[m] * K[vq, 2 * m]
            r[2 * m + 1] = g[m] * K[vq, 2 * m + 1]
        z[:] = tstar
        Phi = np.zeros(h)
        mx = -np.inf
        Z = 0.0
        num = 0.0  # sum e^{s_j} C[x_j] . C[v*]
        numt = 0.0  # sum e^{s_j} C[x_j] . z_j, z_j = P_{i<-j}^T T*
        at = 0.0
        for j in range(L, 0, -1):
            v = x[j + 1]
            if mode == MODE_HOUSEHOLDER:
                _reflect(W[v], betas[v], r, tmp)
                r[:] = tmp
                _reflect(W[v], betas[v], z, tmp)
                z[:] = tmp
            elif mode == MODE_ANGLES:
                for m in range(h):
                    Phi[m] += phi[v, m]
            elif mode == MODE_ROPE:
                for m in range(h):
                    Phi[m] += theta[m]
            k = K[x[j]]
            cv = C[x[j]]
            c_j = 0.0
            ctz = 0.0
            if mode == MODE_HOUSEHOLDER:
                for c in range(d):
                    c_j += r[c] * k[c]
                    ctz += cv[c] * z[c]
            else:
                for m in range(h):
                    a, b = _block_ab(K[vq], k, m)
                    if mode == MODE_PLAIN:
                        c_j += g[m] * a
                        ctz += cv[2 * m] * z[2 * m] + cv[2 * m + 1] * z[2 * m + 1]
                    else:
                        cs, sn = math.cos(Phi[m]), math.sin(Phi[m])
                        c_j += g[m] * (a * cs + b * sn)
                        # (P^T T*)_m = R(-Phi) T*_m
                        z0 = cs * tstar[2 * m] + sn * tstar[2 * m + 1]
                        z1 = -sn * tstar[2 * m] + cs * tstar[2 * m + 1]
                        ctz += cv[2 * m] * z0 + cv[2 * m + 1] * z1
            sj = B * kappa[x[j]] * c_j - slope * (i - j)
            ctv = 0.0
            for c in range(d):
                ctv += cv[c] * C[vq, c]
            if sj > mx:
                f = math.exp(mx - sj)
                Z *= f
                num *= f
                numt *= f
                at *= f
                mx = sj
            wgt = math.exp(sj - mx)
            Z += wgt
            num += wgt * ctv
            numt += wgt * ctz
            if j == t:
                at = wgt
        out[sq, 0] = at / Z
        out[sq, 1] = num / Z
        out[sq, 2] = numt / (Z * tt2)


def content(seed: int, V: int, d: int):
    """Key and value content of every type: fixed random unit rows from the seed."""
    from mixing.engine.mechanisms import hh_table

    tk = np.uint64(rng.trial_key(seed, 0))
    k1 = np.uint64(rng.aux_key(tk))  # keys cross into numba as uint64
    k2 = np.uint64(rng.aux_key(k1))
    K = hh_table(k1, V, d)
    C = hh_table(k2, V, d)
    return K, C


def token_cdf(V: int, tokens: str = "uniform"):
    w = np.ones(V) if tokens == "uniform" else 1.0 / np.arange(1, V + 1)
    cdf = np.cumsum(w / w.sum())
    cdf[-1] = 1.0
    return cdf
