"""``python -m mixing.sweep``: run a grid of simulations into a results table.

The grid is the product of every list-valued option: mechanisms x d x parameter values
(each parameter applies to the mechanisms that have it). Every grid point runs all of its
lags (coherence, second moment) or context lengths (retrieval) in one streaming pass per
trial, and is written to ``OUT`` as soon as it finishes; ``--resume`` continues an
interrupted sweep.
"""

from __future__ import annotations

import argparse
import itertools
import math
import re
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

from . import executors
from . import mechanisms as mech_mod
from . import measures
from .errors import ParameterError
from .results import COLUMNS, Store, device_info, git_commit, now, point_id, unique_dir, versions
from .task import MOMENT_PARAMS, TASK_PARAMS, Task

MEASURES = {"coherence": "coherence", "second-moment": "second_moment", "retrieval": "retrieval"}
DEFAULT_MECHANISMS = ["nope", "rope", "so2", "householder", "alibi"]
DEFAULTS = dict(measure="retrieval", d=[64], lags=256, lengths="2^4:2^14", trials=256, seed=0,
                device="cpu")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit status 2
        raise ParameterError(message)


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
        "seed, then d and every parameter given with --param), OUT/manifest.json and OUT/points/.",
        "retrieval metrics: near_weight, far_mass, retention, far_residual (x = context length L);",
        "coherence and second_moment have x = lag n.",
        "",
        "examples:",
        "  python -m mixing.sweep                                   # the default comparison",
        "  python -m mixing.sweep --mechanism so2 --param law=vonmises --param concentration=1,4,16 \\",
        "      --measure coherence --lags 200 --trials 500",
        "  python -m mixing.sweep --mechanism householder --param beta=1,2 --d 32,64 \\",
        "      --lengths 2^6:2^20 --trials 64 --out runs/hh",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="python -m mixing.sweep", description="Run a grid of simulations (mechanisms x d x parameters) into a results table; "
                             "every finished grid point is kept, and --resume completes an interrupted sweep.",
                 epilog=_help_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mechanism", action="append", metavar="NAME",
                    help=f"mechanism to simulate, repeatable ({', '.join(mech_mod.PARAMS)}); "
                         f"default: {' '.join(DEFAULT_MECHANISMS)}")
    ap.add_argument("--measure", help="coherence | second-moment | retrieval (default retrieval)")
    ap.add_argument("--d", metavar="LIST", help="head dimensions, comma-separated (default 64, or the dimension of the generators file)")
    ap.add_argument("--lags", metavar="N", help="coherence / second-moment: lags 1..N (default 256)")
    ap.add_argument("--lengths", metavar="LIST|2^a:2^b",
                    help="retrieval: context lengths, comma-separated, or all powers of two "
                         "from 2^a to 2^b (default 2^4:2^14)")
    ap.add_argument("--param", action="append", default=[], metavar="KEY=V1[,V2...]",
                    help="set a parameter, or sweep it over a list (repeatable)")
    ap.add_argument("--trials", metavar="N", help="Monte Carlo trials per grid point (default 256)")
    ap.add_argument("--seed", metavar="S", help="random seed (default 0); same seed, same numbers")
    ap.add_argument("--out", metavar="DIR", help="output directory (default runs/<date-time>-<pid>-<n>, created new)")
    ap.add_argument("--resume", action="store_true",
                    help="continue the interrupted sweep in --out (same command line)")
    ap.add_argument("--device", help="cpu (default), cuda or reference (the plain NumPy reference)")
    ap.add_argument("--executor", choices=executors.EXECUTORS, default="local",
                    help="local (default): this process; dask: Dask workers (an embedded LocalCluster "
                         "with one worker process per core, or the cluster of --scheduler)")
    ap.add_argument("--scheduler", metavar="ADDRESS",
                    help="with --executor dask: a running Dask scheduler, e.g. tcp://host:8786")
    ap.add_argument("--workers", metavar="N", type=int,
                    help="with --executor dask and no --scheduler: worker processes (default: one per core)")
    ap.add_argument("--force-size", action="store_true",
                    help="run a sweep whose estimated work (over 1e13 steps) or memory (over 8 GiB) is refused otherwise")
    ap.add_argument("--show", metavar="METRIC[,METRIC]",
                    help="metrics the terminal summary prints (retrieval: near_weight, far_mass, retention, "
                         "far_residual; default near_weight; results.csv always has every metric)")
    ap.add_argument("--config", metavar="FILE.toml",
                    help="read options from a TOML file (keys as the long options, and a [param] "
                         "table); command-line options override it")
    return ap


#: the largest value any count may take (lengths, lags, trials, d): beyond it int64 arithmetic
#: in the kernels is no longer safe
MAX_COUNT = 2 ** 40
#: above these estimates a sweep is refused unless --force-size is given
MAX_STEPS = 1e13            # about a day of one core at 1e8 cheap steps a second
MAX_BYTES = 8 * 2 ** 30     # 8 GiB


def _int(name, text):
    try:
        f = float(str(text).strip())
    except ValueError:
        raise ParameterError(f"{name}: expected a positive integer, got {text!r}") from None
    if not math.isfinite(f) or not f.is_integer() or f < 1:
        raise ParameterError(f"{name}: expected a positive integer, got {text!r}")
    if f > MAX_COUNT:
        raise ParameterError(f"{name}: {text} exceeds the largest supported value 2^40")
    return int(f)


def size_estimate(points) -> tuple[float, float]:
    """(random-number steps, peak bytes) a sweep would need: trials x longest length x (d for
    Householder steps) summed over points; the per-trial result rows plus the d x d matrices
    (E P_delta, and Householder value transport's path) of the largest point."""
    steps, peak = 0.0, 0.0
    for p in points:
        per_step = p["d"] if p["mechanism"] == "householder" else max(1, p["d"] // 2)
        steps += float(p["trials"]) * executors.longest(p["x"]) * per_step
        rows = float(p["trials"]) * (len(p["x"]) if isinstance(p["x"], list) else p["x"]) * 4 * 8
        peak = max(peak, rows + 3 * 8.0 * p["d"] ** 2)
    return steps, peak


def _int_list(name, value):
    items = value if isinstance(value, list) else str(value).split(",")
    out = [_int(name, v) for v in items if str(v).strip() != ""]
    if not out:
        raise ParameterError(f"{name}: empty list")
    return out


def parse_lengths(value) -> list[int]:
    """``16,32,1000`` or ``2^4:2^14`` (every power of two in between)."""
    if isinstance(value, list):
        return _int_list("lengths", value)
    text = str(value).strip()
    m = re.fullmatch(r"2\^(\d+):2\^(\d+)", text)
    if m:
        a, b = int(m.group(1)), int(m.group(2))
        if a > b or b > 40:
            raise ParameterError(f"lengths: bad range {text!r} (need 2^a:2^b with a <= b <= 40)")
        return [2 ** k for k in range(a, b + 1)]
    if ":" in text or "^" in text:
        raise ParameterError(f"lengths: expected a list or 2^a:2^b, got {text!r}")
    return _int_list("lengths", text)


def _param_items(texts) -> dict:
    out = {}
    for text in texts:
        if "=" not in text:
            raise ParameterError(f"--param: expected KEY=V1[,V2...], got {text!r}")
        key, _, vals = text.partition("=")
        key = key.strip()
        values = [v.strip() for v in vals.split(",")]
        if not key or not values or any(v == "" for v in values):
            raise ParameterError(f"--param: expected KEY=V1[,V2...], got {text!r}")
        out[key] = values
    return out


def load_config(path) -> dict:
    try:
        with open(path, "rb") as fh:
            cfg = tomllib.load(fh)
    except OSError as exc:
        raise ParameterError(f"--config: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"--config: {path} is not valid TOML: {exc}") from None
    known = {"mechanism", "measure", "d", "lags", "lengths", "trials", "seed", "out", "device", "param", "show"}
    for key in cfg:
        if key not in known:
            raise ParameterError(f"--config: unknown key {key!r} in {path} (known: {', '.join(sorted(known))})")
    return cfg


def _file_dims(paths) -> list[int]:
    """The head dimension of each generators file (used when --d is not given)."""
    from . import generators as gen_mod

    dims = set()
    for path in paths:
        data = gen_mod.read(path)
        if "angles" in data:
            dims.add(2 * int(np.shape(data["angles"])[-1]))
        elif "directions" in data:
            dims.add(int(np.shape(data["directions"])[-1]))
    if len(dims) > 1:
        raise ParameterError(f"--d: the generators files have different dimensions {sorted(dims)}; give --d")
    return sorted(dims) or list(DEFAULTS["d"])


def resolve(args) -> dict:
    """Turn parsed options (and a config file) into a validated sweep description."""
    cfg = load_config(args.config) if args.config else {}
    get = lambda key: getattr(args, key) if getattr(args, key) is not None else cfg.get(key, DEFAULTS.get(key))  # noqa: E731
    mechanisms = args.mechanism or cfg.get("mechanism") or DEFAULT_MECHANISMS
    if isinstance(mechanisms, str):
        mechanisms = [mechanisms]
    for name in mechanisms:
        if name not in mech_mod.PARAMS:
            raise ParameterError(f"mechanism: unknown {name!r} (choose from {', '.join(mech_mod.PARAMS)})")
    mechanisms = list(dict.fromkeys(mechanisms))
    measure = str(get("measure"))
    if measure not in MEASURES:
        raise ParameterError(f"measure: unknown {measure!r} (choose from {', '.join(MEASURES)})")
    device = str(get("device"))
    measures.check_device(device)
    d_given = args.d is not None or "d" in cfg
    ds = _int_list("d", get("d"))
    trials = _int("trials", get("trials"))
    seed_text = get("seed")
    try:
        seed = int(str(seed_text))
        if seed < 0:
            raise ValueError
    except ValueError:
        raise ParameterError(f"seed: expected a non-negative integer, got {seed_text!r}") from None
    params = {}
    for key, vals in (cfg.get("param") or {}).items():
        params[key] = [str(v) for v in (vals if isinstance(vals, list) else [vals])]
    params.update(_param_items(args.param))
    from . import smoke

    if smoke.active():
        trials = min(trials, 4)
    if measure == "retrieval":
        xs = parse_lengths(get("lengths"))
        if smoke.active():
            xs = [x for x in xs if x <= 256] or xs[:1]
            smoke.note("mixing.sweep", f"{trials} trials, lengths {xs[0]}..{xs[-1]}")
        extra = {p.name: p for p in TASK_PARAMS}
    else:
        xs = _int("lags", get("lags"))
        if smoke.active():
            xs = min(xs, 16)
            smoke.note("mixing.sweep", f"{trials} trials, {xs} lags")
        extra = {p.name: p for p in MOMENT_PARAMS} if measure == "second-moment" else {}
    # every parameter must belong to some selected mechanism or to the measure
    for key in params:
        if key not in extra and not any(key in mech_mod.param_table(m) for m in mechanisms):
            known = sorted(set(extra).union(*(mech_mod.param_table(m) for m in mechanisms)))
            raise ParameterError(f"{key}: unknown parameter for {measure} with {', '.join(mechanisms)} "
                                 f"(known: {', '.join(known)})")
    if not d_given and params.get("generators"):
        ds = _file_dims(params["generators"])
    # measure parameters are validated once
    measure_params = {k: [extra[k].parse(v) for v in vals] for k, vals in params.items() if k in extra}
    points, seen = [], set()
    for name in mechanisms:
        table = mech_mod.param_table(name)
        mkeys = [k for k in params if k in table]
        for d in ds:
            for mvals in itertools.product(*(params[k] for k in mkeys)):
                mech = mech_mod.make(name, d, **dict(zip(mkeys, mvals)))
                for evals in itertools.product(*(measure_params[k] for k in measure_params)):
                    ext = dict(zip(measure_params, evals))
                    if measure == "retrieval":
                        task = Task(**ext)
                        measures.check_lengths(xs, task)
                    point = {"measure": MEASURES[measure], "mechanism": name, "d": d,
                             "params": dict(mech.params), "measure_params": ext,
                             "x": xs, "trials": trials, "seed": seed}
                    pid = point_id(point)
                    if pid in seen:
                        continue
                    seen.add(pid)
                    point["id"] = pid
                    points.append(point)
    columns = COLUMNS + ["d"] + [k for k in params]
    steps, peak = size_estimate(points)
    if (steps > MAX_STEPS or peak > MAX_BYTES) and not getattr(args, "force_size", False):
        raise ParameterError(f"--trials/--lengths/--d: this sweep needs about {steps:.2g} steps (about "
                             f"{steps / 1e8 / 3600:.2g} core-hours) and {peak / 2 ** 30:.2g} GiB at its peak; "
                             "add --force-size to run it anyway")
    show = show_metrics(measure, args.show if args.show is not None else cfg.get("show"))
    from .generators import ignored_parts

    ignored = {path: ignored_parts(path, measure) for path in params.get("generators", [])}
    return dict(measure=measure, device=device, trials=trials, seed=seed, points=points,
                columns=columns, given=list(params), out=args.out or cfg.get("out"), show=show,
                ignored={k: v for k, v in ignored.items() if v})


def point_blocks(point: dict, device: str, pieces: int = 1) -> list:
    """The blocks of trials of one grid point (see :mod:`mixing.executors`)."""
    mech = mech_mod.make(point["mechanism"], point["d"], **point["params"])
    ext = point["measure_params"]
    if point["measure"] == "retrieval":
        return executors.split("retrieval", mech, np.asarray(point["x"], dtype=np.int64), point["seed"],
                               point["trials"], device, task=Task(**ext), pieces=pieces)
    return executors.split("walk", mech, point["x"], point["seed"], point["trials"], device,
                           c=ext.get("c", 1.0), pieces=pieces)


def point_rows(point: dict, per_trial: np.ndarray):
    """The rows (results-contract columns) of a grid point from its per-trial rows."""
    ext = point["measure_params"]
    kind = point["measure"]
    if kind == "retrieval":
        est = measures.summarize(per_trial, measures.METRICS, "L", np.asarray(point["x"]))
    elif kind == "coherence":
        est = measures.summarize(per_trial[:, :, :1], ["coherence"], "lag", np.arange(1, point["x"] + 1))
    else:
        est = measures.summarize(per_trial[:, :, 1:], ["second_moment"], "lag", np.arange(1, point["x"] + 1))
    base = {"mechanism": point["mechanism"], "trials": point["trials"], "seed": point["seed"],
            "d": point["d"], **point["params"], **ext}
    rows = []
    for metric in est.mean:
        for x, v, se in zip(est.x, est.mean[metric], est.stderr[metric]):
            rows.append({**base, "measure": metric, "x_name": est.x_name, "x": int(x),
                         "value": float(v), "stderr": float(se)})
    return rows


def run_point(point: dict, device: str, progress=None):
    """Run one grid point in this process; return its rows."""
    blocks = point_blocks(point, device)
    ex = executors.LocalExecutor()
    arrays = [rows for _, rows in ex.run(blocks, progress)]
    return point_rows(point, executors.join(blocks, arrays))


def _label(point, given) -> str:
    extras = [f"{k}={point['params'].get(k, point['measure_params'].get(k))}" for k in given
              if k in point["params"] or k in point["measure_params"]]
    return " ".join([point["mechanism"], f"d={point['d']}"] + extras)


SHOWABLE = {"retrieval": measures.METRICS, "coherence": ("coherence",), "second-moment": ("second_moment",)}


def show_metrics(measure: str, text: str | None) -> list[str]:
    """The metrics ``--show`` asks for (default: the one the measure is about)."""
    allowed = SHOWABLE[measure]
    if text is None:
        return [allowed[0]]
    names = [t.strip() for t in str(text).split(",") if t.strip()]
    bad = [n for n in names if n not in allowed]
    if not names or bad:
        raise ParameterError(f"--show: {', '.join(bad) or repr(text)} is not a metric of {measure} "
                             f"(choose from {', '.join(allowed)})")
    return list(dict.fromkeys(names))


def _num(v: float) -> str:
    """Fixed point for ordinary sizes, scientific notation for small or large ones."""
    return f"{v:.4f}" if v == 0 or 1e-3 <= abs(v) < 1e4 else f"{v:.3e}"


def summary(sweep: dict, store: Store, metrics=None, width: int = 6) -> str:
    """A text table per metric (default: near weight, or the walk's measure) by grid point and x.

    Every recorded context length is shown, ``width`` to a row of tables; walks show about
    ``2 width`` of their lags (results.csv has them all)."""
    from .results import read_csv

    blocks = []
    for metric in metrics or show_metrics(sweep["measure"], None):
        table = []
        for point in sweep["points"]:
            if store.done(point["id"]):
                rows = [r for r in read_csv(store.points / f"{point['id']}.csv") if r["measure"] == metric]
                table.append((_label(point, sweep["given"]),
                              {r["x"]: f"{_num(float(r['value']))}±{_num(float(r['stderr']))}" for r in rows},
                              [r["x"] for r in rows], rows[0]["x_name"] if rows else "x"))
        if not table:
            continue
        xs, x_name = table[0][2], table[0][3]
        if x_name != "L" and len(xs) > 2 * width:
            xs = [xs[int(i)] for i in np.linspace(0, len(xs) - 1, 2 * width).round()]
        for c0 in range(0, len(xs), width):
            pick = xs[c0:c0 + width]
            head = f"{metric} ({x_name} ->)"
            lines = [f"{head:<34}" + "".join(f"{x:>22}" for x in pick)]
            lines += [f"{label:<34}" + "".join(f"{cells.get(x, ''):>22}" for x in pick) for label, cells, _, _ in table]
            blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser().parse_args(argv)
        sweep = resolve(args)
        if sweep["out"]:
            out = Path(sweep["out"])
        else:
            try:
                out = unique_dir(Path("runs"), time.strftime("%Y%m%d-%H%M%S"))
            except OSError as exc:
                raise ParameterError(f"--out: cannot create a folder under runs/: {exc}") from None
        store = Store(out)
        ids = [p["id"] for p in sweep["points"]]
        existed = store.exists()
        try:
            store.lock()
        except OSError as exc:
            raise ParameterError(f"--out: {exc}") from None
        if existed:
            if not args.resume:
                raise ParameterError(f"--out: {out} already holds a sweep; add --resume to continue it, "
                                     "or choose another directory")
            old = store.manifest()
            if [p["id"] for p in old["grid"]] != ids:
                raise ParameterError(f"--resume: {out} holds a different sweep (its grid differs from "
                                     "this command's)")
            manifest = old
            manifest.setdefault("resumed", []).append(now())
            store.clean_partial()
            store.checksums = dict(manifest.get("checksums", {}))
            labels = {p["id"]: _label(p, sweep["given"]) for p in sweep["points"]}
            for pid, why in store.check_points(ids):
                print(f"mixing.sweep: point {labels[pid]}: {why}; recomputing it", file=sys.stderr)
            manifest["checksums"] = store.checksums
        else:
            manifest = {"argv": ["python -m mixing.sweep", *argv], "measure": sweep["measure"],
                        "seed": sweep["seed"], "trials": sweep["trials"],
                        "grid": [{"id": p["id"], "status": "pending", **{k: v for k, v in p.items() if k != "id"}}
                                 for p in sweep["points"]],
                        "columns": sweep["columns"], "versions": versions(), "git_commit": git_commit(),
                        "device": device_info(sweep["device"]), "start": now(), "end": None}
        for path, parts in sweep["ignored"].items():
            print(f"mixing.sweep: {Path(path).name}: not used by the {sweep['measure']} task: {'; '.join(parts)}",
                  file=sys.stderr)
        manifest["generators_ignored"] = sweep["ignored"]
        if args.workers is not None and (args.executor != "dask" or args.scheduler):
            raise ParameterError("--workers: only used with --executor dask and no --scheduler")
        if args.workers is not None and args.workers < 1:
            raise ParameterError(f"--workers: must be a positive integer, got {args.workers}")
        executor = executors.make(args.executor, args.scheduler, args.workers)
        manifest.setdefault("executors", []).append({**executor.info(), "start": now()})
        store.write_manifest(manifest)
    except ParameterError as exc:
        print(f"mixing.sweep: error: {exc}", file=sys.stderr)
        if "store" in locals():
            store.unlock()
        return 2
    try:
        return _run(sweep, store, manifest, executor, ids, out)
    finally:
        executor.close()
        store.unlock()


def _run(sweep, store, manifest, executor, ids, out) -> int:
    """Run the unfinished points through ``executor``; each point is written when its last block is in."""
    from tqdm import tqdm

    todo = [p for p in sweep["points"] if not store.done(p["id"])]
    status = {g["id"]: g for g in manifest["grid"]}
    for point in sweep["points"]:
        if store.done(point["id"]):
            status[point["id"]]["status"] = "done"
    # spread a grid with fewer points than workers over the workers by splitting points
    pieces = max(1, math.ceil(2 * executor.workers / max(len(todo), 1))) if executor.workers > 1 else 1
    blocks, owner = [], []
    for point in todo:
        for b in point_blocks(point, sweep["device"], pieces):
            blocks.append(b)
            owner.append(point["id"])
    left = {p["id"]: sum(1 for o in owner if o == p["id"]) for p in todo}
    arrays: dict = {p["id"]: {} for p in todo}
    byid = {p["id"]: p for p in todo}
    desc = "sweep" if executor.workers == 1 else f"sweep ({executor.workers} workers)"
    bar = tqdm(total=sum(b.steps for b in blocks), unit="step", unit_scale=True, disable=None,
               file=sys.stderr, desc=desc)
    try:
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
        bar.close()
        print(f"mixing.sweep: interrupted; finished points are kept in {out}, "
              "rerun the same command with --resume", file=sys.stderr)
        return 130
    bar.close()
    nrows = store.assemble(ids, sweep["columns"])
    manifest["end"] = now()
    store.write_manifest(manifest)
    print(summary(sweep, store, sweep["show"]))
    print(f"\n{nrows} rows -> {out / 'results.csv'} (manifest: {out / 'manifest.json'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
