"""numba CPU backend: streaming kernels, one RNG stream per trial, parallel over trials.

Entry points ``walk`` and ``retrieval`` follow the contract of ``contract.py`` (shared with
``reference.py`` and ``cuda``); the compiled kernels behind them are private, and their
per-trial state and per-step helpers are in ``cpu_state.py``.

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

import concurrent.futures
import math
import queue
import threading

import numba
import numpy as np
from numba import prange

from .. import rng
from .._jit import load_flag, pnjit
from ..codes import CONST, OTHER, SO2, TARGET
from . import lanes as _lanes
from .contract import ACC_MAX as _MAX
from .contract import V_MU as _MU
from .contract import V_NOISE_F as _NOISE_F
from .contract import V_NOISE_N as _NOISE_N
from .contract import V_TSTAR as _TSTAR
from .contract import V_VMEAN as _VMEAN
from .contract import V_VSTAR as _VSTAR
from .contract import reduced as _reduced
from .contract import retrieval_args, walk_args
from .cpu_state import add, block_coeffs, dot, partner, record, rescale, setup_retrieval, step_hh, step_so2, unit  # noqa: F401
from .draws import key_kind, other_coord_mt, reduced_step, reduced_step2


def walk(spec, c, N, seed, t0, out):
    """Walk rows of trials ``t0 .. t0 + out.shape[0] - 1`` into ``out[T, N, 2]``."""
    kernel = _walk_so2 if spec.family == SO2 else _walk_hh
    _interruptible(kernel, walk_args(spec, c, N, seed, t0), out)


def retrieval(spec, task, lengths, seed, t0, out, lanes=True):
    """Retrieval rows of trials ``t0 .. t0 + out.shape[0] - 1`` into ``out[T, K, 4]``.

    Householder retrieval without value transport runs the trial-batched kernel of
    ``lanes.py`` (the same bits, 1.6-2.3x faster on 2 cores); ``lanes=False`` forces the per-trial
    kernel, its reference."""
    args = retrieval_args(spec, task, lengths, seed, t0)
    if spec.family == SO2:
        kernel = _retrieval_so2
    elif lanes and _lanes.applies(int(spec.src), _reduced(spec, "retrieval"), bool(spec.rotate_values)):
        kernel = _lanes._retrieval_hh_lanes
        args = args + (_lanes.lanes_for(out.shape[0], numba.get_num_threads()),)
    else:
        kernel = _retrieval_hh
    _interruptible(kernel, args, out)


#: the kernels look at their stop flag once every POLL steps (a mask test, a load and a branch)
POLL = 4096
POLL_MASK = POLL - 1


def _interruptible(kernel, args, out):
    """Run ``kernel(*args, stop, out)`` so that Ctrl-C stops it within milliseconds.

    A compiled kernel cannot see Python's signal handler, and the main thread handles
    signals only between bytecodes; so in the main thread the kernel (which releases the
    GIL) runs in one long-lived helper thread while the main thread waits in short slices.
    On KeyboardInterrupt it raises the kernel's ``stop`` flag, which every trial loop polls
    every ``POLL`` steps, waits for the kernel to return, and re-raises. The helper thread is
    reused (a fresh thread per call made the threading layer build a new team of threads
    each time: milliseconds a call, measured).

    A first call compiles the kernel (or loads it from numba's cache) in the helper thread
    too: compiling in the main thread lost Ctrl-C, which Python ignores when it lands in one
    of the finalisers that compilation runs (seen: llvmlite's pass-manager disposal), so
    the kernel then ran to its end. A compilation cannot see the stop flag, so the main
    thread waits at most ``GRACE`` seconds for the kernel after the flag is raised and then
    re-raises anyway; the helper is a daemon thread, which the interpreter does not wait for
    at exit. Elsewhere (worker threads, Dask workers) the kernel runs directly."""
    stop = np.zeros(1, dtype=np.int64)
    if threading.current_thread() is not threading.main_thread():
        kernel(*args, stop, out)
        return
    threads = numba.get_num_threads()  # numba's thread count is per calling thread

    def run():
        numba.set_num_threads(threads)
        kernel(*args, stop, out)

    future = _helper().submit(run)
    try:
        while True:
            try:
                future.result(timeout=0.05)
                return
            except concurrent.futures.TimeoutError:
                continue
    except KeyboardInterrupt:
        stop[0] = 1
        concurrent.futures.wait([future], timeout=GRACE)
        raise


#: how long a Ctrl-C waits for the kernel to see its stop flag (a running kernel takes
#: milliseconds; a compiling one is left to finish in the helper thread)
GRACE = 1.0


class _Helper:
    """One daemon thread that runs the calls submitted to it in order (``submit`` returns a
    ``concurrent.futures.Future``). ``ThreadPoolExecutor`` would do, but its threads are
    joined at exit, so an interpreter leaving on Ctrl-C waited for a compilation."""

    def __init__(self):
        self._jobs = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="mixing-kernel", daemon=True)
        self._thread.start()

    def submit(self, fn):
        future = concurrent.futures.Future()
        self._jobs.put((fn, future))
        return future

    def _serve(self):
        while True:
            fn, future = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                fn()
            except BaseException as exc:  # handed to the waiting thread, which re-raises it
                future.set_exception(exc)
            else:
                future.set_result(None)


_HELPER = None


def _helper():
    global _HELPER
    if _HELPER is None:
        _HELPER = _Helper()
    return _HELPER


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
            if (n & POLL_MASK) == 0 and load_flag(stop) != 0:
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
                if (n & POLL_MASK) == 0 and load_flag(stop) != 0:
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
                if (n & POLL_MASK) == 0 and load_flag(stop) != 0:
                    break
                step_hh(src, betas, table, alias, tk, n, u, w, False)
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
def _retrieval_so2(
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
    stop,
    out,
):
    h = d // 2
    Lmax = lengths[lengths.shape[0] - 1]
    far_target = delta > window
    odd, oc = rng.gamma_consts(max(0.5 * (d - 1), 1.0))  # a random key's projection
    for tt in prange(out.shape[0]):
        tk = rng.trial_key(seed, t0 + tt)
        q, kst, vecs, acc = setup_retrieval(tk, mdelta, mu, transport)
        a, b = block_coeffs(q, kst)
        phi = np.zeros(h)
        cs = np.empty(h)
        sn = np.empty(h)
        slot = 0
        for n in range(1, Lmax + 1):
            if (n & POLL_MASK) == 0 and load_flag(stop) != 0:
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
# complexity above 15: the retrieval kernel's hot loop: helpers called per step would cost time
def _retrieval_hh(  # noqa: C901
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
    stop,
    out,
):
    Lmax = lengths[lengths.shape[0] - 1]
    far_target = delta > window
    carry = transport and src != CONST  # carry P_n itself
    explicit = carry and betas.min() < 2.0  # non-orthogonal: explicit value noise
    sd = xi / math.sqrt(d)
    hdd, hc = rng.gamma_consts(max(0.5 * (d - 2), 1.0))  # the reduced step's Gamma
    odd, oc = rng.gamma_consts(max(0.5 * (d - 1), 1.0))  # a random key's projection
    for tt in prange(out.shape[0]):
        tk = rng.trial_key(seed, t0 + tt)
        q, kst, vecs, acc = setup_retrieval(tk, mdelta, mu, transport)
        u = q.copy()
        w = np.empty(d)
        wr = np.empty(2)
        ra, rr = 1.0, 0.0  # reduced state: u = ra qhat + rr e_rest
        nu2 = 1.0
        P = np.eye(d) if carry else np.zeros((1, 1))
        pw = np.empty(d)
        xin = np.empty(d)
        if transport and not carry:
            for j in range(d):
                vecs[_VMEAN, j] = vecs[_MU, j]
        slot = 0
        for n in range(1, Lmax + 1):
            if (n & POLL_MASK) == 0 and load_flag(stop) != 0:
                break
            if reduced:
                ra, rr = reduced_step2(rng.pos_key(tk, n, rng.STREAM_GEN), d, betas[0], ra, rr, wr, hdd, hc)
                nu2 = ra * ra + rr * rr
                beta = betas[0]  # (value transport, which reads beta, never runs reduced)
            else:
                alpha, beta = step_hh(src, betas, table, alias, tk, n, u, w, carry)
                if src != CONST:
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
