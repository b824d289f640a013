"""Walk kernels (coherence and second moment) on the GPU.

The arguments are the contract's walk arguments (``contract.walk_args``), the trial count
T and ``out``; the rows are those of ``cpu._walk_so2`` / ``cpu._walk_hh``. The d-dimensional
walks put one trial on a group of lanes (``layout.Layout.lanes``); the reduced-state
Householder walk is in ``reduced.py``, one trial per thread.
"""

from __future__ import annotations

import math

from numba import float64, int64

from ...codes import CONST, IID, SEQ, TABLE
from ...rng import STREAM_K, STREAM_Q
from ._compat import cuda
from .warp import DRAW, R


def make(st, so2: bool):
    """The walk kernel of the family for the device functions ``st`` (``state.make``)."""
    D, NB, NC = st.D, st.NB, st.NC
    owned, unit, partner, dot = st.owned, st.unit, st.partner, st.dot
    block_coeffs, step_so2, gen_hh = st.block_coeffs, st.step_so2, st.gen_hh
    G, GPB, place, wsum = st.G, st.grp.GPB, st.grp.place, st.grp.wsum

    @cuda.jit
    def walk_so2(src, law, lawpar, centers, table, alias, betas, d, reduced, c, N, seed, t0, T, out):
        lane, gib, tt, write = place(T)
        sh_red = cuda.shared.array((GPB, G), float64)
        red = sh_red[gib]
        own = cuda.local.array(NC, int64)
        q = cuda.local.array(NC, float64)
        kv = cuda.local.array(NC, float64)
        a = cuda.local.array(NB, float64)
        b = cuda.local.array(NB, float64)
        phi = cuda.local.array(NB, float64)
        owned(lane, own)
        tk = R.trial_key(seed, t0 + tt)
        unit(R.pos_key(tk, 0, STREAM_Q), own, q, red, lane)
        partner(R.pos_key(tk, 0, STREAM_K), q, c, own, kv, red, lane)
        block_coeffs(q, kv, a, b)
        for r in range(NB):
            phi[r] = 0.0
        for n in range(1, N + 1):
            tok = 0
            if src == TABLE or src == SEQ:
                tok = DRAW.table_row(src, tk, n, alias, table.shape[0])
            step_so2(src, law, lawpar, centers, table, tok, tk, n, own, phi)
            coh = 0.0
            uk = 0.0
            for r in range(NB):
                if own[2 * r] >= 0:
                    cs = math.cos(phi[r])
                    sn = math.sin(phi[r])
                    coh += cs
                    uk += a[r] * cs + b[r] * sn
            coh = wsum(coh, red, lane)
            uk = wsum(uk, red, lane)
            if write and lane == 0:
                out[tt, n - 1, 0] = 2.0 * coh / D
                out[tt, n - 1, 1] = uk * uk

    @cuda.jit
    def walk_hh(src, law, lawpar, centers, table, alias, betas, d, reduced, c, N, seed, t0, T, out):
        lane, gib, tt, write = place(T)
        sh_red = cuda.shared.array((GPB, G), float64)
        red = sh_red[gib]
        own = cuda.local.array(NC, int64)
        q = cuda.local.array(NC, float64)
        kv = cuda.local.array(NC, float64)
        u = cuda.local.array(NC, float64)
        w = cuda.local.array(NC, float64)
        owned(lane, own)
        tk = R.trial_key(seed, t0 + tt)
        unit(R.pos_key(tk, 0, STREAM_Q), own, q, red, lane)
        partner(R.pos_key(tk, 0, STREAM_K), q, c, own, kv, red, lane)
        for k in range(NC):
            u[k] = q[k]
        for n in range(1, N + 1):
            if src != CONST:
                tok = 0
                if src == TABLE or src == SEQ:
                    tok = DRAW.table_row(src, tk, n, alias, table.shape[0])
                gen_hh(src, table, tok, tk, n, own, w, red, lane)
                beta = betas[0] if src == IID else betas[tok]
                DRAW.reflect(u, w, beta * dot(w, u, red, lane))
            uq = dot(u, q, red, lane)
            uk = dot(u, kv, red, lane)
            if write and lane == 0:
                out[tt, n - 1, 0] = uq
                out[tt, n - 1, 1] = uk * uk

    return walk_so2 if so2 else walk_hh
