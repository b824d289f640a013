"""The figures of a trained-transformer study, drawn from its folder (``python -m mixing.lm run``
and ``forecast`` draw them; the figures ``lm`` and ``forecast`` of ``python -m figures`` too).

- :func:`figure_rows`, :func:`draw`, :func:`draw_run`: the same-window excess per bucket, the
  E1 scale curve and the stopping lengths of a study;
- :func:`forecast_rows`, :func:`draw_forecast`, :func:`draw_one`: the far mass forecast from
  lengths up to 2T against the measured one, and the engine's forecast of the same heads.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mixing.engine.params import parse_spread

from .. import plotting
from ..plotting import interval_line, row, select

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

COLORS = {
    "nope": "0.45",
    "rope": "#1f77b4",
    "alibi": "#d62728",
    "fox": "#e377c2",
    "so2-random": "#8c564b",
    "so2-learned": "#ff7f0e",
    "so2-learned-v": "#bcbd22",
    "so2-learned-forget": "#9467bd",
    "path": "#2ca02c",
    "path-forget": "#17becf",
    "path-forget:gate=fla": "#393b79",
}


def with_mechanism(rows: list[dict]) -> list[dict]:
    """The rows with the parameters of their series as columns (``mechanism``, ``scale``,
    ``gate``, ``rope_base``) where the series is a mechanism label, so that a figure's CSV says
    what each series was trained with without parsing its name."""
    from mixing.engine.errors import ParameterError

    from .model import parse_mechanism

    cache: dict = {}
    out = []
    for r in rows:
        lab = r["series"]
        if lab not in cache:
            try:
                got = parse_mechanism(lab)
                cache[lab] = {k: (f"{v:g}" if isinstance(v, float) else str(v)) for k, v in got.items()}
            except ParameterError:
                cache[lab] = {}
        out.append({**r, **cache[lab]})
    return out


def color(lab: str) -> str:
    return COLORS.get(lab) or COLORS.get(lab.split(":")[0], "0.3")


def _spread(lab: str) -> tuple[str, float] | None:
    """(kind, spread) of a frozen random SO(2) table, else None."""
    name, _, opt = lab.partition(":")
    return parse_spread(opt) if name == "so2-random" else None


def figure_rows(folder: Path) -> list[dict]:
    """The figure's tidy rows from a study folder (intervals: kinds ``lo`` and ``hi``)."""
    from mixing.engine.stats import crossed
    from mixing.lm.report import TAU, Study

    st = Study(Path(folder))
    rows = []
    for lab in st.labels:
        b = st.bits[lab]
        for k in st.ks:
            iv = crossed([b.excess(k)])
            rows += [
                row("excess", lab, "measured", k, iv.value, iv.se),
                row("excess", lab, "lo", k, iv.lo),
                row("excess", lab, "hi", k, iv.hi),
            ]
        _, cross = st.stop(lab)
        cap = 2.0 * max(st.ks)  # a crossing beyond the lengths measured is drawn at the cap
        for kind, v in (("measured", cross.value), ("lo", cross.lo), ("hi", cross.hi)):
            rows.append(row("stop", lab, kind if math.isfinite(v) else f"{kind}-censored", 0, min(v, cap)))
        sp = _spread(lab)
        if sp:
            kind, s = sp
            k16 = 16 if 16 in st.ks else max(st.ks)
            iv = crossed([b.excess(k16)])
            rows += [
                row(f"scale-excess-{kind}", lab, "measured", s, iv.value, iv.se),
                row(f"scale-excess-{kind}", lab, "lo", s, iv.lo),
                row(f"scale-excess-{kind}", lab, "hi", s, iv.hi),
            ]
            win = np.array(st.per_head(lab, "window"), dtype=float)
            if win.size:
                med = float(np.median(np.where(np.isfinite(win), win, np.inf)))  # beyond the lags: above all
                if math.isfinite(med):
                    rows.append(row(f"scale-window-{kind}", lab, "measured", s, med))
                else:
                    rows.append(row(f"scale-window-{kind}", lab, "censored-above", s, float(st.coherence_lags)))
            lv = crossed([b.level()])
            rows += [
                row(f"scale-level-{kind}", lab, "measured", s, lv.value, lv.se),
                row(f"scale-level-{kind}", lab, "lo", s, lv.lo),
                row(f"scale-level-{kind}", lab, "hi", s, lv.hi),
            ]
        if lab.split(":")[0] == "rope":
            lv = crossed([b.level()])
            rows.append(row("rope-level", lab, "measured", 0, lv.value, lv.se))
            k16 = 16 if 16 in st.ks else max(st.ks)
            rows.append(row("rope-excess", lab, "measured", 0, crossed([b.excess(k16)]).value))
    rows.append(row("tau", "tau", "theory", 0, TAU))
    return with_mechanism([r for r in rows if math.isfinite(r["y"])])  # an interval one seed cannot give: left out


def _ci(
    ax: Axes,
    rows: list[dict],
    panel: str,
    lab: str,
    col: str,
    marker: str = "o",
    ls: str = "-",
    label: str | None = None,
) -> None:
    x, y, _ = select(rows, panel, lab, "measured")
    if not x.size:
        return
    ax.plot(x, y, ls, color=col, marker=marker, ms=3, label=label or lab)
    xl, lo, _ = select(rows, panel, lab, "lo")
    xh, hi, _ = select(rows, panel, lab, "hi")
    ok = np.isfinite(lo) & np.isfinite(hi)
    if ok.any():
        ax.fill_between(xl[ok], lo[ok], hi[ok], color=col, alpha=0.18, lw=0)


def _curve(ax: Axes, rows: list[dict], panel: str, col: str, marker: str, label: str) -> None:
    """A measured curve against x with its interval band where both bounds are known."""
    sel = [r for r in rows if r["panel"] == panel]
    xs = sorted({r["x"] for r in sel})
    if not xs:
        return

    def get(x: float, kind: str) -> float:
        return next((r["y"] for r in sel if r["x"] == x and r["kind"] == kind), float("nan"))

    val, lo, hi = (np.array([get(x, k) for x in xs]) for k in ("measured", "lo", "hi"))
    ax.plot(xs, val, "-", marker=marker, color=col, ms=4, label=label)
    ok = np.isfinite(lo) & np.isfinite(hi)
    if ok.any():
        ax.fill_between(np.array(xs)[ok], lo[ok], hi[ok], color=col, alpha=0.18, lw=0)


def draw(rows: list[dict]) -> Figure:
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(r["series"] for r in rows if r["panel"] == "excess"))
    tau = next((r["y"] for r in rows if r["panel"] == "tau"), 0.05)
    fig, axes = plt.subplots(2, 3, figsize=(14.0, 8.4))
    (a, b, c), (d, e, f) = axes
    controlled = ("alibi", "fox", "so2-learned-forget", "path-forget")
    main = [
        lab for lab in labels if not lab.startswith("so2-random") or lab in ("so2-random:abs=0.3", "so2-random:rel=0.5")
    ]
    main = [lab for lab in main if lab.split(":")[0] != "so2-learned" or lab == "so2-learned"]
    main = [lab for lab in main if lab.split(":")[0] != "rope" or lab == "rope"]
    for lab in main:
        ax = b if lab.split(":")[0] in controlled or lab == "nope" else a
        ls = "--" if lab == "so2-random:rel=0.5" or lab.endswith("gate=fla") else "-"
        _ci(ax, rows, "excess", lab, color(lab) if lab != "so2-random:rel=0.5" else "#c49c94", ls=ls)
    b.set_yscale("symlog", linthresh=0.01, linscale=0.5)
    flat = [
        lab
        for lab in main
        if (lab.split(":")[0] in controlled and lab != "alibi")
        and max(abs(r["y"]) for r in rows if r["panel"] == "excess" and r["series"] == lab and r["kind"] == "measured")
        < 1e-3
    ]
    if flat:
        b.text(
            0.02,
            0.40,
            "excess within 0.001 of 0 at every multiple\n(their lines overlap at 0):\n" + "\n".join(flat),
            transform=b.transAxes,
            fontsize=6.5,
            va="top",
        )
    for ax, title in ((a, "rotation only"), (b, "far mass controlled by a bias (and NoPE);\nsymmetric log axis")):
        ax.axhline(tau, color="black", lw=0.8, ls=":")
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("multiple k of the training context (positions [kT/2, kT))")
        ax.set_ylabel("excess: full minus sliding-window bits/byte")
        ax.set_title(
            f"same-window excess, {title}\n(95% band over seeds and windows; dotted: TAU = {tau:g})", fontsize=9
        )
        ax.legend(
            fontsize=6.5,
            ncol=2,
            loc="upper left" if ax is a else "upper right",
            bbox_to_anchor=None if ax is a else (1.0, 0.8),
        )
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
    c.text(
        0.98,
        0.01,
        "dashed: not crossed within the lengths measured",
        transform=c.transAxes,
        fontsize=6.5,
        ha="right",
        va="bottom",
    )
    c.set_yticks(range(len(stop)), stop, fontsize=6.5)
    c.invert_yaxis()
    c.set_xscale("log", base=2)
    c.set_xlabel("stopping length (multiple of the training context)")
    c.set_title(
        "where the mean excess crosses TAU\n(bar: 95% bootstrap over seeds and windows; triangle: not crossed)",
        fontsize=9,
    )
    # E1 over its whole range
    for kind, mk, name in (("abs", "o", "abs=S: theta_m + S z"), ("rel", "s", "rel=S: theta_m (1 + S z)")):
        col = COLORS["so2-random"] if kind == "abs" else "#c49c94"
        _curve(d, rows, f"scale-excess-{kind}", col, mk, name)
        sel = sorted(
            (r for r in rows if r["panel"] == f"scale-window-{kind}" and r["kind"] == "measured"), key=lambda r: r["x"]
        )
        if sel:
            e.plot([r["x"] for r in sel], [r["y"] for r in sel], "-", marker=mk, color=col, ms=4, label=name)
        cens = [r for r in rows if r["panel"] == f"scale-window-{kind}" and r["kind"] == "censored-above"]
        if cens:
            e.plot(
                [r["x"] for r in cens],
                [r["y"] for r in cens],
                "^",
                color=col,
                ms=6,
                label=f"{kind}: beyond the {int(cens[0]['y'])} lags measured",
            )
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


def draw_run(folder: Path) -> list[Path]:
    """Draw the figure of a finished ``mixing.lm run`` folder into it (lm.png, lm.pdf)."""
    plotting.style()
    fig = draw(figure_rows(Path(folder)))
    return plotting.save_figure(fig, Path(folder), "lm")


#: the random tables apart (``lm.color`` gives every so2-random table one colour)
TABLES = {"so2-random:abs=0.3": "#8c564b", "so2-random:abs=1": "#e7969c", "so2-random:rel=0.5": "#c5b0d5"}

#: the mechanisms drawn in the far-mass panels (the table in docs/results.md has every one)
SHOWN = (
    "nope",
    "rope",
    "alibi",
    "so2-random:abs=0.3",
    "so2-random:abs=1",
    "so2-random:rel=0.5",
    "so2-learned",
    "so2-learned-v",
    "path",
    "path-forget",
)


def _forecast_color(lab: str) -> str:
    return TABLES.get(lab) or color(lab)


def forecast_rows(results: list[dict]) -> list[dict]:
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
        cap = 2.0 * kmax  # not stopped within the lengths: drawn at the cap
        for kind, v in (("predicted", r["L_stop_predicted"]), ("measured", r["L_stop"])):
            rows.append(row("stop", lab, kind if math.isfinite(v) else f"{kind}-censored", 0, min(v, cap)))
    return with_mechanism([r for r in rows if math.isfinite(r["y"])])


def draw_forecast(rows: list[dict]) -> Figure:
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(r["series"] for r in rows if r["panel"] == "far"))
    shown = [lab for lab in labels if lab in SHOWN] or labels
    fig, axs = plt.subplots(2, 2, figsize=(11.0, 8.8))
    a, b, e, c = axs.flat
    for lab in shown:
        col = _forecast_color(lab)
        for kind, ls, mk in (("forecast", "--", None), ("measured", "-", "o")):
            sel = sorted(
                (r for r in rows if r["panel"] == "far" and r["series"] == lab and r["kind"] == kind),
                key=lambda r: r["x"],
            )
            a.plot(
                [r["x"] for r in sel],
                [r["y"] for r in sel],
                ls=ls,
                marker=mk,
                ms=3.5,
                color=col,
                label=lab if kind == "measured" else None,
            )
        interval_line(b, rows, "error", lab, col, label=lab)
    a.set_ylim(-0.02, 1.02)
    a.set_title(
        "far mass (lag > T/2, head mean): measured (solid)\nand forecast from lengths <= 2T (dashed)", fontsize=9
    )
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
        for n, lab in enumerate(labs):  # side by side in a row, centred on the point
            c.plot(
                [x * 2 ** (0.07 * (n - (len(labs) - 1) / 2))], [y], "o", ms=5, color=_forecast_color(lab), alpha=0.85
            )
        c.annotate(f"{len(labs)}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=6.5)
    c.plot([1, cap * 1.5], [1, cap * 1.5], color="0.5", lw=0.8, ls="--")
    c.axvline(cap, color="0.7", lw=0.8, ls=":")
    c.axhline(cap, color="0.7", lw=0.8, ls=":")
    c.text(
        0.02,
        0.98,
        f"dotted at {cap:g}x: not stopped within the lengths measured\n"
        "(mechanisms at one point side by side; number: how many)",
        transform=c.transAxes,
        fontsize=6.5,
        va="top",
    )
    c.set_xscale("log", base=2)
    c.set_yscale("log", base=2)
    c.set_xlabel("measured L_stop (multiple of T)")
    c.set_ylabel("predicted L_stop (multiple of T)")
    c.set_title(
        "stopping length: predicted from lengths <= 2T\nagainst measured (every mechanism; dashed: equal)", fontsize=9
    )
    fig.tight_layout()
    return fig


def _engine_panel(ax: Axes, rows: list[dict]) -> None:
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
        col = _forecast_color(lab)
        if "lo" in got:
            ax.plot([got["lo"], got["hi"]], [i, i], color=col, lw=2, alpha=0.6)
        ax.plot([got["measured"]], [i], "o", ms=5, color=col)
        if held:
            ax.annotate(
                f"{held['y']:g}/{held['x']:g}",
                (got.get("hi", got["measured"]), i),
                textcoords="offset points",
                xytext=(4, -2),
                fontsize=6.5,
            )
    ax.axvline(0, color="black", lw=0.8, ls=":")
    ax.set_yticks(range(len(labs)))
    ax.set_yticklabels(labs, fontsize=6.5)
    ax.invert_yaxis()
    ax.set_xlabel(f"(forecast - measured) / measured far odds at {kmax:g}x, in the engine")
    ax.set_title(
        "the same forecast in the stylized engine, on each model's exported generators (seed 0)\n"
        "mean over heads, 95% interval over heads; n/m: heads where it holds at every k",
        fontsize=9,
    )


def draw_one(result: dict, out: Path) -> list[Path]:
    """The figure of ``python -m mixing.lm forecast``: forecast far mass per head (one model), or
    forecast against measured (a study)."""
    import matplotlib.pyplot as plt

    plotting.style()
    if "rows" in result:
        from mixing.engine.stats import Interval

        def iv(triples: list) -> list[Interval]:
            return [Interval(v, math.nan, math.nan, lo, hi) for v, lo, hi in triples]

        rs = [
            {
                **r,
                "error": iv(r["error"]),
                **({"engine": {**r["engine"], "error": iv(r["engine"]["error"])}} if r.get("engine") else {}),
            }
            for r in result["rows"]
        ]
        fig = draw_forecast(forecast_rows(rs))
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
        ax.set_title(
            f"{result['mechanism']}, T = {result['context']}: forecast from lengths <= 2T\n"
            f"predicted L_stop {f'{stop:g}x' if math.isfinite(stop) else '> ' + str(max(result['ks'])) + 'x'}",
            fontsize=9,
        )
        ax.legend(fontsize=6, ncol=2)
        fig.tight_layout()
    return plotting.save_figure(fig, Path(out), "forecast")
