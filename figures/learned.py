"""learned: trained generators evaluated far beyond their training length (E1-E4)."""

from __future__ import annotations

import math
from pathlib import Path

from mixing.learned import train as learn

from .common import COLOR, SEED, band, row, select

#: (mechanism, label, init options); the random SO(2) table at two spreads, one RoPE-matched
RUNS = (
    ("so2", "learned SO(2)", {}),
    ("householder", "learned Householder", {}),
    ("so2-random", "random SO(2), abs 0.5", {"sigma": "abs=0.5"}),
    ("so2-random", "random SO(2), rel 0.5", {"sigma": "rel=0.5"}),
    ("rope", "RoPE", {}),
    ("alibi", "ALiBi", {}),
    ("nope", "NoPE", {}),
)
COLORS = {
    "learned SO(2)": COLOR["so2"],
    "learned Householder": COLOR["householder"],
    "random SO(2), abs 0.5": "#8c564b",
    "random SO(2), rel 0.5": "#e377c2",
    "RoPE": COLOR["rope"],
    "ALiBi": COLOR["alibi"],
    "NoPE": COLOR["nope"],
}
TRANSPORTED = ("learned SO(2)", "learned Householder")


def spec(quick):
    return dict(
        train_length=128,
        d=32,
        V=64,
        B=8.0,
        cap=32,
        steps=200 if quick else 1500,
        batch=64,
        lr=0.05,
        nseq=64 if quick else 512,
        kmax=13,
        seed=SEED,
        random_tables=[o["sigma"] for m, _, o in RUNS if m == "so2-random"],
    )


def compute(quick, out: Path | None = None, runner=None):
    s = spec(quick)
    lengths = [2**k for k in range(5, s["kmax"] + 1)]
    rows = []
    for mech, label, opts in RUNS:
        model = learn.init(mech, s["d"], s["V"], s["B"], s["cap"], seed=s["seed"], **opts)
        learn.train(model, s["train_length"], s["steps"], s["batch"], s["lr"], s["seed"], progress=False)
        if out is not None and mech in ("so2", "householder"):
            learn.save(model, out / f"learned-{mech}.npz")
        rows += model_rows(model, label, "measured", lengths, s["nseq"], transported=label in TRANSPORTED)
    return rows


#: the training settings a model's file records, after its task's
TRAINING = ("train_length", "steps", "batch", "lr", "seed")


def model_columns(model) -> dict:
    """What a model was built and trained with, as its rows' parameter columns."""
    cols = dict(mechanism=model.mechanism, d=model.d, V=model.V, B=model.B, cap=model.cap, tokens=model.tokens)
    if model.mechanism in ("rope", "so2-random"):
        cols["base"] = model.base
    if "sigma" in model.meta:  # a random table's spread
        cols["sigma"] = model.meta["sigma"]
    return {**cols, **{k: model.meta[k] for k in TRAINING if k in model.meta}}


def model_rows(model, label, kind, lengths, nseq, transported=False) -> list[dict]:
    """Loss log (every 10th step), near weight and retention (± s.e. over sequences) of one model."""
    cols = model_columns(model)
    rows = [
        row("loss", label, kind, step, loss, **cols)
        for step, loss in enumerate(model.meta.get("loss_log", []))
        if step % 10 == 0
    ]
    for L in lengths:
        ev = learn.evaluate(model, L, nseq)
        se = ev.std(axis=0, ddof=1) / math.sqrt(ev.shape[0])
        rows.append(row("near_weight", label, kind, L, ev[:, 0].mean(), se[0], **cols, nseq=nseq))
        rows.append(row("retention", label, kind, L, ev[:, 1].mean(), se[1], **cols, nseq=nseq))
        if transported:
            got = ev[:, 2].mean(), se[2]
            rows.append(
                row("retention", label + " + value transport", kind, L, *got, **cols, nseq=nseq, rotate_values=1)
            )
    return rows


def own_rows(paths, quick) -> list[dict]:
    """Rows for the reader's own ``mixing.learned`` files, evaluated like the baselines (each on its own
    task: its d, V, B and lag cap)."""
    s = spec(quick)
    lengths = [2**k for k in range(5, s["kmax"] + 1)]
    rows = []
    for path in paths:
        model = learn.load(path)
        label = f"{Path(path).name} ({model.mechanism}, d={model.d}, V={model.V})"
        rows += model_rows(model, label, "own", lengths, s["nseq"])
    return rows


OWN_COLORS = ("black", "#17becf", "#e377c2", "#bcbd22")


def draw(rows):
    import matplotlib.pyplot as plt

    Ltr = spec(True)["train_length"]
    fig, axes = plt.subplots(1, 3, figsize=(13.0, 3.9))
    a, b, c = axes
    for _, label, _ in RUNS:
        x, y, se = select(rows, "near_weight", label, "measured")
        band(a, x, y, se, COLORS[label], label=label, marker=".")
        x, y, se = select(rows, "retention", label, "measured")
        band(b, x, y, se, COLORS[label], label=label, marker=".")
        if label in TRANSPORTED:
            x, y, se = select(rows, "retention", label + " + value transport", "measured")
            band(b, x, y, se, COLORS[label], label=label + " + value transport", marker="x", ls="--")
        x, y, _ = select(rows, "loss", label, "measured")
        c.plot(x, y, color=COLORS[label], label=label)
    own = list(dict.fromkeys(r["series"] for r in rows if r["kind"] == "own"))
    for k, label in enumerate(own):
        col = OWN_COLORS[k % len(OWN_COLORS)]
        for ax, panel in ((a, "near_weight"), (b, "retention")):
            x, y, se = select(rows, panel, label, "own")
            band(ax, x, y, se, col, label=label + " (yours)", marker="s", ls="-.")
        x, y, _ = select(rows, "loss", label, "own")
        if x.size:
            c.plot(x, y, "-.", color=col, label=label + " (yours)")
    for ax in (a, b):
        ax.axvline(Ltr, color="black", lw=0.8, ls=":")
        ax.text(Ltr, 0.98, " training length", fontsize=7, va="top", transform=ax.get_xaxis_transform())
        ax.set_xscale("log", base=2)
        ax.set_xlabel("evaluation length L (tokens)")
        ax.set_ylim(0, 1.02)
    a.set_ylabel("near target weight a*")
    a.set_title("attention on the most recent occurrence")
    b.set_ylabel("retention <o, T*> / |T*|^2")
    b.set_title("value retrieved (any occurrence of v* carries it)")
    b.legend(fontsize=6.5, loc="lower left")
    c.set_yscale("log")
    c.set_xlabel("Adam step")
    c.set_ylabel("training loss (cross-entropy)")
    c.set_title(f"training at L = {Ltr}, d = 32, V = 64, B = 8")
    c.legend(fontsize=6.5)
    fig.tight_layout()
    return fig
