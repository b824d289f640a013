"""extrapolation: near weight and far mass vs context length for every mechanism."""

from __future__ import annotations

import numpy as np

from mixing.engine import mechanisms as M
from mixing.engine.task import Task
from proofs.registry import formulas

from .common import COLOR, SEED, band, estimate_rows, given, measures, on_top, select

MECHS = (
    ("nope", "nope", {}),
    ("rope", "rope", {}),
    ("so2", "so2", {"law": "gaussian", "sigma": 0.5}),
    ("householder", "householder", {}),
    ("alibi", "alibi", {"m": 0.25}),
    ("so2+forget", "so2", {"law": "gaussian", "sigma": 0.5, "forget": 0.05}),
)


def spec(quick):
    return dict(d=64, kmax=13 if quick else 20, trials=24 if quick else 128, task=Task().__dict__, seed=SEED)


def compute(quick, out=None, runner=None):
    ms = measures(runner)
    s = spec(quick)
    lengths = [2**k for k in range(4, s["kmax"] + 1)]
    task = Task(**s["task"])
    rows = []
    for label, name, params in MECHS:
        mech = M.make(name, s["d"], **params)
        est = ms.retrieval(mech, task, lengths, s["trials"], s["seed"])
        cols = given(mech, task, trials=s["trials"])
        rows += estimate_rows("near_weight", label, est, "near_weight", **cols)
        rows += estimate_rows("far_mass", label, est, "far_mass", **cols)
    return rows


def draw(rows):
    import matplotlib.pyplot as plt

    F = formulas()
    W = Task().window
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.8))
    for ax, metric, ylabel in (
        (axes[0], "near_weight", "near target weight a*"),
        (axes[1], "far_mass", f"far mass A_F (lags > {W})"),
    ):
        curves = {label: select(rows, metric, label, "measured") for label, _, _ in MECHS}
        over = on_top({k: v[1] for k, v in curves.items()})
        for label, (x, y, se) in curves.items():
            if label in over:  # the same values as an earlier curve: hollow, dashed, named
                ax.plot(
                    x, y, "--", color=COLOR[label], marker="o", ms=5, mfc="none", label=f"{label} (on {over[label]})"
                )
            else:
                band(ax, x, y, se, COLOR[label], label=label, marker=".")
        ax.axvspan(1, W, color="0.9", zorder=0)
        ax.text(
            W,
            0.5,
            f"near set: lags <= {W} ",
            fontsize=7,
            ha="right",
            va="center",
            rotation=90,
            transform=ax.get_xaxis_transform(),
        )
        for _lab, rho, col in (
            ("so2", np.exp(-0.125), COLOR["so2"]),
            ("householder", 1 - 2 / 64, COLOR["householder"]),
        ):
            w = F["window"](rho=rho, eps=0.1)
            ax.axvline(w, color=col, ls=":", lw=1.0)
        ax.set_xscale("log", base=2)
        ax.set_xlim(12, None)
        ax.set_xlabel("context length L (tokens)")
        ax.set_ylabel(ylabel)
    axes[0].set_yscale("log")
    axes[0].legend(loc="lower left", ncol=2)
    axes[0].set_title("rotation-only mechanisms degrade (RoPE least); ALiBi and a forget gate stay flat")
    axes[1].set_title("far mass grows without far-mass control")
    fig.suptitle(
        "Retrieval task, d = 64, B = 8, p = 0.01 (dotted: mixing windows W(0.1) of SO(2) sigma=0.5 and "
        "Householder; bands ±2 s.e.)",
        fontsize=8,
    )
    fig.tight_layout()
    return fig
