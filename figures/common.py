"""Shared style, the data cache and the writers (PNG, PDF, CSV and a manifest)."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import mixing  # noqa: E402
from mixing.files import replacing  # noqa: E402

COLUMNS = ("panel", "series", "kind", "x", "y", "stderr")
SEED = 20260626

#: one colour per mechanism, the same in every figure
COLOR = {"nope": "0.45", "rope": "#1f77b4", "so2": "#ff7f0e", "householder": "#2ca02c", "alibi": "#d62728",
         "so2+forget": "#9467bd", "theory": "black"}

STYLE = {
    "figure.dpi": 110, "savefig.dpi": 150, "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9,
    "legend.fontsize": 7.5, "legend.frameon": False, "axes.grid": True, "grid.alpha": 0.3,
    "axes.spines.top": False, "axes.spines.right": False, "lines.linewidth": 1.4,
}


def style():
    plt.rcParams.update(STYLE)


def row(panel, series, kind, x, y, stderr=0.0):
    return {"panel": panel, "series": series, "kind": kind, "x": float(x), "y": float(y), "stderr": float(stderr)}


def estimate_rows(panel, series, est, metric):
    return [row(panel, series, "measured", x, m, s)
            for x, m, s in zip(est.x, est.mean[metric], est.stderr[metric])]


def select(rows, panel=None, series=None, kind=None):
    """(x, y, stderr) arrays of the rows that match, in x order."""
    sel = [r for r in rows if (panel is None or r["panel"] == panel) and (series is None or r["series"] == series)
           and (kind is None or r["kind"] == kind)]
    sel.sort(key=lambda r: r["x"])
    return (np.array([r["x"] for r in sel]), np.array([r["y"] for r in sel]),
            np.array([r["stderr"] for r in sel]))




def band(ax, x, y, se, color, label=None, marker="o", ls="-"):
    """Mean with a +-2 standard-error band (about 95%)."""
    ax.plot(x, y, ls, color=color, marker=marker, ms=3, label=label)
    if np.any(se > 0):
        ax.fill_between(x, y - 2 * se, y + 2 * se, color=color, alpha=0.2, lw=0)


def on_top(curves: dict, tol: float = 0.01) -> dict:
    """For each curve (name -> y array) drawn over an earlier one, within ``tol`` of the larger
    |y| at every point, the earlier one's name: such curves get their own style and say so."""
    out, names = {}, list(curves)
    for i, name in enumerate(names):
        y = np.asarray(curves[name], dtype=float)
        for other in names[:i]:
            z = np.asarray(curves[other], dtype=float)
            if y.shape == z.shape and np.all(np.abs(y - z) <= tol * np.maximum(np.abs(y), np.abs(z)) + 1e-12):
                out[name] = out.get(other, other)
                break
    return out


def interval_line(ax, rows, panel, series, color, label=None, ms=3.5):
    """The ``measured`` points of (panel, series) against x as a line, with a band between its
    ``lo`` and ``hi`` rows where every point has them (a 95% interval, not +-2 s.e.)."""
    sel = [r for r in rows if r["panel"] == panel and r["series"] == series]
    xs = sorted({r["x"] for r in sel})
    at = {(r["kind"], r["x"]): r["y"] for r in sel}
    ax.plot(xs, [at[("measured", x)] for x in xs], "-o", ms=ms, color=color, label=label)
    lo, hi = [at.get(("lo", x)) for x in xs], [at.get(("hi", x)) for x in xs]
    if all(v is not None for v in lo + hi):
        ax.fill_between(xs, lo, hi, color=color, alpha=0.15, lw=0)


def theory(ax, x, y, label="theory", color="black", ls="--"):
    ax.plot(x, y, ls, color=color, lw=1.0, label=label)


# ---------------------------------------------------------------------------------------
# cache and output


def manifest(name, spec):
    return {"figure": name, "spec": spec, "mixing": mixing.__version__}


def _key(man):
    return hashlib.sha256(json.dumps(man, sort_keys=True).encode()).hexdigest()[:16]


def load_cached(out: Path, name: str, man: dict):
    """Rows of ``OUT/NAME.csv`` if ``OUT/NAME.json`` records the same manifest, else None."""
    mpath, cpath = out / f"{name}.json", out / f"{name}.csv"
    if not (mpath.exists() and cpath.exists()):
        return None
    try:
        old = json.loads(mpath.read_text())
    except (OSError, ValueError):
        return None
    if old.get("key") != _key(man):
        return None
    with open(cpath, newline="") as fh:
        rows = []
        for r in csv.DictReader(fh):
            rows.append({k: (r[k] if k in ("panel", "series", "kind") else float(r[k])) for k in COLUMNS})
    return rows


def _atomic_write(path: Path, write):
    with replacing(path, suffix=".tmp" + path.suffix) as tmp:
        write(tmp)


def save_data(out: Path, name: str, man: dict, rows):
    def write_csv(p):
        with open(p, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=COLUMNS)
            w.writeheader()
            for r in rows:
                w.writerow({k: (f"{r[k]:.10g}" if isinstance(r[k], float) else r[k]) for k in COLUMNS})

    _atomic_write(out / f"{name}.csv", write_csv)
    _atomic_write(out / f"{name}.json", lambda p: p.write_text(json.dumps({**man, "key": _key(man)}, indent=2)))


def save_figure(fig, out: Path, name: str, formats=("png", "pdf")):
    paths = []
    for ext in formats:
        path = out / f"{name}.{ext}"
        _atomic_write(path, lambda p, ext=ext: fig.savefig(p, format=ext, bbox_inches="tight"))
        paths.append(path)
    plt.close(fig)
    return paths


def finite_log(y, se):
    """Mask points a log axis cannot show (non-positive or within 2 s.e. of zero)."""
    return (y > 0) & (y > 2 * se) & np.isfinite(y)
