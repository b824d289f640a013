"""horizon: extrapolation horizon L_eta = min{L : retention < eta} vs logit scale B."""

from __future__ import annotations

import numpy as np

from mixing.engine import mechanisms as M
from mixing.engine.task import Task
from proofs.registry import formulas

from .common import COLOR, SEED, given, measures, row, select, theory

MECHS = (
    ("nope", "nope", {}),
    ("rope", "rope", {}),
    ("so2", "so2", {"law": "gaussian", "sigma": 0.5}),
    ("householder", "householder", {}),
    ("alibi", "alibi", {"m": 0.25}),
)
ETA = 0.5


def spec(quick):
    return dict(
        d=64,
        eta=ETA,
        Bs=(2.0, 4.0, 6.0) if quick else (2.0, 4.0, 6.0, 8.0, 10.0, 12.0),
        kmax=12 if quick else 18,
        trials=8 if quick else 32,
        task=Task().__dict__,
        seed=SEED,
    )


def compute(quick, out=None, runner=None):
    ms = measures(runner)
    s = spec(quick)
    lengths = np.array([2**k for k in range(4, s["kmax"] + 1)])
    rows = []
    for B in s["Bs"]:
        task = Task(**{**s["task"], "B": B})
        for label, name, params in MECHS:
            mech = M.make(name, s["d"], **params)
            est = ms.retrieval(mech, task, lengths, s["trials"], s["seed"])
            cols = given(mech, task, trials=s["trials"], eta=s["eta"])
            r = est.mean["retention"]
            below = np.nonzero(r < s["eta"])[0]
            if below.size == 0:
                rows.append(row("horizon", label, "censored-above", B, lengths[-1], **cols))
            elif below[0] == 0:
                rows.append(row("horizon", label, "censored-below", B, lengths[0], **cols))
            else:
                rows.append(row("horizon", label, "measured", B, lengths[below[0]], **cols))
    F = formulas()
    p, W = s["task"]["p"], s["task"]["window"]
    for B in np.linspace(min(s["Bs"]), max(s["Bs"]), 50):
        b5 = W + F["far-set-horizon"](B=B, eta=s["eta"])
        rows.append(row("horizon", "B5 limit (rotation-only)", "theory", B, b5, B=B, window=W, eta=s["eta"]))
        Meff = p * np.exp(B) + (1 - p) * F["sphere-mgf"](d=s["d"], B=B)  # lookalikes score B under NoPE
        rows.append(
            row(
                "horizon",
                "B4 estimate (NoPE, with lookalikes)",
                "theory",
                B,
                F["retention-horizon"](B=B, M=Meff, eta=s["eta"]),
                **given(M.make("nope", s["d"]), B=B, p=p, eta=s["eta"]),
            )
        )
    return rows


def draw(rows):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    offsets = np.linspace(-0.3, 0.3, len(MECHS))
    for (label, _, _), off in zip(MECHS, offsets):
        x, y, _ = select(rows, "horizon", label, "measured")
        ax.plot(x + off, y, "o-", color=COLOR[label], ms=5, label=label)
        for kind, mk in (("censored-above", "^"), ("censored-below", "v")):
            x, y, _ = select(rows, "horizon", label, kind)
            ax.plot(x + off, y, mk, color=COLOR[label], ms=7, mfc="white")
    for lab, ls in (("B5 limit (rotation-only)", "-"), ("B4 estimate (NoPE, with lookalikes)", "--")):
        tx, ty, _ = select(rows, "horizon", lab, "theory")
        theory(ax, tx, ty, label=lab, ls=ls)
    top = max(r["y"] for r in rows if r["kind"] != "theory")
    ax.set_yscale("log", base=2)
    ax.set_ylim(8, top * 4)
    ax.set_xlabel(f"logit scale B (mechanisms offset by {offsets[0]:+.1f} to {offsets[-1]:+.1f} in B to stay apart)")
    ax.set_ylabel(f"horizon L_eta: first L with retention < {ETA}")
    ax.set_title("d = 64, p = 0.01 (open triangles: beyond / before the grid)")
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    return fig
