"""The retrieval task written the way a competent PyTorch user would write it: the second peer.

The same computation as ``numpy_peer.py`` (a Python loop over positions, because the path is
a product, and every operation vectorised over trials), in float64 tensors on the CPU with
torch's own threads and generator: random numbers drawn in chunks of positions, the softmax
kept online, value noise added once per recorded length. It computes the four metrics of
``mixing.engine.kernels.contract`` for a per-token Householder table without value
transport, or for i.i.d. uniform directions, so ``engine_bench.py`` can time the engine and
this on the same work and check that they agree in distribution.
"""

from __future__ import annotations

import math

import numpy as np


def retrieval(table, pi, betas, task, lengths, trials, seed, chunk=256, d=None, threads=None):
    """Per-trial rows (trials, K, 4) as a NumPy array: near weight, far mass, retention, far
    residual (``numpy_peer.retrieval``'s arguments; ``threads``: torch's intra-op threads)."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(int(seed))
    f64 = torch.float64
    iid = table is None
    if iid:
        table, pi = np.zeros((1, d)), np.ones(1)
    V, d = table.shape
    T = trials
    lengths = [int(x) for x in lengths]
    Lmax = lengths[-1]
    tab = torch.as_tensor(table, dtype=f64)
    bet = torch.as_tensor(np.asarray(betas, dtype=np.float64))
    probs = torch.as_tensor(np.asarray(pi, dtype=np.float64))

    def unit(x):
        return x / x.norm(dim=-1, keepdim=True)

    q = unit(torch.randn(T, d, generator=gen, dtype=f64))
    if iid:
        eg = (1 - float(betas[0]) / d) * torch.eye(d, dtype=f64)
    else:
        eg = torch.eye(d, dtype=f64) - (tab.T * (probs * bet)) @ tab  # E G
    kst = unit(q @ torch.linalg.matrix_power(eg, task.delta))  # normalize(E[P_delta]^T q)
    vstar = unit(torch.randn(T, d, generator=gen, dtype=f64))
    mu = torch.full((d,), task.mu / math.sqrt(d), dtype=f64)
    sd = task.xi / math.sqrt(d)
    u = q.clone()
    mx = torch.full((T,), -math.inf, dtype=f64)
    Z, SN, SF, QN, QF, CST = (torch.zeros(T, dtype=f64) for _ in range(6))
    noise_n, noise_f = torch.zeros(T, d, dtype=f64), torch.zeros(T, d, dtype=f64)
    out = torch.empty(T, len(lengths), 4, dtype=f64)
    half_dof = torch.full((chunk, T), (d - 1) / 2, dtype=f64)
    slot = 0
    for n0 in range(1, Lmax + 1, chunk):
        m = min(chunk, Lmax - n0 + 1)
        if iid:
            dirs = unit(torch.randn(m, T, d, generator=gen, dtype=f64))
        else:
            toks = torch.multinomial(probs, m * T, replacement=True, generator=gen).view(m, T)
        lookalike = torch.rand(m, T, generator=gen, dtype=f64) < task.p
        z = torch.randn(m, T, generator=gen, dtype=f64)
        # a random key's projection on u/|u|: z over the norm of (z, the other d - 1 coordinates),
        # whose squares sum to a chi-square of d - 1 degrees of freedom, 2 Gamma((d - 1)/2)
        rest = 2 * torch._standard_gamma(half_dof[:m], generator=gen)
        proj = z / torch.sqrt(z * z + rest)
        for i in range(m):
            n = n0 + i
            if iid:
                w, b = dirs[i], bet[0]
            else:
                w, b = tab[toks[i]], bet[toks[i]]
            alpha = (w * u).sum(-1)
            u -= (b * alpha)[:, None] * w
            if n == task.delta:
                s = task.B * (u * kst).sum(-1)
            else:
                s = torch.where(
                    lookalike[i],
                    task.B * (u * kst).sum(-1),
                    task.B * task.kappa * u.norm(dim=-1) * proj[i],
                )
            new = torch.maximum(mx, s)
            f = torch.exp(mx - new)
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
            c = torch.exp(s - mx)
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
                noise_n += sd * QN.sqrt()[:, None] * torch.randn(T, d, generator=gen, dtype=f64)
                noise_f += sd * QF.sqrt()[:, None] * torch.randn(T, d, generator=gen, dtype=f64)
                QN.zero_()
                QF.zero_()
                far_target = task.delta > task.window
                cf = CST if far_target else torch.zeros_like(CST)
                t = vstar
                y = CST[:, None] * t + (SN + SF)[:, None] * mu + noise_n + noise_f
                yf = SF[:, None] * mu + noise_f + cf[:, None] * t
                out[:, slot, 0] = CST / Z
                out[:, slot, 1] = (SF + cf) / Z
                out[:, slot, 2] = (y * t).sum(-1) / (Z * (t * t).sum(-1))
                out[:, slot, 3] = yf.norm(dim=-1) / Z
                slot += 1
    return out.numpy()
