"""The reduced-state Householder kernels on the GPU: one trial per thread.

With i.i.d. uniform directions a Householder step acts on a few scalars
(``draws.reduced_step``, ``draws.reduced_step2``), so a trial has no d-vector to spread
over lanes and each thread carries one trial, whatever ``layout.Layout.lanes`` says.

- ``walk_reduced``: the rows of ``cpu._walk_hh`` with ``reduced`` set.
- ``retrieval_reduced``: the rows of ``cpu._retrieval_hh`` with ``reduced`` set (no value
  transport). Its only d-vectors are the target value v* and the near and far value noise
  read at each recorded length: v* is regenerated from its key there (its norm is computed
  once), and the noise sums live in global scratch ``noise[2, d, T]``, laid out so that
  the threads of a warp touch consecutive addresses. Each coordinate's read-out is the
  no-transport case of ``readout.readout``, summed in the CPU's order.
"""

from __future__ import annotations

import math

from numba import float64

from ...codes import OTHER
from ...rng import STREAM_GEN, STREAM_K
from ..contract import ACC_CST, ACC_MAX, ACC_SF, ACC_SN, N_ACC
from ._compat import SIM, cuda
from .warp import DRAW, READ, R

#: threads per block of the one-thread-per-trial kernels
THREADS = 4 if SIM else 128  # the simulator runs a block's threads as Python threads


@cuda.jit
def walk_reduced(src, law, lawpar, centers, table, alias, betas, d, reduced, c, N, seed, t0, T, out):
    """The reduced-state Householder walk: the rows of ``cpu._walk_hh`` with ``reduced`` set."""
    tt = cuda.grid(1)
    if tt >= T:
        return
    tk = R.trial_key(seed, t0 + tt)
    hdd, hc = R.gamma_consts(max(0.5 * (d - 3), 1.0))
    sc = math.sqrt(max(1.0 - c * c, 0.0))
    wr = cuda.local.array(3, float64)
    a = 1.0
    b = 0.0
    r = 0.0
    for n in range(1, N + 1):
        a, b, r = DRAW.reduced_step(R.pos_key(tk, n, STREAM_GEN), d, betas[0], a, b, r, wr, hdd, hc)
        uk = c * a + sc * b
        out[tt, n - 1, 0] = a
        out[tt, n - 1, 1] = uk * uk


@cuda.jit
def retrieval_reduced(
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
    noise,
    out,
):
    """Reduced-state Householder retrieval, one trial per thread (module docstring)."""
    tt = cuda.grid(1)
    if tt >= T:
        return
    tk = R.trial_key(seed, t0 + tt)
    vkey = R.pos_key(tk, 0, STREAM_K)  # v* = unit(vkey), as cpu.setup_retrieval draws it
    s2 = 0.0
    for j in range(d):
        z = R.normal(vkey, j)
        s2 += z * z
    vinv = 1.0 / math.sqrt(s2)
    for j in range(d):
        noise[0, j, tt] = 0.0
        noise[1, j, tt] = 0.0
    noisy = False  # no noise drawn yet: nothing to rescale
    mu_c = mu / math.sqrt(d)
    sd = xi / math.sqrt(d)
    hdd, hc = R.gamma_consts(max(0.5 * (d - 2), 1.0))  # the reduced step's Gamma
    odd, oc = R.gamma_consts(max(0.5 * (d - 1), 1.0))  # a random key's projection
    acc = cuda.local.array(N_ACC, float64)
    for i in range(N_ACC):
        acc[i] = 0.0
    acc[ACC_MAX] = -math.inf
    wr = cuda.local.array(2, float64)
    ra = 1.0
    rr = 0.0
    Lmax = lengths[lengths.shape[0] - 1]
    far_target = delta > window
    slot = 0
    for n in range(1, Lmax + 1):
        ra, rr = DRAW.reduced_step2(R.pos_key(tk, n, STREAM_GEN), d, betas[0], ra, rr, wr, hdd, hc)
        nu2 = ra * ra + rr * rr
        kind, kk = DRAW.key_kind(tk, n, delta, p)
        if kind != OTHER:
            s = B * ra
        else:
            s = B * kappa * math.sqrt(max(nu2, 0.0)) * DRAW.other_coord_mt(kk, d, odd, oc)
        s -= slope * n
        if s > acc[ACC_MAX]:  # cpu_state.rescale
            f = READ.rescale_sums(acc, s)
            if noisy:
                for j in range(d):
                    noise[0, j, tt] *= f
                    noise[1, j, tt] *= f
        cw = math.exp(s - acc[ACC_MAX])
        READ.add_sums(acc, cw, n <= window, kind, True)  # cpu_state.add, without value transport
        if n == lengths[slot]:  # cpu_state.record
            for part in range(2):
                scale, key = READ.pending_noise(acc, part, tk, slot, sd)
                if scale > 0.0:
                    for j in range(d):
                        noise[part, j, tt] += scale * R.normal(key, j)
                    noisy = True
            cf = acc[ACC_CST] if far_target else 0.0
            mN = acc[ACC_SN] * mu_c
            mF = acc[ACC_SF] * mu_c
            yt = 0.0
            yf2 = 0.0
            tt2 = 0.0
            for j in range(d):  # readout.readout without value transport
                t = R.normal(vkey, j) * vinv
                nN = noise[0, j, tt]
                nF = noise[1, j, tt]
                yF = mF + nF + cf * t
                y = acc[ACC_CST] * t + mN + mF + nN + nF
                yt += y * t
                yf2 += yF * yF
                tt2 += t * t
            READ.metrics(acc, cf, yt, yf2, tt2, out[tt, slot])
            slot += 1
