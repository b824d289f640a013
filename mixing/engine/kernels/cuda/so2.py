"""SO(2) retrieval on the GPU: one group of lanes per trial, the rows of ``cpu._retrieval_so2``.

Each lane owns the angles of its blocks; the accumulated angles, the score's two block
coefficients and (with value transport) the rotated value mean stay in registers. The
per-step scalars come from the shared-memory ring filled by ``warp.batch``.
"""

from __future__ import annotations

import math

from numba import float64, int64

from ...codes import OTHER, TARGET
from ..contract import N_ACC, N_VECS, V_MU, V_TSTAR, V_VMEAN, V_VSTAR
from ._compat import cuda
from .warp import R, kjit


def make(st):
    """The SO(2) retrieval kernel for the device functions ``st`` (``state.make``)."""
    D, NB, NC = st.D, st.NB, st.NC
    owned, setup, block_coeffs, step_so2 = st.owned, st.setup, st.block_coeffs, st.step_so2
    weigh, add, record = st.weigh, st.add, st.record
    G, GPB, RING = st.G, st.grp.GPB, st.grp.RING
    place, wsum, batch = st.grp.place, st.grp.wsum, st.grp.batch

    @kjit
    def retrieval_so2(
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
        out,
    ):
        lane, gib, tt, write = place(T)
        sh_red = cuda.shared.array((GPB, G), float64)
        sh_tok = cuda.shared.array((GPB, RING), int64)
        sh_kind = cuda.shared.array((GPB, RING), int64)
        sh_val = cuda.shared.array((GPB, RING), float64)
        sh_q = cuda.shared.array((GPB, D), float64)
        red = sh_red[gib]
        own = cuda.local.array(NC, int64)
        q = cuda.local.array(NC, float64)
        kst = cuda.local.array(NC, float64)
        vecs = cuda.local.array((N_VECS, NC), float64)
        acc = cuda.local.array(N_ACC, float64)
        a = cuda.local.array(NB, float64)
        b = cuda.local.array(NB, float64)
        phi = cuda.local.array(NB, float64)
        cs = cuda.local.array(NB, float64)
        sn = cuda.local.array(NB, float64)
        owned(lane, own)
        Lmax = lengths[lengths.shape[0] - 1]
        far_target = delta > window
        tk = R.trial_key(seed, t0 + tt)
        setup(tk, mdelta, mu, transport, own, q, kst, vecs, acc, sh_q[gib], red, lane)
        block_coeffs(q, kst, a, b)
        for r in range(NB):
            phi[r] = 0.0
        slot = 0
        for n in range(1, Lmax + 1):
            i = (n - 1) % RING
            if i % G == 0:
                batch(
                    tk, n, Lmax, src, alias, table.shape[0], delta, p, D, lane, sh_tok[gib], sh_kind[gib], sh_val[gib]
                )
            step_so2(src, law, lawpar, centers, table, sh_tok[gib, i], tk, n, own, phi)
            kind = sh_kind[gib, i]
            if kind != OTHER or transport:
                for r in range(NB):
                    cs[r] = math.cos(phi[r])
                    sn[r] = math.sin(phi[r])
            if kind != OTHER:
                x = 0.0
                for r in range(NB):
                    if own[2 * r] >= 0:
                        x += a[r] * cs[r] + b[r] * sn[r]
                s = B * wsum(x, red, lane)
            else:
                s = B * kappa * sh_val[gib, i]
            s -= slope * n
            if transport:
                if kind == TARGET:
                    for r in range(NB):
                        x0 = vecs[V_VSTAR, 2 * r]
                        x1 = vecs[V_VSTAR, 2 * r + 1]
                        vecs[V_TSTAR, 2 * r] = cs[r] * x0 - sn[r] * x1
                        vecs[V_TSTAR, 2 * r + 1] = sn[r] * x0 + cs[r] * x1
                else:
                    for r in range(NB):
                        x0 = vecs[V_MU, 2 * r]
                        x1 = vecs[V_MU, 2 * r + 1]
                        vecs[V_VMEAN, 2 * r] = cs[r] * x0 - sn[r] * x1
                        vecs[V_VMEAN, 2 * r + 1] = sn[r] * x0 + cs[r] * x1
            cw = weigh(acc, vecs, s)
            add(acc, vecs, cw, n <= window, kind, transport, True)
            if n == lengths[slot]:
                record(acc, vecs, tk, slot, xi, transport, far_target, own, red, lane, out, tt, write)
                slot += 1

    return retrieval_so2
