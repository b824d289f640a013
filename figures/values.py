"""values: far residual and retention with and without value transport, theory B7."""

from __future__ import annotations

import math

import numpy as np

from mixing.engine import mechanisms as M
from mixing.engine.task import Task
from proofs.registry import formulas

from .common import COLOR, SEED, band, given, measures, row, select, theory

UNIFORM = (
    ("so2", {"law": "gaussian", "sigma": 0.5, "center": "zero"}, math.exp(-0.125)),
    ("householder", {}, 1 - 2 / 16),
)
SOFTMAX = (("so2", {"law": "gaussian", "sigma": 0.5}), ("householder", {}))


def spec(quick):
    return dict(
        d_uniform=16,
        W=8,
        kmax_uniform=11 if quick else 14,
        trials_uniform=100 if quick else 400,
        d=64,
        kmax=12 if quick else 18,
        trials=16 if quick else 64,
        task=Task().__dict__,
        seed=SEED,
    )


def compute(quick, out=None, runner=None):
    ms = measures(runner)
    s = spec(quick)
    F = formulas()
    rows = []
    lengths = [2**k for k in range(6, s["kmax_uniform"] + 1)]
    flat = dict(B=0.0, delta=1, p=0.0, mu=1.0, xi=1.0, window=s["W"])  # B = 0: uniform weights 1/L
    for name, params, rho in UNIFORM:
        for rv in (0, 1):
            label = f"{name} {'with' if rv else 'without'} transport"
            mech = M.make(name, s["d_uniform"], rotate_values=rv, **params)
            per = ms.per_trial_retrieval(mech, Task(**flat), lengths, s["seed"], s["trials_uniform"])
            cols = given(mech, Task(**flat))
            sq = per[:, :, 3] ** 2
            for i, L in enumerate(lengths):
                m, se = sq[:, i].mean(), sq[:, i].std(ddof=1) / math.sqrt(sq.shape[0])
                rows.append(row("uniform", label, "measured", L, m, se, **cols, trials=s["trials_uniform"]))
            for L in np.geomspace(lengths[0], lengths[-1], 40):
                N = L - s["W"]
                pred = (
                    F["value-residual"](N=N, rho=rho, mu2=1.0, xi2=1.0, A=N / L)
                    if rv
                    else F["value-residual-plain"](N=N, mu2=1.0, xi2=1.0, A=N / L)
                )
                rows.append(row("uniform", label, "theory", L, pred, **cols, rho=rho))
    lengths = [2**k for k in range(4, s["kmax"] + 1)]
    task = Task(**s["task"])
    for name, params in SOFTMAX:
        for rv in (0, 1):
            label = f"{name} {'with' if rv else 'without'} transport"
            mech = M.make(name, s["d"], rotate_values=rv, **params)
            per = ms.per_trial_retrieval(mech, task, lengths, s["seed"], s["trials"])
            cols = given(mech, task, trials=s["trials"])
            for i, L in enumerate(lengths):
                T = per.shape[0]
                for metric, col in (("far_residual", 3), ("retention", 2)):
                    v = per[:, i, col]
                    rows.append(row(metric, label, "measured", L, v.mean(), v.std(ddof=1) / math.sqrt(T), **cols))
                a, r = per[:, i, 0], per[:, i, 3]
                if r.mean() <= 0:  # no far source yet (L <= W)
                    continue
                sir = a.mean() / r.mean()
                se = sir * math.sqrt((a.std(ddof=1) / a.mean()) ** 2 + (r.std(ddof=1) / r.mean()) ** 2) / math.sqrt(T)
                rows.append(row("sir", label, "measured", L, sir, se, **cols))
    return rows


def horizon(x, y, level=1.0):
    """First L at which y falls below ``level`` (None if it never does)."""
    below = np.nonzero(y < level)[0]
    return float(x[below[0]]) if below.size else None


def draw(rows):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12.5, 3.8))
    a, b, c = axes
    for name, _, _ in UNIFORM:
        for rv, ls in ((0, "-"), (1, "--")):
            label = f"{name} {'with' if rv else 'without'} transport"
            x, y, se = select(rows, "uniform", label, "measured")
            band(a, x, y, se, COLOR[name], label=label, ls=ls, marker="o")
            tx, ty, _ = select(rows, "uniform", label, "theory")
            theory(a, tx, ty, label=None, color="black", ls=":")
    a.set_title("uniform far weights (B = 0), d = 16: B7 (dotted)")
    a.set_ylabel("E |far residual|^2")
    for name, _ in SOFTMAX:
        for rv, ls in ((0, "-"), (1, "--")):
            label = f"{name} {'with' if rv else 'without'} transport"
            x, y, se = select(rows, "far_residual", label, "measured")
            ok = y > 0  # no far source while L <= W
            band(b, x[ok], y[ok], se[ok], COLOR[name], label=label, ls=ls, marker=".")
            x, y, se = select(rows, "sir", label, "measured")
            band(c, x, y, se, COLOR[name], label=label, ls=ls, marker=".")
            h = horizon(x, y)
            if h is not None:
                c.plot([h], [1.0], marker="v", ms=8, color=COLOR[name], mfc="white" if rv else COLOR[name])
    c.axhline(1.0, color="black", lw=0.8)
    b.set_title("softmax weights, d = 64, B = 8")
    b.set_ylabel("far residual |sum_{n>W} a_n V_n|")
    c.set_title("signal / interference; triangles: horizon (ratio < 1)")
    c.set_ylabel("a* / far residual")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("context length L (tokens)")
    a.legend(loc="lower left")
    c.legend(loc="lower left")
    fig.tight_layout()
    return fig
