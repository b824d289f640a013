"""coherence: coherence vs lag for RoPE, accumulated SO(2) and Householder, theory on top (B1)."""

from __future__ import annotations

import numpy as np

from mixing.engine import mechanisms as M
from proofs.registry import formulas

from .common import COLOR, SEED, band, estimate_rows, finite_log, given, measures, row, select, theory

SO2 = (("gaussian", 0.1), ("gaussian", 0.3), ("vonmises", 4.0), ("uniform", 1.0))
HH = ((16, 2.0), (64, 2.0), (64, 1.0), (64, 0.25))
SHADES = ("#ff7f0e", "#d62728", "#8c564b", "#e377c2")
GREENS = ("#98df8a", "#2ca02c", "#17becf", "#1f4e1f")


def spec(quick):
    return dict(lags=80 if quick else 200, trials=800 if quick else 8000, d=64, seed=SEED)


def compute(quick, out=None, runner=None):
    ms = measures(runner)
    s = spec(quick)
    F = formulas()
    n = np.arange(1, s["lags"] + 1)
    rows = []
    for law, par in SO2:
        key = {"gaussian": "sigma", "vonmises": "concentration", "uniform": "a"}[law]
        label = f"SO(2) {law} {key}={par}"
        mech = M.make("so2", s["d"], law=law, center="zero", **{key: par})
        est = ms.coherence(mech, s["lags"], s["trials"], s["seed"])
        rows += estimate_rows("so2", label, est, "coherence", **given(mech, trials=s["trials"]))
        rows += [row("so2", label, "theory", k, F["so2-coherence"](law=law, par=par, n=k), **given(mech)) for k in n]
    rope = M.make("rope", s["d"])
    est = ms.coherence(rope, s["lags"], 2, s["seed"])
    rows += estimate_rows("so2", "RoPE (trace)", est, "coherence", **given(rope, trials=2))
    rows += [
        row("so2", "RoPE (trace)", "theory", k, float(np.mean(np.cos(k * rope.centers()))), **given(rope)) for k in n
    ]
    for d, beta in HH:
        label = f"Householder d={d} beta={beta:g}"
        mech = M.make("householder", d, beta=beta)
        est = ms.coherence(mech, s["lags"], s["trials"], s["seed"])
        rows += estimate_rows("householder", label, est, "coherence", **given(mech, trials=s["trials"]))
        rows += [
            row("householder", label, "theory", k, F["householder-coherence"](d=d, beta=beta, n=k), **given(mech))
            for k in n
        ]
    return rows


def draw(rows):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.8), sharey=True)
    panels = (
        ("so2", "accumulated SO(2) (d = 64, centred angles) and RoPE", SHADES + (COLOR["rope"],)),
        ("householder", "Householder products, w uniform", GREENS),
    )
    for ax, (panel, title, colors) in zip(axes, panels):
        labels = [lab for lab in dict.fromkeys(r["series"] for r in rows if r["panel"] == panel)]
        for lab, col in zip(labels, colors):
            x, y, se = select(rows, panel, lab, "measured")
            ok = finite_log(y, se)  # lags lost in the noise: gaps, not lines drawn across them
            band(ax, x, np.where(ok, y, np.nan), np.where(ok, se, np.nan), col, label=lab, marker="")
            tx, ty, _ = select(rows, panel, lab, "theory")
            tok = ty > 0
            theory(ax, tx[tok], ty[tok], label=None, color=col, ls=":")
        if panel == "so2":
            ax.axhline(1.0, color=COLOR["rope"], lw=0.8, ls="--", label="RoPE ||E P_n|| = 1")
        ax.set_yscale("log")
        ax.set_ylim(1e-3, 1.5)
        ax.set_xlabel("lag n (tokens)")
        ax.set_title(title)
        ax.legend(loc="lower left")
    axes[0].set_ylabel("coherence  tr(E P_n)/d")
    fig.suptitle(
        "Coherence decays geometrically: |psi|^n and (1 - beta/d)^n (dotted: theory B1; bands: ±2 s.e.;\n"
        "gaps: lags where the measurement is not 2 s.e. above 0, so not drawn on a log axis)",
        fontsize=9,
    )
    fig.tight_layout()
    return fig
