"""Trial-batched CPU retrieval for Householder generators without value transport: a block of
up to ``LANES`` trials advances in lockstep, one position at a time.

Every draw is counter-based (``rng``), so the draws of different trials are independent
computations. Laid out across a block (structure of arrays, ``x[l]`` for lane l), the
SplitMix64 hashes, the ziggurat's fast path, the uniforms and the alias lookups of one
position are one loop over the lanes, which LLVM vectorises: the compiled helpers use
AVX-512 registers, 64-bit vector multiplies (``vpmullq``) and gathers for the ziggurat
tables (``inspect_asm``, on the AMD EPYC development machine). The lane loops take their trip
count at run time on purpose: numba turns LLVM's SLP vectoriser off, and a loop of a constant
eight trips was unrolled into scalar code before the loop vectoriser saw it (measured: no
vector multiply in the compiled code). The d-dimensional reflections of a block are
independent chains that the core overlaps; each keeps the fixed-order dot product of
``cpu_state.dot``. (Transposing the block so that the dot products vectorise across lanes
needs a gather of every table row, and ran slower: 1.2x the per-trial kernel against 1.5x.)

The rejection samplers keep their streams: a lane whose ziggurat draw misses the fast path
is redrawn by ``rng.normal`` itself, and the Gamma variates retry with masks (a lane that has
accepted keeps its value while the others draw again, from the counters it would use
alone). So every trial gets the bits of the per-trial kernel ``cpu._retrieval_hh``, whatever
its block, the lane count, the thread count or the number of trials (``tests/test_lanes.py``
checks it bit for bit). The per-trial kernel stays this one's reference, and the kernel of
value transport (which carries P_n, O(d^2) a step), of the full i.i.d. walk
(``sampler=full``, d normals a step), of SO(2) and of the walks.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from .. import rng
from .._jit import hot, load_flag, pnjit
from ..codes import CONST, LOOKALIKE, OTHER, SEQ, TABLE, TARGET
from .contract import ACC_MAX as _MAX
from .contract import N_ACC, N_VECS
from .cpu_state import add, dot, record, rescale, setup_retrieval
from .draws import other_coord

#: the most trials a block advances in lockstep: four AVX-512 registers of float64 or uint64
#: per lane loop (measured on 2 cores, d = 64, 64 trials: 8 lanes ran 1.6x the per-trial
#: kernel, 16 lanes 1.6-1.9x, 32 lanes 1.9-2.3x, 64 lanes no better)
LANES = 32
#: the stop flag is polled once every POLL steps (as in ``cpu``)
POLL_MASK = 4096 - 1


@hot
def normals(keys, j, out, slow):
    """``out[l] = rng.normal(keys[l], j)`` for every lane: the ziggurat's fast path for all
    lanes at once, then ``rng.normal`` for the lanes (about 1%) that miss it."""
    nl = keys.shape[0]
    miss = False
    for lane in range(nl):
        r = rng.u64(keys[lane], j)
        out[lane] = rng.zig_fast(r)
        s = not rng.zig_hit(r)
        slow[lane] = s
        miss |= s
    if miss:
        for lane in range(nl):
            if slow[lane]:
                out[lane] = rng.normal(keys[lane], j)


@hot
def uniforms(keys, j, out):
    """``out[l] = rng.uniform(keys[l], j)`` for every lane."""
    nl = keys.shape[0]
    for lane in range(nl):
        out[lane] = rng.uniform(keys[lane], j)


@hot
def gammas(keys, dd, c, out, x, u, done, slow):
    """``out[l] = rng.gamma_mt(keys[l], dd, c)`` for every lane (Marsaglia and Tsang's
    squeeze method): each round draws the pair (normal, uniform) of counters (t, t + 1) for
    every lane and keeps the first accepted value of each, so a lane gets the value it gets
    alone. ``x``, ``u``, ``done``, ``slow``: scratch of the block's lanes."""
    nl = keys.shape[0]
    for lane in range(nl):
        done[lane] = False
    t = 0
    left = True
    while left:
        normals(keys, t, x, slow)
        uniforms(keys, t + 1, u)
        left = False
        for lane in range(nl):
            if not done[lane]:
                xx = x[lane]
                v = 1.0 + c * xx
                if v > 0.0:
                    v = v * v * v
                    x2 = xx * xx
                    uu = u[lane]
                    if uu < 1.0 - 0.0331 * x2 * x2 or math.log(uu) < 0.5 * x2 + dd * (1.0 - v + math.log(v)):
                        out[lane] = dd * v
                        done[lane] = True
                left |= not done[lane]
        t += 2


@hot
def mix_lanes(keys, salt, out):
    """``out[l] = rng.mix(keys[l] ^ salt)``: ``rng.pos_key`` of every lane, given
    ``salt = rng.pos_salt(pos, stream)``, or ``rng.aux_key`` given ``rng.AUX``."""
    nl = keys.shape[0]
    for lane in range(nl):
        out[lane] = rng.mix(keys[lane] ^ salt)


def lanes_for(trials: int, threads: int) -> int:
    """Lanes of a block: up to ``LANES``, fewer when there are too few trials to give every
    thread a block. Any value gives the same bits."""
    return max(1, min(LANES, -(-trials // max(threads, 1))))


def applies(src: int, reduced: bool, transport: bool) -> bool:
    """Whether the lane kernel runs this Householder retrieval: no value transport, and
    generators from a table (TABLE, SEQ), none (CONST) or the reduced i.i.d. walk. The full
    i.i.d. walk (``sampler=full``) draws d normals a step per trial and stays with the
    per-trial kernel."""
    return not transport and (reduced or src in (TABLE, SEQ, CONST))


@hot
# complexity above 15: the block's step loop, written out so that every lane loop is flat
def _steps(  # noqa: C901
    src,
    table,
    alias,
    betas,
    d,
    reduced,
    slope,
    B,
    delta,
    p,
    kappa,
    xi,
    window,
    lengths,
    stop,
    tk,
    keys,
    ints,
    fl,
    flags,
    uq,
    kq,
    acc,
    vecs,
    rows,
):
    """Lengths 1 .. lengths[-1] of one block of trials (set up) into
    ``rows[lanes, K, 4]``: the per-step body of ``cpu._retrieval_hh`` without value transport,
    for every lane. ``uq`` [lanes, d]: the transported queries; ``kq`` [lanes, d]: the target
    keys; ``keys``: uint64 scratch [4, lanes]; ``ints``: int64 scratch [2, lanes]; ``fl``:
    float64 scratch [11, lanes]; ``flags``: bool scratch [2, lanes]."""
    nl = tk.shape[0]
    Lmax = lengths[lengths.shape[0] - 1]
    far_target = delta > window
    hdd, hc = rng.gamma_consts(max(0.5 * (d - 2), 1.0))  # the reduced step's Gamma
    odd, oc = rng.gamma_consts(max(0.5 * (d - 1), 1.0))  # a random key's projection
    gk = keys[0]
    kk = keys[1]
    ak = keys[2]
    bk = keys[3]
    tok = ints[0]
    kind = ints[1]
    z = fl[0]
    chi = fl[1]
    x = fl[2]
    uu = fl[3]
    s = fl[4]
    nu2 = fl[5]
    ra = fl[6]
    rr = fl[7]
    alph = fl[8]
    bet = fl[9]
    kd = fl[10]
    done = flags[0]
    slow = flags[1]
    V = table.shape[0]
    b0 = betas[0]
    for lane in range(nl):
        nu2[lane] = 1.0
        ra[lane] = 1.0
        rr[lane] = 0.0
    slot = 0
    for n in range(1, Lmax + 1):
        if (n & POLL_MASK) == 0 and load_flag(stop) != 0:
            break
        # the generator of lag n
        if reduced:
            # draws.reduced_step2: (w1, w2) and the rest's chi-square of a uniform direction
            mix_lanes(tk, rng.pos_salt(n, rng.STREAM_GEN), gk)
            normals(gk, 0, z, slow)
            normals(gk, 1, x, slow)
            mix_lanes(gk, rng.AUX, ak)
            gammas(ak, hdd, hc, chi, s, uu, done, slow)
            for lane in range(nl):
                z0 = z[lane]
                z1 = x[lane]
                sq = 0.0
                sq += z0 * z0
                sq += z1 * z1
                c2 = 2.0 * chi[lane]
                inv = 1.0 / (sq + c2)
                scale = math.sqrt(inv)
                w0 = z0 * scale
                w1 = z1 * scale
                rest = c2 * inv
                bb = b0 * (ra[lane] * w0 + rr[lane] * w1)
                xr = rr[lane] - bb * w1
                ra[lane] = ra[lane] - bb * w0
                rr[lane] = math.sqrt(xr * xr + bb * bb * rest)
                nu2[lane] = ra[lane] * ra[lane] + rr[lane] * rr[lane]
        elif src != CONST:
            if src == TABLE:  # the alias draw of draws.table_row
                mix_lanes(tk, rng.pos_salt(n, rng.STREAM_GEN), gk)
                uniforms(gk, 0, uu)
                for lane in range(nl):
                    xv = uu[lane] * V
                    i = min(int(xv), V - 1)
                    tok[lane] = i if xv - i < alias[i, 0] else int(alias[i, 1])
            else:  # SEQ
                for lane in range(nl):
                    tok[lane] = (n - 1) % V
            for lane in range(nl):
                t_ = tok[lane]
                v = table[t_]
                ul = uq[lane]
                a = dot(v, ul)
                be = betas[t_]
                bb = be * a
                for j in range(d):
                    ul[j] -= bb * v[j]
                alph[lane] = a
                bet[lane] = be
            if n % 1024 == 0:
                for lane in range(nl):
                    nu2[lane] = dot(uq[lane], uq[lane])
            else:
                for lane in range(nl):
                    nu2[lane] -= bet[lane] * (2.0 - bet[lane]) * alph[lane] * alph[lane]
        # the key of lag n (draws.key_kind), and a random key's projection for every lane
        mix_lanes(tk, rng.pos_salt(n, rng.STREAM_KEY), kk)
        any_near = n == delta
        if n == delta:
            for lane in range(nl):
                kind[lane] = TARGET
        elif p > 0.0:
            uniforms(kk, 0, uu)
            for lane in range(nl):
                look = uu[lane] < p
                kind[lane] = LOOKALIKE if look else OTHER
                any_near |= look
        else:
            for lane in range(nl):
                kind[lane] = OTHER
        if d < 3:
            for lane in range(nl):
                z[lane] = other_coord(kk[lane], d)
        else:
            # draws.other_coord_mt: rng.sphere_coord_mt of aux_key(kk)
            mix_lanes(kk, rng.AUX, ak)
            normals(ak, 0, z, slow)
            mix_lanes(ak, rng.AUX, bk)
            gammas(bk, odd, oc, chi, x, uu, done, slow)
            for lane in range(nl):
                zz = z[lane]
                z[lane] = zz / math.sqrt(zz * zz + 2.0 * chi[lane])
        for lane in range(nl):
            s[lane] = B * kappa * math.sqrt(max(nu2[lane], 0.0)) * z[lane]
        if any_near:
            if not reduced:
                for lane in range(nl):
                    kd[lane] = dot(uq[lane], kq[lane])
            for lane in range(nl):
                if kind[lane] != OTHER:
                    s[lane] = B * (ra[lane] if reduced else kd[lane])
        near = n <= window
        for lane in range(nl):
            sl = s[lane] - slope * n
            al = acc[lane]
            if sl > al[_MAX]:
                rescale(al, vecs[lane], sl)
            add(al, vecs[lane], math.exp(sl - al[_MAX]), near, kind[lane], False, True)
        if n == lengths[slot]:
            for lane in range(nl):
                record(acc[lane], vecs[lane], tk[lane], slot, xi, False, far_target, rows[lane, slot])
            slot += 1


@pnjit
def _retrieval_hh_lanes(
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
    nl,
    stop,
    out,
):
    T = out.shape[0]
    K = lengths.shape[0]
    for blk in prange((T + nl - 1) // nl):
        m = min(nl, T - blk * nl)  # the last block may be short
        tk = np.empty(m, dtype=np.uint64)
        uq = np.empty((m, d))
        kq = np.empty((m, d))
        acc = np.empty((m, N_ACC))
        vecs = np.empty((m, N_VECS, d))
        for lane in range(m):
            tk[lane] = rng.trial_key(seed, t0 + blk * nl + lane)
            q, ks, vc, ac = setup_retrieval(tk[lane], mdelta, mu, False)
            uq[lane] = q
            kq[lane] = ks
            vecs[lane] = vc
            acc[lane] = ac
        rows = np.zeros((m, K, 4))
        _steps(
            src,
            table,
            alias,
            betas,
            d,
            reduced,
            slope,
            B,
            delta,
            p,
            kappa,
            xi,
            window,
            lengths,
            stop,
            tk,
            np.empty((4, m), dtype=np.uint64),
            np.empty((2, m), dtype=np.int64),
            np.empty((11, m)),
            np.empty((2, m), dtype=np.bool_),
            uq,
            kq,
            acc,
            vecs,
            rows,
        )
        for lane in range(m):
            out[blk * nl + lane] = rows[lane]
