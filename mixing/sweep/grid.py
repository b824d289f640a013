"""The grid of a sweep: parsing counts, lengths, parameters and config files, and resolving
them into validated grid points with a size estimate (``mixing.sweep`` is the command line
around it).

Counts (``--d``, ``--lags``, ``--trials``, lengths) may be written ``1000``, ``1e3`` or
``2^10``; lengths also take ranges ``2^a:2^b``. Every error is a :class:`ParameterError`
naming the option.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from mixing.engine import measures
from mixing.engine import mechanisms as mech_mod
from mixing.engine.errors import ParameterError
from mixing.engine.mechanisms import Mechanism
from mixing.engine.task import MOMENT_PARAMS, TASK_PARAMS, Task

from . import executors
from .results import COLUMNS, point_id

#: the measures by their command-line names (``mixing.engine.measures.MEASURES``)
MEASURES = measures.MEASURES
DEFAULT_MECHANISMS = ["nope", "rope", "so2", "householder", "alibi"]
DEFAULTS = dict(measure="retrieval", d=[64], lags=256, lengths="2^4:2^14", trials=256, seed=0, device="cpu")


#: the largest value any count may take (lengths, lags, trials, d): beyond it int64 arithmetic
#: in the kernels is no longer safe
MAX_COUNT = 2**40
#: above these estimates (``mixing.engine.params``) a sweep is refused unless --force-size is given
from mixing.engine.params import MAX_BYTES, MAX_STEPS  # noqa: E402,F401


def _int(name: str, text: object) -> int:
    """A positive integer: ``1000``, ``1e3`` or a power of two ``2^10``."""
    t = str(text).strip()
    m = re.fullmatch(r"2\^(\d+)", t)
    try:
        f = float(2 ** min(int(m.group(1)), 1024)) if m else float(t)
    except (ValueError, OverflowError):
        raise ParameterError(f"{name}: expected a positive integer, got {text!r}") from None
    if not math.isfinite(f) or not f.is_integer() or f < 1:
        raise ParameterError(f"{name}: expected a positive integer, got {text!r}")
    if f > MAX_COUNT:
        raise ParameterError(f"{name}: {text} exceeds the largest supported value 2^40")
    return int(f)


def size_estimate(points: Iterable[Point]) -> tuple[float, float]:
    """(random-number steps, peak bytes) a sweep would need: trials x longest length x (d for
    Householder steps) summed over points; the per-trial result rows plus the d x d matrices
    (E P_delta, and Householder value transport's path) of the largest point."""
    steps, peak = 0.0, 0.0
    for p in points:
        s, b = measures.work(
            p.mechanism,
            p.d,
            p.trials,
            executors.longest(p.x),
            len(p.x) if isinstance(p.x, list) else p.x,
            p.params.get("vocab", 0),
        )
        steps += s
        peak = max(peak, b)
    return steps, peak


def _int_list(name: str, value: object) -> list[int]:
    items = value if isinstance(value, list) else str(value).split(",")
    if any(str(v).strip() == "" for v in items) and len(items) > 1:
        raise ParameterError(f"{name}: an empty item in {value!r}")
    out = [_int(name, v) for v in items if str(v).strip() != ""]
    if not out:
        raise ParameterError(f"{name}: empty list")
    return out


def parse_lengths(value: object) -> list[int]:
    """A comma-separated list whose items are integers (``5000``, ``1e4``), powers of two
    (``2^12``) or ranges ``2^a:2^b`` (every power of two from 2^a to 2^b)."""
    items = value if isinstance(value, list) else str(value).split(",")
    out = []
    for item in items:
        text = str(item).strip()
        m = re.fullmatch(r"2\^(\d+):2\^(\d+)", text)
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            if a > b or b > 40:
                raise ParameterError(f"lengths: bad range {text!r} (need 2^a:2^b with a <= b <= 40)")
            out += [2**k for k in range(a, b + 1)]
        elif ":" in text:
            raise ParameterError(f"lengths: bad range {text!r} (need 2^a:2^b)")
        elif text:
            out.append(_int("lengths", text))
        elif len(items) > 1:
            raise ParameterError(f"lengths: an empty item in {value!r}")
    if not out:
        raise ParameterError("lengths: empty list")
    return out


def sorted_lengths(xs: list[int], tool: str = "mixing.sweep") -> list[int]:
    """The lengths in increasing order without repeats (the order every row is written in),
    saying so once on stderr when that changed the list as given."""
    import sys

    out = sorted(set(xs))
    if out != list(xs):
        print(f"{tool}: lengths sorted and without repeats: {','.join(map(str, out))}", file=sys.stderr)
    return out


def _param_items(texts: Iterable[str]) -> dict:
    out = {}
    for text in texts:
        if "=" not in text:
            raise ParameterError(f"--param: expected KEY=V1[,V2...], got {text!r}")
        key, _, vals = text.partition("=")
        key = key.strip()
        values = [v.strip() for v in vals.split(",")]
        if not key or not values or any(v == "" for v in values):
            raise ParameterError(f"--param: expected KEY=V1[,V2...], got {text!r}")
        if key in out:
            raise ParameterError(f"{key}: given twice with --param (sweep several values with {key}=V1,V2)")
        if len(set(values)) < len(values):
            raise ParameterError(f"{key}: a value is repeated in {text!r}")
        out[key] = values
    return out


#: the largest config file read (a config is a few lines; /dev/zero is not one)
MAX_CONFIG = 1 << 20


def load_config(path: str | os.PathLike) -> dict:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_CONFIG + 1)
        if len(raw) > MAX_CONFIG:
            raise ParameterError(f"--config: {path} is larger than {MAX_CONFIG >> 20} MiB; not a config file")
        cfg = tomllib.loads(raw.decode("utf-8"))
    except OSError as exc:
        raise ParameterError(f"--config: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ParameterError(f"--config: {path} is not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"--config: {path} is not valid TOML: {exc}") from None
    _check_config(cfg, path)
    return cfg


def _check_config(cfg: dict, path: str | os.PathLike) -> None:
    """Every key known and of its type (one line naming the file otherwise)."""
    if "param" in cfg and not isinstance(cfg["param"], dict):
        raise ParameterError(f"--config: {path}: param must be a table ([param] with KEY = value lines)")
    if "mechanism" in cfg:
        mech = cfg["mechanism"]
        names = mech if isinstance(mech, list) else [mech]
        if not names or not all(isinstance(n, str) for n in names):
            raise ParameterError(
                f"--config: {path}: mechanism must be a name or a non-empty list of names, got {mech!r}"
            )
    for key in ("force-size", "plot"):  # the long options' spelling, or with _
        if key.replace("-", "_") in cfg:
            cfg[key] = cfg.pop(key.replace("-", "_"))
    for key in ("measure", "device", "out", "show", "executor", "scheduler"):
        if key in cfg and not isinstance(cfg[key], str):
            raise ParameterError(f"--config: {path}: {key} must be a string, got {cfg[key]!r}")
    for key in ("force-size", "plot"):
        if key in cfg and not isinstance(cfg[key], bool):
            raise ParameterError(f"--config: {path}: {key} must be true or false, got {cfg[key]!r}")
    if "workers" in cfg and (isinstance(cfg["workers"], bool) or not isinstance(cfg["workers"], int)):
        raise ParameterError(f"--config: {path}: workers must be an integer, got {cfg['workers']!r}")
    known = {
        "mechanism",
        "measure",
        "d",
        "lags",
        "lengths",
        "trials",
        "seed",
        "out",
        "device",
        "param",
        "show",
        "executor",
        "scheduler",
        "workers",
        "force-size",
        "plot",
    }
    for key in cfg:
        if key not in known:
            raise ParameterError(f"--config: unknown key {key!r} in {path} (known: {', '.join(sorted(known))})")


def _file_dims(paths: Iterable[str]) -> list[int]:
    """The head dimension of each generators file (used when --d is not given)."""
    from mixing.engine import generators as gen_mod

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


@dataclass(frozen=True)
class Point:
    """One point of a sweep's grid: a mechanism (built once, here) and a measure at its x.

    ``as_dict()`` is the point as the manifest records it and ``id`` hashes (the same fields
    and values as the 0.1 grid dicts, so a sweep started then resumes now)."""

    measure: str  # the name in results.csv (``mixing.engine.measures.BY_NAME``)
    mechanism: str
    d: int
    params: dict  # the mechanism's resolved parameters
    measure_params: dict  # the task's (retrieval) or the walk's (second moment) parameters
    x: object  # the lengths (retrieval) or the number of lags
    trials: int
    seed: int
    mech: Mechanism = field(repr=False, compare=False, default=None)
    id: str = ""

    def as_dict(self) -> dict:
        return {
            "measure": self.measure,
            "mechanism": self.mechanism,
            "d": self.d,
            "params": self.params,
            "measure_params": self.measure_params,
            "x": self.x,
            "trials": self.trials,
            "seed": self.seed,
        }

    @property
    def kind(self) -> measures.Measure:
        return measures.BY_NAME[self.measure]

    def given(self, key: str) -> object:
        """The value of a mechanism or measure parameter of this point (None when it has none)."""
        return self.params.get(key, self.measure_params.get(key))


def _mechanism_names(args: argparse.Namespace, cfg: dict) -> list[str]:
    mechanisms = args.mechanism or cfg.get("mechanism") or DEFAULT_MECHANISMS
    if isinstance(mechanisms, str):
        mechanisms = [mechanisms]
    for name in mechanisms:
        if name not in mech_mod.PARAMS:
            raise ParameterError(f"mechanism: unknown {name!r} (choose from {', '.join(mech_mod.PARAMS)})")
    return list(dict.fromkeys(mechanisms))


def _seed(text: object) -> int:
    try:
        seed = int(str(text))
        if seed < 0:
            raise ValueError
    except ValueError:
        raise ParameterError(f"seed: expected a non-negative integer, got {text!r}") from None
    if seed >= 2**64:
        raise ParameterError(f"seed: must be below 2^64, got {text}")
    return seed


def _param_lists(args: argparse.Namespace, cfg: dict) -> dict:
    """Every ``--param KEY=V1[,V2...]`` (and the config's ``[param]`` table) as KEY -> [values]."""
    params = {}
    for key, vals in (cfg.get("param") or {}).items():
        params[key] = [str(v) for v in (vals if isinstance(vals, list) else [vals])]
        if not params[key] or len(set(params[key])) < len(params[key]):
            raise ParameterError(f"{key}: the config's [param] list is empty or repeats a value: {vals!r}")
    params.update(_param_items(args.param))
    return params


def _axis(
    measure: str, get: Callable[[str], object], given: Callable[[str], bool], trials: int
) -> tuple[list[int] | int, dict]:
    """(the lengths or the lag count, the measure's own parameters)."""
    from . import smoke

    if measure == "retrieval" and given("lags"):
        raise ParameterError("lags: the retrieval measure does not use lags (it takes --lengths)")
    if measure != "retrieval" and given("lengths"):
        raise ParameterError(f"lengths: the {measure} measure does not use lengths (it takes --lags)")
    if measure == "retrieval":
        xs = sorted_lengths(parse_lengths(get("lengths")))
        if smoke.active():
            xs = [x for x in xs if x <= 256] or xs[:1]
            smoke.note("mixing.sweep", f"{trials} trials, lengths {xs[0]}..{xs[-1]}")
        return xs, {p.name: p for p in TASK_PARAMS}
    xs = _int("lags", get("lags"))
    if smoke.active():
        xs = min(xs, 16)
        smoke.note("mixing.sweep", f"{trials} trials, {xs} lags")
    return xs, ({p.name: p for p in MOMENT_PARAMS} if measure == "second-moment" else {})


def _check_owners(params: dict, extra: dict, mechanisms: Iterable[str], measure: str) -> None:
    """Every parameter must belong to some selected mechanism or to the measure."""
    for key in params:
        if key not in extra and not any(key in mech_mod.param_table(m) for m in mechanisms):
            known = sorted(set(extra).union(*(mech_mod.param_table(m) for m in mechanisms)))
            raise ParameterError(
                f"{key}: unknown parameter for {measure} with {', '.join(mechanisms)} (known: {', '.join(known)})"
            )


def _points(
    mechanisms: list[str],
    ds: list[int],
    params: dict,
    measure_params: dict,
    measure: str,
    xs: list[int] | int,
    trials: int,
    seed: int,
) -> list[Point]:
    """The grid's points, each once; a mechanism parameter that no point uses is an error."""
    points, seen = [], set()
    unused = {}  # given mechanism parameter -> why a point did not use it
    used = set()
    for name in mechanisms:
        table = mech_mod.param_table(name)
        mkeys = [k for k in params if k in table]
        for d, mvals in itertools.product(ds, itertools.product(*(params[k] for k in mkeys))):
            given = dict(zip(mkeys, mvals))
            mech, dropped = mech_mod.build(name, d, given)
            unused.update(dropped)
            used.update(k for k in given if k not in dropped)
            for evals in itertools.product(*(measure_params[k] for k in measure_params)):
                ext = dict(zip(measure_params, evals))
                if measure == "retrieval":
                    measures.check_lengths(xs, Task(**ext))
                point = Point(MEASURES[measure].name, name, d, dict(mech.params), ext, xs, trials, seed, mech)
                pid = point_id(point.as_dict())
                if pid not in seen:
                    seen.add(pid)
                    points.append(replace(point, id=pid))
    for key, why in unused.items():
        if key not in used:  # ignored by every point of the grid: a mistake, not a sweep
            raise ParameterError(f"{key}: {why}")
    return points


def measure_defaults(measure: str) -> dict:
    """The measure's own parameters at their defaults (the task's for retrieval, the cosine for
    the second moment), as every row of results.csv records them."""
    table = {"retrieval": TASK_PARAMS, "second_moment": MOMENT_PARAMS}.get(measure, [])
    return {p.name: p.default for p in table}


def _columns(points: list[Point], given: list[str], extra: dict) -> list[str]:
    """results.csv's columns: the contract's, d, the parameters given on the command line (in
    their order), then every other resolved parameter of the grid's mechanisms and measure,
    defaults included, so that each row says everything it was computed with."""
    rest = [k for p in points for k in p.params] + list(extra)
    return COLUMNS + ["d"] + list(dict.fromkeys(given + rest))


def _check_size(points: list[Point], force: bool) -> None:
    steps, peak = size_estimate(points)
    if (steps > MAX_STEPS or peak > MAX_BYTES) and not force:
        raise ParameterError(
            f"--trials/--lengths/--d/vocab: this sweep needs about {steps:.2g} steps (about "
            f"{steps / 1e8 / 3600:.2g} core-hours) and {peak / 2**30:.2g} GiB at its peak; "
            "add --force-size to run it anyway"
        )


def resolve(args: argparse.Namespace) -> dict:
    """Turn parsed options (and a config file) into a validated sweep description."""
    from mixing.engine.generators import ignored_parts

    from . import smoke

    cfg = load_config(args.config) if args.config else {}
    get = lambda key: getattr(args, key) if getattr(args, key) is not None else cfg.get(key, DEFAULTS.get(key))  # noqa: E731
    given = lambda key: getattr(args, key) is not None or key in cfg  # noqa: E731
    mechanisms = _mechanism_names(args, cfg)
    measure = str(get("measure"))
    if measure not in MEASURES:
        raise ParameterError(f"measure: unknown {measure!r} (choose from {', '.join(MEASURES)})")
    device = str(get("device"))
    measures.check_device(device)
    ds = _int_list("d", get("d"))
    trials = _int("trials", get("trials"))
    seed = _seed(get("seed"))
    params = _param_lists(args, cfg)
    if smoke.active():
        trials = min(trials, 4)
    xs, extra = _axis(measure, get, given, trials)
    _check_owners(params, extra, mechanisms, measure)
    if not given("d") and params.get("generators"):
        ds = _file_dims(params["generators"])
    # measure parameters are validated once
    measure_params = {k: [extra[k].parse(v) for v in vals] for k, vals in params.items() if k in extra}
    points = _points(mechanisms, ds, params, measure_params, measure, xs, trials, seed)
    force = bool(getattr(args, "force_size", False) or cfg.get("force-size", False))
    _check_size(points, force)
    show = show_metrics(measure, args.show if args.show is not None else cfg.get("show"))
    ignored = {path: ignored_parts(path, measure) for path in params.get("generators", [])}
    longest = max(xs) if isinstance(xs, list) else int(xs)
    cycled = {
        path: rows
        for path in params.get("generators", [])
        if (rows := sequence_rows(path)) is not None and rows < longest
    }
    return dict(
        measure=measure,
        device=device,
        trials=trials,
        seed=seed,
        points=points,
        columns=_columns(points, list(params), extra),
        given=list(params),
        out=args.out or cfg.get("out"),
        show=show,
        ignored={k: v for k, v in ignored.items() if v},
        cycled=cycled,
        # where and how it runs: the command line, else the config, else the defaults
        executor=getattr(args, "executor", None) or cfg.get("executor", "local"),
        scheduler=getattr(args, "scheduler", None) or cfg.get("scheduler"),
        workers=getattr(args, "workers", None) if getattr(args, "workers", None) is not None else cfg.get("workers"),
        plot=bool(getattr(args, "plot", False) or cfg.get("plot", False)),
    )


def sequence_rows(path: str | os.PathLike) -> int | None:
    """The rows of a generators file of kind ``sequence`` (one generator per lag), else None."""
    from mixing.engine.generators import read

    try:
        data = read(path)
    except ParameterError:
        return None
    if str(data.get("kind", "table")) != "sequence":
        return None
    arr = data.get("angles", data.get("directions"))
    return None if arr is None else int(arr.shape[0])


SHOWABLE = {cli: m.metrics for cli, m in MEASURES.items()}


def show_metrics(measure: str, text: str | None) -> list[str]:
    """The metrics ``--show`` asks for (default: the one the measure is about)."""
    allowed = SHOWABLE[measure]
    if text is None:
        return [allowed[0]]
    names = [t.strip() for t in str(text).split(",") if t.strip()]
    bad = [n for n in names if n not in allowed]
    if not names or bad:
        raise ParameterError(
            f"--show: {', '.join(bad) or repr(text)} is not a metric of {measure} (choose from {', '.join(allowed)})"
        )
    return list(dict.fromkeys(names))
