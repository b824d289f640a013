"""lm: small trained byte-level transformers evaluated beyond their training context (E1-E4).

The data come from ``python -m mixing.lm run`` (``mixing.lm.run``): bits per byte on the
positions beyond the training context against the evaluation length, the per-position loss
at the longest length, the attention mass beyond the window per head (mean over layers and
heads, with the B5 lower bound for scores bounded by the measured B), and each head's
measured mixing window W(0.1) of its accumulated transports (beside the prediction for
bytes drawn independently from the text's byte frequencies, for the SO(2) tables). The full study trains 30
models (``STUDY``); ``--quick`` runs the tiny smoke-test study.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .common import row, select

#: the settings of the committed study (see the README section on trained transformers)
STUDY = dict(layers=2, width=64, heads=4, context=64, steps=2500, batch=16, seeds=3, windows=8,
             multiples=(1, 2, 4, 8, 16, 32), coherence_lags=512)
COLORS = {"nope": "0.45", "rope": "#1f77b4", "alibi": "#d62728", "so2-random:abs=0.3": "#8c564b",
          "so2-random:rel=0.5": "#e377c2", "so2-learned": "#ff7f0e", "so2-learned-v": "#bcbd22",
          "so2-learned-forget": "#9467bd", "path": "#2ca02c", "path-forget": "#17becf"}


BIASED = ("alibi", "so2-learned-forget", "path-forget")


def spec(quick):
    return {"quick": True} if quick else dict(STUDY)


def study(quick):
    from mixing.lm import run as run_mod
    from mixing.lm.train import TrainConfig

    if quick:
        return run_mod.quick()
    s = STUDY
    tc = TrainConfig(context=s["context"], steps=s["steps"], batch=s["batch"], lr=1e-3, min_lr=1e-4, warmup=100,
                     checkpoint_every=250)
    return run_mod.Study(seeds=s["seeds"], model={k: s[k] for k in ("layers", "width", "heads")}, train=tc,
                         multiples=s["multiples"], windows=s["windows"], coherence_lags=s["coherence_lags"])


def compute(quick, out: Path | None = None):
    from mixing.lm import run as run_mod

    folder = Path(out if out is not None else ".") / ("lm-run-quick" if quick else "lm-run")
    rows = run_mod.run(study(quick), folder, progress=None if quick else print)
    return figure_rows(rows)


def _lab(r):
    from mixing.lm.model import label

    return label(r["mechanism"], r.get("scale") or "")


def _f(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def figure_rows(results) -> list[dict]:
    """The figure's tidy rows from a study's result rows (seed 'all': mean and s.e. over seeds)."""
    agg = [r for r in results if str(r["seed"]) == "all"]
    per_seed = [r for r in results if str(r["seed"]) != "all"]
    rows = []
    labels = list(dict.fromkeys(_lab(r) for r in agg))
    context = int(_f(agg[0]["train_context"])) if agg else 1
    for lab in labels:
        mine = [r for r in agg if _lab(r) == lab]
        for r in mine:
            L = _f(r["eval_length"])
            if r["metric"] == "bpb_beyond":
                rows.append(row("beyond", lab, "measured", L, _f(r["value"]), _f(r["stderr"])))
            elif r["metric"] == "bpb_all" and int(L) == context:
                rows.append(row("beyond", lab, "level-1x", L, _f(r["value"]), _f(r["stderr"])))
            elif r["metric"] == "bpb_pos":
                rows.append(row("position", lab, "measured", _f(r["x"]), _f(r["value"]), _f(r["stderr"])))
            elif r["metric"] in ("window", "window_iid"):
                v = _f(r["value"])
                kind = ("measured" if r["metric"] == "window" else "theory") if math.isfinite(v) else \
                    ("censored-above" if r["metric"] == "window" else "theory-censored")
                rows.append(row("window", lab, kind, _f(r["layer"]) * 100 + _f(r["head"]), v if math.isfinite(v) else -1.0))
        # far mass and the B5 bound: mean over layers and heads, s.e. over seeds
        lengths = sorted({_f(r["eval_length"]) for r in mine if r["metric"] == "far_mass"})
        for L in lengths:
            for metric, kind in (("far_mass", "measured"), ("far_mass_b5", "theory"), ("far_mass_ub", "upper")):
                seeds = {}
                for r in per_seed:
                    if _lab(r) == lab and r["metric"] == metric and _f(r["eval_length"]) == L:
                        seeds.setdefault(r["seed"], []).append(_f(r["value"]))
                vals = np.array([np.mean(v) for v in seeds.values()])
                if vals.size:
                    se = vals.std(ddof=1) / math.sqrt(vals.size) if vals.size > 1 else 0.0
                    rows.append(row("far", lab, kind, L, vals.mean(), se if math.isfinite(se) else 0.0))
    return rows


def draw(rows):
    import matplotlib.pyplot as plt

    from .common import band

    labels = list(dict.fromkeys(r["series"] for r in rows))
    fig, axes = plt.subplots(1, 4, figsize=(17.0, 4.2))
    a, b, c, d = axes
    for lab in labels:
        col = COLORS.get(lab, None)
        x, y, se = select(rows, "beyond", lab, "measured")
        if x.size:
            band(a, x, y, se, col, label=lab, marker=".")
        x, y, se = select(rows, "position", lab, "measured")
        if x.size:
            band(b, x, y, se, col, label=lab, marker=".")
        x, y, se = select(rows, "far", lab, "measured")
        if x.size:
            band(c, x, y, se, col, label=lab, marker=".")
    ctx = min((r["x"] for r in rows if r["kind"] == "level-1x"), default=None)
    for ax in (a, b):
        if ctx:
            ax.axvline(ctx, color="black", lw=0.8, ls=":")
        ax.set_xscale("log", base=2)
    a.set_xlabel("evaluation length L (bytes)")
    a.set_ylabel("bits/byte beyond the training context")
    a.set_title("loss beyond the context (± 2 s.e. over seeds)")
    b.set_xlabel("position in the window (bytes; bucket end)")
    b.set_ylabel("bits per byte")
    b.set_title("loss by position, longest length")
    c.set_xscale("log", base=2)
    c.set_yscale("log")
    c.set_xlabel("evaluation length L (bytes)")
    c.set_ylabel("attention mass at lag > W (mean over heads)")
    c.set_title("far mass, W = half the context")
    for lab in labels:
        if lab.startswith(BIASED):       # B6 form: an upper bound under the head's own bias
            x, y, _ = select(rows, "far", lab, "upper")
            if x.size:
                c.plot(x, y, "--", color=COLORS.get(lab), lw=1.0)
            continue
        x, y, _ = select(rows, "far", lab, "theory")     # B5 is for rotation-only mechanisms (no bias)
        keep = y > 0
        if keep.any():
            c.plot(x[keep], y[keep], ":", color=COLORS.get(lab), lw=1.0)
    c.text(0.02, 0.02, "dotted: B5 lower bound (rotation-only heads); dashed: B6-form upper bound\n"
           "(heads with a bias); both for scores within the measured B",
           transform=c.transAxes, fontsize=6.5)
    # windows: one point per head, per mechanism
    wl = [lab for lab in labels if any(r["panel"] == "window" and r["series"] == lab for r in rows)]
    top = max([r["y"] for r in rows if r["panel"] == "window"] + [1.0]) * 2
    for i, lab in enumerate(wl):
        ys = [r["y"] for r in rows if r["panel"] == "window" and r["series"] == lab and r["kind"] == "measured"]
        cens = [r for r in rows if r["panel"] == "window" and r["series"] == lab and r["kind"] == "censored-above"]
        jit = np.linspace(-0.25, 0.25, max(len(ys), 1))[:len(ys)]
        d.plot(i + jit, ys, "o", color=COLORS.get(lab), ms=3)
        th = [r["y"] for r in rows if r["panel"] == "window" and r["series"] == lab and r["kind"] == "theory"]
        if th:
            d.plot(i + np.linspace(-0.25, 0.25, len(th)) + 0.06, th, "x", color="black", ms=3.5, mew=0.8)
        if cens:
            d.plot([i] * len(cens), [top] * len(cens), "^", color=COLORS.get(lab), ms=5)
    d.set_xticks(range(len(wl)), wl, rotation=35, ha="right", fontsize=7)
    d.set_yscale("log")
    d.set_ylabel("mixing window W(0.1) per head (lags)")
    d.set_title("windows per head (x: i.i.d.-token prediction;\ntriangles: beyond the lags measured)", fontsize=9)
    a.legend(fontsize=6.5)
    fig.tight_layout()
    return fig


def draw_run(folder: Path):
    """Draw the figure of a finished ``mixing.lm run`` folder into it (lm.png, lm.pdf)."""
    from mixing.lm.run import read_csv

    from . import common

    common.style()
    fig = draw(figure_rows(read_csv(Path(folder) / "results.csv")))
    return common.save_figure(fig, Path(folder), "lm")
