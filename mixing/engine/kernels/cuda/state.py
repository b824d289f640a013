"""Per-trial state of one warp: owned coordinates, vectors, softmax sums, one length's metrics.

Each of the G lanes of a trial owns NC coordinates of every d-vector (Householder:
j = lane + G r; SO(2): the two coordinates of block m = lane + G r), so the transported
query, the value sums and the generator's row live in registers spread over the group. The functions mirror the CPU
backend's (``cpu.py``) for one lane; ``acc`` and ``vecs`` use the slot layout of
``contract.py`` with constant indices only, so they can stay in registers.

:func:`make` builds the device functions for one dimension D and one group size (local
arrays need their sizes at compile time) and returns them as a namespace. With
``single`` the dot products accumulate in float32 (``layout.Layout.precision``); every
other sum is float64.
"""

from __future__ import annotations

import math
import types

import numpy as np
from numba import float64

from ...codes import CONST, IID, TARGET
from ...rng import STREAM_GEN, STREAM_K, STREAM_Q
from ..contract import (
    ACC_CST,
    ACC_MAX,
    N_ACC,
    N_VECS,
    N_WEIGHTED,
    V_MEAN_F,
    V_MEAN_N,
    V_MU,
    V_NOISE_N,
    V_TSTAR,
    V_VMEAN,
    V_VSTAR,
)
from ._compat import cuda
from .warp import LAW, READ, R, dev, group


# complexity above 15: builds the device helpers of the hot loop for one layout
def make(D: int, so2: bool, G: int = 32, single: bool = False) -> types.SimpleNamespace:  # noqa: C901
    """Device functions for dimension D and G lanes per trial; NB SO(2) blocks and NC
    coordinates per lane."""
    H = D // 2
    NB = (H + G - 1) // G
    NC = 2 * NB if so2 else (D + G - 1) // G
    grp = group(G)
    wsum, wsync = grp.wsum, grp.wsync
    ZERO = np.float32(0.0) if single else 0.0

    @dev
    def owned(lane, own):
        """own[k]: the coordinate lane owns in slot k, or -1 past the end."""
        for k in range(NC):
            if so2:
                m = lane + G * (k // 2)
                own[k] = 2 * m + (k % 2) if m < H else -1
            else:
                c = lane + G * k
                own[k] = c if c < D else -1

    @dev
    def unit(key, own, out, red, lane):
        """cpu.unit over the warp: normalised normals of ``key``."""
        s = 0.0
        for k in range(NC):
            z = 0.0
            if own[k] >= 0:
                z = R.normal(key, own[k])
            out[k] = z
            s += z * z
        s = 1.0 / math.sqrt(wsum(s, red, lane))
        for k in range(NC):
            out[k] *= s

    @dev
    def partner(key, q, c, own, out, red, lane):
        """cpu.partner over the warp: a unit vector with q . out = c."""
        proj = 0.0
        for k in range(NC):
            z = 0.0
            if own[k] >= 0:
                z = R.normal(key, own[k])
            out[k] = z
            proj += z * q[k]
        proj = wsum(proj, red, lane)
        s = 0.0
        for k in range(NC):
            out[k] -= proj * q[k]
            s += out[k] * out[k]
        s = math.sqrt(1.0 - c * c) / math.sqrt(wsum(s, red, lane))
        for k in range(NC):
            out[k] = c * q[k] + s * out[k]

    @dev
    def dot(x, y, red, lane):
        s = ZERO
        for k in range(NC):
            s += x[k] * y[k]
        return wsum(s, red, lane)

    @dev
    def block_coeffs(q, kv, a, b):
        """Per owned block: (R(-Phi) q) . k = a cos Phi + b sin Phi."""
        for r in range(NB):
            a[r] = q[2 * r] * kv[2 * r] + q[2 * r + 1] * kv[2 * r + 1]
            b[r] = q[2 * r + 1] * kv[2 * r] - q[2 * r] * kv[2 * r + 1]

    @dev
    def step_so2(src, law, lawpar, centers, table, tok, tk, n, own, phi):
        """Accumulated angles of the owned blocks (cpu.step_so2)."""
        gkey = R.pos_key(tk, n, STREAM_GEN) if src == IID else np.uint64(0)
        for r in range(NB):
            if own[2 * r] < 0:
                continue
            m = own[2 * r] // 2
            if src == CONST:
                phi[r] = n * centers[m]
            elif src == IID:
                phi[r] += centers[m] + LAW.angle(law, lawpar, gkey, m, centers[m])
            else:
                phi[r] += table[tok, m]

    @dev
    def gen_hh(src, table, tok, tk, n, own, w, red, lane):
        """The Householder direction of step n into the owned coordinates of w."""
        if src == IID:
            unit(R.pos_key(tk, n, STREAM_GEN), own, w, red, lane)
        else:
            for k in range(NC):
                w[k] = table[tok, own[k]] if own[k] >= 0 else 0.0

    @dev
    def weigh(acc, vecs, s):
        """Fold score s into the running maximum; return exp(s - max) (cpu.weigh)."""
        if s > acc[ACC_MAX]:
            f = READ.rescale_sums(acc, s)
            for rr in range(N_WEIGHTED):
                for k in range(NC):
                    vecs[rr, k] *= f
        return math.exp(s - acc[ACC_MAX])

    @dev
    def add(acc, vecs, c, near, kind, transport, trick):
        """Add a source of weight c (cpu.add, with constant indices only)."""
        READ.add_sums(acc, c, near, kind, trick)
        if transport and kind != TARGET:
            if near:
                for k in range(NC):
                    vecs[V_MEAN_N, k] += c * vecs[V_VMEAN, k]
            else:
                for k in range(NC):
                    vecs[V_MEAN_F, k] += c * vecs[V_VMEAN, k]

    @dev
    def record(acc, vecs, tk, slot, xi, transport, far_target, own, red, lane, out, tt, write):
        """Draw the pending noise and write the four metrics of one length (cpu.record)."""
        sd = xi / math.sqrt(D)
        for part in range(2):
            scale, key = READ.pending_noise(acc, part, tk, slot, sd)
            if scale > 0.0:
                for k in range(NC):
                    if own[k] >= 0:
                        vecs[V_NOISE_N + part, k] += scale * R.normal(key, own[k])
        cf = acc[ACC_CST] if far_target else 0.0
        yt = 0.0
        yf2 = 0.0
        tt2 = 0.0
        for k in range(NC):
            a, b, c = READ.readout(acc, vecs, k, transport, cf)
            yt += a
            yf2 += b
            tt2 += c
        yt = wsum(yt, red, lane)
        yf2 = wsum(yf2, red, lane)
        tt2 = wsum(tt2, red, lane)
        if write and lane == 0:
            READ.metrics(acc, cf, yt, yf2, tt2, out[tt, slot])

    @dev
    def setup(tk, mdelta, mu, transport, own, q, kst, vecs, acc, shq, red, lane):
        """cpu.setup_retrieval, spread over the warp (q goes through shared memory)."""
        for i in range(N_ACC):
            acc[i] = 0.0
        acc[ACC_MAX] = -math.inf
        for rr in range(N_VECS):
            for k in range(NC):
                vecs[rr, k] = 0.0
        unit(R.pos_key(tk, 0, STREAM_Q), own, q, red, lane)
        for k in range(NC):
            if own[k] >= 0:
                shq[own[k]] = q[k]
        wsync()
        s = 0.0
        for k in range(NC):
            x = 0.0
            j = own[k]
            if j >= 0:
                for i in range(D):
                    x += mdelta[i, j] * shq[i]
            kst[k] = x
            s += x * x
        s = wsum(s, red, lane)
        if s > 1e-300:
            s = 1.0 / math.sqrt(s)
            for k in range(NC):
                kst[k] *= s
        else:
            for k in range(NC):
                kst[k] = q[k]
        wsync()
        vstar = cuda.local.array(NC, float64)
        unit(R.pos_key(tk, 0, STREAM_K), own, vstar, red, lane)
        for k in range(NC):
            vecs[V_VSTAR, k] = vstar[k]
            vecs[V_MU, k] = mu / math.sqrt(D) if own[k] >= 0 else 0.0
            if not transport:
                vecs[V_TSTAR, k] = vstar[k]

    return types.SimpleNamespace(
        D=D,
        H=H,
        NB=NB,
        NC=NC,
        G=G,
        grp=grp,
        single=single,
        owned=owned,
        unit=unit,
        partner=partner,
        dot=dot,
        block_coeffs=block_coeffs,
        step_so2=step_so2,
        gen_hh=gen_hh,
        weigh=weigh,
        add=add,
        record=record,
        setup=setup,
    )
