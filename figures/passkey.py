"""passkey: retrieval beyond the training context in trained transformers (C6).

For every mechanism of the passkey study (``figures/output/lm-passkey``: ``python -m mixing.lm
run --passkey 0.5``, see ``mixing.lm.passkey``): the accuracy on a planted value's letters
against the distance of its key, as a multiple k of the training context T, with its 95%
interval over seeds and windows, beside chance (1/26) and the in-context level of each model
(bits per byte, the sliding-window level). Beside it, the same for the models trained with every
pair at most ``NEAR_MAX`` bytes apart (``figures/output/lm-passkey-near``, ``--passkey-max``), from
0.125 T (the routes' shortest distance, ``mixing.lm.report.ROUTE_KS``) on. ``--quick`` runs a tiny
study with passkeys first.
"""

from __future__ import annotations

import math
from pathlib import Path

from .common import interval_line, row
from .lm import color

#: the committed study (docs/guide.md, "Retrieval beyond the context")
STUDY = dict(
    mechanisms=("nope", "rope", "alibi", "so2-random:abs=0.3", "so2-learned", "path", "path-forget"),
    layers=2,
    width=64,
    heads=4,
    context=64,
    steps=2500,
    batch=16,
    seeds=3,
    multiples=(2, 4, 8, 16),
    passkey=0.5,
)
FOLDER = "lm-passkey"
#: the study with the planted pairs kept close in training
NEAR = "lm-passkey-near"
NEAR_MAX = 12


def spec(quick):
    from mixing.lm.passkey import DISTANCES, VALUE

    interval = "crossed t over seeds and windows, cut to [0, 1]"
    from mixing.lm.report import ROUTE_KS

    if quick:
        return {"quick": True, "passkey": 0.5, "interval": interval}
    near = {"folder": NEAR, "passkey_max": NEAR_MAX, "route_distances": list(ROUTE_KS)}
    return {**STUDY, "distances": list(DISTANCES), "value": VALUE, "interval": interval, "near": near}


def _quick_study():
    from mixing.lm import run as run_mod

    st = run_mod.quick()
    st.mechanisms = ("nope", "rope", "alibi", "path")
    st.train.passkey = 0.5
    return st


def compute(quick, out: Path | None = None, runner=None):
    import os

    from mixing.lm import run as run_mod

    base = Path(out if out is not None else ".")
    folder = base / (FOLDER + "-quick" if quick else FOLDER)
    if not quick and not (folder / "results.csv").exists():
        from .__main__ import COMMITTED

        folder = COMMITTED / FOLDER  # the committed study (never retrained here)
    if not (folder / "results.csv").exists():
        if not quick:
            raise FileNotFoundError(f"{folder}: no passkey study; run python -m mixing.lm run --passkey 0.5 ...")
        run_mod.run(_quick_study(), folder, progress=None, jobs=len(os.sched_getaffinity(0)))
    rows = rows_of(folder)
    near = (base if (base / NEAR / "results.csv").exists() else _committed()) / NEAR
    if not quick and (near / "results.csv").exists():
        rows += rows_of(near, panel="near", level=False, routes=True)
    return rows


def _committed() -> Path:
    from .__main__ import COMMITTED

    return COMMITTED


def rows_of(folder: Path, panel: str = "acc", level: bool = True, routes: bool = False) -> list[dict]:
    """The accuracy rows of a passkey study by distance (``routes``: with the shorter distances
    of its routes too), and each model's in-context level (``level``)."""
    import numpy as np

    from mixing.engine.stats import crossed
    from mixing.lm.plots import with_mechanism
    from mixing.lm.report import ROUTE_KS, Study, load_passkey, load_routes

    st = Study(Path(folder))
    extra = load_routes(st) if routes else {}
    rows = []
    for lab, (ks, acc) in load_passkey(st).items():
        tables = {k: acc[:, j, :] for j, k in enumerate(ks)}
        if lab in extra:
            got = extra[lab]["acc"]  # [seeds, K, windows] at the first K of ROUTE_KS
            for j, k in enumerate(ROUTE_KS[: got.shape[1]]):
                tables.setdefault(float(k), got[:, j, :])
        for k in sorted(tables):
            iv = crossed([np.asarray(tables[k])]).within(0.0, 1.0)  # a proportion
            rows.append(row(panel, lab, "measured", k, iv.value, iv.se if math.isfinite(iv.se) else 0.0))
            if math.isfinite(iv.lo):
                rows += [row(panel, lab, "lo", k, iv.lo), row(panel, lab, "hi", k, iv.hi)]
        if level:
            lv = crossed([st.bits[lab].level()])
            rows.append(row("level", lab, "measured", 0, lv.value, lv.se if math.isfinite(lv.se) else 0.0))
    return with_mechanism(rows)


def draw(rows):
    import matplotlib.pyplot as plt

    from mixing.lm.passkey import CHANCE

    near = any(r["panel"] == "near" for r in rows)
    if near:
        fig, (a, n, b) = plt.subplots(1, 3, figsize=(15.0, 4.4), gridspec_kw={"width_ratios": [2.0, 2.0, 1]})
    else:
        fig, (a, b) = plt.subplots(1, 2, figsize=(10.5, 4.2), gridspec_kw={"width_ratios": [2.2, 1]})
    panels = [(a, "acc", "trained with pairs up to T - 8 bytes apart")]
    if near:
        panels.append((n, "near", f"trained with pairs at most {NEAR_MAX} bytes apart ({NEAR})"))
    for ax, panel, title in panels:
        for lab in dict.fromkeys(r["series"] for r in rows if r["panel"] == panel):
            interval_line(ax, rows, panel, lab, color(lab), label=lab, ms=4)
        ax.axhline(CHANCE, color="black", lw=0.8, ls=":")
        ax.text(0.02, CHANCE, " chance (1/26)", transform=ax.get_yaxis_transform(), va="bottom", fontsize=7)
        ax.axvline(1.0, color="0.5", lw=0.8, ls="--")
        ax.text(1.0, 0.98, " training context T", transform=ax.get_xaxis_transform(), va="top", fontsize=7)
        ax.set_xscale("log", base=2)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("distance of the key before the query (multiple k of T)")
        ax.set_ylabel("accuracy on the value's letters")
        ax.set_title(f"passkey retrieval, {title}\n(full causal context; band: 95% over seeds and windows)", fontsize=9)
        ax.legend(fontsize=7)
    if near:
        n.axvline(NEAR_MAX / STUDY["context"], color="0.5", lw=0.8, ls=":")
        n.text(NEAR_MAX / STUDY["context"], 0.9, f" {NEAR_MAX} bytes", transform=n.get_xaxis_transform(), fontsize=7)
    lev = [(r["series"], r["y"], r["stderr"]) for r in rows if r["panel"] == "level"]
    for i, (lab, y, se) in enumerate(lev):
        b.errorbar([y], [i], xerr=[2 * se], fmt="o", ms=5, color=color(lab), capsize=3)
    b.set_yticks(range(len(lev)), [lab for lab, _, _ in lev], fontsize=7)
    b.invert_yaxis()
    b.set_xlabel("sliding-window level, bits per byte (±2 s.e.)")
    b.set_title("in-context level of the models of the first panel", fontsize=9)
    fig.tight_layout()
    return fig
