"""numba-cuda kernels: one warp per trial, float64, the contract of ``cpu.py``.

The wrappers at the bottom take exactly the arguments of the CPU kernels of the same name
(``walk_so2``, ``walk_hh``, ``retrieval_so2``, ``retrieval_hh``) and fill ``out`` the same
way, from the same random numbers: every draw is the counter-based function of
``mixing.rng`` keyed by (seed, trial, position, stream), rebuilt here as device functions
from the very same source (``rng.twins``). Rows are per trial and reduced on the host, so
the numbers do not depend on the launch shape.

Layout. A warp of 32 lanes carries one trial. Each lane owns a few coordinates of every
d-vector (Householder: j = lane + 32 r; SO(2): the two coordinates of block
m = lane + 32 r), so the transported query, the value sums and the generator's row live in
registers, spread over the warp; dot products are warp sums (shuffles on a GPU, shared
memory under the simulator, which has no shuffles). Per-step scalar draws (token, key
kind, projection of a random key) are made 32 steps at a time, one step per lane, and
read back from shared memory in the sequential pass, so the warp does not repeat them.
Householder value transport with beta < 2 carries P_n, kept in global scratch
memory (lane-owned rows); that mode is O(d^2) per step, as on the CPU.

Precision: everything is float64 (the arithmetic, the RNG and the sums), as on the CPU;
the CUDA results differ from the CPU kernel only by summation order and by libdevice vs
libm rounding of exp/log/sin/cos (measured in ``mixing.bench --device cuda``).

numba-cuda 0.30 registers an overload for ``np.row_stack``, which numpy 2.5 removed; the
alias is restored (as ``np.vstack``) before numba-cuda is imported so kernels compile with
numpy 2.5.
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np

if not hasattr(np, "row_stack"):  # numpy >= 2.5 dropped the alias numba-cuda 0.30 overloads
    np.row_stack = np.vstack

from numba import cuda, float64, int64  # noqa: E402
from numba.core.errors import NumbaPerformanceWarning  # noqa: E402

from .. import laws as _laws  # noqa: E402
from .. import rng as _rng  # noqa: E402
from ..mechanisms import CONST, IID, SEQ, TABLE  # noqa: E402

try:
    from numba.cuda.core import config as _cfg
    SIM = bool(_cfg.ENABLE_CUDASIM)
except ImportError:  # pragma: no cover - older layouts
    SIM = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1"

WARP = 32
RING = 2 * WARP
#: warps (trials) per block: 1 under the simulator, where every sync is block-wide;
#: MIXING_CUDA_WPB and MIXING_CUDA_MAXREG (a register cap) are for launch-shape experiments
WPB = 1 if SIM else int(os.environ.get("MIXING_CUDA_WPB", "4"))
MAXREG = int(os.environ.get("MIXING_CUDA_MAXREG", "0")) or None
FULL = 0xFFFFFFFF

_dev = cuda.jit(device=True)
R = _rng.twins(_dev, "mixing.rng.cuda")
LAW = _laws.twins(_dev, R, "mixing.laws.cuda")

# acc slots and vecs rows: as in cpu.py
_MAX, _Z, _SN, _SF, _QN, _QF, _CST = range(7)
_MEAN_N, _MEAN_F, _NOISE_N, _NOISE_F, _TSTAR, _MU, _VSTAR, _VMEAN = range(8)
_GEN, _KEY, _VAL, _Q, _K, _CKPT = (_rng.STREAM_GEN, _rng.STREAM_KEY, _rng.STREAM_VAL,
                                   _rng.STREAM_Q, _rng.STREAM_K, _rng.STREAM_CKPT)


def available() -> bool:
    """True when kernels can run (a CUDA GPU, or the simulator)."""
    try:
        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001 - a driver failure means "no GPU"
        return False


# ---------------------------------------------------------------------------------------
# warp primitives


if SIM:
    @_dev
    def wsum(x, red, lane):
        red[lane] = x
        cuda.syncthreads()
        s = 0.0
        for i in range(WARP):
            s += red[i]
        cuda.syncthreads()
        return s

    @_dev
    def wsync():
        cuda.syncthreads()
else:
    @_dev
    def wsum(x, red, lane):
        # xor butterfly: every lane ends with the same bits (a + b == b + a)
        x += cuda.shfl_xor_sync(FULL, x, 16)
        x += cuda.shfl_xor_sync(FULL, x, 8)
        x += cuda.shfl_xor_sync(FULL, x, 4)
        x += cuda.shfl_xor_sync(FULL, x, 2)
        x += cuda.shfl_xor_sync(FULL, x, 1)
        return x

    @_dev
    def wsync():
        cuda.syncwarp(FULL)


# ---------------------------------------------------------------------------------------
# scalar helpers (cpu.py's, for one lane)


@_dev
def token(key, cdf):
    u = R.uniform(key, 0)
    lo = 0
    hi = cdf.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cdf[mid] > u:
            hi = mid
        else:
            lo = mid + 1
    return lo


@_dev
def table_row(src, tk, n, cdf, V):
    """Table row of lag n: a token from ``cdf`` (TABLE) or row (n-1) mod V (SEQ)."""
    if src == SEQ:
        return (n - 1) % V
    return token(R.pos_key(tk, n, _GEN), cdf)


@_dev
def key_draw(tk, n, delta, p, d):
    """(kind, projection of a random key): 0 target, 1 lookalike, 2 other."""
    kk = R.pos_key(tk, n, _KEY)
    if n == delta:
        return 0, 0.0
    if p > 0.0 and R.uniform(kk, 0) < p:
        return 1, 0.0
    return 2, R.sphere_coord(R.aux_key(kk), d)


@_dev
def batch(tk, n0, Lmax, src, cdf, V, delta, p, d, lane, sh_tok, sh_kind, sh_val):
    """Scalars of steps n0 .. n0+31, lane l drawing step n0+l, into the ring of 64 slots
    in shared memory (step n at slot (n-1) % 64)."""
    wsync()
    n = n0 + lane
    if n <= Lmax:
        tok = 0
        if src == TABLE or src == SEQ:
            tok = table_row(src, tk, n, cdf, V)
        kind, val = key_draw(tk, n, delta, p, d)
        j = (n - 1) % RING
        sh_tok[j] = tok
        sh_kind[j] = kind
        sh_val[j] = val
    wsync()


def _make(D: int, so2: bool):
    """Kernels for dimension D: one warp per trial, NC owned coordinates per lane."""
    H = D // 2
    NB = (H + WARP - 1) // WARP          # SO(2) blocks per lane
    NC = 2 * NB if so2 else (D + WARP - 1) // WARP

    @_dev
    def owned(lane, own):
        for k in range(NC):
            if so2:
                m = lane + WARP * (k // 2)
                own[k] = 2 * m + (k % 2) if m < H else -1
            else:
                c = lane + WARP * k
                own[k] = c if c < D else -1

    @_dev
    def unit(key, own, out, red, lane):
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

    @_dev
    def partner(key, q, c, own, out, red, lane):
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

    @_dev
    def dot(x, y, red, lane):
        s = 0.0
        for k in range(NC):
            s += x[k] * y[k]
        return wsum(s, red, lane)

    @_dev
    def block_coeffs(q, kv, a, b):
        for r in range(NB):
            a[r] = q[2 * r] * kv[2 * r] + q[2 * r + 1] * kv[2 * r + 1]
            b[r] = q[2 * r + 1] * kv[2 * r] - q[2 * r] * kv[2 * r + 1]

    @_dev
    def step_so2(src, law, lawpar, centers, table, tok, tk, n, own, phi):
        gkey = R.pos_key(tk, n, _GEN) if src == IID else np.uint64(0)
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

    @_dev
    def gen_hh(src, table, tok, tk, n, own, w, red, lane):
        """The Householder direction of step n into the owned coordinates of w."""
        if src == IID:
            unit(R.pos_key(tk, n, _GEN), own, w, red, lane)
        else:
            for k in range(NC):
                w[k] = table[tok, own[k]] if own[k] >= 0 else 0.0

    @_dev
    def weigh(acc, vecs, s):
        if s > acc[_MAX]:
            f = math.exp(acc[_MAX] - s)
            acc[_Z] *= f
            acc[_SN] *= f
            acc[_SF] *= f
            acc[_CST] *= f
            acc[_QN] *= f * f
            acc[_QF] *= f * f
            for rr in range(4):
                for k in range(NC):
                    vecs[rr, k] *= f
            acc[_MAX] = s
        return math.exp(s - acc[_MAX])

    @_dev
    def add(acc, vecs, c, near, kind, transport, trick):
        # constant indices only, so acc and vecs can live in registers
        acc[_Z] += c
        if kind == 0:
            acc[_CST] = c
        elif near:
            acc[_SN] += c
            if trick:
                acc[_QN] += c * c
            if transport:
                for k in range(NC):
                    vecs[_MEAN_N, k] += c * vecs[_VMEAN, k]
        else:
            acc[_SF] += c
            if trick:
                acc[_QF] += c * c
            if transport:
                for k in range(NC):
                    vecs[_MEAN_F, k] += c * vecs[_VMEAN, k]

    @_dev
    def record(acc, vecs, tk, slot, xi, transport, far_target, own, red, lane, out, tt, write):
        sd = xi / math.sqrt(D)
        for part in range(2):
            Q = acc[_QN + part]
            if Q > 0.0 and sd > 0.0:
                key = R.pos_key(tk, 2 * slot + part, _CKPT)
                scale = sd * math.sqrt(Q)
                for k in range(NC):
                    if own[k] >= 0:
                        vecs[_NOISE_N + part, k] += scale * R.normal(key, own[k])
            acc[_QN + part] = 0.0
        Z = acc[_Z]
        cst = acc[_CST]
        cf = cst if far_target else 0.0
        yt = 0.0
        yf2 = 0.0
        tt2 = 0.0
        for k in range(NC):
            if transport:
                mN = vecs[_MEAN_N, k]
                mF = vecs[_MEAN_F, k]
            else:
                mN = acc[_SN] * vecs[_MU, k]
                mF = acc[_SF] * vecs[_MU, k]
            t = vecs[_TSTAR, k]
            yF = mF + vecs[_NOISE_F, k] + cf * t
            y = cst * t + mN + mF + vecs[_NOISE_N, k] + vecs[_NOISE_F, k]
            yt += y * t
            yf2 += yF * yF
            tt2 += t * t
        yt = wsum(yt, red, lane)
        yf2 = wsum(yf2, red, lane)
        tt2 = wsum(tt2, red, lane)
        if write and lane == 0:
            out[tt, slot, 0] = cst / Z
            out[tt, slot, 1] = (acc[_SF] + cf) / Z
            out[tt, slot, 2] = yt / (Z * tt2)
            out[tt, slot, 3] = math.sqrt(yf2) / Z

    @_dev
    def setup(tk, mdelta, mu, transport, own, q, kst, vecs, acc, shq, red, lane):
        """cpu.setup_retrieval, spread over the warp (q goes through shared memory)."""
        for i in range(7):
            acc[i] = 0.0
        acc[_MAX] = -math.inf
        for rr in range(8):
            for k in range(NC):
                vecs[rr, k] = 0.0
        unit(R.pos_key(tk, 0, _Q), own, q, red, lane)
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
        unit(R.pos_key(tk, 0, _K), own, vstar, red, lane)
        for k in range(NC):
            vecs[_VSTAR, k] = vstar[k]
            vecs[_MU, k] = mu / math.sqrt(D) if own[k] >= 0 else 0.0
            if not transport:
                vecs[_TSTAR, k] = vstar[k]

    # -----------------------------------------------------------------------------------
    # walks

    @cuda.jit
    def k_walk_so2(src, law, lawpar, centers, table, cdf, c, N, seed, t0, T, out):
        lane = cuda.threadIdx.x % WARP
        wib = cuda.threadIdx.x // WARP
        trial = cuda.blockIdx.x * WPB + wib
        tt = min(trial, T - 1)
        write = trial < T
        sh_red = cuda.shared.array((WPB, WARP), float64)
        red = sh_red[wib]
        own = cuda.local.array(NC, int64)
        q = cuda.local.array(NC, float64)
        kv = cuda.local.array(NC, float64)
        a = cuda.local.array(NB, float64)
        b = cuda.local.array(NB, float64)
        phi = cuda.local.array(NB, float64)
        owned(lane, own)
        tk = R.trial_key(seed, t0 + tt)
        unit(R.pos_key(tk, 0, _Q), own, q, red, lane)
        partner(R.pos_key(tk, 0, _K), q, c, own, kv, red, lane)
        block_coeffs(q, kv, a, b)
        for r in range(NB):
            phi[r] = 0.0
        for n in range(1, N + 1):
            tok = 0
            if src == TABLE or src == SEQ:
                tok = table_row(src, tk, n, cdf, table.shape[0])
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
    def k_walk_hh(src, betas, table, cdf, c, N, seed, t0, T, out):
        lane = cuda.threadIdx.x % WARP
        wib = cuda.threadIdx.x // WARP
        trial = cuda.blockIdx.x * WPB + wib
        tt = min(trial, T - 1)
        write = trial < T
        sh_red = cuda.shared.array((WPB, WARP), float64)
        red = sh_red[wib]
        own = cuda.local.array(NC, int64)
        q = cuda.local.array(NC, float64)
        kv = cuda.local.array(NC, float64)
        u = cuda.local.array(NC, float64)
        w = cuda.local.array(NC, float64)
        owned(lane, own)
        tk = R.trial_key(seed, t0 + tt)
        unit(R.pos_key(tk, 0, _Q), own, q, red, lane)
        partner(R.pos_key(tk, 0, _K), q, c, own, kv, red, lane)
        for k in range(NC):
            u[k] = q[k]
        for n in range(1, N + 1):
            if src != CONST:
                tok = 0
                if src == TABLE or src == SEQ:
                    tok = table_row(src, tk, n, cdf, table.shape[0])
                gen_hh(src, table, tok, tk, n, own, w, red, lane)
                beta = betas[0] if src == IID else betas[tok]
                ba = beta * dot(w, u, red, lane)
                for k in range(NC):
                    u[k] -= ba * w[k]
            uq = dot(u, q, red, lane)
            uk = dot(u, kv, red, lane)
            if write and lane == 0:
                out[tt, n - 1, 0] = uq
                out[tt, n - 1, 1] = uk * uk

    # -----------------------------------------------------------------------------------
    # retrieval

    _kjit = cuda.jit(max_registers=MAXREG) if (MAXREG and not SIM) else cuda.jit

    @_kjit
    def k_retrieval_so2(src, law, lawpar, centers, table, cdf, slope, transport, mdelta,
                        B, delta, p, kappa, mu, xi, window, lengths, seed, t0, T, out):
        lane = cuda.threadIdx.x % WARP
        wib = cuda.threadIdx.x // WARP
        trial = cuda.blockIdx.x * WPB + wib
        tt = min(trial, T - 1)
        write = trial < T
        sh_red = cuda.shared.array((WPB, WARP), float64)
        sh_tok = cuda.shared.array((WPB, RING), int64)
        sh_kind = cuda.shared.array((WPB, RING), int64)
        sh_val = cuda.shared.array((WPB, RING), float64)
        sh_q = cuda.shared.array((WPB, D), float64)
        red = sh_red[wib]
        own = cuda.local.array(NC, int64)
        q = cuda.local.array(NC, float64)
        kst = cuda.local.array(NC, float64)
        vecs = cuda.local.array((8, NC), float64)
        acc = cuda.local.array(7, float64)
        a = cuda.local.array(NB, float64)
        b = cuda.local.array(NB, float64)
        phi = cuda.local.array(NB, float64)
        cs = cuda.local.array(NB, float64)
        sn = cuda.local.array(NB, float64)
        owned(lane, own)
        Lmax = lengths[lengths.shape[0] - 1]
        far_target = delta > window
        tk = R.trial_key(seed, t0 + tt)
        setup(tk, mdelta, mu, transport, own, q, kst, vecs, acc, sh_q[wib], red, lane)
        block_coeffs(q, kst, a, b)
        for r in range(NB):
            phi[r] = 0.0
        slot = 0
        for n in range(1, Lmax + 1):
            i = (n - 1) % RING
            if i % WARP == 0:
                batch(tk, n, Lmax, src, cdf, table.shape[0], delta, p, D, lane,
                      sh_tok[wib], sh_kind[wib], sh_val[wib])
            step_so2(src, law, lawpar, centers, table, sh_tok[wib, i], tk, n, own, phi)
            kind = sh_kind[wib, i]
            if kind < 2 or transport:
                for r in range(NB):
                    cs[r] = math.cos(phi[r])
                    sn[r] = math.sin(phi[r])
            if kind < 2:
                x = 0.0
                for r in range(NB):
                    if own[2 * r] >= 0:
                        x += a[r] * cs[r] + b[r] * sn[r]
                s = B * wsum(x, red, lane)
            else:
                s = B * kappa * sh_val[wib, i]
            s -= slope * n
            if transport:
                if kind == 0:
                    for r in range(NB):
                        x0 = vecs[_VSTAR, 2 * r]
                        x1 = vecs[_VSTAR, 2 * r + 1]
                        vecs[_TSTAR, 2 * r] = cs[r] * x0 - sn[r] * x1
                        vecs[_TSTAR, 2 * r + 1] = sn[r] * x0 + cs[r] * x1
                else:
                    for r in range(NB):
                        x0 = vecs[_MU, 2 * r]
                        x1 = vecs[_MU, 2 * r + 1]
                        vecs[_VMEAN, 2 * r] = cs[r] * x0 - sn[r] * x1
                        vecs[_VMEAN, 2 * r + 1] = sn[r] * x0 + cs[r] * x1
            cw = weigh(acc, vecs, s)
            add(acc, vecs, cw, n <= window, kind, transport, True)
            if n == lengths[slot]:
                record(acc, vecs, tk, slot, xi, transport, far_target, own, red, lane, out, tt, write)
                slot += 1

    @_kjit
    def k_retrieval_hh(src, betas, table, cdf, slope, transport, mdelta,
                       B, delta, p, kappa, mu, xi, window, lengths, seed, t0, T, scratch, out):
        lane = cuda.threadIdx.x % WARP
        wib = cuda.threadIdx.x // WARP
        trial = cuda.blockIdx.x * WPB + wib
        tt = min(trial, T - 1)
        write = trial < T
        sh_red = cuda.shared.array((WPB, WARP), float64)
        sh_tok = cuda.shared.array((WPB, RING), int64)
        sh_kind = cuda.shared.array((WPB, RING), int64)
        sh_val = cuda.shared.array((WPB, RING), float64)
        sh_q = cuda.shared.array((WPB, D), float64)
        sh_v = cuda.shared.array((WPB, D), float64)
        sh_x = cuda.shared.array((WPB, D), float64)
        red = sh_red[wib]
        own = cuda.local.array(NC, int64)
        q = cuda.local.array(NC, float64)
        kst = cuda.local.array(NC, float64)
        vecs = cuda.local.array((8, NC), float64)
        acc = cuda.local.array(7, float64)
        u = cuda.local.array(NC, float64)
        w = cuda.local.array(NC, float64)
        pw = cuda.local.array(NC, float64)
        owned(lane, own)
        Lmax = lengths[lengths.shape[0] - 1]
        far_target = delta > window
        carry = transport and src != CONST
        bmin = 2.0
        same = True                   # one beta for every row: no per-step beta load
        for i in range(betas.shape[0]):
            bmin = min(bmin, betas[i])
            same = same and betas[i] == betas[0]
        explicit = carry and bmin < 2.0
        sd = xi / math.sqrt(D)
        tk = R.trial_key(seed, t0 + tt)
        setup(tk, mdelta, mu, transport, own, q, kst, vecs, acc, sh_q[wib], red, lane)
        P = scratch[wib + WPB * cuda.blockIdx.x] if carry else scratch[0]
        wrow = sh_q[wib]            # the full w (carry mode)
        vst = sh_v[wib]             # the full v* (carry mode)
        xin = sh_x[wib]             # the full value noise (explicit mode)
        for k in range(NC):
            u[k] = q[k]
            if transport and not carry:
                vecs[_VMEAN, k] = vecs[_MU, k]
        if carry:  # P_0 = I (P[j, i] holds P_ij: lane-owned rows, coalesced columns)
            for k in range(NC):
                i = own[k]
                if i >= 0:
                    vst[i] = vecs[_VSTAR, k]
                    for j in range(D):
                        P[j, i] = 1.0 if i == j else 0.0
            wsync()
        nu2 = 1.0
        slot = 0
        # scalars run one batch ahead, so the next step's table row can be loaded early
        V = table.shape[0]
        batch(tk, 1, Lmax, src, cdf, V, delta, p, D, lane, sh_tok[wib], sh_kind[wib], sh_val[wib])
        wnext = cuda.local.array(NC, float64)
        beta = betas[0]
        bnext = betas[0]
        if src == TABLE or src == SEQ:
            gen_hh(src, table, sh_tok[wib, 0], tk, 1, own, wnext, red, lane)
            if not same:
                bnext = betas[sh_tok[wib, 0]]
        for n in range(1, Lmax + 1):
            ii = (n - 1) % RING
            if ii % WARP == 0:
                batch(tk, n + WARP, Lmax, src, cdf, V, delta, p, D, lane,
                      sh_tok[wib], sh_kind[wib], sh_val[wib])
            kind = sh_kind[wib, ii]
            if src == TABLE or src == SEQ:
                for k in range(NC):
                    w[k] = wnext[k]
                beta = bnext
                if n < Lmax:
                    gen_hh(src, table, sh_tok[wib, n % RING], tk, n + 1, own, wnext, red, lane)
                    if not same:
                        bnext = betas[sh_tok[wib, n % RING]]
            elif src == IID:
                gen_hh(src, table, 0, tk, n, own, w, red, lane)
            if src != CONST:
                alpha = dot(w, u, red, lane)
                ba = beta * alpha
                for k in range(NC):
                    u[k] -= ba * w[k]
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
            if kind < 2:
                s = B * dot(u, kst, red, lane)
            else:
                s = B * kappa * math.sqrt(max(nu2, 0.0)) * sh_val[wib, ii]
            s -= slope * n
            if transport:
                if carry:
                    for k in range(NC):
                        i = own[k]
                        x = 0.0
                        if i >= 0:
                            if kind == 0:
                                for j in range(D):
                                    x += P[j, i] * vst[j]
                            else:
                                for j in range(D):
                                    x += P[j, i] * (mu / math.sqrt(D))
                        if kind == 0:
                            vecs[_TSTAR, k] = x
                        else:
                            vecs[_VMEAN, k] = x
                elif kind == 0:
                    for k in range(NC):
                        vecs[_TSTAR, k] = vecs[_VSTAR, k]
            cw = weigh(acc, vecs, s)
            add(acc, vecs, cw, n <= window, kind, transport, not explicit)
            if explicit and kind != 0 and sd > 0.0:
                vkey = R.pos_key(tk, n, _VAL)
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
                            vecs[_NOISE_N, k] += cw * x
                        else:
                            vecs[_NOISE_F, k] += cw * x
            if n == lengths[slot]:
                record(acc, vecs, tk, slot, xi, transport, far_target, own, red, lane, out, tt, write)
                slot += 1

    return dict(walk_so2=k_walk_so2, walk_hh=k_walk_hh,
                retrieval_so2=k_retrieval_so2, retrieval_hh=k_retrieval_hh)


_KERNELS: dict = {}


def kernels(d: int, so2: bool) -> dict:
    key = (int(d), bool(so2))
    if key not in _KERNELS:
        _KERNELS[key] = _make(int(d), bool(so2))
    return _KERNELS[key]


def _grid(T):
    return (T + WPB - 1) // WPB, WPB * WARP


def _dev_arrays(*arrays):
    return [cuda.to_device(np.ascontiguousarray(a)) for a in arrays]


def _run(kernel, T, out, args):
    dout = cuda.device_array(out.shape, dtype=np.float64)
    with warnings.catch_warnings():
        # a few trials fill few warps; numba-cuda warns about that on every small launch
        warnings.filterwarnings("ignore", category=NumbaPerformanceWarning)
        kernel[_grid(T)](*args, dout)
    dout.copy_to_host(out)


# ---------------------------------------------------------------------------------------
# the CPU kernels' signatures


def walk_so2(src, law, lawpar, centers, table, cdf, c, N, seed, t0, out):
    T = out.shape[0]
    d = 2 * centers.shape[0]
    centers, table, cdf = _dev_arrays(centers, table, cdf)
    _run(kernels(d, True)["walk_so2"], T, out,
         (src, law, lawpar, centers, table, cdf, float(c), N, np.uint64(seed), t0, T))


def walk_hh(src, betas, table, cdf, d, c, N, seed, t0, out):
    T = out.shape[0]
    betas, table, cdf = _dev_arrays(np.asarray(betas, dtype=np.float64), table, cdf)
    _run(kernels(d, False)["walk_hh"], T, out,
         (src, betas, table, cdf, float(c), N, np.uint64(seed), t0, T))


def retrieval_so2(src, law, lawpar, centers, table, cdf, slope, transport, mdelta,
                  B, delta, p, kappa, mu, xi, window, lengths, seed, t0, out):
    T = out.shape[0]
    d = 2 * centers.shape[0]
    centers, table, cdf, mdelta, lengths = _dev_arrays(centers, table, cdf, mdelta, lengths)
    _run(kernels(d, True)["retrieval_so2"], T, out,
         (src, law, lawpar, centers, table, cdf, float(slope), bool(transport), mdelta,
          float(B), int(delta), float(p), float(kappa), float(mu), float(xi), int(window),
          lengths, np.uint64(seed), t0, T))


def retrieval_hh(src, betas, table, cdf, slope, transport, mdelta, d,
                 B, delta, p, kappa, mu, xi, window, lengths, seed, t0, out):
    T = out.shape[0]
    carry = transport and src != CONST
    nblocks = _grid(T)[0]
    scratch = cuda.device_array((nblocks * WPB, d, d) if carry else (1, 1, 1), dtype=np.float64)
    betas, table, cdf, mdelta, lengths = _dev_arrays(np.asarray(betas, dtype=np.float64), table, cdf, mdelta,
                                                     lengths)
    _run(kernels(d, False)["retrieval_hh"], T, out,
         (src, betas, table, cdf, float(slope), bool(transport), mdelta,
          float(B), int(delta), float(p), float(kappa), float(mu), float(xi), int(window),
          lengths, np.uint64(seed), t0, T, scratch))
