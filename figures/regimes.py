"""regimes (B8, E1): where accumulated transports beat RoPE in the stylized model.

Ratio of near weights, accumulated SO(2) (RoPE-centred Gaussian angles of absolute spread
sigma, or of a spread relative to each block's frequency, law ``gaussian_rel``) and i.i.d.
Householder reflections (beta = 2) over RoPE, against the lookalike rate p and the spread,
at several context lengths; measured by the engine (mean ratio, error bars
+-2 s.e. by the delta method, the mechanisms' trials independent) with the B8 estimate of
``proofs.lookalike`` drawn dashed (the plug-in r_m = 2/d) and dotted (averaged over a uniform
query's block energies, and for SO(2) over the target's own phases); and the regime of the
largest measured ratio against L.
"""

from __future__ import annotations

import numpy as np

from mixing.engine import mechanisms as M
from mixing.engine.stats import mean_se_rows
from mixing.engine.task import Task

from .common import COLOR, SEED, given, measures, row, select

D, B = 64, 8.0


def spec(quick):
    return dict(
        d=D,
        B=B,
        delta=1,
        ps=[0.01, 0.05, 0.2] if quick else [0.01, 0.05, 0.1, 0.2, 0.4],
        sigmas=[0.1, 0.3, 0.8] if quick else [0.05, 0.1, 0.2, 0.3, 0.5, 0.8],
        rel_sigmas=[0.3, 3.0] if quick else [0.1, 0.3, 1.0, 3.0],
        lengths=[256, 1024, 8192] if quick else [256, 1024, 8192],
        curve=[2**k for k in range(4, 12 if quick else 15)],
        trials=24 if quick else 256,
        seed=SEED,
        b8_energies="plug-in and averaged (RoPE, SO(2) with target phases)",
        b8_draws=64 if quick else 512,  # the averaged B8 is a Monte Carlo over block energies
    )


def _ratio(a, b):
    (ma, sa), (mb, sb) = mean_se_rows(a), mean_se_rows(b)
    r = ma / mb
    return r, r * np.sqrt((sa / ma) ** 2 + (sb / mb) ** 2)


def compute(quick, out=None, runner=None):
    ms = measures(runner)
    from proofs import lookalike

    s = spec(quick)
    rows = []
    Ls = s["lengths"]

    def near(mech, p, lengths):
        return ms.per_trial_retrieval(mech, Task(B=B, p=p), lengths, s["seed"], s["trials"])[:, :, 0]

    def averaged(p, lengths, sigma=0.0, relative=False):
        """B8 without the plug-in (block energies, and SO(2)'s target phases, averaged; the same
        draws for every mechanism, so ratios share them)."""
        return lookalike.near_weight_so2_sphere(
            D, B, p, 1.0, 1, lengths, sigma=sigma, relative=relative, draws=s["b8_draws"]
        )

    def cols(mech, p, L):
        """A ratio's parameter columns: its numerator's mechanism and task, over RoPE, at L."""
        return given(mech, Task(B=B, p=p), baseline="rope", L=L, trials=s["trials"])

    for p in s["ps"]:
        rope = near(M.make("rope", D), p, Ls)
        hh_mech = M.make("householder", D, beta=2.0)
        hh = near(hh_mech, p, Ls)
        pred_rope = lookalike.near_weight("rope", D, B, p, 1.0, 1, Ls)
        rope_sphere = averaged(p, Ls)
        r, se = _ratio(hh, rope)
        hh_b8 = lookalike.near_weight("householder", D, B, p, 1.0, 1, Ls, beta=2.0)
        pred = hh_b8 / pred_rope
        # B8 with RoPE's near weight averaged over the query's block energies (no plug-in)
        pred_sphere = hh_b8 / rope_sphere
        for k, L in enumerate(Ls):
            c = cols(hh_mech, p, L)
            rows.append(row(f"householder L={L}", "Householder / RoPE", "measured", p, r[k], se[k], **c))
            rows.append(row(f"householder L={L}", "Householder / RoPE", "theory", p, pred[k], **c))
            rows.append(row(f"householder L={L}", "Householder / RoPE", "theory-sphere", p, pred_sphere[k], **c))
        for rel in s["rel_sigmas"]:
            mech = M.make("so2", D, law="gaussian_rel", rel_sigma=rel)
            so2 = near(mech, p, Ls)
            r, se = _ratio(so2, rope)
            pred = lookalike.near_weight("so2", D, B, p, 1.0, 1, Ls, sigma=rel, relative=True) / pred_rope
            sph = averaged(p, Ls, rel, relative=True) / rope_sphere
            for k, L in enumerate(Ls):
                if k in (0, len(Ls) - 1):
                    c = cols(mech, p, L)
                    rows.append(row(f"rel L={L}", f"p={p:g}", "measured", rel, r[k], se[k], **c))
                    rows.append(row(f"rel L={L}", f"p={p:g}", "theory", rel, pred[k], **c))
                    rows.append(row(f"rel L={L}", f"p={p:g}", "theory-sphere", rel, sph[k], **c))
        for sigma in s["sigmas"]:
            mech = M.make("so2", D, law="gaussian", sigma=sigma, center="rope")
            so2 = near(mech, p, Ls)
            r, se = _ratio(so2, rope)
            pred = lookalike.near_weight("so2", D, B, p, 1.0, 1, Ls, sigma=sigma) / pred_rope
            sph = averaged(p, Ls, sigma) / rope_sphere
            for k, L in enumerate(Ls):
                c = cols(mech, p, L)
                rows.append(row(f"so2 L={L}", f"p={p:g}", "measured", sigma, r[k], se[k], **c))
                rows.append(row(f"so2 L={L}", f"p={p:g}", "theory", sigma, pred[k], **c))
                rows.append(row(f"so2 L={L}", f"p={p:g}", "theory-sphere", sigma, sph[k], **c))
    # the regime of the largest measured ratio at the shortest length, against L
    so2_rows = [r_ for r_ in rows if r_["panel"] == f"so2 L={Ls[0]}" and r_["kind"] == "measured"]
    best = max(so2_rows, key=lambda r_: r_["y"])
    p_best, sigma_best = float(best["series"][2:]), best["x"]
    curve = s["curve"]
    mech = M.make("so2", D, law="gaussian", sigma=sigma_best, center="rope")
    so2 = near(mech, p_best, curve)
    rope = near(M.make("rope", D), p_best, curve)
    r, se = _ratio(so2, rope)
    pred = lookalike.near_weight("so2", D, B, p_best, 1.0, 1, curve, sigma=sigma_best) / lookalike.near_weight(
        "rope", D, B, p_best, 1.0, 1, curve
    )
    sph = averaged(p_best, curve, sigma_best) / averaged(p_best, curve)
    label = f"SO(2) sigma={sigma_best:g} / RoPE, p={p_best:g}"
    for k, L in enumerate(curve):
        c = cols(mech, p_best, L)
        rows.append(row("best", label, "measured", L, r[k], se[k], **c))
        rows.append(row("best", label, "theory", L, pred[k], **c))
        rows.append(row("best", label, "theory-sphere", L, sph[k], **c))
    return rows


def draw(rows):
    import matplotlib.pyplot as plt

    panels = sorted({r["panel"] for r in rows if r["panel"].startswith("so2 L=")}, key=lambda t: int(t.split("=")[1]))
    panels += sorted({r["panel"] for r in rows if r["panel"].startswith("rel L=")}, key=lambda t: int(t.split("=")[1]))
    ncol = 4  # a grid that reads at page width
    nrow = -(-(len(panels) + 2) // ncol)
    fig, grid = plt.subplots(nrow, ncol, figsize=(3.9 * ncol, 3.7 * nrow), squeeze=False)
    axes = list(grid.flat)
    for ax in axes[len(panels) + 2 :]:
        ax.set_axis_off()
    axes = axes[: len(panels) + 2]
    series = sorted({r["series"] for r in rows if r["panel"].startswith(("so2", "rel"))}, key=lambda t: float(t[2:]))
    cmap = plt.get_cmap("viridis")
    for ax, panel in zip(axes, panels):
        for i, name in enumerate(series):
            col = cmap(i / max(1, len(series) - 1))
            x, y, se = select(rows, panel, name, "measured")
            ax.errorbar(x, y, yerr=2 * se, fmt="o", ms=3, color=col, label=name, capsize=2)
            x, y, _ = select(rows, panel, name, "theory")
            ax.plot(x, y, "--", color=col, lw=1.0)
            x, y, _ = select(rows, panel, name, "theory-sphere")
            if len(x):
                ax.plot(x, y, ":", color=col, lw=1.6)
        ax.axhline(1.0, color="black", lw=0.8)
        ax.set_xscale("log")
        ticks = sorted({r["x"] for r in rows if r["panel"] == panel})
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        relative = panel.startswith("rel")
        ax.set_xlabel(
            "relative spread s (block m: theta_m (1 + s z))" if relative else "sigma (rad per step, RoPE-centred)"
        )
        ax.set_ylabel("near weight ratio SO(2) / RoPE")
        ax.set_title(f"{'relative' if relative else 'absolute'} spread vs RoPE, {panel.split()[1]}")
    axes[0].legend(title="lookalike rate", fontsize=7)
    ax = axes[len(panels)]
    hh_panels = sorted(
        {r["panel"] for r in rows if r["panel"].startswith("householder")}, key=lambda t: int(t.split("=")[1])
    )
    for i, panel in enumerate(hh_panels):
        col = cmap(i / max(1, len(hh_panels) - 1))
        x, y, se = select(rows, panel, "Householder / RoPE", "measured")
        ax.errorbar(x, y, yerr=2 * se, fmt="o", ms=3, color=col, capsize=2, label=panel.split()[1])
        x, y, _ = select(rows, panel, "Householder / RoPE", "theory")
        ax.plot(x, y, "--", color=col, lw=1.0)
        x, y, _ = select(rows, panel, "Householder / RoPE", "theory-sphere")
        if len(x):
            ax.plot(x, y, ":", color=col, lw=1.6)
    ax.text(
        0.02,
        0.02,
        "dotted: RoPE's B8 averaged over the query's\nblock energies; Householder's Gaussian\napproximation kept",
        transform=ax.transAxes,
        fontsize=6.5,
        va="bottom",
    )
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_xscale("log")
    ticks = sorted({r["x"] for r in rows if r["panel"].startswith("householder")})
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("lookalike rate p")
    ax.set_ylabel("near weight ratio Householder / RoPE")
    ax.set_title("i.i.d. Householder (beta = 2) vs RoPE")
    ax.legend(fontsize=7)
    ax = axes[-1]
    name = next(r["series"] for r in rows if r["panel"] == "best")
    x, y, se = select(rows, "best", name, "measured")
    ax.errorbar(x, y, yerr=2 * se, fmt="o", ms=3, color=COLOR["so2"], capsize=2, label="engine")
    x, y, _ = select(rows, "best", name, "theory")
    ax.plot(x, y, "--", color="black", lw=1.0, label="B8, plug-in")
    x, y, _ = select(rows, "best", name, "theory-sphere")
    if len(x):
        ax.plot(x, y, ":", color="black", lw=1.6, label="B8, averaged")
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("context length L")
    ax.set_ylabel("near weight ratio")
    ax.set_title(f"largest measured ratio: {name}", fontsize=8.5)
    ax.legend(fontsize=7)
    fig.suptitle(
        "points: engine, +-2 s.e.; dashed: B8 with the plug-in r_m = 2/d; dotted: B8 averaged over the "
        "query's block energies (and SO(2)'s target phases); d = 64, B = 8, delta = 1",
        fontsize=9,
        y=1.01,
    )
    fig.tight_layout()
    return fig
