"""score-gap: far scores against the target score as d grows, B = sqrt(d) (B3)."""

from __future__ import annotations

import math

import numpy as np

from proofs.registry import formulas
from proofs.verify import sphere_exp

from .common import SEED, row, select, theory

DIMS = (16, 64, 256, 1024)
COLORS = ("#9ecae1", "#4292c6", "#08519c", "#08306b")


def spec(quick):
    return dict(dims=DIMS, b=1.0, draws=40_000 if quick else 400_000, bins=60, seed=SEED)


def compute(quick, out=None, runner=None):
    s = spec(quick)
    F = formulas()
    rows = []
    for i, d in enumerate(s["dims"]):
        B = s["b"] * math.sqrt(d)  # fixed scale per coordinate
        e = np.empty(s["draws"])
        sphere_exp(np.uint64(s["seed"] + 7919 * i), d, B, e)
        scores = np.log(e)
        dens, edges = np.histogram(scores, bins=s["bins"], range=(-4.5, 4.5), density=True)
        centers = 0.5 * (edges[1:] + edges[:-1])
        width = edges[1] - edges[0]
        counts = dens * width * scores.size
        se = np.sqrt(counts) / (width * scores.size)
        label = f"d={d}"
        cols = dict(d=d, B=B, draws=s["draws"])
        rows += [row("hist", label, "measured", c, y, q, **cols) for c, y, q in zip(centers, dens, se)]
        rows.append(row("target", label, "measured", d, B, **cols))
        mean = e.mean()
        se_log = e.std(ddof=1) / math.sqrt(e.size) / mean  # delta method
        rows.append(row("gap", "measured", "measured", d, B - math.log(mean), se_log, **cols))
        rows.append(row("gap", "B - log E e^{Bx}", "theory", d, B - F["sphere-log-mgf"](d=d, B=B), d=d, B=B))
    for d in np.geomspace(8, 2048, 40):
        B = s["b"] * math.sqrt(d)
        gap = B - F["sphere-log-mgf"](d=d, B=B)
        rows.append(row("gap-line", "B - log E e^{Bx}", "theory", d, gap, d=float(d), B=B))
    return rows


def draw(rows):
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9.5, 3.8))
    for i, d in enumerate(DIMS):
        label = f"d={d}"
        x, y, se = select(rows, "hist", label, "measured")
        a.step(x, y, where="mid", color=COLORS[i], label=f"far scores, {label}")
        _, tgt, _ = select(rows, "target", label)
        a.axvline(tgt[0], color=COLORS[i], ls="--", lw=1.0)
    a.set_xlim(-4.5, 33)
    a.set_xlabel("score s = B x (B = sqrt(d); dashed: target score B)")
    a.set_ylabel("density of far scores")
    a.set_title("far scores stay O(1), the target grows like sqrt(d)")
    a.legend(loc="upper right")
    x, y, se = select(rows, "gap", "measured", "measured")
    b.errorbar(x, y, yerr=2 * se, fmt="o", color="#08519c", ms=4, label="measured (±2 s.e.)")
    tx, ty, _ = select(rows, "gap-line", None, "theory")
    theory(b, tx, ty, label="B3: B - log[Gamma(d/2)(2/B)^{d/2-1} I_{d/2-1}(B)]")
    b.set_xscale("log", base=2)
    b.set_xlabel("head dimension d")
    b.set_ylabel("score gap  s* - log E e^{s_far}")
    b.set_title("the gap grows like sqrt(d)")
    b.legend(loc="upper left")
    fig.tight_layout()
    return fig
