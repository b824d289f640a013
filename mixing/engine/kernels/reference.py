"""Plain NumPy reference: the kernels' contract written from the definitions.

Small and slow on purpose. It builds every generator as an explicit d x d matrix, the
path transforms ``P_n = G_1 G_2 ... G_n`` (G_n the generator at lag n) by matrix products,
all L scores of a trial at once, and the attention weights of each context length by a
plain softmax. It draws the same random numbers as the compiled kernels (same keys, same
indices, through ``rng.plain`` / ``rng.normals_np``), so the two agree to rounding.

Entry points ``walk`` and ``retrieval`` follow ``contract.py``.
"""

from __future__ import annotations

import math

import numpy as np

from .. import laws, rng
from ..codes import CONST, IID, LOOKALIKE, OTHER, SEQ, SO2, TARGET
from ..mechanisms import KernelSpec


def _unit(key, d):
    return rng.unit_np(key, d)


def _token(key, alias):
    """Walker's alias method, as written in ``draws.alias_token``."""
    V = alias.shape[0]
    x = rng.plain.uniform(key, 0) * V
    i = min(int(x), V - 1)
    return i if x - i < alias[i, 0] else int(alias[i, 1])


def _row(spec, gkey, n):
    """Table row of lag n: a token from the CDF, or row (n-1) mod V of a sequence."""
    if spec.src == SEQ:
        return (n - 1) % spec.table.shape[0]
    return _token(gkey, spec.alias)


def _rot(phi):
    c, s = math.cos(phi), math.sin(phi)
    return np.array([[c, -s], [s, c]])


def generator(spec: KernelSpec, tk, n: int) -> np.ndarray:
    """The generator G_n at lag n as a d x d matrix."""
    d = spec.d
    gkey = rng.plain.pos_key(tk, n, rng.STREAM_GEN)
    if spec.family == SO2:
        h = d // 2
        if spec.src == CONST:
            angles = spec.centers[:h]
        elif spec.src == IID:
            angles = [
                spec.centers[m] + laws.plain.angle(spec.law, spec.lawpar, gkey, m, spec.centers[m]) for m in range(h)
            ]
        else:
            angles = spec.table[_row(spec, gkey, n)]
        G = np.zeros((d, d))
        for m in range(h):
            G[2 * m : 2 * m + 2, 2 * m : 2 * m + 2] = _rot(angles[m])
        return G
    if spec.src == CONST:
        return np.eye(d)
    if spec.src == IID:
        w, beta = _unit(gkey, d), spec.betas[0]
    else:
        row = _row(spec, gkey, n)
        w, beta = spec.table[row], spec.betas[row]
    return np.eye(d) - beta * np.outer(w, w)


def paths(spec: KernelSpec, seed: int, trial: int, N: int) -> np.ndarray:
    """P_1 .. P_N of one trial, shape (N, d, d)."""
    d = spec.d
    tk = rng.plain.trial_key(seed, trial)
    P = np.eye(d)
    out = np.empty((N, d, d))
    for n in range(1, N + 1):
        P = P @ generator(spec, tk, n)
        out[n - 1] = P
    return out


def _partner(key, q, c):
    z = rng.normals_np(key, q.shape[0])
    z = z - (z @ q) * q
    return c * q + math.sqrt(1.0 - c * c) * z / np.linalg.norm(z)


def walk(spec: KernelSpec, c: float, N: int, seed: int, t0: int, out: np.ndarray) -> None:
    """Walk rows of trials ``t0 .. t0 + out.shape[0] - 1`` into ``out[T, N, 2]``."""
    d = spec.d
    for tt in range(out.shape[0]):
        tk = rng.plain.trial_key(seed, t0 + tt)
        q = _unit(rng.plain.pos_key(tk, 0, rng.STREAM_Q), d)
        k = _partner(rng.plain.pos_key(tk, 0, rng.STREAM_K), q, c)
        for n, P in enumerate(paths(spec, seed, t0 + tt, N)):
            out[tt, n, 0] = np.trace(P) / d if spec.family == SO2 else q @ P @ q
            out[tt, n, 1] = (q @ P @ k) ** 2


def trial_scores(spec: KernelSpec, task, L: int, seed: int, trial: int):
    """Everything the retrieval metrics of one trial need, from the definitions.

    Returns a dict: scores s_n and biases b_n (n = 1..L), key kinds (0 target,
    1 lookalike, 2 other), value means V_n (P_n mu with value transport, else mu),
    the target value T*, and the explicit noise vectors (P_n xi_n) when used.
    """
    d = spec.d
    tk = rng.plain.trial_key(seed, trial)
    q = _unit(rng.plain.pos_key(tk, 0, rng.STREAM_Q), d)
    kst = spec.mean_path(task.delta).T @ q
    nk = np.linalg.norm(kst)
    kst = kst / nk if nk * nk > 1e-300 else q
    vstar = _unit(rng.plain.pos_key(tk, 0, rng.STREAM_K), d)
    mu = np.full(d, task.mu / math.sqrt(d))
    transport = spec.rotate_values
    explicit = transport and spec.family != SO2 and spec.src != CONST and spec.beta < 2.0
    scores = np.empty(L)
    bias = -spec.slope * np.arange(1, L + 1)
    kinds = np.empty(L, dtype=int)
    vmean = np.empty((L, d))
    noise = np.zeros((L, d))
    tstar = vstar
    for n, P in enumerate(paths(spec, seed, trial, L), start=1):
        kk = rng.plain.pos_key(tk, n, rng.STREAM_KEY)
        if n == task.delta:
            kind = TARGET
        elif task.p > 0 and rng.plain.uniform(kk, 0) < task.p:
            kind = LOOKALIKE
        else:
            kind = OTHER
        u = P.T @ q
        if kind != OTHER:
            s = task.B * (u @ kst)
        else:
            x = rng.plain.sphere_coord(rng.plain.aux_key(kk), d)
            s = task.B * task.kappa * np.linalg.norm(u) * x
        scores[n - 1] = s + bias[n - 1]
        kinds[n - 1] = kind
        vmean[n - 1] = P @ mu if transport else mu
        if kind == TARGET and transport:
            tstar = P @ vstar
        if explicit and kind != TARGET:
            xi = task.xi / math.sqrt(d) * rng.normals_np(rng.plain.pos_key(tk, n, rng.STREAM_VAL), d)
            noise[n - 1] = P @ xi
    return dict(scores=scores, bias=bias, kinds=kinds, vmean=vmean, noise=noise, tstar=tstar, explicit=explicit, tk=tk)


def retrieval(spec: KernelSpec, task, lengths, seed: int, t0: int, out: np.ndarray) -> None:
    """Retrieval rows of trials ``t0 .. t0 + out.shape[0] - 1`` into ``out[T, K, 4]``."""
    d = spec.d
    T = out.shape[0]
    lengths = np.asarray(lengths)
    K = lengths.shape[0]
    lag = np.arange(1, lengths[-1] + 1)
    near = lag <= task.window
    for tt in range(T):
        tr = trial_scores(spec, task, int(lengths[-1]), seed, t0 + tt)
        kinds, tstar = tr["kinds"], tr["tstar"]
        nontarget = kinds != TARGET
        # the checkpoint noise vectors g_{i, part}
        g = [
            [rng.normals_np(rng.plain.pos_key(tr["tk"], 2 * i + part, rng.STREAM_CKPT), d) for part in range(2)]
            for i in range(K)
        ]
        for k, L in enumerate(lengths):
            s = tr["scores"][:L]
            a = np.exp(s - s.max())
            a /= a.sum()
            sel_n = near[:L] & nontarget[:L]
            sel_f = ~near[:L] & nontarget[:L]
            astar = a[task.delta - 1]
            afar = a[~near[:L]].sum()
            mean_n = a[sel_n] @ tr["vmean"][:L][sel_n]
            mean_f = a[sel_f] @ tr["vmean"][:L][sel_f]
            if tr["explicit"]:
                noise_n = a[sel_n] @ tr["noise"][:L][sel_n]
                noise_f = a[sel_f] @ tr["noise"][:L][sel_f]
            else:
                noise_n = np.zeros(d)
                noise_f = np.zeros(d)
                lo = 0
                sd = task.xi / math.sqrt(d)
                for i in range(k + 1):
                    hi = int(lengths[i])
                    block = np.zeros(L, dtype=bool)
                    block[lo:hi] = True
                    noise_n += sd * math.sqrt(np.sum(a[block & sel_n] ** 2)) * g[i][0]
                    noise_f += sd * math.sqrt(np.sum(a[block & sel_f] ** 2)) * g[i][1]
                    lo = hi
            o = astar * tstar + mean_n + mean_f + noise_n + noise_f
            far_vec = mean_f + noise_f + (astar * tstar if task.delta > task.window else 0.0)
            out[tt, k] = (astar, afar, o @ tstar / (tstar @ tstar), np.linalg.norm(far_vec))
