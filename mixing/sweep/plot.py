"""``python -m mixing.plot RUN_DIR``: draw a finished (or partly finished) sweep.

One panel per metric (the ``measure`` column of ``results.csv``), against length or lag (the
row's ``x_name``), one line per grid point with a band of +-2 standard errors (about 95%),
written as ``RUN_DIR/plot.png``. The sweep draws itself with ``python -m mixing.sweep ...
--plot``. Retrieval metrics other than the near weight and the far mass go on a linear axis.

  python -m mixing.plot runs/my-sweep
  python -m mixing.plot runs/my-sweep --metrics near_weight,far_mass --out near.png
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .results import varying_within_mechanism

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: columns that are not a grid point's own parameters
NOT_PARAMS = {"measure", "x_name", "x", "value", "stderr", "trials", "seed"}
#: metrics drawn on a log y axis (they span decades)
LOG_Y = {"near_weight", "coherence"}


def point_label(row: dict, params: list[str]) -> str:
    """``mechanism k=v ...`` of a row, over the parameters that vary within a mechanism in the
    sweep; a path keeps only its file name."""
    parts = [row["mechanism"]]
    for p in params:
        v = row.get(p, "")
        if v not in ("", None):
            parts.append(f"{p}={Path(v).name if p == 'generators' else v}")
    return " ".join(parts)


def draw(rows: list[dict], metrics: Sequence[str] | None = None) -> Figure:
    """The figure of the ``rows`` of a results table (dicts as read from the CSV)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    metrics = list(metrics) if metrics else list(dict.fromkeys(r["measure"] for r in rows))
    cols = [c for c in rows[0] if c not in NOT_PARAMS and c != "mechanism"] if rows else []
    # lines are named by what the sweep varied, not by the defaults results.csv also records
    varying = varying_within_mechanism(rows, cols)
    ncol = min(3, len(metrics))
    nrow = math.ceil(len(metrics) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.6 * nrow), squeeze=False)
    for ax in axes.flat[len(metrics) :]:
        ax.set_axis_off()
    for ax, metric in zip(axes.flat, metrics):
        sel = [r for r in rows if r["measure"] == metric]
        if not sel:
            ax.set_title(f"{metric}: no rows")
            continue
        groups = {}
        for r in sel:
            groups.setdefault(point_label(r, varying), []).append(r)
        for lab, pts in groups.items():
            pts.sort(key=lambda r: float(r["x"]))
            x = np.array([float(r["x"]) for r in pts])
            y = np.array([float(r["value"]) for r in pts])
            se = np.array([float(r["stderr"]) for r in pts])
            (line,) = ax.plot(x, y, "-o", ms=3, label=lab)
            ax.fill_between(x, y - 2 * se, y + 2 * se, color=line.get_color(), alpha=0.2, lw=0)
        x_name = sel[0]["x_name"]
        if x_name == "L":
            ax.set_xscale("log", base=2)
        if metric in LOG_Y and all(float(r["value"]) > 0 for r in sel):
            ax.set_yscale("log")
        ax.set_xlabel({"L": "context length L", "n": "lag n"}.get(x_name, x_name))
        ax.set_ylabel(metric.replace("_", " "))
        ax.set_title(f"{metric} (bands: ±2 s.e., {sel[0]['trials']} trials)", fontsize=9)
        ax.legend(fontsize=6.5)
    fig.tight_layout()
    return fig


def plot(
    run_dir: str | os.PathLike, metrics: Sequence[str] | None = None, out: str | os.PathLike | None = None
) -> Path:
    """Draw ``run_dir/results.csv`` into ``out`` (default ``run_dir/plot.png``); returns its path."""
    from mixing.engine.errors import ParameterError
    from mixing.engine.files import write_bytes

    from .results import read_csv

    run_dir = Path(run_dir)
    path = run_dir / "results.csv"
    if not path.is_file():
        raise ParameterError(f"RUN_DIR: no results.csv in {run_dir} (a sweep's --out folder)")
    try:
        rows = read_csv(path)
        for r in rows:
            float(r["x"]), float(r["value"]), float(r["stderr"])
            r["measure"], r["x_name"], r["mechanism"]
    except (KeyError, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise ParameterError(f"RUN_DIR: {path} is not a sweep's results table ({type(exc).__name__}: {exc})") from None
    if not rows:
        raise ParameterError(f"RUN_DIR: {path} has no rows yet")
    known = list(dict.fromkeys(r["measure"] for r in rows))
    if metrics:
        bad = [m for m in metrics if m not in known]
        if bad:
            raise ParameterError(f"--metrics: {', '.join(bad)} not in {path} (it has {', '.join(known)})")
    fig = draw(rows, metrics)
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130)
    plt.close(fig)
    target = Path(out) if out else run_dir / "plot.png"
    write_bytes(target, buf.getvalue())
    return target


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    from mixing.cli import Parser, guarded

    ap = Parser(
        prog="python -m mixing.plot",
        description=__doc__.strip().splitlines()[0].split(": ", 1)[-1],
        epilog="\n".join(__doc__.strip().splitlines()[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("run_dir", metavar="RUN_DIR", help="a sweep's output folder (holding results.csv)")
    ap.add_argument("--metrics", help="comma-separated metrics to draw (default: every one in the table)")
    ap.add_argument("--out", help="image file (default RUN_DIR/plot.png)")
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)

    def work() -> int:
        metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
        print(f"wrote {plot(args.run_dir, metrics, args.out)}")
        return 0

    return guarded("python -m mixing.plot", work, where=args.out)


if __name__ == "__main__":
    sys.exit(main())
