"""Householder retrieval on the GPU: one group of G lanes per trial, the rows of
``cpu._retrieval_hh`` without ``reduced`` (the reduced-state kernel is ``reduced.py``).

Each lane owns coordinates j = lane + G r of the transported query and of the step's
direction. With a table, the scalars run one batch ahead so the next step's table row is
loaded while this step is computed; with ``shared_rows`` > 0 the block first copies the
table into shared memory. With a float32 layout (``st.single``) the table, the query, its
target key, the direction and their dot products are float32. Value transport with
beta < 2 carries P_n itself in global scratch memory (lane-owned rows, coalesced columns);
that mode is O(d^2) per step, as on the CPU.
"""

from __future__ import annotations

import math

import numpy as np
from numba import float32, float64, int64

from ...codes import CONST, IID, OTHER, SEQ, TABLE, TARGET
from ...rng import STREAM_VAL
from ..contract import N_ACC, N_VECS, V_MU, V_NOISE_F, V_NOISE_N, V_TSTAR, V_VMEAN, V_VSTAR
from ._compat import cuda
from .warp import DRAW, R, kjit


# complexity above 15: builds the Householder retrieval kernel, whose hot loop is inline
def make(st, shared_rows: int = 0, carry: bool = False):  # noqa: C901
    """The Householder retrieval kernel for the device functions ``st`` (``state.make``);
    ``shared_rows``: the table's row count when it is copied to shared memory, else 0;
    ``carry``: whether it carries P_n (value transport with a non-constant generator, see
    :func:`own_shared_bytes`), which sizes two shared arrays."""
    D, NC = st.D, st.NC
    G, GPB, RING = st.G, st.grp.GPB, st.grp.RING
    place, wsync, batch = st.grp.place, st.grp.wsync, st.grp.batch
    FT = float32 if st.single else float64  # the direction arithmetic
    cast = np.float32 if st.single else float
    VS = max(shared_rows, 1)
    SHARED = shared_rows > 0
    CARRY = bool(carry)
    DC = D if CARRY else 1  # the full v* and value noise, carry mode only
    owned, setup, gen_hh, dot = st.owned, st.setup, st.gen_hh, st.dot
    weigh, add, record = st.weigh, st.add, st.record

    @kjit
    # complexity above 15: the retrieval kernel's hot loop, inline on the device
    def retrieval_hh(  # noqa: C901
        src,
        law,
        lawpar,
        centers,
        table,
        alias,
        betas,
        d,
        reduced,
        slope,
        transport,
        mdelta,
        B,
        delta,
        p,
        kappa,
        mu,
        xi,
        window,
        lengths,
        seed,
        t0,
        T,
        scratch,
        out,
    ):
        if SHARED:  # the whole block copies the table once
            tab = cuda.shared.array((VS, D), FT)
            for i in range(cuda.threadIdx.x, VS * D, cuda.blockDim.x):
                tab[i // D, i % D] = table[i // D, i % D]
            cuda.syncthreads()
        else:
            tab = table
        lane, gib, tt, write = place(T)
        sh_red = cuda.shared.array((GPB, G), float64)
        sh_tok = cuda.shared.array((GPB, RING), int64)
        sh_kind = cuda.shared.array((GPB, RING), int64)
        sh_val = cuda.shared.array((GPB, RING), float64)
        sh_q = cuda.shared.array((GPB, D), float64)
        sh_v = cuda.shared.array((GPB, DC), float64)
        sh_x = cuda.shared.array((GPB, DC), float64)
        red = sh_red[gib]
        own = cuda.local.array(NC, int64)
        q = cuda.local.array(NC, FT)
        kst = cuda.local.array(NC, FT)
        vecs = cuda.local.array((N_VECS, NC), float64)
        acc = cuda.local.array(N_ACC, float64)
        u = cuda.local.array(NC, FT)
        w = cuda.local.array(NC, FT)
        pw = cuda.local.array(NC, float64)
        owned(lane, own)
        Lmax = lengths[lengths.shape[0] - 1]
        far_target = delta > window
        carry = CARRY  # = transport and src != CONST (the host built this kernel for it)
        bmin = 2.0
        same = True  # one beta for every row: no per-step beta load
        for i in range(betas.shape[0]):
            bmin = min(bmin, betas[i])
            same = same and betas[i] == betas[0]
        explicit = carry and bmin < 2.0
        sd = xi / math.sqrt(D)
        tk = R.trial_key(seed, t0 + tt)
        setup(tk, mdelta, mu, transport, own, q, kst, vecs, acc, sh_q[gib], red, lane)
        P = scratch[gib + GPB * cuda.blockIdx.x] if carry else scratch[0]
        wrow = sh_q[gib]  # the full w (carry mode)
        vst = sh_v[gib]  # the full v* (carry mode)
        xin = sh_x[gib]  # the full value noise (explicit mode)
        for k in range(NC):
            u[k] = q[k]
            if transport and not carry:
                vecs[V_VMEAN, k] = vecs[V_MU, k]
        if carry:  # P_0 = I (P[j, i] holds P_ij: lane-owned rows, coalesced columns)
            for k in range(NC):
                i = own[k]
                if i >= 0:
                    vst[i] = vecs[V_VSTAR, k]
                    for j in range(D):
                        P[j, i] = 1.0 if i == j else 0.0
            wsync()
        nu2 = 1.0
        slot = 0
        # scalars run one batch ahead, so the next step's table row can be loaded early
        V = table.shape[0]
        batch(tk, 1, Lmax, src, alias, V, delta, p, D, lane, sh_tok[gib], sh_kind[gib], sh_val[gib])
        wnext = cuda.local.array(NC, FT)
        beta = betas[0]
        bnext = betas[0]
        if src == TABLE or src == SEQ:
            gen_hh(src, tab, sh_tok[gib, 0], tk, 1, own, wnext, red, lane)
            if not same:
                bnext = betas[sh_tok[gib, 0]]
        for n in range(1, Lmax + 1):
            ii = (n - 1) % RING
            if ii % G == 0:
                batch(tk, n + G, Lmax, src, alias, V, delta, p, D, lane, sh_tok[gib], sh_kind[gib], sh_val[gib])
            kind = sh_kind[gib, ii]
            if src == TABLE or src == SEQ:
                for k in range(NC):
                    w[k] = wnext[k]
                beta = bnext
                if n < Lmax:
                    gen_hh(src, tab, sh_tok[gib, n % RING], tk, n + 1, own, wnext, red, lane)
                    if not same:
                        bnext = betas[sh_tok[gib, n % RING]]
            elif src == IID:
                gen_hh(src, tab, 0, tk, n, own, w, red, lane)
            if src != CONST:
                alpha = dot(w, u, red, lane)
                DRAW.reflect(u, w, cast(beta * alpha))
                if n % 1024 == 0:
                    nu2 = dot(u, u, red, lane)
                else:
                    nu2 -= beta * (2.0 - beta) * alpha * alpha
            if carry:  # P_n = P_{n-1} H_n
                wsync()
                for k in range(NC):
                    if own[k] >= 0:
                        wrow[own[k]] = w[k]
                wsync()
                for k in range(NC):
                    i = own[k]
                    x = 0.0
                    if i >= 0:
                        for j in range(D):
                            x += P[j, i] * wrow[j]
                    pw[k] = beta * x
                for k in range(NC):
                    i = own[k]
                    if i >= 0:
                        for j in range(D):
                            P[j, i] -= pw[k] * wrow[j]
            if kind != OTHER:
                # with i.i.d. directions E P_delta is a multiple of I, so kst = qhat
                s = B * dot(u, kst, red, lane)
            else:
                s = B * kappa * math.sqrt(max(nu2, 0.0)) * sh_val[gib, ii]
            s -= slope * n
            if transport:
                if carry:
                    for k in range(NC):
                        i = own[k]
                        x = 0.0
                        if i >= 0:
                            if kind == TARGET:
                                for j in range(D):
                                    x += P[j, i] * vst[j]
                            else:
                                for j in range(D):
                                    x += P[j, i] * (mu / math.sqrt(D))
                        if kind == TARGET:
                            vecs[V_TSTAR, k] = x
                        else:
                            vecs[V_VMEAN, k] = x
                elif kind == TARGET:
                    for k in range(NC):
                        vecs[V_TSTAR, k] = vecs[V_VSTAR, k]
            cw = weigh(acc, vecs, s)
            add(acc, vecs, cw, n <= window, kind, transport, not explicit)
            if explicit and kind != TARGET and sd > 0.0:
                vkey = R.pos_key(tk, n, STREAM_VAL)
                wsync()
                for k in range(NC):
                    if own[k] >= 0:
                        xin[own[k]] = sd * R.normal(vkey, own[k])
                wsync()
                for k in range(NC):
                    i = own[k]
                    if i >= 0:
                        x = 0.0
                        for j in range(D):
                            x += P[j, i] * xin[j]
                        if n <= window:
                            vecs[V_NOISE_N, k] += cw * x
                        else:
                            vecs[V_NOISE_F, k] += cw * x
            if n == lengths[slot]:
                record(acc, vecs, tk, slot, xi, transport, far_target, own, red, lane, out, tt, write)
                slot += 1

    return retrieval_hh


def own_shared_bytes(D: int, G: int, GPB: int, carry: bool) -> int:
    """Static shared memory of one block of this kernel, in bytes: per group, the sum
    buffer (G), the ring of per-step scalars (2G each of token, kind and value) and the
    d-vectors (the query, and in carry mode v* and the value noise)."""
    return GPB * (8 * G + 2 * G * 24 + 8 * D * (3 if carry else 1))
