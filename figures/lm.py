"""lm: small trained byte-level transformers evaluated beyond their training context (E1-E4).

The data come from ``python -m mixing.lm run`` (``mixing.lm.run``) and its report
(``mixing.lm.report``): for every mechanism, the same-window excess (full-context bits minus
sliding-window bits on the same bytes) at each multiple of the training context, with its 95%
interval over seeds and windows; the stopping length (where the mean excess first crosses
TAU, with its bootstrap interval); and, for the frozen random SO(2) tables, the excess at 16x,
the measured mixing window W(0.1) and the in-context level against the angle spread (E1 over
its whole range). ``--quick`` runs the tiny smoke-test study.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .common import row, select

#: the settings of the committed study (see docs/guide.md, "Trained transformers")
STUDY = dict(layers=2, width=64, heads=4, context=64, steps=2500, batch=16, seeds=5, windows=64, probe_windows=8,
             multiples=(2, 4, 8, 16, 32), coherence_lags=512)
#: the mechanisms of the committed study, in the order of the tables
MECHANISMS = ("nope", "rope", "rope:base=100", "rope:base=1000", "alibi", "fox",
              "so2-random:abs=0.05", "so2-random:abs=0.1", "so2-random:abs=0.3", "so2-random:abs=0.6",
              "so2-random:abs=1", "so2-random:rel=0.1", "so2-random:rel=0.25", "so2-random:rel=0.5",
              "so2-random:rel=0.75", "so2-random:rel=1",
              "so2-learned", "so2-learned:abs=0", "so2-learned:rel=0.5", "so2-learned:zero",
              "so2-learned-v", "so2-learned-forget", "path", "path-forget", "path-forget:gate=fla")
#: the mechanisms with fewer seeds than ``STUDY["seeds"]`` so far: the RoPE bases that only
#: take part in choosing RoPE's base, the other scales of E1's curve and the other starts of E2
#: (a later run of the study adds seeds model by model)
LABEL_SEEDS = {lab: 3 for lab in ("rope:base=100", "rope:base=1000", "so2-random:abs=0.05", "so2-random:abs=0.1",
                                  "so2-random:abs=0.6", "so2-random:abs=1", "so2-random:rel=0.1", "so2-random:rel=0.25",
                                  "so2-random:rel=0.75", "so2-random:rel=1", "so2-learned:abs=0",
                                  "so2-learned:rel=0.5", "so2-learned:zero")}
COLORS = {"nope": "0.45", "rope": "#1f77b4", "alibi": "#d62728", "fox": "#e377c2", "so2-random": "#8c564b",
          "so2-learned": "#ff7f0e", "so2-learned-v": "#bcbd22", "so2-learned-forget": "#9467bd", "path": "#2ca02c",
          "path-forget": "#17becf", "path-forget:gate=fla": "#393b79"}


def spec(quick):
    return {"quick": True} if quick else {**STUDY, "mechanisms": list(MECHANISMS), "label_seeds": LABEL_SEEDS}


def study(quick):
    from mixing.lm import run as run_mod
    from mixing.lm.train import TrainConfig

    if quick:
        return run_mod.quick()
    s = STUDY
    tc = TrainConfig(context=s["context"], steps=s["steps"], batch=s["batch"], lr=1e-3, min_lr=1e-4, warmup=100,
                     checkpoint_every=250)
    return run_mod.Study(mechanisms=MECHANISMS, seeds=s["seeds"], model={k: s[k] for k in ("layers", "width", "heads")},
                         train=tc, multiples=s["multiples"], windows=s["windows"], probe_windows=s["probe_windows"],
                         coherence_lags=s["coherence_lags"], label_seeds=dict(LABEL_SEEDS))


def compute(quick, out: Path | None = None):
    import os

    from mixing.lm import run as run_mod

    folder = Path(out if out is not None else ".") / ("lm-run-quick" if quick else "lm-run")
    run_mod.run(study(quick), folder, progress=None if quick else print, jobs=len(os.sched_getaffinity(0)))
    return figure_rows(folder)


def color(lab: str) -> str:
    return COLORS.get(lab) or COLORS.get(lab.split(":")[0], "0.3")


def _spread(lab: str):
    """(kind, spread) of a frozen random SO(2) table, else None."""
    name, _, opt = lab.partition(":")
    if name != "so2-random" or "=" not in opt:
        return None
    kind, _, v = opt.partition("=")
    return kind, float(v)


def figure_rows(folder: Path) -> list[dict]:
    """The figure's tidy rows from a study folder (intervals: kinds ``lo`` and ``hi``)."""
    from mixing.lm.report import TAU, Study
    from mixing.stats import crossed

    st = Study(Path(folder))
    rows = []
    for lab in st.labels:
        b = st.bits[lab]
        for k in st.ks:
            iv = crossed([b.excess(k)])
            rows += [row("excess", lab, "measured", k, iv.value, iv.se), row("excess", lab, "lo", k, iv.lo),
                     row("excess", lab, "hi", k, iv.hi)]
        _, cross = st.stop(lab)
        cap = 2.0 * max(st.ks)               # a crossing beyond the lengths measured is drawn at the cap
        for kind, v in (("measured", cross.value), ("lo", cross.lo), ("hi", cross.hi)):
            rows.append(row("stop", lab, kind if math.isfinite(v) else f"{kind}-censored", 0, min(v, cap)))
        sp = _spread(lab)
        if sp:
            kind, s = sp
            k16 = 16 if 16 in st.ks else max(st.ks)
            iv = crossed([b.excess(k16)])
            rows += [row(f"scale-excess-{kind}", lab, "measured", s, iv.value, iv.se),
                     row(f"scale-excess-{kind}", lab, "lo", s, iv.lo), row(f"scale-excess-{kind}", lab, "hi", s, iv.hi)]
            win = np.array(st.per_head(lab, "window"), dtype=float)
            if win.size:
                med = float(np.median(np.where(np.isfinite(win), win, np.inf)))   # beyond the lags: above all
                if math.isfinite(med):
                    rows.append(row(f"scale-window-{kind}", lab, "measured", s, med))
                else:
                    rows.append(row(f"scale-window-{kind}", lab, "censored-above", s, float(st.coherence_lags)))
            lv = crossed([b.level()])
            rows += [row(f"scale-level-{kind}", lab, "measured", s, lv.value, lv.se),
                     row(f"scale-level-{kind}", lab, "lo", s, lv.lo), row(f"scale-level-{kind}", lab, "hi", s, lv.hi)]
        if lab.split(":")[0] == "rope":
            lv = crossed([b.level()])
            rows.append(row("rope-level", lab, "measured", 0, lv.value, lv.se))
            k16 = 16 if 16 in st.ks else max(st.ks)
            rows.append(row("rope-excess", lab, "measured", 0, crossed([b.excess(k16)]).value))
    rows.append(row("tau", "tau", "theory", 0, TAU))
    return [r for r in rows if math.isfinite(r["y"])]       # an interval one seed cannot give is left out


def _ci(ax, rows, panel, lab, col, marker="o", ls="-", label=None):
    x, y, _ = select(rows, panel, lab, "measured")
    if not x.size:
        return
    ax.plot(x, y, ls, color=col, marker=marker, ms=3, label=label or lab)
    xl, lo, _ = select(rows, panel, lab, "lo")
    xh, hi, _ = select(rows, panel, lab, "hi")
    ok = np.isfinite(lo) & np.isfinite(hi)
    if ok.any():
        ax.fill_between(xl[ok], lo[ok], hi[ok], color=col, alpha=0.18, lw=0)


def _curve(ax, rows, panel, col, marker, label):
    """A measured curve against x with its interval band where both bounds are known."""
    sel = [r for r in rows if r["panel"] == panel]
    xs = sorted({r["x"] for r in sel})
    if not xs:
        return

    def get(x, kind):
        return next((r["y"] for r in sel if r["x"] == x and r["kind"] == kind), float("nan"))

    val, lo, hi = (np.array([get(x, k) for x in xs]) for k in ("measured", "lo", "hi"))
    ax.plot(xs, val, "-", marker=marker, color=col, ms=4, label=label)
    ok = np.isfinite(lo) & np.isfinite(hi)
    if ok.any():
        ax.fill_between(np.array(xs)[ok], lo[ok], hi[ok], color=col, alpha=0.18, lw=0)


def draw(rows):
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(r["series"] for r in rows if r["panel"] == "excess"))
    tau = next((r["y"] for r in rows if r["panel"] == "tau"), 0.05)
    fig, axes = plt.subplots(2, 3, figsize=(14.0, 8.4))
    (a, b, c), (d, e, f) = axes
    controlled = ("alibi", "fox", "so2-learned-forget", "path-forget")
    main = [lab for lab in labels if not lab.startswith("so2-random") or lab in ("so2-random:abs=0.3", "so2-random:rel=0.5")]
    main = [lab for lab in main if lab.split(":")[0] != "so2-learned" or lab == "so2-learned"]
    main = [lab for lab in main if lab.split(":")[0] != "rope" or lab == "rope"]
    for lab in main:
        ax = b if lab.split(":")[0] in controlled or lab == "nope" else a
        ls = "--" if lab == "so2-random:rel=0.5" or lab.endswith("gate=fla") else "-"
        _ci(ax, rows, "excess", lab, color(lab) if lab != "so2-random:rel=0.5" else "#c49c94", ls=ls)
    b.set_yscale("symlog", linthresh=0.01, linscale=0.5)
    flat = [lab for lab in main if (lab.split(":")[0] in controlled and lab != "alibi")
            and max(abs(r["y"]) for r in rows if r["panel"] == "excess" and r["series"] == lab
                    and r["kind"] == "measured") < 1e-3]
    if flat:
        b.text(0.02, 0.40, "excess within 0.001 of 0 at every multiple\n(their lines overlap at 0):\n"
               + "\n".join(flat), transform=b.transAxes, fontsize=6.5, va="top")
    for ax, title in ((a, "rotation only"), (b, "far mass controlled by a bias (and NoPE);\nsymmetric log axis")):
        ax.axhline(tau, color="black", lw=0.8, ls=":")
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("multiple k of the training context (positions [kT/2, kT))")
        ax.set_ylabel("excess: full minus sliding-window bits/byte")
        ax.set_title(f"same-window excess, {title}\n(95% band over seeds and windows; dotted: TAU = {tau:g})",
                     fontsize=9)
        ax.legend(fontsize=6.5, ncol=2, loc="upper left" if ax is a else "upper right",
                  bbox_to_anchor=None if ax is a else (1.0, 0.8))
    # stopping length per mechanism
    stop = [lab for lab in labels if any(r["panel"] == "stop" and r["series"] == lab for r in rows)]
    cap = max([r["y"] for r in rows if r["panel"] == "stop"] + [64.0])
    for i, lab in enumerate(stop):
        get = {r["kind"]: r["y"] for r in rows if r["panel"] == "stop" and r["series"] == lab}
        y = get.get("measured", get.get("measured-censored"))
        lo = get.get("lo", get.get("lo-censored"))
        hi = get.get("hi", get.get("hi-censored"))
        col = color(lab)
        c.plot([lo, hi], [i, i], "-", color=col, lw=2.0, alpha=0.6)
        c.plot([y], [i], ">" if "measured-censored" in get else "o", color=col, ms=5)
    c.axvline(cap, color="0.5", lw=0.8, ls="--")
    c.text(0.98, 0.01, "dashed: not crossed within the lengths measured", transform=c.transAxes, fontsize=6.5,
           ha="right", va="bottom")
    c.set_yticks(range(len(stop)), stop, fontsize=6.5)
    c.invert_yaxis()
    c.set_xscale("log", base=2)
    c.set_xlabel("stopping length (multiple of the training context)")
    c.set_title("where the mean excess crosses TAU\n(bar: 95% bootstrap over seeds and windows; "
                "triangle: not crossed)", fontsize=9)
    # E1 over its whole range
    for kind, mk, name in (("abs", "o", "abs=S: theta_m + S z"), ("rel", "s", "rel=S: theta_m (1 + S z)")):
        col = COLORS["so2-random"] if kind == "abs" else "#c49c94"
        _curve(d, rows, f"scale-excess-{kind}", col, mk, name)
        sel = sorted((r for r in rows if r["panel"] == f"scale-window-{kind}" and r["kind"] == "measured"),
                     key=lambda r: r["x"])
        if sel:
            e.plot([r["x"] for r in sel], [r["y"] for r in sel], "-", marker=mk, color=col, ms=4, label=name)
        cens = [r for r in rows if r["panel"] == f"scale-window-{kind}" and r["kind"] == "censored-above"]
        if cens:
            e.plot([r["x"] for r in cens], [r["y"] for r in cens], "^", color=col, ms=6,
                   label=f"{kind}: beyond the {int(cens[0]['y'])} lags measured")
        _curve(f, rows, f"scale-level-{kind}", col, mk, name)
    styles = ["-", "--", "-.", ":"]
    for panel, ax in (("rope-excess", d), ("rope-level", f)):
        for i, r in enumerate(r for r in rows if r["panel"] == panel):
            ax.axhline(r["y"], color=COLORS["rope"], lw=0.9, ls=styles[i % len(styles)], label=r["series"])
    d.axhline(tau, color="black", lw=0.8, ls=":")
    d.set_ylabel("excess at 16x (bits/byte)")
    d.set_title("E1 over the angle spread: excess at 16x\n(horizontal: RoPE at each base)", fontsize=9)
    e.set_yscale("log")
    e.set_ylabel("mixing window W(0.1), median over heads (lags)")
    e.set_title("measured mixing window of the random tables", fontsize=9)
    f.set_ylabel("in-context level: sliding-window bits/byte")
    f.set_title("the in-context cost of the spread\n(horizontal: RoPE at each base)", fontsize=9)
    e.axhline(64, color="0.5", lw=0.8, ls="--")
    e.text(0.98, 64, "training context ", transform=e.get_yaxis_transform(), ha="right", va="bottom", fontsize=6.5)
    for ax in (d, e, f):
        ax.set_xscale("log")
        ax.set_xlabel("table spread S (abs: radians; rel: fraction of theta_m)")
        ax.legend(fontsize=6.5)
    fig.tight_layout()
    return fig


def draw_run(folder: Path):
    """Draw the figure of a finished ``mixing.lm run`` folder into it (lm.png, lm.pdf)."""
    from . import common

    common.style()
    fig = draw(figure_rows(Path(folder)))
    return common.save_figure(fig, Path(folder), "lm")
