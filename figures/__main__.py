"""``python -m figures``: regenerate the figures of the study.

Usage: python -m figures [NAME ...] [--quick] [--out DIR] [--force]

Each figure is written as NAME.png and NAME.pdf, with the data behind it as NAME.csv
(tidy: panel, series, kind, x, y, stderr; kind is measured, theory or a censoring mark; then
the parameters each row was computed with as columns: mechanism, d, ...) and NAME.json (the
figure's spec), to runs/figures/ unless --out says otherwise. A figure whose NAME.json
matches, in --out or in the committed figures/output/, is redrawn from that data without
simulating again (--force recomputes); the committed figures are written only when --out
names their folder.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from mixing.cli import Parser

from . import NAMES

#: the committed figures and their data (written only when asked for with --out)
COMMITTED = Path(__file__).resolve().parent / "output"
DEFAULT_OUT = COMMITTED
#: where figures go by default: outside the package, never over the committed images
OWN_OUT = Path("runs") / "figures"


def module(name):
    return importlib.import_module(f"figures.{name.replace('-', '_')}")


def render(name, out: Path, quick: bool, force: bool = False, formats=("png", "pdf"), runner=None):
    """Compute (or reuse) the data of one figure, draw it and write it; returns (paths, reused).

    ``runner`` (``mixing.sweep.executors.runner``) runs the engine's trials elsewhere."""
    from . import common

    common.style()
    mod = module(name)
    man = common.manifest(name, {"quick": quick, **mod.spec(quick)})
    rows = None if force else common.load_cached(out, name, man)
    if rows is None and not force and out.resolve() != COMMITTED.resolve():
        rows = common.load_cached(COMMITTED, name, man)  # the committed data, drawn anew here
        if rows is not None:
            common.save_data(out, name, man, rows)
    reused = rows is not None
    if rows is None:
        rows = mod.compute(quick, out=out, runner=runner)
        common.save_data(out, name, man, rows)
    fig = mod.draw(rows)
    return common.save_figure(fig, out, name, formats), reused


def main(argv=None) -> int:
    ap = Parser(
        prog="python -m figures",
        description=__doc__.strip().splitlines()[0].split(": ", 1)[-1],
        epilog="figures: " + ", ".join(NAMES) + "\n\nexamples:\n"
        "  python -m figures --quick --out runs/figures        # every figure, small\n"
        "  python -m figures regimes --out runs/figures        # one figure, full size\n"
        "  python -m figures window --force --executor dask    # recompute on Dask\n"
        "  python -m figures forecast                          # redraw from the committed data",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("names", nargs="*", metavar="NAME", help="figures to make (default: all)")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="few trials and shorter lengths (the README's Quick start gives the time it takes)",
    )
    ap.add_argument(
        "--out",
        help=f"output folder (default {OWN_OUT}; the committed figures are in {COMMITTED}, "
        "written only when --out names it)",
    )
    ap.add_argument("--force", action="store_true", help="recompute even when the data on disk matches")
    ap.add_argument(
        "--restamp",
        action="store_true",
        help="mark the data saved in --out as computed by this engine, recomputing nothing: only after "
        "an engine change that python benchmarks/fingerprints.py --compare shows changes no number",
    )
    ap.add_argument(
        "--generators",
        nargs="+",
        metavar="FILE.npz",
        help="with the figure learned: draw these mixing.learned files beside the baselines (written "
        f"to --out, default {OWN_OUT}, never over the committed figure)",
    )
    ap.add_argument(
        "--executor",
        choices=("local", "dask"),
        default="local",
        help="where the simulations' trials run: local (default) or dask (an embedded LocalCluster, "
        "or the cluster of --scheduler); the numbers are the same",
    )
    ap.add_argument("--scheduler", metavar="ADDRESS", help="with --executor dask: a running Dask scheduler")
    args = ap.parse_args(argv)
    unknown = [n for n in args.names if n not in NAMES]
    if unknown:
        print(f"figures: error: unknown figure {unknown[0]!r} (choose from {', '.join(NAMES)})", file=sys.stderr)
        return 2
    if args.generators:
        if args.names != ["learned"]:
            print(
                "figures: error: --generators: only with the figure learned (python -m figures learned "
                "--generators FILE.npz)",
                file=sys.stderr,
            )
            return 2
        return own_learned(args)
    out = _make_out(args.out or OWN_OUT)
    if out is None:
        return 2
    if args.restamp:
        return restamp(out, args.names or NAMES, args.quick)
    from mixing.engine.errors import ParameterError
    from mixing.sweep import executors

    try:
        executor = executors.make(args.executor, args.scheduler)
    except ParameterError as exc:
        print(f"figures: error: {exc}", file=sys.stderr)
        return 2
    name = None
    try:
        runner = executors.runner(executor)
        for name in args.names or NAMES:
            t = time.perf_counter()
            paths, reused = render(name, out, args.quick, args.force, runner=runner)
            how = "redrawn from saved data" if reused else "computed"
            if reused and args.executor != "local":
                how += f" (nothing ran on {args.executor}: add --force to recompute there)"
            print(f"{name}: {how} in {time.perf_counter() - t:.1f} s -> {paths[0]}", flush=True)
    except OSError as exc:  # a full disk or a read-only folder: the figures done so far are kept
        where = f" ({exc.filename})" if exc.filename else ""
        print(
            f"figures: error: {name}: {exc.strerror or exc}{where}; the figures finished before it are kept, "
            "rerun to finish",
            file=sys.stderr,
        )
        return 1
    except executors.WorkersLost as exc:
        print(f"figures: error: {name}: {exc}; rerun to finish", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"figures: interrupted during {name}; the figures finished before it are kept", file=sys.stderr)
        return 130
    finally:
        executor.close()
    return 0


def restamp(out: Path, names, quick: bool) -> int:
    from . import common

    for name in names:
        man = common.manifest(name, {"quick": quick, **module(name).spec(quick)})
        print(f"{name}: {'restamped' if common.restamp(out, name, man) else 'no saved data of this spec'}")
    return 0


def _make_out(path):
    """The output folder, created; None (after one line on stderr) if it cannot be."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"figures: error: --out: cannot create {out}: {exc.strerror}", file=sys.stderr)
        return None
    return out


def own_learned(args) -> int:
    """The figure learned with the reader's files added: baselines from the committed data when it
    matches (else computed), the files evaluated now; written to --out (default runs/figures)."""
    from mixing.engine.errors import ParameterError

    from . import common, learned

    if Path(args.out or OWN_OUT).resolve() == DEFAULT_OUT.resolve():
        print(f"figures: error: --out: {args.out} holds the committed figures; choose another folder", file=sys.stderr)
        return 2
    out = _make_out(args.out or OWN_OUT)
    if out is None:
        return 2
    try:
        own = learned.own_rows(args.generators, args.quick)
    except ParameterError as exc:
        print(f"figures: error: --generators: {exc}", file=sys.stderr)
        return 2
    t = time.perf_counter()
    common.style()
    man = common.manifest("learned", {"quick": args.quick, **learned.spec(args.quick)})
    base = common.load_cached(DEFAULT_OUT, "learned", man) or common.load_cached(out, "learned", man)
    if base is None:
        base = learned.compute(args.quick)
        common.save_data(out, "learned", man, base)
    rows = base + own
    fig = learned.draw(rows)
    paths = common.save_figure(fig, out, "learned-own")
    common.save_data(out, "learned-own", {**man, "generators": [str(p) for p in args.generators]}, rows)
    print(f"learned with {len(args.generators)} file(s) of yours in {time.perf_counter() - t:.1f} s -> {paths[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
