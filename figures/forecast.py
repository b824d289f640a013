"""forecast: far mass and the stopping length forecast from lengths up to 2T, beside the measurements.

For every mechanism of the transformer study (``figures/output/lm-run``, the figure ``lm``):
the far mass (lag > T/2, head mean) forecast by ``mixing.lm.forecast`` from the first 2T bytes
of the test windows, against the far mass measured on the same windows at each multiple k of
the training context; the forecast error with its 95% t interval over seeds; the same
forecast in the stylized engine on each model's exported generators (``mixing.forecast.from_file``:
does the transport alone keep the stationary tail?); and the predicted stopping length against
the measured one. ``--quick`` forecasts the tiny smoke-test
study of the figure ``lm`` (trained first if it is not there).
"""

from __future__ import annotations

import math
from pathlib import Path

from .common import interval_line, row
from .lm import color

#: the mechanisms drawn in the far-mass panels (the table in docs/results.md has every one)
SHOWN = ("nope", "rope", "alibi", "so2-random:abs=0.3", "so2-random:abs=1", "so2-random:rel=0.5", "so2-learned",
         "so2-learned-v", "path", "path-forget")
#: the random tables apart (``lm.color`` gives every so2-random table one colour)
TABLES = {"so2-random:abs=0.3": "#8c564b", "so2-random:abs=1": "#e7969c", "so2-random:rel=0.5": "#c5b0d5"}


def _color(lab):
    return TABLES.get(lab) or color(lab)


def spec(quick):
    from mixing.forecast import ENGINE_TRIALS, FORECAST_VERSION

    from . import lm

    return {"study": lm.spec(quick), "forecast_version": FORECAST_VERSION, "engine_trials": ENGINE_TRIALS}


def compute(quick, out: Path | None = None):
    import os

    from mixing.lm import forecast as fo
    from mixing.lm import run as run_mod

    from . import lm

    base = Path(out if out is not None else ".")
    folder = base / ("lm-run-quick" if quick else "lm-run")
    if not quick and not (folder / "results.csv").exists():
        from .__main__ import COMMITTED

        folder = COMMITTED / "lm-run"                 # the committed study (never retrained here)
    if not (folder / "results.csv").exists():
        run_mod.run(lm.study(quick), folder, progress=None if quick else print, jobs=len(os.sched_getaffinity(0)))
    return rows_of(fo.study_rows(folder, engine=True))


def rows_of(results) -> list[dict]:
    rows = []
    for r in results:
        lab = r["mechanism"]
        for j, k in enumerate(r["ks"]):
            rows.append(row("far", lab, "forecast", k, r["forecast"][j]))
            rows.append(row("far", lab, "measured", k, r["measured"][j]))
            e = r["error"][j]
            rows.append(row("error", lab, "measured", k, e.value, e.se if math.isfinite(e.se) else 0.0))
            if math.isfinite(e.lo):
                rows += [row("error", lab, "lo", k, e.lo), row("error", lab, "hi", k, e.hi)]
        eng = r.get("engine")
        if eng:
            big = [k for k in r["ks"] if k > 2]
            for k, e in zip(big, eng["error"]):
                rows.append(row("engine", lab, "measured", k, e.value, e.se if math.isfinite(e.se) else 0.0))
                if math.isfinite(e.lo):
                    rows += [row("engine", lab, "lo", k, e.lo), row("engine", lab, "hi", k, e.hi)]
            rows.append(row("engine-holds", lab, "heads", eng["heads"], eng["holds"]))
        kmax = max(r["ks"])
        cap = 2.0 * kmax                                  # not stopped within the lengths: drawn at the cap
        for kind, v in (("predicted", r["L_stop_predicted"]), ("measured", r["L_stop"])):
            rows.append(row("stop", lab, kind if math.isfinite(v) else f"{kind}-censored", 0, min(v, cap)))
    return [r for r in rows if math.isfinite(r["y"])]


def draw(rows):
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(r["series"] for r in rows if r["panel"] == "far"))
    shown = [lab for lab in labels if lab in SHOWN] or labels
    fig, axs = plt.subplots(2, 2, figsize=(11.0, 8.8))
    a, b, e, c = axs.flat
    for lab in shown:
        col = _color(lab)
        for kind, ls, mk in (("forecast", "--", None), ("measured", "-", "o")):
            sel = sorted((r for r in rows if r["panel"] == "far" and r["series"] == lab and r["kind"] == kind),
                         key=lambda r: r["x"])
            a.plot([r["x"] for r in sel], [r["y"] for r in sel], ls=ls, marker=mk, ms=3.5, color=col,
                   label=lab if kind == "measured" else None)
        interval_line(b, rows, "error", lab, col, label=lab)
    a.set_ylim(-0.02, 1.02)
    a.set_title("far mass (lag > T/2, head mean): measured (solid)\nand forecast from lengths <= 2T (dashed)",
                fontsize=9)
    a.set_ylabel("far mass")
    b.axhline(0, color="black", lw=0.8, ls=":")
    b.set_title("forecast minus measured far mass\n(band: 95% t interval over seeds)", fontsize=9)
    b.set_ylabel("far-mass forecast error")
    for ax in (a, b):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("multiple k of the training context (queries [kT/2, kT))")
    a.legend(fontsize=6.5, ncol=2)
    _engine_panel(e, rows)
    # predicted against measured stopping length, every mechanism
    stops = {}
    for r in rows:
        if r["panel"] == "stop":
            stops.setdefault(r["series"], {})[r["kind"]] = r["y"]
    cap = max([r["y"] for r in rows if r["panel"] == "stop"] + [64.0])
    groups = {}
    for lab, got in stops.items():
        key = (got.get("measured", got.get("measured-censored")), got.get("predicted", got.get("predicted-censored")))
        groups.setdefault(key, []).append(lab)
    for (x, y), labs in groups.items():
        for n, lab in enumerate(labs):                 # side by side in a row, centred on the point
            c.plot([x * 2 ** (0.07 * (n - (len(labs) - 1) / 2))], [y], "o", ms=5, color=_color(lab), alpha=0.85)
        c.annotate(f"{len(labs)}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=6.5)
    c.plot([1, cap * 1.5], [1, cap * 1.5], color="0.5", lw=0.8, ls="--")
    c.axvline(cap, color="0.7", lw=0.8, ls=":")
    c.axhline(cap, color="0.7", lw=0.8, ls=":")
    c.text(0.02, 0.98, f"dotted at {cap:g}x: not stopped within the lengths measured\n"
           "(mechanisms at one point side by side; number: how many)", transform=c.transAxes, fontsize=6.5, va="top")
    c.set_xscale("log", base=2)
    c.set_yscale("log", base=2)
    c.set_xlabel("measured L_stop (multiple of T)")
    c.set_ylabel("predicted L_stop (multiple of T)")
    c.set_title("stopping length: predicted from lengths <= 2T\nagainst measured (every mechanism; dashed: equal)",
                fontsize=9)
    fig.tight_layout()
    return fig


def _engine_panel(ax, rows):
    """The engine check: the forecast's relative odds error at the largest multiple, on each
    mechanism's own exported generators (seed 0), mean over heads with its 95% interval."""
    labs = list(dict.fromkeys(r["series"] for r in rows if r["panel"] == "engine"))
    if not labs:
        ax.text(0.5, 0.5, "no engine check in these data", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    kmax = max(r["x"] for r in rows if r["panel"] == "engine")
    for i, lab in enumerate(labs):
        got = {r["kind"]: r["y"] for r in rows if r["panel"] == "engine" and r["series"] == lab and r["x"] == kmax}
        held = next((r for r in rows if r["panel"] == "engine-holds" and r["series"] == lab), None)
        col = _color(lab)
        if "lo" in got:
            ax.plot([got["lo"], got["hi"]], [i, i], color=col, lw=2, alpha=0.6)
        ax.plot([got["measured"]], [i], "o", ms=5, color=col)
        if held:
            ax.annotate(f"{held['y']:g}/{held['x']:g}", (got.get("hi", got["measured"]), i), textcoords="offset points",
                        xytext=(4, -2), fontsize=6.5)
    ax.axvline(0, color="black", lw=0.8, ls=":")
    ax.set_yticks(range(len(labs)))
    ax.set_yticklabels(labs, fontsize=6.5)
    ax.invert_yaxis()
    ax.set_xlabel(f"(forecast - measured) / measured far odds at {kmax:g}x, in the engine")
    ax.set_title("the same forecast in the stylized engine, on each model's exported generators (seed 0)\n"
                 "mean over heads, 95% interval over heads; n/m: heads where it holds at every k", fontsize=9)


def draw_one(result, out: Path):
    """The figure of ``python -m mixing.lm forecast``: forecast far mass per head (one model), or
    forecast against measured (a study)."""
    import matplotlib.pyplot as plt

    from . import common

    common.style()
    if "rows" in result:
        from mixing.stats import Interval

        def iv(triples):
            return [Interval(v, math.nan, math.nan, lo, hi) for v, lo, hi in triples]

        rs = [{**r, "error": iv(r["error"]),
               **({"engine": {**r["engine"], "error": iv(r["engine"]["error"])}} if r.get("engine") else {})}
              for r in result["rows"]]
        fig = draw(rows_of(rs))
    else:
        fig, ax = plt.subplots(figsize=(6.0, 4.2))
        for li, layer in enumerate(result["far"]):
            for h, vals in enumerate(layer):
                ax.plot(result["ks"], vals, "-o", ms=3, label=f"layer {li} head {h}")
        ax.set_xscale("log", base=2)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("multiple k of the training context (queries [kT/2, kT))")
        ax.set_ylabel("forecast far mass (lag > T/2)")
        stop = result["L_stop_predicted"]
        ax.set_title(f"{result['mechanism']}, T = {result['context']}: forecast from lengths <= 2T\n"
                     f"predicted L_stop {f'{stop:g}x' if math.isfinite(stop) else '> ' + str(max(result['ks'])) + 'x'}",
                     fontsize=9)
        ax.legend(fontsize=6, ncol=2)
        fig.tight_layout()
    return common.save_figure(fig, Path(out), "forecast")
