"""passkey: retrieval beyond the training context in trained transformers (C6).

For every mechanism of the passkey study (``figures/output/lm-passkey``: ``python -m mixing.lm
run --passkey 0.5``, see ``mixing.lm.passkey``): the accuracy on a planted value's letters
against the distance of its key, as a multiple k of the training context T, with its 95%
interval over seeds and windows, beside chance (1/26) and the in-context level of each model
(bits per byte, the sliding-window level). ``--quick`` runs a tiny study with passkeys first.
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


def spec(quick):
    from mixing.lm.passkey import DISTANCES, VALUE

    interval = "crossed t over seeds and windows, cut to [0, 1]"
    if quick:
        return {"quick": True, "passkey": 0.5, "interval": interval}
    return {**STUDY, "distances": list(DISTANCES), "value": VALUE, "interval": interval}


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
    return rows_of(folder)


def rows_of(folder) -> list[dict]:
    from mixing.engine.stats import crossed
    from mixing.lm.report import Study, load_passkey

    st = Study(Path(folder))
    rows = []
    for lab, (ks, acc) in load_passkey(st).items():
        for j, k in enumerate(ks):
            iv = crossed([acc[:, j, :]]).within(0.0, 1.0)  # a proportion
            rows.append(row("acc", lab, "measured", k, iv.value, iv.se if math.isfinite(iv.se) else 0.0))
            if math.isfinite(iv.lo):
                rows += [row("acc", lab, "lo", k, iv.lo), row("acc", lab, "hi", k, iv.hi)]
        level = crossed([st.bits[lab].level()])
        rows.append(row("level", lab, "measured", 0, level.value, level.se if math.isfinite(level.se) else 0.0))
    return rows


def draw(rows):
    import matplotlib.pyplot as plt

    from mixing.lm.passkey import CHANCE

    fig, (a, b) = plt.subplots(1, 2, figsize=(10.5, 4.2), gridspec_kw={"width_ratios": [2.2, 1]})
    labels = list(dict.fromkeys(r["series"] for r in rows if r["panel"] == "acc"))
    for lab in labels:
        interval_line(a, rows, "acc", lab, color(lab), label=lab, ms=4)
    a.axhline(CHANCE, color="black", lw=0.8, ls=":")
    a.text(0.02, CHANCE, " chance (1/26)", transform=a.get_yaxis_transform(), va="bottom", fontsize=7)
    a.axvline(1.0, color="0.5", lw=0.8, ls="--")
    a.text(1.0, 0.98, " training context T", transform=a.get_xaxis_transform(), va="top", fontsize=7)
    a.set_xscale("log", base=2)
    a.set_ylim(-0.02, 1.02)
    a.set_xlabel("distance of the key before the query (multiple k of T)")
    a.set_ylabel("accuracy on the value's letters")
    a.set_title("passkey retrieval, full causal context (band: 95% over seeds and windows)", fontsize=9)
    a.legend(fontsize=7)
    lev = [(r["series"], r["y"], r["stderr"]) for r in rows if r["panel"] == "level"]
    for i, (lab, y, se) in enumerate(lev):
        b.errorbar([y], [i], xerr=[2 * se], fmt="o", ms=5, color=color(lab), capsize=3)
    b.set_yticks(range(len(lev)), [lab for lab, _, _ in lev], fontsize=7)
    b.invert_yaxis()
    b.set_xlabel("sliding-window level, bits per byte (±2 s.e.)")
    b.set_title("in-context level of the same models", fontsize=9)
    fig.tight_layout()
    return fig
