"""``python -m mixing.sweep``: run a grid of simulations into a results table.

The grid is the product of every list-valued option: mechanisms x d x parameter values
(each parameter applies to the mechanisms that have it). Every grid point runs all of its
lags (coherence, second moment) or context lengths (retrieval) in one streaming pass per
trial, and is written to ``OUT`` as soon as it finishes; ``--resume`` continues an
interrupted sweep.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from mixing.cli import Parser, columns_that_fit, pm, progress_bar
from mixing.cli import table as text_table
from mixing.engine import mechanisms as mech_mod
from mixing.engine.errors import ParameterError
from mixing.engine.task import MOMENT_PARAMS, TASK_PARAMS, Task

from . import executors
from .grid import (  # noqa: F401
    DEFAULT_MECHANISMS,
    DEFAULTS,
    MEASURES,
    SHOWABLE,
    Point,
    measure_defaults,
    parse_lengths,
    resolve,
    show_metrics,
    size_estimate,
)
from .results import Store, device_info, now, provenance, unique_dir


def _help_epilog() -> str:
    lines = ["mechanisms and their parameters (set with --param KEY=V1[,V2...]):"]
    for name, params in mech_mod.PARAMS.items():
        lines.append(f"  {name}: {mech_mod.DOCS[name]}")
        for p in params:
            choices = f" [{'|'.join(p.choices)}]" if p.choices else ""
            lines.append(f"      {p.name}={p.default}{choices}  {p.doc}")
    lines.append("retrieval-task parameters (measure retrieval):")
    for p in TASK_PARAMS:
        lines.append(f"      {p.name}={p.default}  {p.doc}")
    lines.append("second-moment parameter:")
    for p in MOMENT_PARAMS:
        lines.append(f"      {p.name}={p.default}  {p.doc}")
    lines += [
        "",
        "output: OUT/results.csv (columns mechanism, measure, x_name, x, value, stderr, trials,",
        "seed, d, every parameter given with --param, then every other resolved parameter, defaults",
        "included), OUT/manifest.json and OUT/points/.",
        "retrieval metrics: near_weight, far_mass, retention, far_residual (x = context length L);",
        "coherence and second_moment have x = lag n.",
        "",
        "counts (--d, --lags, --trials, lengths) may be written 1000, 1e3 or 2^10; --lengths also",
        "takes ranges of powers of two, alone or in a list: 2^4:2^14 or 2^10,2^12,5000.",
        "",
        "examples, one per measure:",
        "  python -m mixing.sweep                                   # retrieval, the default comparison",
        "  python -m mixing.sweep --mechanism householder --param beta=1,2 --d 32,64 \\",
        "      --lengths 2^6:2^20 --trials 64 --out runs/hh          # retrieval to L = 2^20",
        "  python -m mixing.sweep --mechanism so2 --param law=vonmises --param concentration=1,4,16 \\",
        "      --measure coherence --lags 200 --trials 500          # coherence tr(P_n)/d",
        "  python -m mixing.sweep --mechanism householder --param beta=0.5,2 --param c=0,1 \\",
        "      --measure second-moment --lags 2^8 --trials 500      # E(q^T P_n k)^2",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    ap = Parser(
        raise_errors=True,
        prog="python -m mixing.sweep",
        description="Run a grid of simulations (mechanisms x d x parameters) into a results table; "
        "every finished grid point is kept, and --resume completes an interrupted sweep.",
        epilog=_help_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--mechanism",
        action="append",
        metavar="NAME",
        help=f"mechanism to simulate, repeatable ({', '.join(mech_mod.PARAMS)}); "
        f"default: {' '.join(DEFAULT_MECHANISMS)}",
    )
    ap.add_argument("--measure", help="coherence | second-moment | retrieval (default retrieval)")
    ap.add_argument(
        "--d",
        metavar="LIST",
        help="head dimensions, comma-separated (default 64, or the dimension of the generators file)",
    )
    ap.add_argument("--lags", metavar="N", help="coherence / second-moment: lags 1..N (default 256)")
    ap.add_argument(
        "--lengths",
        metavar="LIST",
        help="retrieval: context lengths, comma-separated; an item 2^a:2^b stands for "
        "every power of two from 2^a to 2^b (default 2^4:2^14)",
    )
    ap.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=V1[,V2...]",
        help="set a parameter, or sweep it over a list (repeatable)",
    )
    ap.add_argument("--trials", metavar="N", help="Monte Carlo trials per grid point (default 256)")
    ap.add_argument("--seed", metavar="S", help="random seed (default 0); same seed, same numbers")
    ap.add_argument("--out", metavar="DIR", help="output directory (default runs/<date-time>-<pid>-<n>, created new)")
    ap.add_argument("--resume", action="store_true", help="continue the interrupted sweep in --out (same command line)")
    ap.add_argument(
        "--device",
        help="cpu (default), cuda or reference (the plain NumPy reference); on cuda the "
        "environment variable MIXING_CUDA_LAYOUT picks the layout, e.g. lanes=16,precision=float32 "
        "(docs/guide.md)",
    )
    ap.add_argument(
        "--executor",
        choices=executors.EXECUTORS,
        help="local (default): this process; dask: Dask workers (an embedded LocalCluster "
        "with one worker process per core, or the cluster of --scheduler)",
    )
    ap.add_argument(
        "--scheduler", metavar="ADDRESS", help="with --executor dask: a running Dask scheduler, e.g. tcp://host:8786"
    )
    ap.add_argument(
        "--workers",
        metavar="N",
        type=int,
        help="with --executor dask and no --scheduler: worker processes (default: one per core)",
    )
    ap.add_argument(
        "--force-size",
        action="store_true",
        help="run a sweep whose estimated work (over 1e13 steps) or memory (over 8 GiB) is refused otherwise",
    )
    ap.add_argument(
        "--show",
        metavar="METRIC[,METRIC]",
        help="metrics the terminal summary prints (retrieval: near_weight, far_mass, retention, "
        "far_residual; default near_weight; results.csv always has every metric)",
    )
    ap.add_argument(
        "--plot",
        action="store_true",
        help="also draw every metric against length or lag, one line per grid point with +-2 s.e. "
        "bands, as OUT/plot.png (python -m mixing.plot OUT does it later)",
    )
    ap.add_argument(
        "--config",
        metavar="FILE.toml",
        help="read options from a TOML file (every option but --resume and --config, keys as the long "
        "options, and a [param] table); command-line options override it",
    )
    return ap


def point_blocks(point: Point, device: str, pieces: int = 1) -> list:
    """The blocks of trials of one grid point (see :mod:`mixing.sweep.executors`)."""
    mech = point.mech if point.mech is not None else mech_mod.make(point.mechanism, point.d, **point.params)
    ext = point.measure_params
    if point.kind.kernel == "retrieval":
        return executors.split(
            "retrieval",
            mech,
            np.asarray(point.x, dtype=np.int64),
            point.seed,
            point.trials,
            device,
            task=Task(**ext),
            pieces=pieces,
        )
    return executors.split("walk", mech, point.x, point.seed, point.trials, device, c=ext.get("c", 1.0), pieces=pieces)


def point_rows(point: Point, per_trial: np.ndarray) -> list[dict]:
    """The rows (results-contract columns) of a grid point from its per-trial rows."""
    ext = {**measure_defaults(point.measure), **point.measure_params}
    est = point.kind.estimate(per_trial, point.x)
    base = {
        "mechanism": point.mechanism,
        "trials": point.trials,
        "seed": point.seed,
        "d": point.d,
        **point.params,
        **ext,
    }
    rows = []
    for metric in est.mean:
        for x, v, se in zip(est.x, est.mean[metric], est.stderr[metric]):
            rows.append(
                {**base, "measure": metric, "x_name": est.x_name, "x": int(x), "value": float(v), "stderr": float(se)}
            )
    return rows


def run_point(point: Point, device: str, progress: Callable[[int], None] | None = None) -> list[dict]:
    """Run one grid point in this process; return its rows."""
    blocks = point_blocks(point, device)
    ex = executors.LocalExecutor()
    arrays = [rows for _, rows in ex.run(blocks, progress)]
    return point_rows(point, executors.join(blocks, arrays))


def _label(point: Point, given: Sequence[str]) -> str:
    extras = [f"{k}={point.given(k)}" for k in given if k in point.params or k in point.measure_params]
    return " ".join([point.mechanism, f"d={point.d}"] + extras)


def summary(sweep: dict, store: Store, metrics: Sequence[str] | None = None, width: int | None = None) -> str:
    """A text table per metric (default: near weight, or the walk's measure) by grid point and x,
    mean ± standard error (``mixing.cli.pm``), fitted to ``mixing.cli.TABLE_WIDTH`` columns.

    Every recorded context length is shown, ``width`` to a row of tables (default: as many as
    fit); walks show about 12 of their lags (results.csv has them all)."""
    from .results import read_csv

    blocks = []
    for metric in metrics or show_metrics(sweep["measure"], None):
        table = []
        for point in sweep["points"]:
            if store.done(point.id):
                rows = [r for r in read_csv(store.points / f"{point.id}.csv") if r["measure"] == metric]
                cells = {r["x"]: pm(float(r["value"]), float(r["stderr"])) for r in rows}
                x_name = rows[0]["x_name"] if rows else "x"
                table.append((_label(point, sweep["given"]), cells, [r["x"] for r in rows], x_name))
        if not table:
            continue
        xs, x_name = table[0][2], table[0][3]
        if x_name != "L" and len(xs) > 12:
            xs = [xs[int(i)] for i in np.linspace(0, len(xs) - 1, 12).round()]
        head = f"{metric} ({x_name} ->)"
        first = max(len(head), *(len(label) for label, *_ in table))
        cell = max(len(c) for _, cells, _, _ in table for c in [*cells.values(), *xs])
        per = width or columns_that_fit(first, cell)
        for c0 in range(0, len(xs), per):
            pick = xs[c0 : c0 + per]
            rows = [[label] + [cells.get(x, "") for x in pick] for label, cells, _, _ in table]
            blocks.append(text_table(rows, header=[head, *pick]))
    return "\n\n".join(blocks)


def _out_folder(args: argparse.Namespace, sweep: dict) -> Path:
    """The sweep's folder: --out (or the config's ``out``), else a new one under runs/."""
    if args.out is not None and not args.out.strip():
        raise ParameterError("--out: an empty path (leave --out out for a new folder under runs/)")
    if sweep["out"]:
        return Path(sweep["out"])
    if args.resume:
        raise ParameterError("--resume: needs --out, the folder of the sweep to continue")
    try:
        return unique_dir(Path("runs"), time.strftime("%Y%m%d-%H%M%S"))
    except OSError as exc:
        raise ParameterError(f"--out: cannot create a folder under runs/: {exc}") from None


def _check_folder(args: argparse.Namespace, store: Store, out: Path) -> bool:
    """Whether ``out`` holds a sweep already; refuses a folder of other files, and --resume
    without a sweep to resume."""
    existed = store.exists()
    if not existed and out.is_dir() and any(p.name != ".lock" for p in out.iterdir()):
        raise ParameterError(
            f"--out: {out} holds files but no sweep; choose a new or empty folder "
            "(a sweep never writes into a folder of other files)"
        )
    if args.resume and not existed:
        raise ParameterError(
            f"--resume: {out} holds no sweep to resume (no manifest.json); drop --resume to start one there"
        )
    return existed


def _resumed_manifest(args: argparse.Namespace, store: Store, out: Path, sweep: dict, ids: list[str]) -> dict:
    """The manifest of the sweep in ``out``, checked to be this command's, with its partial
    files removed and its damaged points marked for recomputation."""
    if not args.resume:
        raise ParameterError(
            f"--out: {out} already holds a sweep; add --resume to continue it, or choose another directory"
        )
    manifest = store.manifest()
    if [p["id"] for p in manifest["grid"]] != ids:
        raise ParameterError(f"--resume: {out} holds a different sweep (its grid differs from this command's)")
    manifest.setdefault("resumed", []).append(now())
    removed = store.clean_partial()
    if removed:
        manifest.setdefault("removed_partial", []).extend(removed)
    store.checksums = dict(manifest.get("checksums", {}))
    labels = {p.id: _label(p, sweep["given"]) for p in sweep["points"]}
    for pid, why in store.check_points(ids):
        print(f"mixing.sweep: point {labels[pid]}: {why}; recomputing it", file=sys.stderr)
    manifest["checksums"] = store.checksums
    return manifest


def _new_manifest(argv: Sequence[str], sweep: dict) -> dict:
    return {
        **provenance("mixing.sweep", ["python -m mixing.sweep", *argv]),
        "measure": sweep["measure"],
        "seed": sweep["seed"],
        "trials": sweep["trials"],
        "grid": [
            {
                "id": p.id,
                "status": "pending",
                **p.as_dict(),
                # the task it ran, defaults included (the id hashes what was given)
                "resolved_measure_params": {**measure_defaults(p.measure), **p.measure_params},
            }
            for p in sweep["points"]
        ],
        "columns": sweep["columns"],
        "device": device_info(sweep["device"]),
    }


def _note_generators(sweep: dict, manifest: dict) -> None:
    """Say (and record) what of a generators file the task leaves out, and which files the
    longer lengths reuse cyclically."""
    for path, parts in sweep["ignored"].items():
        print(
            f"mixing.sweep: {Path(path).name}: not used by the {sweep['measure']} task: {'; '.join(parts)}",
            file=sys.stderr,
        )
    manifest["generators_ignored"] = sweep["ignored"]
    longest = "lag" if sweep["measure"] != "retrieval" else "length"
    for path, rows in sweep["cycled"].items():
        print(
            f"mixing.sweep: {Path(path).name}: {rows} generators, one per lag; the longer {longest}s reuse "
            f"them cyclically (lag n takes row (n - 1) mod {rows}); export more rows to avoid it",
            file=sys.stderr,
        )
    manifest["generators_cycled"] = sweep["cycled"]


def _executor(sweep: dict) -> executors.LocalExecutor | executors.DaskExecutor:
    workers, name, scheduler = sweep["workers"], sweep["executor"], sweep["scheduler"]
    if workers is not None and (name != "dask" or scheduler):
        raise ParameterError("--workers: only used with --executor dask and no --scheduler")
    if workers is not None and workers < 1:
        raise ParameterError(f"--workers: must be a positive integer, got {workers}")
    return executors.make(name, scheduler, workers)


def _draw(out: Path) -> int:
    from .plot import plot

    try:
        print(f"figure: {plot(out)}")
    except OSError as exc:
        print(
            f"mixing.sweep: error: the figure: {exc.strerror or exc} ({exc.filename}); the results are "
            f"written, python -m mixing.plot {out} draws it",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    store = None
    try:
        args = build_parser().parse_args(argv)
        sweep = resolve(args)
        out = _out_folder(args, sweep)
        store = Store(out)
        ids = [p.id for p in sweep["points"]]
        existed = _check_folder(args, store, out)
        try:
            store.lock()
        except OSError as exc:
            raise ParameterError(f"--out: {exc}") from None
        manifest = _resumed_manifest(args, store, out, sweep, ids) if existed else _new_manifest(argv, sweep)
        sweep["columns"] = manifest["columns"]  # a resumed sweep keeps the columns it started with
        _note_generators(sweep, manifest)
        executor = _executor(sweep)
        run_info = {**executor.info(), "start": now()}
        if sweep["device"] == "cuda":  # a resume may run under another layout: say so per run
            from mixing.engine.kernels.cuda import layout

            run_info["cuda_layout"] = str(layout.current())
        manifest.setdefault("executors", []).append(run_info)
        store.write_manifest(manifest)
    except ParameterError as exc:
        print(f"mixing.sweep: error: {exc}", file=sys.stderr)
        if store is not None:
            store.unlock()
        return 2
    except KeyboardInterrupt:
        print("mixing.sweep: interrupted before any point ran", file=sys.stderr)
        if store is not None:
            store.unlock()
        return 130
    try:
        rc = _run(sweep, store, manifest, executor, ids, out)
    finally:
        executor.close()
        store.unlock()
    if rc == 0 and sweep["plot"]:
        return _draw(out)
    return rc


def _run(
    sweep: dict,
    store: Store,
    manifest: dict,
    executor: executors.LocalExecutor | executors.DaskExecutor,
    ids: list[str],
    out: Path,
) -> int:
    """Run the unfinished points through ``executor``; each point is written when its last block is in."""
    todo = [p for p in sweep["points"] if not store.done(p.id)]
    status = {g["id"]: g for g in manifest["grid"]}
    for point in sweep["points"]:
        if store.done(point.id):
            status[point.id]["status"] = "done"
    # spread a grid with fewer points than workers over the workers by splitting points
    pieces = max(1, math.ceil(2 * executor.workers / max(len(todo), 1))) if executor.workers > 1 else 1
    blocks, owner = [], []
    for point in todo:
        for b in point_blocks(point, sweep["device"], pieces):
            blocks.append(b)
            owner.append(point.id)
    left = {p.id: sum(1 for o in owner if o == p.id) for p in todo}
    arrays: dict = {p.id: {} for p in todo}
    byid = {p.id: p for p in todo}
    desc = "sweep" if executor.workers == 1 else f"sweep ({executor.workers} workers)"
    try:  # the bar is made inside: a Ctrl-C while tqdm is first imported is an interruption too
        with progress_bar(sum(b.steps for b in blocks), desc, unit_scale=True) as bar:
            for i, rows in executor.run(blocks, progress=bar.update):
                pid = owner[i]
                arrays[pid][i] = rows
                left[pid] -= 1
                if left[pid]:
                    continue
                idx = sorted(arrays[pid])
                per_trial = executors.join([blocks[j] for j in idx], [arrays[pid][j] for j in idx])
                store.write_point(pid, point_rows(byid[pid], per_trial), sweep["columns"])
                manifest["checksums"] = store.checksums
                del arrays[pid]
                status[pid]["status"] = "done"
                bar.set_postfix_str(_label(byid[pid], sweep["given"]), refresh=False)
                store.assemble(ids, sweep["columns"])
                store.write_manifest(manifest)
    except KeyboardInterrupt:
        print(
            f"mixing.sweep: interrupted; finished points are kept in {out}, rerun the same command with --resume",
            file=sys.stderr,
        )
        return 130
    except OSError as exc:  # a full disk or a folder made read-only under the sweep
        where = f" ({exc.filename})" if exc.filename else ""
        print(
            f"mixing.sweep: error: {exc.strerror or exc}{where}; the finished points are kept in {out}, "
            "rerun the same command with --resume once there is space",
            file=sys.stderr,
        )
        return 1
    except executors.WorkersLost as exc:
        print(
            f"mixing.sweep: error: {exc}; finished points are kept in {out}, rerun the same command with --resume",
            file=sys.stderr,
        )
        return 1
    nrows = store.assemble(ids, sweep["columns"])
    manifest["end"] = now()
    store.write_manifest(manifest)
    print(summary(sweep, store, sweep["show"]))
    print(f"\n{nrows} rows -> {out / 'results.csv'} (manifest: {out / 'manifest.json'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
