"""window: mixing window vs angle spread and vs d/beta, theory vs measured (B1)."""

from __future__ import annotations

import numpy as np

from mixing.engine import mechanisms as M
from proofs.registry import formulas
from proofs.verify import measured_window

from .common import COLOR, SEED, given, measures, row, select, theory

EPS = 0.1


def spec(quick):
    return dict(
        eps=EPS,
        d_so2=16,
        sigmas=(0.25, 0.35, 0.5, 0.7, 1.0) if quick else (0.2, 0.25, 0.3, 0.35, 0.5, 0.7, 1.0, 1.4),
        hh=((8, 2.0), (16, 2.0), (16, 1.0), (32, 2.0))
        if quick
        else ((8, 2.0), (16, 2.0), (16, 1.0), (32, 2.0), (32, 1.0), (64, 2.0), (16, 0.5), (64, 1.0)),
        trials=600 if quick else 4000,
        seed=SEED,
    )


def compute(quick, out=None, runner=None):
    ms = measures(runner)
    s = spec(quick)
    F = formulas()
    rows = []
    for sigma in s["sigmas"]:
        rho = F["so2-coherence"](law="gaussian", par=sigma, n=1)
        W = F["window"](rho=rho, eps=s["eps"])
        mech = M.make("so2", s["d_so2"], law="gaussian", sigma=sigma, center="zero")
        lo, hi = measured_window(ms.coherence(mech, 2 * W + 10, s["trials"], s["seed"]), s["eps"])
        cols = given(mech, eps=s["eps"])
        rows.append(row("so2", "measured", "measured", sigma, (lo + hi) / 2, (hi - lo) / 2, **cols, trials=s["trials"]))
        rows.append(row("so2", "theory", "theory", sigma, W, **cols))
    for sigma in np.linspace(min(s["sigmas"]), max(s["sigmas"]), 60):
        rho = F["so2-coherence"](law="gaussian", par=sigma, n=1)
        w = F["window"](rho=rho, eps=s["eps"])
        rows.append(
            row(
                "so2",
                "theory-line",
                "theory",
                sigma,
                w,
                mechanism="so2",
                d=s["d_so2"],
                law="gaussian",
                sigma=sigma,
                eps=EPS,
            )
        )
    for d, beta in s["hh"]:
        rho = 1 - beta / d
        W = F["window"](rho=rho, eps=s["eps"])
        mech = M.make("householder", d, beta=beta)
        lo, hi = measured_window(ms.coherence(mech, 2 * W + 10, s["trials"], s["seed"]), s["eps"])
        cols = given(mech, eps=s["eps"], trials=s["trials"])
        rows.append(
            row("householder", f"d={d} beta={beta:g}", "measured", d / beta, (lo + hi) / 2, (hi - lo) / 2, **cols)
        )
    for ratio in np.geomspace(4, 160, 60):
        for d in (8, 64):  # the window depends on d and beta almost only through d/beta
            beta = d / ratio
            if beta <= 2.0:
                w = F["window"](rho=1 - beta / d, eps=s["eps"])
                cols = dict(mechanism="householder", d=d, beta=beta, eps=s["eps"])
                rows.append(row("householder", f"theory d={d}", "theory", ratio, w, **cols))
    return rows


def draw(rows):
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9.5, 3.8))
    x, y, se = select(rows, "so2", "measured", "measured")
    a.errorbar(x, y, yerr=se, fmt="o", color=COLOR["so2"], ms=4, capsize=3, label="measured (range allowed at 4 s.e.)")
    tx, ty, _ = select(rows, "so2", "theory-line", "theory")
    a.step(tx, ty, where="mid", color="black", lw=1.0, ls="--", label="B1: ceil(2 log(1/eps) / sigma^2)")
    a.set_yscale("log")
    a.set_xlabel("angle spread sigma (Gaussian law, rad)")
    a.set_ylabel(f"mixing window W({EPS}) (lags)")
    a.set_title("accumulated SO(2), d = 16")
    a.legend()
    labs = list(dict.fromkeys(r["series"] for r in rows if r["panel"] == "householder" and r["kind"] == "measured"))
    pts = {lab: select(rows, "householder", lab, "measured") for lab in labs}
    groups = {}
    for lab, (x, _, _) in pts.items():
        groups.setdefault(tuple(np.round(x, 9)), []).append(lab)
    for lab, (x, y, se) in pts.items():
        # several (d, beta) share one d / beta: those are offset sideways around it so that all show
        same = groups[tuple(np.round(x, 9))]
        i = same.index(lab)
        b.errorbar(x * 2 ** (0.05 * (i - (len(same) - 1) / 2)), y, yerr=se, fmt="o", ms=4, capsize=3, label=lab)
    for d, ls in ((8, "--"), (64, ":")):
        tx, ty, _ = select(rows, "householder", f"theory d={d}", "theory")
        theory(b, tx, ty, label=f"B1: ceil(log(1/eps)/log(1/(1-beta/d))), d={d}", ls=ls)
    b.set_xscale("log")
    b.set_yscale("log")
    b.set_xlabel("d / beta (series at one d / beta offset sideways)")
    b.set_ylabel(f"mixing window W({EPS}) (lags)")
    b.set_title(
        "Householder: the window grows linearly with d/beta\n(the theory lines for d = 8 and 64 nearly coincide)",
        fontsize=9,
    )
    b.legend(fontsize=6.5)
    fig.tight_layout()
    return fig
