"""The retrieval task written the way a competent NumPy user would write it: the peer baseline.

One Python loop over positions (the path is a product, so positions are sequential),
every operation vectorised over trials (``einsum``, fancy indexing, broadcasting), random
numbers drawn by NumPy's own generator in chunks of positions, the softmax kept online,
and value noise added once per recorded length (the same exact shortcut the engine uses).
It computes the four metrics of ``mixing.engine.kernels.contract`` for a per-token Householder
table without value transport, so ``engine_bench.py`` can time the engine and this on the
same work and check that they agree in distribution.
"""

from __future__ import annotations

import math

import numpy as np


def retrieval(table, pi, betas, task, lengths, trials, seed, chunk=256, d=None):
    """Per-trial rows (trials, K, 4): near weight, far mass, retention, far residual.

    ``table`` (V, d) of unit directions drawn with probabilities ``pi``, one beta per row; or
    ``table=None`` for i.i.d. uniform directions in dimension ``d`` with ``betas = (beta,)``."""
    rng = np.random.default_rng(seed)
    iid = table is None
    if iid:
        V, table, pi = 1, np.zeros((1, d)), np.ones(1)
    V, d = table.shape
    T = trials
    lengths = np.asarray(lengths)
    Lmax = int(lengths[-1])
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
    q = unit(rng.standard_normal((T, d)))
    eg = (1 - betas[0] / d) * np.eye(d) if iid else np.eye(d) - (table.T * (pi * betas)) @ table  # E G
    kst = unit(q @ np.linalg.matrix_power(eg, task.delta))  # normalize(E[P_delta]^T q)
    vstar = unit(rng.standard_normal((T, d)))
    mu = np.full(d, task.mu / math.sqrt(d))
    sd = task.xi / math.sqrt(d)
    u = q.copy()
    mx = np.full(T, -np.inf)
    Z, SN, SF, QN, QF, CST = (np.zeros(T) for _ in range(6))
    noise_n, noise_f = np.zeros((T, d)), np.zeros((T, d))
    out = np.empty((T, len(lengths), 4))
    slot = 0
    for n0 in range(1, Lmax + 1, chunk):
        m = min(chunk, Lmax - n0 + 1)
        if iid:
            dirs = rng.standard_normal((m, T, d))
            dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
            toks = np.zeros((m, T), dtype=int)
        else:
            toks = rng.choice(V, size=(m, T), p=pi)
        lookalike = rng.random((m, T)) < task.p
        z = rng.standard_normal((m, T))
        proj = z / np.sqrt(z * z + rng.chisquare(d - 1, (m, T)))  # a random key on u/|u|
        for i in range(m):
            n = n0 + i
            w = dirs[i] if iid else table[toks[i]]
            alpha = np.einsum("td,td->t", w, u)
            u -= (betas[toks[i]] * alpha)[:, None] * w
            if n == task.delta:
                s = task.B * np.einsum("td,td->t", u, kst)
            else:
                look = lookalike[i]
                s = np.where(
                    look,
                    task.B * np.einsum("td,td->t", u, kst),
                    task.B * task.kappa * np.sqrt(np.einsum("td,td->t", u, u)) * proj[i],
                )
            new = np.maximum(mx, s)
            f = np.exp(mx - new)
            f2 = f * f
            Z *= f
            SN *= f
            SF *= f
            CST *= f
            QN *= f2
            QF *= f2
            noise_n *= f[:, None]
            noise_f *= f[:, None]
            mx = new
            c = np.exp(s - mx)
            Z += c
            if n == task.delta:
                CST = c
            elif n <= task.window:
                SN += c
                QN += c * c
            else:
                SF += c
                QF += c * c
            if n == lengths[slot]:
                noise_n += sd * np.sqrt(QN)[:, None] * rng.standard_normal((T, d))
                noise_f += sd * np.sqrt(QF)[:, None] * rng.standard_normal((T, d))
                QN[:] = 0.0
                QF[:] = 0.0
                cf = CST if task.delta > task.window else 0.0
                t = vstar
                y = CST[:, None] * t + (SN + SF)[:, None] * mu + noise_n + noise_f
                yf = SF[:, None] * mu + noise_f + (cf[:, None] * t if task.delta > task.window else 0.0)
                out[:, slot, 0] = CST / Z
                out[:, slot, 1] = (SF + cf) / Z
                out[:, slot, 2] = np.einsum("td,td->t", y, t) / (Z * np.einsum("td,td->t", t, t))
                out[:, slot, 3] = np.linalg.norm(yf, axis=1) / Z
                slot += 1
    return out
