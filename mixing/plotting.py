"""Drawing helpers shared by ``figures``, ``mixing.lm``'s figures and ``python -m mixing.plot``:
one style, tidy rows (panel, series, kind, x, y, stderr), curves with their error bands, and
atomic PNG/PDF writers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from numpy.typing import ArrayLike  # noqa: E402

from mixing.engine.files import replacing  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from mixing.engine.measures import Estimate

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 7.5,
    "legend.frameon": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.4,
}


def style() -> None:
    plt.rcParams.update(STYLE)


def row(panel: str, series: str, kind: str, x: float, y: float, stderr: float = 0.0, **params: object) -> dict:
    """One tidy row of a figure's data; ``params`` (what the row was computed with, e.g. the
    mechanism and its parameters) become the CSV's columns after the fixed six."""
    return {
        "panel": panel,
        "series": series,
        "kind": kind,
        "x": float(x),
        "y": float(y),
        "stderr": float(stderr),
        **params,
    }


def estimate_rows(panel: str, series: str, est: Estimate, metric: str, **params: object) -> list[dict]:
    return [
        row(panel, series, "measured", x, m, s, **params)
        for x, m, s in zip(est.x, est.mean[metric], est.stderr[metric])
    ]


def select(
    rows: Iterable[dict], panel: str | None = None, series: str | None = None, kind: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, stderr) arrays of the rows that match, in x order."""
    sel = [
        r
        for r in rows
        if (panel is None or r["panel"] == panel)
        and (series is None or r["series"] == series)
        and (kind is None or r["kind"] == kind)
    ]
    sel.sort(key=lambda r: r["x"])
    return (np.array([r["x"] for r in sel]), np.array([r["y"] for r in sel]), np.array([r["stderr"] for r in sel]))


def band(
    ax: Axes,
    x: ArrayLike,
    y: ArrayLike,
    se: np.ndarray,
    color: str,
    label: str | None = None,
    marker: str = "o",
    ls: str = "-",
) -> None:
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


def interval_line(
    ax: Axes, rows: list[dict], panel: str, series: str, color: str, label: str | None = None, ms: float = 3.5
) -> None:
    """The ``measured`` points of (panel, series) against x as a line, with a band between its
    ``lo`` and ``hi`` rows where every point has them (a 95% interval, not +-2 s.e.)."""
    sel = [r for r in rows if r["panel"] == panel and r["series"] == series]
    xs = sorted({r["x"] for r in sel})
    at = {(r["kind"], r["x"]): r["y"] for r in sel}
    ax.plot(xs, [at[("measured", x)] for x in xs], "-o", ms=ms, color=color, label=label)
    lo, hi = [at.get(("lo", x)) for x in xs], [at.get(("hi", x)) for x in xs]
    if all(v is not None for v in lo + hi):
        ax.fill_between(xs, lo, hi, color=color, alpha=0.15, lw=0)


def theory(ax: Axes, x: ArrayLike, y: ArrayLike, label: str = "theory", color: str = "black", ls: str = "--") -> None:
    ax.plot(x, y, ls, color=color, lw=1.0, label=label)


def finite_log(y: np.ndarray, se: np.ndarray) -> np.ndarray:
    """Mask points a log axis cannot show (non-positive or within 2 s.e. of zero)."""
    return (y > 0) & (y > 2 * se) & np.isfinite(y)


def save_figure(fig: Figure, out: Path, name: str, formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    paths = []
    for ext in formats:
        path = out / f"{name}.{ext}"
        atomic_write(path, lambda p, ext=ext: fig.savefig(p, format=ext, bbox_inches="tight"))
        paths.append(path)
    plt.close(fig)
    return paths


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    with replacing(path, suffix=".tmp" + path.suffix) as tmp:
        write(tmp)
