"""``python -m figures.results``: write ``docs/results.md`` from the committed figure data.

Every number in the file is computed here from ``figures/output/NAME.csv`` and
``NAME.json`` (and, for the trained transformers, from ``figures/output/lm-run/results.csv``
through ``mixing.lm report``); nothing is typed by hand. ``--check`` exits 1 when the file
on disk differs from what the data give (the test suite runs it), ``--data DIR`` reads
another figure folder (``python -m figures --out DIR`` writes one) and ``--out FILE``
writes elsewhere.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

from mixing.cli import Parser

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "figures" / "output"
DOC = ROOT / "docs" / "results.md"


class Fig:
    """One figure's tidy rows, indexed by (panel, series, kind) -> sorted [(x, y, se)]."""

    def __init__(self, data: Path, name: str):
        self.name = name
        self.spec = json.loads((data / f"{name}.json").read_text())["spec"]
        self.rows = defaultdict(list)
        with open(data / f"{name}.csv", newline="") as fh:
            for r in csv.DictReader(fh):
                self.rows[(r["panel"], r["series"], r["kind"])].append(
                    (float(r["x"]), float(r["y"]), float(r["stderr"] or 0.0))
                )
        for v in self.rows.values():
            v.sort()

    def series(self, panel, kind="measured"):
        return [s for (p, s, k) in self.rows if p == panel and k == kind]

    def get(self, panel, series, kind="measured"):
        return self.rows[(panel, series, kind)]

    def at(self, panel, series, x, kind="measured"):
        """(y, se) at x: the row with that x, else linear interpolation in log x (se 0)."""
        pts = self.get(panel, series, kind)
        for px, py, ps in pts:
            if math.isclose(px, x, rel_tol=1e-9):
                return py, ps
        for (x0, y0, _), (x1, y1, _) in zip(pts, pts[1:]):
            if x0 < x < x1:
                t = (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0))
                return y0 + t * (y1 - y0), 0.0
        return math.nan, math.nan


def pm(y, se):
    """``y ± se``: y to the second significant digit of se (scientific when that needs more
    than six decimals); y alone, to four significant digits, when se is 0."""
    if not math.isfinite(y):
        return "-"
    if se > 0:
        dec = max(0, 1 - math.floor(math.log10(se)))
        if dec > 6:
            return f"{y:.3e} ± {se:.1e}"
        return f"{y:.{dec}f} ± {se:.{dec}f}"
    return f"{y:.4g}"


def pw2(x):
    k = math.log2(x)
    return f"2^{int(k)}" if k.is_integer() and x >= 1024 else f"{x:g}"


def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def image(name):
    return f"![{name}](../figures/output/{name}.png)"


# ---------------------------------------------------------------------------------------
# one section per figure


def coherence(f):
    ns = (10, 50, 200)
    rows, worst = [], 0.0
    for panel in ("so2", "householder"):
        for s in f.series(panel):
            cells = []
            for n in ns:
                m, se = f.at(panel, s, n)
                t, _ = f.at(panel, s, n, "theory")
                cells += [pm(m, se), f"{t:.4g}"]
            z = [abs(y - f.at(panel, s, x, "theory")[0]) / se for x, y, se in f.get(panel, s) if se > 0]
            worst = max([worst] + z)
            rows.append([s] + cells)
    head = ["series"] + [c for n in ns for c in (f"measured n={n}", f"theory n={n}")]
    return (
        f"Coherence tr(E P_n)/d against lag n ({f.spec.get('trials', '?')} trials), beside |psi|^n "
        f"(SO(2)) and (1 - beta/d)^n (Householder). Over every lag with a nonzero standard error, "
        f"the largest deviation from the formula is {worst:.2f} standard errors.\n\n"
        + table(head, rows)
        + "\n\n"
        + image("coherence")
    )


def score_gap(f):
    rows = []
    for x, y, se in f.get("gap", "measured"):
        t, _ = f.at("gap", "B - log E e^{Bx}", x, "theory")
        rows.append([f"{x:g}", pm(y, se), f"{t:.4g}", f"{abs(y - t) / se:.2f}" if se > 0 else "-"])
    return (
        "The score gap s* - log E e^{s_far} at a fixed scale per coordinate (B = sqrt(d)), "
        "against the Bessel-function formula B - log E e^{Bx}:\n\n"
        + table(["d", "measured gap", "formula", "|z|"], rows)
        + "\n\n"
        + image("score-gap")
    )


ROTATION_ONLY = ("rope", "so2", "householder")


def extrapolation(f):
    Ls = sorted({x for s in f.series("near_weight") for x, _, _ in f.get("near_weight", s)})
    show = [L for L in Ls if math.log2(L) in (4, 8, 10, 12, 14, 16, 20)]
    rows = [
        [s] + [pm(*f.at("near_weight", s, L)) for L in show] + [pm(*f.at("far_mass", s, Ls[-1]))]
        for s in f.series("near_weight")
    ]
    names = f.series("near_weight")
    rot = [s for s in ROTATION_ONLY if s in names]
    top = {L: max(rot, key=lambda s: f.at("near_weight", s, L)[0]) for L in Ls}
    leaders = sorted(set(top.values()))
    lead = (
        f"{leaders[0]} has the highest near weight of the rotation-only mechanisms ({', '.join(rot)}) at every length"
        if len(leaders) == 1
        else "the rotation-only leader changes with length: " + ", ".join(f"{pw2(L)}: {top[L]}" for L in show)
    )
    flat = [s for s in names if f.at("near_weight", s, Ls[-1])[0] >= 0.9 * f.at("near_weight", s, Ls[0])[0]]
    t = f.spec["task"]
    return (
        f"Near weight a* by context length and far mass at L = {pw2(Ls[-1])} (d = {f.spec['d']}, "
        f"B = {t['B']:g}, p = {t['p']:g}, {f.spec['trials']} trials). Mechanisms whose near weight at "
        f"{pw2(Ls[-1])} is within 10% of its value at {pw2(Ls[0])}: {', '.join(flat) or 'none'}; "
        f"{lead}.\n\n"
        + table(["mechanism"] + [f"a* L={pw2(L)}" for L in show] + [f"far mass L={pw2(Ls[-1])}"], rows)
        + "\n\n"
        + image("extrapolation")
    )


def lower_bound(f):
    Ls = [x for x, _, _ in f.get("near", "nope")]
    show = [L for L in Ls if math.log2(L).is_integer() and math.log2(L) % 2 == 0]
    rows, slack = [], {}
    for s in f.series("near"):
        rows.append([s] + [pm(*f.at("near", s, L)) for L in show])
        slack[s] = min(f.at("near", "B5 bound", x, "theory")[0] - y for x, y, _ in f.get("near", s) if x > f.spec["W"])
    rows.append(["B5 bound"] + [pm(f.at("near", "B5 bound", L, "theory")[0], 0) for L in show])
    above = [s for s in slack if slack[s] < 0]
    return (
        "Near weight against the B5 bound a* <= e^B / (e^B + |F| e^-B) for rotation-only "
        f"mechanisms (d = {f.spec['d']}, B = {f.spec['B']:g}, window {f.spec['W']}, "
        f"{f.spec['trials']} trials; the bound starts past the window). Smallest slack "
        "bound - measured over the lengths past the window: "
        + ", ".join(f"{s} {v:+.3g}" for s, v in slack.items())
        + f". Above the bound somewhere (negative slack): {', '.join(above) or 'none'}.\n\n"
        + table(["mechanism"] + [f"L={pw2(L)}" for L in show], rows)
        + "\n\n"
        + image("lower-bound")
    )


def values(f):
    Ls = [x for x, _, _ in f.get("far_residual", f.series("far_residual")[0])]
    show = [L for L in Ls if math.log2(L) in (6, 10, 14, 18)]
    rows = []
    for s in f.series("far_residual"):
        sir = f.get("sir", s)
        cross = next((x for x, y, _ in sir if y < 1.0), None)
        rows.append(
            [s]
            + [pm(*f.at("far_residual", s, L)) for L in show]
            + [pm(*f.at("retention", s, show[-1])), pw2(cross) if cross else f"> {pw2(sir[-1][0])}"]
        )
    zs = [
        abs(y - f.at("uniform", s, x, "theory")[0]) / se
        for s in f.series("uniform")
        for x, y, se in f.get("uniform", s)
        if se > 0
    ]
    return (
        "With uniform far weights the measured E|far residual|^2 sits within "
        f"{max(zs):.2f} standard errors of B7 at every point. With softmax weights (second table: far "
        "residual by length, retention at the longest shown, and the first length where "
        "signal/interference falls below 1):\n\n"
        + table(
            ["series"] + [f"far residual L={pw2(L)}" for L in show] + [f"retention L={pw2(show[-1])}", "SIR < 1 from"],
            rows,
        )
        + "\n\n"
        + image("values")
    )


def window(f):
    rows = [
        [f"{x:g}", pm(y, se), f"{f.at('so2', 'theory', x, 'theory')[0]:g}"] for x, y, se in f.get("so2", "measured")
    ]
    hh = [[s, pm(*f.get("householder", s)[0][1:])] for s in f.series("householder")]
    return (
        "Measured mixing windows W(0.1) against ceil(2 log(1/eps) / sigma^2) for Gaussian angles "
        "(x: sigma):\n\n"
        + table(["sigma", "measured W", "formula"], rows)
        + "\n\nand for Householder products (x in the figure: d/beta):\n\n"
        + table(["series", "measured W"], hh)
        + "\n\n"
        + image("window")
    )


def horizon(f):
    Bs = sorted(
        {x for s in f.series("horizon") for x, _, _ in f.get("horizon", s)}
        | {
            x
            for k in ("censored-above", "censored-below")
            for s in f.series("horizon", k)
            for x, _, _ in f.get("horizon", s, k)
        }
    )
    names = sorted({s for k in ("measured", "censored-above", "censored-below") for s in f.series("horizon", k)})

    def cell(s, B):
        for kind, fmt in (("measured", "{}"), ("censored-above", "> {}"), ("censored-below", "<= {}")):
            for x, y, _ in f.get("horizon", s, kind):
                if x == B:
                    return fmt.format(pw2(y))
        return "-"

    rows = [[s] + [cell(s, B) for B in Bs] for s in names]
    return (
        "The first power-of-two length where retention falls below 0.5, by logit scale B "
        "(> : beyond the grid; <= : already at its first length):\n\n"
        + table(["mechanism"] + [f"B={B:g}" for B in Bs], rows)
        + "\n\n"
        + image("horizon")
    )


def regimes(f):
    rows = []
    for panel in [p for p in dict.fromkeys(k[0] for k in f.rows) if p != "best"]:
        pts = [(s, x, y, se, f.at(panel, s, x, "theory")[0]) for s in f.series(panel) for x, y, se in f.get(panel, s)]
        s, x, y, se, t = max(pts, key=lambda r: r[2])
        t_avg = f.at(panel, s, x, "theory-sphere")[0] if f.rows.get((panel, s, "theory-sphere")) else math.nan
        base = [r for r in pts if r[0] == "p=0.01"]
        at1 = max(base, key=lambda r: r[2]) if base else None
        xn = "p" if panel.startswith("householder") else ("rel_sigma" if panel.startswith("rel") else "sigma")
        where = f"{xn}={x:g}" + ("" if panel.startswith("householder") else f", {s}")
        rows.append(
            [
                panel,
                pm(y, se),
                where,
                f"{t:.3g}",
                f"{t_avg:.3g}" if math.isfinite(t_avg) else "-",
                pm(at1[2], at1[3]) if at1 else "-",
            ]
        )
    best = f.get("best", f.series("best")[0])
    cross = next((x for (x, y, _) in best if y < 1.0), None)
    return (
        "Near-weight ratio over RoPE of accumulated SO(2) (absolute spread sigma, or relative "
        "spread rel_sigma around the RoPE frequencies) and of i.i.d. Householder reflections, "
        "over the lookalike rate p; the largest measured ratio per panel, where it is, the B8 "
        "estimate there (with the plug-in r_m = 2/d, and averaged over a uniform query's block "
        "energies and, for SO(2), the target's own phases; theory.md, B8), and the largest ratio "
        "at p = 0.01:\n\n"
        + table(["panel", "largest ratio", "at", "B8, plug-in", "B8, averaged", "largest at p=0.01"], rows)
        + f"\n\nThe best regime ({f.series('best')[0]}) against length: its ratio first falls below 1 at "
        f"L = {pw2(cross) if cross else '(never)'}"
        + (f" and is {pm(*best[-1][1:])} at L = {pw2(best[-1][0])}" if best else "")
        + ".\n\n"
        + image("regimes")
    )


def learned(f):
    L0 = float(f.spec["train_length"])
    Ls = [x for x, _, _ in f.get("near_weight", f.series("near_weight")[0])]
    L1 = Ls[-1]
    rows = []
    for s in f.series("retention"):
        nw = f.series("near_weight")
        rows.append(
            [
                s,
                pm(*f.at("near_weight", s, L0)) if s in nw else "",
                pm(*f.at("near_weight", s, L1)) if s in nw else "",
                pm(*f.at("retention", s, L0)),
                pm(*f.at("retention", s, L1)),
            ]
        )

    def cmp(a, b):
        """``a`` against ``b``: higher / lower beyond 2 combined s.e., else within."""
        (ya, sa), (yb, sb) = a, b
        gap = 2 * math.hypot(sa, sb)
        return "higher than" if ya - yb > gap else ("lower than" if yb - ya > gap else "within 2 s.e. of")

    nw = lambda s, L: f.at("near_weight", s, L)  # noqa: E731
    rt = lambda s, L: f.at("retention", s, L)  # noqa: E731
    learned_mechs = [s for s in f.series("near_weight") if s.startswith("learned")]
    randoms = [s for s in f.series("near_weight") if s.startswith("random")]
    head = max(randoms, key=lambda s: nw(s, L0)[0])  # the scale chosen at the training length
    verdicts = [
        f"- E1 (random accumulated rotations beat RoPE): the random table with the higher near weight "
        f"at the training length is {head}; at {L1 / L0:g}x its near weight is {cmp(nw(head, L1), nw('RoPE', L1))} "
        f"RoPE's ({pm(*nw(head, L1))} against {pm(*nw('RoPE', L1))}).",
        "- E2 (learned rotations keep their quality): at "
        + f"{L1 / L0:g}x, "
        + "; ".join(
            f"{s} is {cmp(nw(s, L1), nw('RoPE', L1))} RoPE and keeps {nw(s, L1)[0] / nw(s, L0)[0]:.3f} of its "
            f"training-length near weight"
            for s in learned_mechs
        )
        + ".",
        "- E3 (rotating values helps): retention with values transported is "
        + "; ".join(
            f"{cmp(rt(s + ' + value transport', L), rt(s, L))} without for {s} at L = {L:g}"
            for s in learned_mechs
            for L in (L0, L1)
        )
        + ".",
        f"- E4 (ALiBi length-stable): ALiBi keeps {nw('ALiBi', L1)[0] / nw('ALiBi', L0)[0]:.3f} of its "
        f"training-length near weight at {L1 / L0:g}x; RoPE keeps {nw('RoPE', L1)[0] / nw('RoPE', L0)[0]:.3f}.",
    ]
    sp = f.spec
    return (
        f"Associative recall (d = {sp['d']}, V = {sp['V']} token types, B = {sp['B']:g}, lag cap "
        f"{sp['cap']}, {sp['steps']} Adam steps), trained at L = {L0:g} and evaluated to {L1 / L0:g}x on "
        f"{sp['nseq']} sequences a point; the random tables are frozen, at an absolute and a relative "
        '(RoPE-matched) spread. Verdicts in this task ("higher" and "lower" mean by more than 2 '
        "combined standard errors):\n\n"
        + "\n".join(verdicts)
        + "\n\n"
        + table(
            [
                "mechanism",
                f"near weight L={L0:g}",
                f"near weight L={L1:g}",
                f"retention L={L0:g}",
                f"retention L={L1:g}",
            ],
            rows,
        )
        + "\n\n"
        + image("learned")
    )


def lm(data: Path):
    from mixing.lm.report import verdict_table

    return (
        "Byte-level decoder-only transformers that differ only in the attention's position "
        "mechanism, trained at one context T and scored on held-out windows of 32 T bytes, each "
        "from a different test file and the same for every model. Every byte is scored twice on "
        "the same tokens: with its full causal context, and with a sliding window of T bytes "
        "(the model's in-distribution level on those bytes); the *excess* at k x T is the mean "
        "difference over the positions [kT/2, kT). Intervals are 95% over seeds and windows "
        "together; the threshold, the rule behind every verdict and the stopping length are "
        "defined in [theory.md](theory.md#6-trained-models-the-same-window-excess-its-intervals-"
        "and-the-stopping-length). The tables are `python -m mixing.lm report figures/output/lm-run`; "
        "the study's sizes are in `figures/output/lm-run/manifest.json` and [guide.md](guide.md).\n\n"
        + image("lm")
        + "\n\n"
        + verdict_table(data / "lm-run")
    )


def forecast(f: Fig):
    from mixing.engine.forecast import ENGINE_TRIALS

    labels = list(dict.fromkeys(series for (panel, series, kind) in f.rows if panel == "far"))
    ks = [x for x, _, _ in f.rows[("far", labels[0], "measured")]]
    kmax = max(ks)
    head = (
        ["mechanism"]
        + [f"{k:g}x: forecast / measured (error [95%])" for k in ks if k > 2]
        + [
            "L_stop predicted",
            "L_stop measured",
            f"engine, same generators: odds error at {kmax:g}x [95% over heads]; heads where it holds",
        ]
    )
    rows, hits, n = [], 0, 0

    def stop(lab, kind):
        got = f.rows.get(("stop", lab, kind)) or f.rows.get(("stop", lab, f"{kind}-censored"))
        censored = ("stop", lab, f"{kind}-censored") in f.rows
        return math.inf if censored else got[0][1]

    for lab in labels:
        fc = {x: y for x, y, _ in f.rows[("far", lab, "forecast")]}
        ms = {x: y for x, y, _ in f.rows[("far", lab, "measured")]}
        err = {x: y for x, y, _ in f.rows[("error", lab, "measured")]}
        lo = {x: y for x, y, _ in f.rows.get(("error", lab, "lo"), [])}
        hi = {x: y for x, y, _ in f.rows.get(("error", lab, "hi"), [])}
        cells = []
        for k in ks:
            if k <= 2:
                continue
            iv = f"[{lo[k]:+.3f}, {hi[k]:+.3f}]" if k in lo else ""
            cells.append(f"{fc[k]:.3f} / {ms[k]:.3f} ({err[k]:+.3f} {iv})".replace(" )", ")"))
        p, m = stop(lab, "predicted"), stop(lab, "measured")
        hits += p == m
        n += 1
        txt = lambda v: f"{v:g}x" if math.isfinite(v) else f"> {kmax:g}x"  # noqa: E731
        eng = {
            kd: y
            for (panel, series, kd), pts in f.rows.items()
            if panel == "engine" and series == lab
            for x, y, _ in pts
            if x == kmax
        }
        held = f.rows.get(("engine-holds", lab, "heads"))
        cell = (
            f"{eng['measured']:+.3f} [{eng['lo']:+.3f}, {eng['hi']:+.3f}]; {held[0][1]:g}/{held[0][0]:g}"
            if eng and held
            else "(no generators)"
        )
        rows.append([lab, *cells, txt(p), txt(m), cell])
    return (
        "Far mass (lag > T/2, head mean) and the stopping length forecast for every model of the "
        "study of section `lm` from its first 2T bytes of each test window only (the odds profile "
        "of every head, extended past 2T by the stationary tail of theory.md section 7, or "
        "log-linearly for heads with a bias), against what the same windows give at each multiple. "
        "Error: forecast minus measured, with its 95% t interval over seeds; the predicted L_stop "
        "ties the excess to the far mass gained past T, fitted at 2x. The predicted L_stop equals "
        f"the measured one for {hits} of {n} mechanisms. The last column runs the same forecast in "
        "the stylized engine on each model's own generators, exported along the test text (seed 0, "
        f"every head, {ENGINE_TRIALS} trials a head; `mixing.engine.forecast.from_file`): the relative error of "
        "the forecast far odds against the engine's at the largest multiple, and the heads where the "
        "forecast holds at every multiple (its interval over trials holds 0). The transport alone keeps "
        "the stationary tail for the SO(2) tables with absolute spreads and the learned tables (errors "
        "of a few per cent) where the model's forecast is 0.1-0.25 too high, so those misses lie in the "
        "models' scores, not in the transport; PaTH's own transport is not stationary past 2T "
        "(its window exceeds T). The tables with relative spreads go the other way: in the engine their "
        "slowest blocks have not mixed by 2T and the forecast is 11-15% high, while the models' own "
        "forecasts hold. `python -m mixing.lm forecast --study figures/output/lm-run --engine`."
        "\n\n" + image("forecast") + "\n\n" + table(head, rows)
    )


def passkey(data: Path):
    from mixing.lm.report import Study, passkey_table, stop_table

    folder = data / "lm-passkey"
    if not (folder / "results.csv").exists():
        return "(no passkey study in figures/output/lm-passkey)"
    st = Study(folder)
    man = st.manifest
    planned = len(man.get("mechanisms", [])) * len(man.get("seeds", []))
    done = sum(b.seeds for b in st.bits.values())
    return (
        "The study's mechanisms retrained with a planted key-value passkey in half of the training "
        "windows (the marker byte, six random letters, and the same again up to T bytes later; the "
        "loss adds a copy term on the repeated letters), then tested with the key 0.5T to 8T before "
        "the query on the held-out windows (`mixing.lm.passkey`; theory.md section 6). Accuracy is on "
        'the value\'s letters, teacher-forced with the full causal context; "retrieves": the 95% '
        "interval over seeds and windows (Student t on the crossed seed x window table, cut to [0, 1], "
        "which an accuracy cannot leave) lies above chance (1/26). With 3 seeds the intervals of models "
        "that retrieve in some seeds only are wide. "
        f"Models finished: {done} of {planned}. "
        f"`python -m mixing.lm report figures/output/lm-passkey`.\n\n{st.regime()}\n\n"
        + image("passkey")
        + "\n\n"
        + passkey_table(st)
        + "\n\nThe same models' level and stopping length on the text (the passkey is not in the test "
        "text):\n\n" + stop_table(st) + "\n\n" + passkey_routes(st) + passkey_near(data)
    )


def _route_summary(st) -> dict:
    """Per mechanism: the verdict against chance, the accuracy and the best head's mass on the
    letter to copy (means) at each of ``ROUTE_KS``, and the most open gate's log factor (mean
    over seeds), from ``report.route_summary``."""
    import numpy as np

    from mixing.engine.stats import classify
    from mixing.lm.passkey import CHANCE
    from mixing.lm.report import load_routes, route_summary

    out = {}
    for lab, r in load_routes(st).items():
        sm = route_summary(r)
        out[lab] = {
            "verdict": [classify(iv, CHANCE) for iv in sm["acc"]],  # "above" (retrieves), "unresolved" (chance)
            "acc": np.array([iv.value for iv in sm["acc"]]),
            "target": np.array([iv.value for iv in sm["target"]]),
            "gate": None if sm["gate"] is None else sm["gate"].mean(0),
        }
    return out


def passkey_routes(st) -> str:
    from mixing.lm.report import ROUTE_KS, routes_table

    got = _route_summary(st)
    if not got:
        return ""
    near = ROUTE_KS[0]
    copiers = {lab: v for lab, v in got.items() if v["verdict"][0] == "above" and v["acc"][0] > 0.5}
    never = {lab: v for lab, v in got.items() if v["verdict"][0] == "unresolved"}
    gated = {lab: v["gate"] for lab, v in never.items() if v["gate"] is not None}
    windows = [w for lab in never for w in st.per_head(lab, "window") if math.isfinite(w)]
    inside = (
        f", inside the mixing window of every head of theirs that has one: the smallest W(0.1) is {min(windows):.0f}"
        if windows and min(windows) >= near * st.context
        else ""
    )
    text = (
        f"Why some models stay at chance: where the heads look when the value is queried, at {near:g} T "
        f"({round(near * st.context)} bytes{inside}), 0.5 T and 2 T (`mixing.lm.passkey.routes`; theory.md "
        "section 6). "
    )
    if copiers:
        lo = min(v["target"][0] for v in copiers.values())
        hi = max(v["target"][0] for v in copiers.values())
        text += (
            f"The models that copy ({', '.join(copiers)}) each have a head with {lo:.2f}-{hi:.2f} of its weight on "
            f"the letter to copy at {near:g} T: an induction head. "
        )
    if never:
        top = max(v["target"][0] for v in never.values())
        text += (
            f"{', '.join(never)} are at chance (by the rule above) already at {near:g} T, and none of their heads "
            "puts more than "
            f"{top:.2f} on the letter to copy: they never learned to copy, so their chance accuracy further back is "
            "not a window or a gate cutting a learned route. "
        )
    for lab, g in gated.items():
        text += (
            f"For {lab} the gate is open at {near:g} T (most open head: e^{g[0]:.1f}) and shut at 0.5 T "
            f"(e^{g[1]:.1f}), so no copy head could reach a key there either. "
        )
    return text + "\n\n" + routes_table(st)


def passkey_near(data: Path) -> str:
    from mixing.lm.report import ROUTE_KS, Study, routes_table, stop_table

    folder = data / "lm-passkey-near"
    if not (folder / "results.csv").exists():
        return ""
    from mixing.engine.stats import classify, crossed
    from mixing.lm.report import load_routes

    st = Study(folder)
    top = st.manifest.get("train", {}).get("passkey_max", "?")
    got = _route_summary(st)
    cells = "; ".join(
        f"{lab} {v['acc'][0]:.2f} at {ROUTE_KS[0]:g} T and {v['acc'][1]:.2f} at {ROUTE_KS[1]:g} T"
        for lab, v in got.items()
    )
    far = ROUTE_KS[1]
    text = (
        f"\n\n### Pairs kept inside the window\n\nThe same task with every planted pair at most {top} bytes apart "
        f"in training (`--passkey-max {top}`, inside the SO(2) tables' windows), to see whether the models at chance "
        "above learn to copy when the key lies within reach, and how far the copy then carries: to "
        f"{round(far * st.context)} bytes ({far:g} T), beyond both the training distances and the SO(2) windows "
        f"(`figures/output/lm-passkey-near`, `python -m mixing.lm report figures/output/lm-passkey-near`). "
        f"Mean accuracy: {cells}."
    )
    routes = load_routes(st)
    if "rope" in routes:
        # RoPE has no mixing window: what it loses beyond the training distances is not the window's doing
        base = routes["rope"]["acc"][:, 1]
        ivs = {lab: crossed([r["acc"][:, 1], base], [1, -1]) for lab, r in routes.items() if lab != "rope"}
        word = {lab: classify(iv, 0.0) for lab, iv in ivs.items()}
        above = [lab for lab, w in word.items() if w == "above"]
        below = [lab for lab, w in word.items() if w == "below"]
        open_ = [lab for lab, w in word.items() if w == "unresolved"]
        text += (
            f" RoPE, which has no mixing window, is the control: what it loses at {far:g} T comes from the distance "
            "alone. Accuracy minus RoPE's there (95% over seeds and windows, windows paired): "
            + "; ".join(f"{lab} {iv.text()}" for lab, iv in ivs.items())
            + ". "
            + (f"Above RoPE: {', '.join(above)}. " if above else "")
            + (f"Below RoPE: {', '.join(below)}. " if below else "")
            + (
                f"Not resolved from RoPE with these seeds: {', '.join(open_)}, so their loss at {far:g} T is not "
                "shown to exceed what the distance alone costs."
                if open_
                else ""
            )
        )
    return text + f"\n\n{st.regime()}\n\n" + routes_table(st) + "\n\n" + stop_table(st)


def contexts(data: Path):
    from mixing.lm.contexts import table as ctx_table

    folders = [
        p.parent
        for p in sorted(data.glob("lm-*/results.csv"))
        if p.parent.name == "lm-run" or p.parent.name.startswith("lm-ctx")
    ]
    return (
        "The mechanisms of the study retrained at other contexts T with the same steps and batch "
        "(`figures/output/lm-ctx*`; the manifests hold the commands), and the mixing windows and "
        "stopping lengths compared across T by the rules of theory.md section 8. "
        f"`python -m mixing.lm contexts {' '.join('figures/output/' + p.name for p in folders)}`.\n\n"
        + ctx_table(folders)
    )


def scale(data: Path):
    from mixing.lm import forecast as fo
    from mixing.lm.report import Study
    from mixing.lm.scale import compare
    from mixing.lm.scale import table as scale_table

    small, large = data / "lm-ctx128", data / "lm-default"
    if not ((small / "results.csv").exists() and (large / "results.csv").exists()):
        return "(the default-size study figures/output/lm-default is not finished)"
    sm, st = Study(small), Study(large)  # loaded once, for the prose and the table
    man = st.manifest
    planned = len(man.get("mechanisms", [])) * len(man.get("seeds", []))
    done = sum(b.seeds for b in st.bits.values())
    rows = compare(sm, st)
    kmax = max(st.ks)
    vs = [
        f"{r['mechanism']} {sm.diff(r['mechanism'], 'alibi', kmax, 'full').value:+.3f} -> "
        f"{st.diff(r['mechanism'], 'alibi', kmax, 'full').value:+.3f}"
        for r in rows
        if r["mechanism"] != "alibi" and "alibi" in st.bits and "alibi" in sm.bits
    ]
    put = [r["mechanism"] for r in rows if r["verdict"] == "stays put"]
    moved = [r["mechanism"] for r in rows if r["verdict"] == "moves"]
    return (
        "The default model size of `mixing.lm` trained at T = 128 for a subset of the mechanisms, against the same "
        "mechanisms at the small size and the same T (`figures/output/lm-ctx128`), scored on the same test "
        f"windows. Models finished: {done} of {planned}. L_stop, as a multiple of T, stays put for "
        f"{len(put)} of {len(rows)} mechanisms ({', '.join(put) or 'none'})"
        + (f" and moves for {', '.join(moved)}" if moved else "")
        + f". Full-context bits minus ALiBi's of the same size on the same bytes at {kmax}x, smaller -> larger: "
        f"{'; '.join(vs)} (intervals in the table). "
        "`python -m mixing.lm scale figures/output/lm-ctx128 figures/output/lm-default`.\n\n"
        + st.regime()
        + "\n\n"
        + scale_table(sm, st)
        + "\n\n"
        + _scale_forecast(fo.study_rows(large, engine=True))
    )


def _scale_forecast(rows) -> str:
    from mixing.lm import forecast as fo

    def stop(x):
        return f"{x:g}x" if math.isfinite(x) else f"> {max(rows[0]['ks'])}x"

    same = [r["mechanism"] for r in rows if r["L_stop_predicted"] == r["L_stop"]]
    miss = [
        f"{r['mechanism']} (predicted {stop(r['L_stop_predicted'])}, measured {stop(r['L_stop'])})"
        for r in rows
        if r["L_stop_predicted"] != r["L_stop"]
    ]
    return (
        "The forecast of section `forecast` on the larger models, from their first 2T bytes "
        "(`python -m mixing.lm forecast --study figures/output/lm-default --engine`): the predicted L_stop equals "
        f"the measured one for {len(same)} of {len(rows)} mechanisms"
        + (f"; it misses {', '.join(miss)}" if miss else "")
        + ".\n\n"
        + fo.table(rows)
    )


SECTIONS = (
    ("coherence", "coherence (B1)", coherence),
    ("score-gap", "score-gap (B3)", score_gap),
    ("extrapolation", "extrapolation (C6, E4)", extrapolation),
    ("lower-bound", "lower-bound (B5, C7)", lower_bound),
    ("values", "values (B7, C8)", values),
    ("window", "window (B1)", window),
    ("horizon", "horizon (B4, B5)", horizon),
    ("regimes", "regimes (B8: where E1 can hold in the stylized model)", regimes),
    ("learned", "learned (E1-E4 on associative recall)", learned),
)

HEAD = """# Results

Generated by `python -m figures.results` from the committed figure data in
`figures/output/` (do not edit by hand; the test suite checks that this file is what the
data give). Every measured number is a mean ± its standard error over trials (figures of
the engine); the trained transformers carry 95% intervals over seeds and test windows.
The claims and bounds named in the headings are defined in [theory.md](theory.md); how each
figure is computed is in its module under `figures/`.
"""


def render(data: Path = DATA) -> str:
    parts = [HEAD]
    for name, title, fn in SECTIONS:
        parts.append(f"## {title}\n\n" + fn(Fig(data, name)))
    parts.append("## lm (E1-E4 in trained transformers)\n\n" + lm(data))
    parts.append(
        "## forecast (F1: where a trained model stops, from lengths up to 2T)\n\n" + forecast(Fig(data, "forecast"))
    )
    parts.append("## contexts (C3, C4 across training contexts)\n\n" + contexts(data))
    parts.append("## scale (does L_stop stay put as the model grows?)\n\n" + scale(data))
    parts.append("## passkey (C6: retrieval beyond the training context)\n\n" + passkey(data))
    return "\n\n".join(p.rstrip() for p in parts) + "\n"


def main(argv=None) -> int:
    ap = Parser(prog="python -m figures.results", description=__doc__.strip().splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA, help="figure data folder (default figures/output)")
    ap.add_argument("--out", type=Path, default=DOC, help="file to write (default docs/results.md)")
    ap.add_argument("--check", action="store_true", help="exit 1 if the file differs from the data")
    args = ap.parse_args(argv)
    try:
        text = render(args.data)
    except (OSError, KeyError, ValueError) as exc:
        print(f"figures.results: error: {args.data}: {exc}", file=sys.stderr)
        return 2
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != text:
            print(f"figures.results: {args.out} is out of date; run python -m figures.results", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
