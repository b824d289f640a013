"""lower-bound: rotation-only near weights under the bound B5, ALiBi above it (B = 3)."""

from __future__ import annotations

import numpy as np

from mixing.engine import mechanisms as M
from mixing.engine.task import Task
from proofs.registry import formulas

from .common import COLOR, SEED, band, estimate_rows, given, measures, row, select, theory

MECHS = (
    ("nope", "nope", {}),
    ("rope", "rope", {}),
    ("so2", "so2", {"law": "gaussian", "sigma": 0.5}),
    ("householder", "householder", {}),
    ("alibi", "alibi", {"m": 0.25}),
)


def spec(quick):
    return dict(d=64, B=3.0, W=64, kmax=12 if quick else 16, trials=16 if quick else 64, seed=SEED)


def compute(quick, out=None, runner=None):
    ms = measures(runner)
    s = spec(quick)
    lengths = [2**k for k in range(4, s["kmax"] + 1)]
    task = Task(B=s["B"], window=s["W"])
    rows = []
    for label, name, params in MECHS:
        mech = M.make(name, s["d"], **params)
        est = ms.retrieval(mech, task, lengths, s["trials"], s["seed"])
        rows += estimate_rows("near", label, est, "near_weight", **given(mech, task, trials=s["trials"]))
    F = formulas()
    for L in np.geomspace(s["W"] + 1, 2 ** s["kmax"], 60):
        b5 = F["near-weight-upper"](B=s["B"], F=L - s["W"])
        rows.append(row("near", "B5 bound", "theory", L, b5, B=s["B"], window=s["W"]))
    return rows


def draw(rows):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    for label, _, _ in MECHS:
        x, y, se = select(rows, "near", label, "measured")
        band(
            ax,
            x,
            y,
            se,
            COLOR[label],
            label=label + (" (bias, not rotation-only)" if label == "alibi" else ""),
            marker=".",
        )
    tx, ty, _ = select(rows, "near", "B5 bound", "theory")
    theory(ax, tx, ty, label="B5: e^B / (e^B + |F| e^-B), |F| = L - W", ls="-")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("context length L (tokens)")
    ax.set_ylabel("near target weight a*")
    ax.set_title("B = 3, d = 64, W = 64: every rotation-only mechanism stays under B5")
    ax.legend(loc="lower left")
    fig.tight_layout()
    return fig
